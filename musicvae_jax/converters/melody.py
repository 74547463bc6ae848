"""Melody: NoteSequence <-> 90-way melody labels, matching Magenta's ``OneHotMelodyConverter``.

A melody is one event per 16th-note step, encoded as ``vocabulary.MELODY`` says (note_seq's
``MelodyOneHotEncoding``): NO_EVENT (hold the note or the silence), NOTE_OFF, or the onset of a
pitch.

Extraction follows Magenta (music_vae/data.py ``OneHotMelodyConverter`` and
magenta/pipelines/melody_pipelines.py ``extract_melodies``), per time-change piece:

* keep the notes whose program is in ``valid_programs`` (None: any) and whose pitch is in
  [min_pitch, max_pitch]; drum and zero-velocity notes are ignored by the melody extraction;
* per instrument, cut melodies with note_seq's ``Melody.from_quantized_sequence``: the highest note
  wins among notes starting on the same step, a later onset cuts an earlier note, a melody starts
  on the bar holding its first note, ends once ``gap_bars`` bars pass after a note-off and is padded
  to a bar boundary; the next melody is searched from the following bar boundary;
* drop melodies under one bar, truncate to ``max_bars`` bars;
* slide windows of ``slice_bars`` bars with a one-bar hop and drop repeated windows of the piece.
"""

from __future__ import annotations

import warnings

import numpy as np

from musicvae_jax.converters import base
from musicvae_jax.converters import vocabulary

with warnings.catch_warnings():
  warnings.simplefilter('ignore', RuntimeWarning)
  import note_seq
  from note_seq import melodies_lib
  from note_seq import sequences_lib

NoteSequence = base.NoteSequence

MELODY = vocabulary.MELODY
# Short names of the vocabulary's labels, for this module and its callers.
NUM_CLASSES = MELODY.depth
NO_EVENT = MELODY.NO_EVENT
NOTE_OFF = MELODY.NOTE_OFF

OUTPUT_VELOCITY = 80
MIN_UNIQUE_PITCHES = 1  # Magenta's converter asks extract_melodies for at least one pitch class.
MIN_BARS = 1


def canonical_melody_labels(labels: np.ndarray) -> np.ndarray:
  """``labels`` with every NOTE_OFF that ends nothing replaced by NO_EVENT.

  A NOTE_OFF (class 1) at a step where no note sounds (before the window's first onset, or when
  the last event before it was already a NOTE_OFF) carries no information: decoding ignores it, so
  ``to_labels(from_labels(w))`` gives NO_EVENT there. This lossless normalisation is the only way a
  window differs from its decode/re-encode round trip. Works on a 1-D label array or on any array
  whose first axis is time (each column treated as its own melody, e.g. trio columns [T, 2]).
  """
  labels = np.asarray(labels)
  out = np.array(labels, copy=True)
  cols = out.reshape(out.shape[0], -1)
  steps = np.arange(cols.shape[0])[:, None]
  # For each step, the label of the last event (onset or NOTE_OFF) strictly before it.
  last_event = np.maximum.accumulate(np.where(cols != NO_EVENT, steps, -1), axis=0)
  prev_event = np.vstack([np.full((1, cols.shape[1]), -1), last_event[:-1]])
  prev_label = np.where(prev_event >= 0,
                        np.take_along_axis(cols, np.maximum(prev_event, 0), axis=0), NO_EVENT)
  cols[(cols == NOTE_OFF) & (prev_label < MELODY.FIRST_PITCH_LABEL)] = NO_EVENT
  return cols.reshape(labels.shape)


def clean_leading_note_offs(labels: np.ndarray) -> np.ndarray:
  """``labels`` [T] or [T, 1] with each NOTE_OFF before the first note onset made NO_EVENT.

  Magenta slices windows out of a note_seq ``Melody`` with ``melody[a:b]``, which builds a new
  Melody, and the Melody constructor replaces NOTE_OFFs before the first note with NO_EVENT.
  """
  labels = np.array(labels, copy=True)
  flat = labels.reshape(-1)
  onsets = np.flatnonzero(flat >= MELODY.FIRST_PITCH_LABEL)
  head = flat[:onsets[0]] if onsets.size else flat
  head[head == NOTE_OFF] = NO_EVENT
  return labels


def melody_events_to_labels(events) -> np.ndarray:
  """note_seq Melody events (-2 no event, -1 note off, pitch) -> 90-way labels (int16)."""
  ev = np.asarray(list(events), dtype=np.int64)
  labels = np.where(ev == melodies_lib.MELODY_NO_EVENT, NO_EVENT,
                    np.where(ev == melodies_lib.MELODY_NOTE_OFF, NOTE_OFF,
                             MELODY.onset_label(ev)))
  if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
    raise ValueError(f'Melody event outside pitches {MELODY.min_pitch}..{MELODY.max_pitch}: '
                     f'{events}')
  return labels.astype(np.int16)


