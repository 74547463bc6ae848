"""Drum rolls: NoteSequence <-> multi-hot drum classes per step, as Magenta's ``DrumsConverter``
with ``roll_output=True`` (the nade-drums configs).

A window is int16 [T, D]: bit d of step t is 1 where a note of drum class d starts on that step.
D = 9 with ``pitch_classes='reduced'`` (kick, snare, closed hi-hat, open hi-hat, low/mid/high
tom, crash, ride: the classes of the drums converter, so its windows are the same bit sets) or 61
with ``pitch_classes='full'`` (Magenta's ``FULL_DRUM_PITCH_CLASSES``: one class per General MIDI
drum pitch it lists; 22 and 26, which the reduced map counts as hi-hats, are not among them).

The encoder reads the roll plus a NOR bit set on silent steps (D + 1 values a step, Magenta's
``roll_input``); the decoder's target is the roll itself (D bits, decoded by a NADE). Each
column of a window is one binary part, so ``part_depths`` is (2,) * D and prepare stores the
windows as they are.

Extraction is the drums converter's (``drums``: Magenta's ``extract_drum_tracks`` on the notes
mapped to classes, 2-bar windows with a one-bar hop, deduplicated per time-change piece), with
this converter's class map; only the encoding of a step differs.
"""

from __future__ import annotations

import warnings

import numpy as np

from musicvae_jax.converters import base
from musicvae_jax.converters import drums
from musicvae_jax.converters import vocabulary

with warnings.catch_warnings():
  warnings.simplefilter('ignore', RuntimeWarning)
  import note_seq
  from note_seq import drums_lib
  from note_seq import sequences_lib

NoteSequence = base.NoteSequence

#: Magenta's 61 singleton classes, in its order (music_vae/data.py ``FULL_DRUM_PITCH_CLASSES``).
FULL_DRUM_PITCH_CLASSES: tuple[tuple[int, ...], ...] = tuple((p,) for p in (
    36, 35, 38, 27, 28, 31, 32, 33, 34, 37, 39, 40, 56, 65, 66, 75, 85, 42, 44, 54, 68, 69, 70,
    71, 73, 78, 80, 46, 67, 72, 74, 79, 81, 45, 29, 41, 61, 64, 84, 48, 47, 60, 63, 77, 86, 87,
    50, 30, 43, 62, 76, 83, 49, 55, 57, 58, 51, 52, 53, 59, 82))

#: Class maps by the name a config gives them (``data.pitch_classes``).
PITCH_CLASS_MAPS = {'reduced': vocabulary.REDUCED_DRUM_PITCH_CLASSES,
                    'full': FULL_DRUM_PITCH_CLASSES}


def roll_of(track, num_classes: int) -> np.ndarray:
  """A note_seq ``DrumTrack`` of class indices -> int16 [len, num_classes] bits."""
  roll = np.zeros((len(track), num_classes), np.int16)
  for step, event in enumerate(track):
    roll[step, list(event)] = 1
  return roll


def roll_to_labels(roll_TxD: np.ndarray) -> np.ndarray:
  """[T, D] bits -> [T] int64 ``sum(2**class)``, the reference's encoding of a step (D <= 62)."""
  bits = np.asarray(roll_TxD).astype(np.int64)
  return (bits << np.arange(bits.shape[-1], dtype=np.int64)).sum(axis=-1)


