"""MIDI files -> windows of beats for the chord/key model: features, and labels where known.

Shapes: T = beats per window (``slice_bars`` x ``quarters_per_bar`` with one step per quarter,
``steps_per_quarter=1``), F = 37 features (``chordkey.features``). A window is float32 [T, 42]:

  columns 0-36  the beat's features (three pitch-class blocks and a silence flag)
  column 37     the chord class (181, ``chordkey.vocabulary``; 0 where unknown)
  column 38     the key class (24; 0 where unknown)
  column 39     1 where the beat's chord and key are known, else 0
  column 40     the beat's length in seconds (mir_eval weighs its scores by time)
  column 41     1 on a real beat, 0 on the padding of a song's last window

Unlike the other converters this one reads files, not NoteSequences (``reads_files``): a file in
a POP909-style folder, with ``beat_midi.txt``, ``chord_midi.txt`` and ``key_audio.txt`` beside it,
is read on that beat grid with its labels (``chordkey.pop909``); any other MIDI file is read on
the beats of its own tempo map, its instruments given the roles the model reads
(``chordkey.midi_input``), unlabelled. So one folder can mix labelled and unlabelled music, as
semi-supervised training wants. Prepare still reads every file through ``midi_io`` first, so a
broken file is skipped with the same reasons as everywhere else.

Windows are non-overlapping, from a song's first beat; the last is padded (column 41 is 0 there)
so every beat is in exactly one window, and evaluation scores each beat once. Transposing
(``transpose``) rolls the pitch-class blocks and moves chord roots and key tonics: any shift fits.
"""

from __future__ import annotations

import collections
import pathlib

import numpy as np

from musicvae_jax.chordkey import features, midi_input, pop909, vocabulary
from musicvae_jax.converters import base

CHORD, KEY, HAS_LABELS, SECONDS, REAL = range(features.NUM_FEATURES, features.NUM_FEATURES + 5)
COLUMNS = REAL + 1


class ChordKeyConverter:
  """MIDI file -> float32 [T, 42] windows of beats (see the module docstring)."""

  kind = 'chordkey'
  reads_files = True
  window_dtype = np.float32

  def __init__(self, *, slice_bars: int, steps_per_quarter: int = 1, quarters_per_bar: int = 4,
               min_notes: int = 1):
    if steps_per_quarter != 1:
      raise ValueError(f'steps_per_quarter={steps_per_quarter}: chord/key windows have one step '
                       'per beat (1).')
    self.slice_bars, self.quarters_per_bar = slice_bars, quarters_per_bar
    self.steps_per_quarter = 1
    self.min_notes = min_notes

  @property
  def max_seq_len(self) -> int:
    return self.slice_bars * self.quarters_per_bar

  @property
  def part_depths(self) -> tuple[int, ...]:
    return (vocabulary.NUM_CHORDS, vocabulary.NUM_KEYS)

  @property
  def output_depth(self) -> int:
    return COLUMNS

  @property
  def input_depth(self) -> int:
    return features.NUM_FEATURES

  def read(self, path):
    """(the file as a ``pop909.Song``, whether its labels are known)."""
    path = pathlib.Path(path)
    if pop909.has_labels(path):
      try:
        return pop909.load_song_folder(path.parent, path), True
      except (OSError, ValueError) as e:
        raise midi_input.MidiInputError(f'{path}: its POP909 label files cannot be used '
                                        f'({type(e).__name__}: {e}).') from e
    song, _, _ = midi_input.read_midi(path)
    return song, False

  def song_rows(self, song, labelled: bool) -> np.ndarray:
    """float32 [B, 42]: every beat of ``song`` as a window row."""
    x_bf = features.song_features(song)
    rows = np.zeros((len(x_bf), COLUMNS), np.float32)
    rows[:, :features.NUM_FEATURES] = x_bf
    if labelled:
      chords_b, keys_b = features.song_labels(song)
      rows[:, CHORD], rows[:, KEY], rows[:, HAS_LABELS] = chords_b, keys_b, 1.0
    rows[:, SECONDS] = np.diff(song.beat_times_b1)
    rows[:, REAL] = 1.0
    return rows

  def extract_file(self, path) -> base.Extraction:
    """Every window of the MIDI file at ``path``; raises ``midi_input.MidiInputError`` (naming
    the file) when it cannot be read onto beats."""
    song, labelled = self.read(path)
    notes = sum(len(n) for n in song.notes.values())
    result = base.Extraction(skipped=collections.Counter())
    if notes < self.min_notes:
      result.skipped['too_few_notes'] += 1
      return result
    rows = self.song_rows(song, labelled)
    t = self.max_seq_len
    for start in range(0, len(rows), t):
      window = np.zeros((t, COLUMNS), np.float32)
      part = rows[start:start + t]
      window[:len(part)] = part
      result.windows.append(window)
    return result

  def transpose(self, window_TxD: np.ndarray, shift: int) -> np.ndarray:
    """The window moved up ``shift`` semitones: features rolled, chords and keys moved (the
    labels of unlabelled beats stay 0)."""
    out = np.array(window_TxD, np.float32, copy=True)
    k = int(shift) % 12
    out[:, :features.NUM_FEATURES] = features.transpose_features(
        window_TxD[:, :features.NUM_FEATURES], k)
    known = window_TxD[:, HAS_LABELS] > 0
    chords = features.transpose_chords(window_TxD[:, CHORD].astype(np.int32), k)
    keys = features.transpose_keys(window_TxD[:, KEY].astype(np.int32), k)
    out[:, CHORD] = np.where(known, chords, 0)
    out[:, KEY] = np.where(known, keys, 0)
    return out
