"""What every label of a window means, stated once per encoding.

A converter's windows hold one integer label per step and part; this module says what each label
stands for, and every other module (the converters, generation, attribute metrics, the configs'
program lists) reads it from here instead of restating it:

* ``MELODY``: note_seq's ``MelodyOneHotEncoding(21, 109)``, 90 classes: 0 no event (the note or the
  silence goes on), 1 note-off, 2.. the onsets of pitches 21..108 (the piano's range, Magenta's
  ``PIANO_MIN_MIDI_PITCH``..``PIANO_MAX_MIDI_PITCH``).
* ``DRUMS``: 512 labels, each the set of the 9 reduced drum classes hit on the step
  (``sum(2**class)``); the classes are note_seq's ``DEFAULT_DRUM_TYPE_PITCHES``, which Magenta's
  drum configs use as ``REDUCED_DRUM_PITCH_CLASSES``.
* ``TRIO``: a melody, a bass (both ``MELODY``) and a drum part (``DRUMS``); Magenta's
  ``TrioConverter`` tells melody from bass instruments by program (``MEL_PROGRAMS``,
  ``BASS_PROGRAMS``).
* ``MULTIPERF``: one token per row of a multi-instrument performance window (Magenta's
  ``MultiInstrumentPerformanceConverter`` with 8 velocity bins): note_seq's
  ``PerformanceOneHotEncoding`` events (note-on 0-127, note-off 128-255, time shift of 1-96
  steps 256-351, velocity bin 1-8 352-359), then a track's program token (360 + program, 488
  drums) and the end token 489.

Framework-free, like the rest of the package: note-seq only.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import warnings
from typing import ClassVar, Mapping

with warnings.catch_warnings():
  warnings.simplefilter('ignore', RuntimeWarning)  # pydub's ffmpeg warning at import time
  from note_seq import drums_encoder_decoder
  from note_seq import melody_encoder_decoder
  from note_seq import performance_lib

#: Magenta's melody programs (piano .. guitar families): the trio's melody part and the cat-mel
#: configs' ``valid_programs``.
MEL_PROGRAMS: tuple[int, ...] = tuple(range(0, 32))
#: Magenta's bass programs: the trio's bass part.
BASS_PROGRAMS: tuple[int, ...] = tuple(range(32, 40))

#: Reduced drum class -> its MIDI pitches, as note_seq ships them (tuples, so it cannot be changed
#: in place). The first pitch of each class is the one written back on decode.
REDUCED_DRUM_PITCH_CLASSES: tuple[tuple[int, ...], ...] = tuple(
    tuple(pitches) for pitches in drums_encoder_decoder.DEFAULT_DRUM_TYPE_PITCHES)

#: The same 9 classes over the Roland TD-11 kit pitches of the Groove MIDI Dataset: what GrooVAE
#: trains on (kick, snare, closed hi-hat, open hi-hat, low, mid and high tom, crash, ride). A pitch
#: outside it (35 and 41, say) is in no class; first pitches as above.
ROLAND_DRUM_PITCH_CLASSES: tuple[tuple[int, ...], ...] = (
    (36,), (38, 37, 40), (42, 22, 44), (46, 26), (43, 58), (47, 45), (50, 48),
    (49, 52, 55, 57), (51, 53, 59))

#: Drum class maps by the name a config gives them (``data.pitch_classes='roland'``).
DRUM_PITCH_CLASS_MAPS: Mapping[str, tuple[tuple[int, ...], ...]] = types.MappingProxyType({
    'roland': ROLAND_DRUM_PITCH_CLASSES, 'reduced': REDUCED_DRUM_PITCH_CLASSES})


@dataclasses.dataclass(frozen=True)
class MelodyVocabulary:
  """Melody labels: no event, note-off, then one onset class per pitch of min..max_pitch.

  The special labels are note_seq's: ``MelodyOneHotEncoding`` shifts its events (-2 no event,
  -1 note-off, a pitch) by ``NUM_SPECIAL_MELODY_EVENTS``. Label and pitch helpers work on ints
  and on numpy arrays alike.
  """

  min_pitch: int = 21
  max_pitch: int = 108

  NO_EVENT: ClassVar[int] = (melody_encoder_decoder.MELODY_NO_EVENT
                             + melody_encoder_decoder.NUM_SPECIAL_MELODY_EVENTS)
  NOTE_OFF: ClassVar[int] = (melody_encoder_decoder.MELODY_NOTE_OFF
                             + melody_encoder_decoder.NUM_SPECIAL_MELODY_EVENTS)
  FIRST_PITCH_LABEL: ClassVar[int] = melody_encoder_decoder.NUM_SPECIAL_MELODY_EVENTS

  @property
  def depth(self) -> int:
    return self.FIRST_PITCH_LABEL + self.max_pitch - self.min_pitch + 1

  @property
  def part_depths(self) -> tuple[int, ...]:
    return (self.depth,)

  def has_pitch(self, pitch: int) -> bool:
    return self.min_pitch <= pitch <= self.max_pitch

  def is_onset(self, label):
    return label >= self.FIRST_PITCH_LABEL

  def onset_label(self, pitch):
    """The label of an onset of ``pitch`` (a pitch in range)."""
    return pitch - self.min_pitch + self.FIRST_PITCH_LABEL

  def onset_pitch(self, label):
    """The pitch of an onset label (a label >= ``FIRST_PITCH_LABEL``)."""
    return label - self.FIRST_PITCH_LABEL + self.min_pitch


@dataclasses.dataclass(frozen=True)
class DrumVocabulary:
  """Drum labels: a step's label is ``sum(2**c)`` over the classes c hit on it (0: silent)."""

  pitch_classes: tuple[tuple[int, ...], ...] = REDUCED_DRUM_PITCH_CLASSES

  @property
  def num_classes(self) -> int:
    return len(self.pitch_classes)

  @property
  def depth(self) -> int:
    return 2 ** self.num_classes

  @property
  def part_depths(self) -> tuple[int, ...]:
    return (self.depth,)

  @functools.cached_property
  def pitch_to_class(self) -> Mapping[int, int]:
    """MIDI drum pitch -> class; pitches not in the map are dropped by the converters."""
    return types.MappingProxyType({pitch: cls for cls, pitches in enumerate(self.pitch_classes)
                                   for pitch in pitches})

  @property
  def exemplar_pitches(self) -> tuple[int, ...]:
    """The pitch written back for each class on decode (its first pitch)."""
    return tuple(pitches[0] for pitches in self.pitch_classes)


