"""Trio: NoteSequence <-> (melody, bass, drums) labels, matching Magenta's ``TrioConverter``.

A window is [T, 3] labels: column 0 the melody and column 1 the bass as 90-way melody classes
(``melody.py``), column 2 the drums as the 512-way label (``drums.py``). The one-hot tensors are the
concatenation [T, 90 + 90 + 512].

Extraction follows Magenta (music_vae/data.py ``TrioConverter``), per time-change piece:

* every instrument gets a type from its notes: drums (``is_drum``), melody (programs 0-31), bass
  (programs 32-39; ``vocabulary.TRIO`` holds both ranges); any other program, or notes of two
  types in one instrument, make it invalid.
  A piece needs a valid instrument of each of the three types;
* the piece is ``total_bars = ceil(total steps / 16)`` bars long (at most ``max_bars``); each
  instrument covers the bars its notes overlap;
* each melody and bass instrument is encoded on its own as one melody over the whole piece (no gap
  splitting, highest note wins, pitches 21-108), each drum instrument as one drum track; an
  instrument that gives nothing covers no bar;
* coverage is widened by ``gap_bars`` bars on each side, and the first and last ``gap_bars`` bars
  count as covered for a (melody, bass, drums) triple when any of its instruments covers any of
  them;
* for every triple of instruments, every window of ``slice_bars`` bars (one-bar hop) covered by all
  three is emitted. Windows are not deduplicated.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np

from musicvae_jax.converters import base
from musicvae_jax.converters import drums as drums_lib
from musicvae_jax.converters import melody as melody_lib
from musicvae_jax.converters import vocabulary

with warnings.catch_warnings():
  warnings.simplefilter('ignore', RuntimeWarning)
  import note_seq
  from note_seq import sequences_lib

NoteSequence = base.NoteSequence

TRIO = vocabulary.TRIO
ELECTRIC_BASS_PROGRAM = 33
MAX_INSTRUMENT_NUMBER = 127

MELODY_INSTRUMENT = 0
BASS_INSTRUMENT = 1

# Instrument types, as Magenta's TrioConverter.InstrumentType.
UNK, MEL, BASS, DRUMS, INVALID = range(5)


class TrioConverter(base.Converter):
  """Magenta's ``TrioConverter``: 16-bar (melody, bass, drums) windows, one-hot [T, 692]."""

  kind = 'trio'
  vocabulary = TRIO

  def __init__(self, *, slice_bars: int, gap_bars: int = 2, max_bars: int = 1024,
               min_pitch: int = TRIO.melody.min_pitch, max_pitch: int = TRIO.melody.max_pitch,
               steps_per_quarter: int = 4, quarters_per_bar: int = 4,
               max_windows_per_sequence: int | None = None):
    super().__init__(slice_bars=slice_bars, steps_per_quarter=steps_per_quarter,
                     quarters_per_bar=quarters_per_bar, presplit_on_time_changes=True,
                     max_windows_per_sequence=max_windows_per_sequence)
    melody_lib.check_pitch_range(min_pitch, max_pitch)
    self.gap_bars = int(gap_bars)
    self.max_bars = max_bars
    self.min_pitch = min_pitch
    self.max_pitch = max_pitch
    self._melody = melody_lib.MelodyConverter(
        slice_bars=slice_bars, max_bars=None, gap_bars=None, steps_per_quarter=steps_per_quarter,
        quarters_per_bar=quarters_per_bar)
    self._drums = drums_lib.DrumsConverter(
        slice_bars=slice_bars, max_bars=None, gap_bars=None, roll_input=False,
        steps_per_quarter=steps_per_quarter, quarters_per_bar=quarters_per_bar)

  # ---- NoteSequence -> windows --------------------------------------------------------------
  def _instrument_types(self, quantized: NoteSequence, total_bars: int):
    """(type per instrument number, [total_bars, 128] bar coverage), as Magenta computes them."""
    types = np.zeros(MAX_INSTRUMENT_NUMBER + 1, np.uint8)
    coverage = np.zeros((total_bars, MAX_INSTRUMENT_NUMBER + 1), bool)
    for note in quantized.notes:
      i = note.instrument
      if i > MAX_INSTRUMENT_NUMBER:
        continue  # Magenta warns and skips such notes.
      if note.is_drum:
        kind = DRUMS
      elif note.program in TRIO.melody_programs:
        kind = MEL
      elif note.program in TRIO.bass_programs:
        kind = BASS
      else:
        kind = INVALID
      if not types[i]:
        types[i] = kind
      elif types[i] != kind:
        types[i] = INVALID
      start_bar = note.quantized_start_step // self.steps_per_bar
      end_bar = -(-note.quantized_end_step // self.steps_per_bar)
      if start_bar >= total_bars:
        continue
      coverage[start_bar:min(end_bar, total_bars), i] = True
    return types, coverage

  def _instrument_sequence(self, quantized: NoteSequence, instrument: int, total_time: float,
                           keep_note=lambda note: True) -> NoteSequence:
    """One instrument of the piece, re-quantized with ``total_time`` (Magenta pads to it).

    ``quantized`` still holds the piece's times in seconds, so quantizing its copy gives the steps
    Magenta gets from quantizing the extracted instrument of the unquantized piece.
    """
    single = NoteSequence()
    single.CopyFrom(quantized)
    del single.notes[:]
    single.notes.extend(n for n in quantized.notes if n.instrument == instrument and keep_note(n))
    single.total_time = total_time
    return sequences_lib.quantize_note_sequence(single, self.steps_per_quarter)

  def _encode_melody_part(self, quantized: NoteSequence, instrument: int,
                          total_time: float) -> np.ndarray | None:
    """The whole-piece melody of one instrument, [total steps] labels, or None if it has none."""
    # As Magenta's inner OneHotMelodyConverter: filter pitches before quantizing.
    single = self._instrument_sequence(
        quantized, instrument, total_time,
        keep_note=lambda n: self.min_pitch <= n.pitch <= self.max_pitch)
    melodies = melody_lib.extract_melodies(single, gap_bars=None, max_steps_truncate=None)
    if not melodies:
      return None
    # Magenta keeps the first of the converter's outputs; without gap splitting there is one.
    melody = melodies[0]
    melody.set_length(len(melody) + melody.start_step, from_left=True)
    melody.set_length(single.total_quantized_steps)
    return melody_lib.melody_events_to_labels(melody)

  def _encode_drum_part(self, quantized: NoteSequence, instrument: int,
                        total_time: float) -> np.ndarray | None:
    single = self._instrument_sequence(quantized, instrument, total_time)
    tracks = drums_lib.extract_drum_label_tracks(single, gap_bars=None, max_bars=None,
                                                 pad_end=True, pad_to_total_time=True)
    return tracks[0] if tracks else None

  def _extract_quantized(self, quantized: NoteSequence) -> base.Extraction:
    result = base.Extraction()
    total_bars = int(np.ceil(quantized.total_quantized_steps / self.steps_per_bar))
    total_bars = min(total_bars, self.max_bars)
    types, coverage = self._instrument_types(quantized, total_bars)
    by_type = {kind: [i for i in range(len(types)) if types[i] == kind]
               for kind in (MEL, BASS, DRUMS)}
    if not all(by_type.values()):
      result.skipped['trio_missing_instrument_type'] += 1
      return result

    # Magenta sets the piece's total time to its whole bars so that each part is padded to it.
    qpm = quantized.tempos[0].qpm
    total_time = total_bars * self.steps_per_bar * 60 / qpm / self.steps_per_quarter
    encoded = {}
    for i in by_type[MEL] + by_type[BASS]:
      part = self._encode_melody_part(quantized, i, total_time)
      if part is None:
        coverage[:, i] = False
        result.skipped['trio_part_without_melody'] += 1
      else:
        encoded[i] = part
    for i in by_type[DRUMS]:
      part = self._encode_drum_part(quantized, i, total_time)
      if part is None:
        coverage[:, i] = False
        result.skipped['trio_part_without_drums'] += 1
      else:
        encoded[i] = part
    return self._windows(by_type, coverage, encoded, total_bars, result)

  def _windows(self, by_type: dict, coverage: np.ndarray, encoded: dict, total_bars: int,
               result: base.Extraction) -> base.Extraction:
    """The windows of every (melody, bass, drums) triple of encoded parts that cover them."""
    # A bar counts as covered when a bar within gap_bars of it is.
    g = self.gap_bars
    dilated = coverage.copy()
    for j in range(total_bars):
      dilated[j] = np.any(coverage[max(0, j - g):min(total_bars, j + g) + 1], axis=0)

    windows = []
    start_bars = range(total_bars - self.slice_bars + 1)
    for group in itertools.product(by_type[MEL], by_type[BASS], by_type[DRUMS]):
      if not all(i in encoded for i in group):
        continue
      cols = list(group)
      group_coverage = np.all(dilated[:, cols], axis=1)
      # Magenta: near either end a triple is covered if any of its instruments is (any bar of the
      # first / last gap_bars bars), for leniency when re-encoding slices. Note that with
      # gap_bars == 0 the [-0:] slice is the whole piece, as in Magenta.
      group_coverage[:g] = np.any(dilated[:g, cols])
      group_coverage[-g:] = np.any(dilated[-g:, cols])
      for j in start_bars:
        if np.all(group_coverage[j:j + self.slice_bars]):
          lo, hi = j * self.steps_per_bar, (j + self.slice_bars) * self.steps_per_bar
          windows.append(np.stack([encoded[i][lo:hi] for i in group], axis=-1).astype(np.int16))
    if not windows:
      result.skipped['trio_no_covered_window'] += 1
    # Magenta's TrioConverter does not deduplicate.
    result.windows = windows
    return result

  # ---- windows <-> NoteSequence -------------------------------------------------------------
  def from_labels(self, labels_TxP: np.ndarray, *,
                  qpm: float = note_seq.DEFAULT_QUARTERS_PER_MINUTE) -> NoteSequence:
    """One window as a trio at ``qpm`` (Magenta: 120), velocity 80 (Magenta's decode).

    Melody: instrument 0, program 0; bass: instrument 1, program 33 (electric bass); drums:
    instrument 9, ``is_drum``, each class at its first pitch, one step long. Unlike Magenta,
    ``total_time`` is the whole window (Magenta ends it at the last note), so trailing silence is
    kept.
    """
    labels = np.asarray(labels_TxP).reshape(-1, self.num_parts)
    sequence = self._melody.from_labels(labels[:, 0], instrument=MELODY_INSTRUMENT, program=0,
                                        qpm=qpm)
    bass = self._melody.from_labels(labels[:, 1], instrument=BASS_INSTRUMENT,
                                    program=ELECTRIC_BASS_PROGRAM, qpm=qpm)
    drums = self._drums.from_labels(labels[:, 2], qpm=qpm)
    sequence.notes.extend(bass.notes)
    sequence.notes.extend(drums.notes)
    sequence.total_time = len(labels) * 60.0 / qpm / self.steps_per_quarter
    return sequence

  def to_labels(self, note_sequence: NoteSequence) -> np.ndarray:
    """One window's labels [T, 3] from a NoteSequence that fits one window.

    The inverse of ``from_labels`` up to ``melody.canonical_melody_labels`` on the melody and bass
    columns. Parts are told apart by program as Magenta types instruments: non-drum programs 0-31
    are melody, 32-39 bass, drum notes are drums; each part is encoded from step 0 over T steps
    (highest note wins, no gap splitting, no window search).
    """
    quantized = sequences_lib.quantize_note_sequence(note_sequence, self.steps_per_quarter)

    def part(programs):
      return melody_lib.encode_window(
          quantized, steps=self.max_seq_len, min_pitch=self.min_pitch, max_pitch=self.max_pitch,
          valid_programs=programs, keep_note=lambda n: not n.is_drum, quantized=True)

    drum_labels = self._drums.to_labels(note_sequence).reshape(-1)
    return np.stack([part(TRIO.melody_programs), part(TRIO.bass_programs), drum_labels],
                    axis=-1).astype(np.int16)