class DrumRollConverter(base.Converter):
  """Magenta's ``DrumsConverter(roll_input=True, roll_output=True)`` over a class map."""

  kind = 'drums'

  def __init__(self, *, slice_bars: int, roll_output: bool = True,
               pitch_classes: str = 'reduced', max_bars: int | None = 100,
               gap_bars: float | None = 1.0, roll_input: bool = True, steps_per_quarter: int = 4,
               quarters_per_bar: int = 4, presplit_on_time_changes: bool = True,
               max_windows_per_sequence: int | None = None):
    if not roll_output:
      raise ValueError('roll_output=False: drum rolls are the output of this converter; the '
                       'drums converter gives the 512-way labels.')
    if not roll_input:
      raise ValueError('roll_input=False: a drum roll converter reads the roll and its NOR bit '
                       '(the one-hot of 2^D classes is only for the 9 reduced classes).')
    if pitch_classes not in PITCH_CLASS_MAPS:
      raise ValueError(f'pitch_classes={pitch_classes!r}: choose one of '
                       f'{", ".join(PITCH_CLASS_MAPS)}.')
    super().__init__(slice_bars=slice_bars, steps_per_quarter=steps_per_quarter,
                     quarters_per_bar=quarters_per_bar,
                     presplit_on_time_changes=presplit_on_time_changes,
                     max_windows_per_sequence=max_windows_per_sequence)
    self.roll_output = True
    self.roll_input = True
    self.pitch_classes = pitch_classes
    self.vocabulary = vocabulary.DrumVocabulary(PITCH_CLASS_MAPS[pitch_classes])
    self.max_bars = max_bars
    self.gap_bars = gap_bars

  # ---- shapes -------------------------------------------------------------------------------
  @property
  def num_classes(self) -> int:
    return self.vocabulary.num_classes

  @property
  def part_depths(self) -> tuple[int, ...]:
    """One binary part per drum class: a window is [T, D] bits."""
    return (2,) * self.num_classes

  @property
  def output_depth(self) -> int:
    return self.num_classes

  @property
  def input_depth(self) -> int:
    return self.num_classes + 1  # the roll and its NOR bit

  # ---- NoteSequence -> windows --------------------------------------------------------------
  def _extract_quantized(self, quantized: NoteSequence) -> base.Extraction:
    result = base.Extraction()
    class_sequence = drums._class_note_sequence(  # pylint: disable=protected-access
        quantized, self.vocabulary.pitch_to_class)
    if not any(n.velocity for n in class_sequence.notes):
      result.skipped['no_drums'] += 1
      return result
    tracks = drums._extract_class_tracks(  # pylint: disable=protected-access
        class_sequence, gap_bars=self.gap_bars, max_bars=self.max_bars, pad_end=True,
        pad_to_total_time=False, min_bars=1, skipped=result.skipped,
        encode=lambda track: roll_of(track, self.num_classes))
    windows = []
    for track in tracks:
      track_windows = base.slice_windows(track, self.max_seq_len, self.steps_per_bar)
      if not track_windows:
        result.skipped['drum_track_shorter_than_window'] += 1
      windows.extend(track_windows)
    result.windows = base.dedupe_in_order(windows)
    return result

  # ---- windows <-> tensors ------------------------------------------------------------------
  def labels_to_tensors(self, labels_TxP: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(inputs [T, D + 1]: the roll and its NOR bit, outputs [T, D]: the roll)."""
    roll = np.asarray(labels_TxP, np.float32).reshape(self.max_seq_len, self.num_classes)
    nor = (roll.sum(axis=-1, keepdims=True) == 0).astype(np.float32)
    return np.concatenate([roll, nor], axis=-1), roll

  def tensors_to_labels(self, outputs_TxD: np.ndarray) -> np.ndarray:
    """A [T, D] roll of bits or probabilities -> int16 bits (set where over 0.5)."""
    return (np.asarray(outputs_TxD) > 0.5).astype(np.int16)

  # ---- windows <-> NoteSequence -------------------------------------------------------------
  def from_labels(self, labels_TxP: np.ndarray, *,
                  qpm: float = note_seq.DEFAULT_QUARTERS_PER_MINUTE) -> NoteSequence:
    """One window as drums: each hit class at its exemplar pitch, one step long, at ``qpm``,
    velocity 80, instrument 9 (Magenta's decode; ``total_time`` is the whole window, as the
    drums converter's)."""
    roll = np.asarray(labels_TxP).reshape(-1, self.num_classes)
    exemplars = self.vocabulary.exemplar_pitches
    events = [frozenset(exemplars[c] for c in np.flatnonzero(step)) for step in roll]
    track = drums_lib.DrumTrack(events=events, steps_per_bar=self.steps_per_bar,
                                steps_per_quarter=self.steps_per_quarter)
    sequence = track.to_sequence(velocity=drums.OUTPUT_VELOCITY,
                                 instrument=drums.DRUM_INSTRUMENT, qpm=qpm)
    sequence.total_time = len(roll) * 60.0 / qpm / self.steps_per_quarter
    return sequence

  def to_labels(self, note_sequence: NoteSequence) -> np.ndarray:
    """One window's roll [T, D] from a NoteSequence: the exact inverse of ``from_labels``
    (quantized; every mapped drum onset with velocity > 0 on steps 0..T-1)."""
    quantized = sequences_lib.quantize_note_sequence(note_sequence, self.steps_per_quarter)
    roll = np.zeros((self.max_seq_len, self.num_classes), np.int16)
    pitch_to_class = self.vocabulary.pitch_to_class
    for note in quantized.notes:
      if not (note.is_drum and note.velocity and note.pitch in pitch_to_class):
        continue
      step = note.quantized_start_step
      if 0 <= step < self.max_seq_len:
        roll[step, pitch_to_class[note.pitch]] = 1
    return roll