@dataclasses.dataclass(frozen=True)
class TrioVocabulary:
  """Trio windows: columns melody, bass and drums; melody and bass told apart by program."""

  melody: MelodyVocabulary = MelodyVocabulary()
  bass: MelodyVocabulary = MelodyVocabulary()
  drums: DrumVocabulary = DrumVocabulary()
  melody_programs: tuple[int, ...] = MEL_PROGRAMS
  bass_programs: tuple[int, ...] = BASS_PROGRAMS

  @property
  def parts(self) -> tuple[MelodyVocabulary, MelodyVocabulary, DrumVocabulary]:
    return (self.melody, self.bass, self.drums)

  @property
  def part_depths(self) -> tuple[int, ...]:
    return tuple(part.depth for part in self.parts)


@dataclasses.dataclass(frozen=True)
class PerformanceVocabulary:
  """Multi-instrument performance tokens, in Magenta's order: the performance events (note-on
  and note-off of every pitch of min..max_pitch, a time shift of 1..max_shift_steps steps, a
  velocity bin 1..num_velocity_bins when there are bins), the 128 program tokens, the drum
  token, the end token. ``describe`` names any token."""

  num_velocity_bins: int = 8
  max_shift_steps: int = 96   # 4 quarters at 24 steps a quarter
  min_pitch: int = performance_lib.MIN_MIDI_PITCH
  max_pitch: int = performance_lib.MAX_MIDI_PITCH

  NUM_PROGRAMS: ClassVar[int] = 128

  @property
  def num_pitches(self) -> int:
    return self.max_pitch - self.min_pitch + 1

  @property
  def note_on(self) -> int:   # first note-on token (of min_pitch)
    return 0

  @property
  def note_off(self) -> int:
    return self.num_pitches

  @property
  def time_shift(self) -> int:   # the token of a 1-step shift
    return 2 * self.num_pitches

  @property
  def velocity(self) -> int:     # the token of velocity bin 1
    return self.time_shift + self.max_shift_steps

  @property
  def num_events(self) -> int:   # PerformanceOneHotEncoding's classes
    return self.velocity + self.num_velocity_bins

  @property
  def first_program(self) -> int:
    return self.num_events

  @property
  def drum_program(self) -> int:
    return self.first_program + self.NUM_PROGRAMS

  @property
  def end(self) -> int:
    return self.drum_program + 1

  @property
  def depth(self) -> int:
    return self.end + 1

  @property
  def part_depths(self) -> tuple[int, ...]:
    return (self.depth,)

  def program_token(self, program: int, is_drum: bool) -> int:
    return self.drum_program if is_drum else self.first_program + int(program)

  def describe(self, token: int) -> str:
    """'note_on 60', 'note_off 60', 'shift 12', 'velocity 5', 'program 33', 'drums', 'end',
    'pad' (-1, an all-zero padding row)."""
    token = int(token)
    for name, start, stop, first in (
        ('note_on', self.note_on, self.note_off, self.min_pitch),
        ('note_off', self.note_off, self.time_shift, self.min_pitch),
        ('shift', self.time_shift, self.velocity, 1),
        ('velocity', self.velocity, self.num_events, 1),
        ('program', self.first_program, self.drum_program, 0)):
      if start <= token < stop:
        return f'{name} {token - start + first}'
    return {self.drum_program: 'drums', self.end: 'end', -1: 'pad'}.get(token, f'? {token}')


#: Any one converter's vocabulary.
Vocabulary = MelodyVocabulary | DrumVocabulary | TrioVocabulary | PerformanceVocabulary

MELODY = MelodyVocabulary()
DRUMS = DrumVocabulary()
TRIO = TrioVocabulary()
MULTIPERF = PerformanceVocabulary()