def labels_to_melody_events(labels: np.ndarray) -> list[int]:
  """90-way labels -> note_seq Melody events."""
  out = []
  for v in np.asarray(labels).reshape(-1).tolist():
    if v == NO_EVENT:
      out.append(melodies_lib.MELODY_NO_EVENT)
    elif v == NOTE_OFF:
      out.append(melodies_lib.MELODY_NOTE_OFF)
    else:
      out.append(int(MELODY.onset_pitch(v)))
  return out


def check_pitch_range(min_pitch: int, max_pitch: int) -> None:
  """Refuses a pitch range other than the vocabulary's (the only one Magenta's configs use)."""
  if (min_pitch, max_pitch) != (MELODY.min_pitch, MELODY.max_pitch):
    raise ValueError(f'Only the {NUM_CLASSES}-way encoding of pitches {MELODY.min_pitch}..'
                     f'{MELODY.max_pitch} is supported, got {min_pitch}..{max_pitch}.')


def filter_notes(sequence: NoteSequence, *, min_pitch: int, max_pitch: int,
                 valid_programs=None) -> NoteSequence:
  """A copy of ``sequence`` with only the notes of valid program and pitch (Magenta's is_valid).

  Drum notes are kept here, as Magenta keeps them: the melody extraction ignores them itself.
  """
  programs = None if valid_programs is None else set(valid_programs)
  kept = NoteSequence()
  kept.CopyFrom(sequence)
  del kept.notes[:]
  kept.notes.extend(n for n in sequence.notes
                    if (programs is None or n.program in programs)
                    and min_pitch <= n.pitch <= max_pitch)
  return kept


def extract_melodies(quantized: NoteSequence, *, gap_bars, max_steps_truncate: int | None,
                     min_bars: int = MIN_BARS, pad_end: bool = True, skipped=None):
  """Magenta's ``extract_melodies`` (min_unique_pitches=1, highest note wins) -> note_seq Melodies.

  ``gap_bars`` None or 0 means no gap splitting (one melody per instrument).
  """
  gap = gap_bars if gap_bars else float('inf')
  steps_per_bar = int(sequences_lib.steps_per_bar_in_quantized_sequence(quantized))
  melodies = []
  # Magenta iterates over a Python set of instrument numbers; the order does not change the
  # multiset of melodies, so we go in ascending order.
  for instrument in sorted(set(n.instrument for n in quantized.notes)):

    def fill(search_start_step, instrument=instrument):
      melody = melodies_lib.Melody()
      melody.from_quantized_sequence(
          quantized, search_start_step=search_start_step, instrument=instrument, gap_bars=gap,
          ignore_polyphonic_notes=True, pad_end=pad_end, filter_drums=True)
      return melody

    for melody in base.cut_tracks(fill, steps_per_bar=steps_per_bar, min_bars=min_bars,
                                  max_steps_truncate=max_steps_truncate, pad_end=pad_end,
                                  skipped=skipped, kind='melody'):
      if np.count_nonzero(melody.get_note_histogram()) < MIN_UNIQUE_PITCHES:
        if skipped is not None:
          skipped['melody_too_few_pitches'] += 1
        continue
      melodies.append(melody)
  return melodies


class MelodyConverter(base.Converter):
  """Magenta's ``OneHotMelodyConverter`` (one-hot 90-way inputs and outputs, no end token)."""

  kind = 'melody'
  vocabulary = MELODY

  def __init__(self, *, slice_bars: int, max_bars: int | None = 100, gap_bars: float | None = 1.0,
               min_pitch: int = MELODY.min_pitch, max_pitch: int = MELODY.max_pitch,
               valid_programs=None, skip_polyphony: bool = False, steps_per_quarter: int = 4,
               quarters_per_bar: int = 4, presplit_on_time_changes: bool = True,
               max_windows_per_sequence: int | None = None):
    super().__init__(slice_bars=slice_bars, steps_per_quarter=steps_per_quarter,
                     quarters_per_bar=quarters_per_bar,
                     presplit_on_time_changes=presplit_on_time_changes,
                     max_windows_per_sequence=max_windows_per_sequence)
    check_pitch_range(min_pitch, max_pitch)
    if skip_polyphony:
      raise ValueError('skip_polyphony=True is not supported (no shipped config uses it).')
    self.max_bars = max_bars
    self.gap_bars = gap_bars
    self.min_pitch = min_pitch
    self.max_pitch = max_pitch
    self.valid_programs = None if valid_programs is None else tuple(valid_programs)

  # ---- NoteSequence -> windows --------------------------------------------------------------
  def _extract_quantized(self, quantized: NoteSequence) -> base.Extraction:
    result = base.Extraction()
    # Magenta filters the notes before quantizing; quantization is per note, so filtering the
    # quantized copy gives the same notes and steps.
    notes = filter_notes(quantized, min_pitch=self.min_pitch, max_pitch=self.max_pitch,
                         valid_programs=self.valid_programs)
    max_steps = self.steps_per_bar * self.max_bars if self.max_bars else None
    melodies = extract_melodies(notes, gap_bars=self.gap_bars, max_steps_truncate=max_steps,
                                skipped=result.skipped)
    if not melodies:
      if not result.skipped:
        result.skipped['no_melody'] += 1
      return result
    windows = []
    for melody in melodies:
      labels = melody_events_to_labels(melody)[:, None]
      # As Magenta's ``melody[a:b]`` slices, NOTE_OFFs before a window's first note are dropped.
      melody_windows = [
          clean_leading_note_offs(w)
          for w in base.slice_windows(labels, self.max_seq_len, self.steps_per_bar)]
      if not melody_windows:
        result.skipped['melody_shorter_than_window'] += 1
      windows.extend(melody_windows)
    # Magenta dedupes the windows of one piece with a set (arbitrary order); we keep the first
    # occurrence of each, in melody order, so the result is deterministic. Same multiset.
    result.windows = base.dedupe_in_order(windows)
    return result

  # ---- windows <-> NoteSequence -------------------------------------------------------------
  def from_labels(self, labels_TxP: np.ndarray, *, instrument: int = 0, program: int = 0,
                  qpm: float = note_seq.DEFAULT_QUARTERS_PER_MINUTE) -> NoteSequence:
    """One window as a melody at ``qpm`` (Magenta: 120), velocity 80, program 0 (Magenta's decode).

    As Magenta (``Melody.to_sequence``) a note sounds until the next onset or NOTE_OFF, or the end
    of the window. Unlike Magenta, ``total_time`` is the whole window (Magenta ends it at the last
    note), so trailing silence is kept.
    """
    labels = np.asarray(labels_TxP).reshape(-1)
    melody = melodies_lib.Melody(events=labels_to_melody_events(labels),
                                 steps_per_quarter=self.steps_per_quarter,
                                 steps_per_bar=self.steps_per_bar)
    sequence = melody.to_sequence(velocity=OUTPUT_VELOCITY, instrument=instrument,
                                  program=program, qpm=qpm)
    sequence.total_time = len(labels) * 60.0 / qpm / self.steps_per_quarter
    return sequence

  def to_labels(self, note_sequence: NoteSequence) -> np.ndarray:
    """One window's labels [T, 1] from a NoteSequence that fits one window.

    The inverse of ``from_labels`` up to ``canonical_melody_labels``: quantizes, keeps the notes
    the extraction keeps (valid program and pitch, not drums, velocity > 0) from every instrument
    together, resolves polyphony by the highest note as the extraction does, and encodes steps
    0..T-1 (no gap splitting, no window search; notes past the window are cut).
    """
    return encode_window(note_sequence, steps=self.max_seq_len,
                         steps_per_quarter=self.steps_per_quarter, min_pitch=self.min_pitch,
                         max_pitch=self.max_pitch, valid_programs=self.valid_programs)[:, None]


def encode_window(note_sequence: NoteSequence, *, steps: int, steps_per_quarter: int = 4,
                  min_pitch: int = MELODY.min_pitch, max_pitch: int = MELODY.max_pitch,
                  valid_programs=None, keep_note=None, quantized: bool = False) -> np.ndarray:
  """Labels [steps] of one melody made of the notes of ``note_sequence``, from step 0.

  Keeps the notes the extraction keeps (pitch in range, program in ``valid_programs`` if given, and
  ``keep_note(note)`` if given) from every instrument together; drum and zero-velocity notes are
  ignored and polyphony is resolved by the highest note, as the extraction does. No gap splitting
  and no window search; notes past ``steps`` are cut. ``quantized``: the sequence is already
  quantized (else it is quantized here with ``steps_per_quarter``).
  """
  if not quantized:
    note_sequence = sequences_lib.quantize_note_sequence(note_sequence, steps_per_quarter)
  programs = None if valid_programs is None else set(valid_programs)
  # A light copy: the fields the melody extraction reads, and the kept notes on instrument 0.
  notes = NoteSequence()
  notes.quantization_info.CopyFrom(note_sequence.quantization_info)
  notes.time_signatures.extend(note_sequence.time_signatures)
  notes.tempos.extend(note_sequence.tempos)
  notes.total_quantized_steps = note_sequence.total_quantized_steps
  for note in note_sequence.notes:
    if (min_pitch <= note.pitch <= max_pitch
        and (programs is None or note.program in programs)
        and (keep_note is None or keep_note(note))):
      kept = notes.notes.add()
      kept.CopyFrom(note)
      kept.instrument = 0
  melody = melodies_lib.Melody()
  melody.from_quantized_sequence(notes, search_start_step=0, instrument=0,
                                 gap_bars=float('inf'), ignore_polyphonic_notes=True,
                                 pad_end=False, filter_drums=True)
  if not melody:
    return np.zeros(steps, dtype=np.int16)
  melody.set_length(len(melody) + melody.start_step, from_left=True)
  melody.set_length(steps)
  return melody_events_to_labels(melody)
