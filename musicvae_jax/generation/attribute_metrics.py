"""Musical attributes of label windows, for MusicVAE attribute vectors (numpy only, no jax).

The attributes of Roberts et al. (2018), section 5.5 and its online supplement ("C diatonic",
"note density", "average interval", "16th note syncopation", "8th note syncopation"), plus pitch
range: one number per window, computed from the integer label windows of
``musicvae_jax.converters``, read as ``converters/vocabulary.py`` defines them. Melody labels are
90-way (no event: the sounding note or silence goes on; note-off; the onset of a MIDI pitch);
drum labels are 512-way (bit c set: drum class c is hit).

Steps are 16th notes counted from the window's first step, which the converters place on a bar
line (4 steps per quarter): step % 2 == 1 is a 16th between 8th notes, step % 4 == 2 an 8th
between beats.

A melody note starts at its note-on step ``onset`` and ends (exclusive) at ``end``: the next
note-on or note-off, or the window length T, as ``MelodyConverter.from_labels`` decodes it. A
note-off that ends no note is ignored. Only notes that start in the window count: a note held in
from before it (NO_EVENT at step 0) is invisible, and a note cut by the window's end ends at T
(so it is not syncopated when T comes before the boundary it would cross). With n notes in a
T-step window, the melody attributes (``MELODY_ATTRIBUTES``) are:

* note_density: n / T, note onsets per step (0..1).
* average_interval: the mean of |pitch difference| in semitones over the n - 1 pairs of
  consecutive notes (rests between them do not matter); 0 when n < 2.
* syncopation_16th: the fraction of the n notes with onset % 2 == 1 that still sound at the next
  8th-note boundary (end > onset + 1); 0 when n == 0.
* syncopation_8th: the fraction of the n notes with onset % 4 == 2 that are held across the next
  beat (end > onset + 2); 0 when n == 0.
* pitch_range: highest minus lowest pitch in semitones; 0 when n < 2.
* c_diatonic: the fraction of the n notes whose pitch class is in C major {0, 2, 4, 5, 7, 9, 11}
  (C D E F G A B); 0 when n == 0.

Drum labels carry no durations, so the drum syncopations count hit steps (steps where any class is
hit), h of them. The drum attributes (``DRUM_ATTRIBUTES``) are:

* note_density: hits over all classes (set bits of the labels) / T, 0..9 per step.
* syncopation_16th: the fraction of the h hit steps with step % 2 == 1; 0 when h == 0.
* syncopation_8th: the fraction of the h hit steps with step % 4 == 2; 0 when h == 0.

Trio windows [T, 3] (melody, bass, drums) get the melody attributes of their melody column,
named as for melody: the paper defines these attributes on melodies, and the melody is the part
a listener follows. For the bass, call ``compute(labels[..., 1:2], 'melody')``; for the drums,
``compute(labels[..., 2:3], 'drums')``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from musicvae_jax import errors
from musicvae_jax.converters import drums as drums_lib
from musicvae_jax.converters import melody as melody_lib
from musicvae_jax.converters import trio as trio_lib
from musicvae_jax.converters import vocabulary

MELODY = vocabulary.MELODY  # the melody part of melody and trio windows
DRUMS = vocabulary.DRUMS

# Each kind of window and its vocabulary, as the converters declare them.
_VOCABULARIES = {converter.kind: converter.vocabulary for converter in (
    melody_lib.MelodyConverter, drums_lib.DrumsConverter, trio_lib.TrioConverter)}
KINDS = tuple(_VOCABULARIES)

MELODY_ATTRIBUTES = ('note_density', 'average_interval', 'syncopation_16th', 'syncopation_8th',
                     'pitch_range', 'c_diatonic')
DRUM_ATTRIBUTES = ('note_density', 'syncopation_16th', 'syncopation_8th')

_C_MAJOR = np.zeros(12, dtype=bool)
_C_MAJOR[[0, 2, 4, 5, 7, 9, 11]] = True


class AttributeKindError(errors.UserError, ValueError):
  """Windows of a kind the attributes are not defined on (drum rolls, GrooVAE, multiperf)."""


def _check_kind(kind: str) -> None:
  if kind not in KINDS:
    raise AttributeKindError(
        f'attributes are measured on {", ".join(map(repr, KINDS))} windows; these are '
        f'{kind!r} windows, which they are not defined on.')


def attribute_names(kind: str) -> tuple[str, ...]:
  """The names ``compute`` returns for ``kind`` ('melody', 'drums' or 'trio'), in order."""
  _check_kind(kind)
  return DRUM_ATTRIBUTES if kind == 'drums' else MELODY_ATTRIBUTES


def _as_windows(labels, kind: str) -> np.ndarray:
  """``labels`` as an int64 [N, T, P] array, checked against the label ranges of ``kind``."""
  bounds = _VOCABULARIES[kind].part_depths  # exclusive label bounds of each part
  windows = np.asarray(labels)
  if windows.ndim == 2 and len(bounds) == 1:
    windows = windows[:, :, None]
  if windows.ndim != 3 or windows.shape[2] != len(bounds) or windows.shape[1] == 0:
    raise ValueError(f'{kind} labels must be [N, T, {len(bounds)}] with T > 0, got shape '
                     f'{windows.shape}.')
  if windows.size and not np.issubdtype(windows.dtype, np.integer):
    raise ValueError(f'Labels must be integers, got dtype {windows.dtype}.')
  windows = windows.astype(np.int64)
  for part, bound in enumerate(bounds):
    column = windows[:, :, part]
    if column.size and (column.min() < 0 or column.max() >= bound):
      raise ValueError(f'{kind} labels of part {part} must lie in 0..{bound - 1}, got '
                       f'{column.min()}..{column.max()}.')
  return windows


def _next_event(labels_NxT: np.ndarray) -> np.ndarray:
  """[N, T]: for each step t, the first step s > t with a note-on or note-off, else T."""
  n, t = labels_NxT.shape
  event_steps = np.where(labels_NxT != MELODY.NO_EVENT, np.arange(t), t)
  # A running minimum from the right gives the first event at or after each step; shift by one.
  at_or_after = np.minimum.accumulate(event_steps[:, ::-1], axis=1)[:, ::-1]
  return np.concatenate([at_or_after[:, 1:], np.full((n, 1), t)], axis=1)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
  """numerator / denominator as float64, 0 where the denominator is not positive."""
  out = np.zeros(np.shape(numerator), dtype=np.float64)
  return np.divide(numerator, denominator, out=out, where=np.asarray(denominator) > 0)


def melody_notes(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(onsets, ends, pitches) of the notes of one melody window (labels [T] or [T, 1]).

  Each an int64 array with one entry per note, in time order: the onset step, the end step
  (exclusive: the next note-on or note-off, or T) and the MIDI pitch.
  """
  labels = _as_windows(np.asarray(labels).reshape(1, -1), 'melody')[:, :, 0]
  onsets = np.flatnonzero(MELODY.is_onset(labels[0]))
  ends = _next_event(labels)[0, onsets]
  pitches = MELODY.onset_pitch(labels[0, onsets])
  return onsets, ends, pitches


def _melody_attributes(labels_NxT: np.ndarray) -> dict[str, np.ndarray]:
  num_windows, num_steps = labels_NxT.shape
  steps = np.arange(num_steps)
  is_onset = MELODY.is_onset(labels_NxT)
  num_notes = is_onset.sum(axis=1)
  held = _next_event(labels_NxT) - steps  # at an onset: the note's length in steps
  sync_16th = is_onset & (steps % 2 == 1) & (held > 1)
  sync_8th = is_onset & (steps % 4 == 2) & (held > 2)
  pitch = MELODY.onset_pitch(labels_NxT)
  in_c_major = is_onset & _C_MAJOR[pitch % 12]
  highest = np.where(is_onset, pitch, -1).max(axis=1)
  lowest = np.where(is_onset, pitch, 128).min(axis=1)
  # Consecutive notes: the onsets in row-major order, pairs that stay within one window.
  rows, cols = np.nonzero(is_onset)
  same_window = rows[1:] == rows[:-1]
  jumps = np.abs(np.diff(pitch[rows, cols]))[same_window]
  interval_sum = np.bincount(rows[1:][same_window], weights=jumps, minlength=num_windows)
  return {
      'note_density': num_notes / np.float64(num_steps),
      'average_interval': _ratio(interval_sum, num_notes - 1),
      'syncopation_16th': _ratio(sync_16th.sum(axis=1), num_notes),
      'syncopation_8th': _ratio(sync_8th.sum(axis=1), num_notes),
      'pitch_range': np.where(num_notes >= 2, highest - lowest, 0).astype(np.float64),
      'c_diatonic': _ratio(in_c_major.sum(axis=1), num_notes),
  }


def _drum_attributes(labels_NxT: np.ndarray) -> dict[str, np.ndarray]:
  num_steps = labels_NxT.shape[1]
  steps = np.arange(num_steps)
  class_hits = (labels_NxT[:, :, None] >> np.arange(DRUMS.num_classes)) & 1
  is_hit = labels_NxT != 0
  num_hit_steps = is_hit.sum(axis=1)
  return {
      'note_density': class_hits.sum(axis=(1, 2)) / np.float64(num_steps),
      'syncopation_16th': _ratio((is_hit & (steps % 2 == 1)).sum(axis=1), num_hit_steps),
      'syncopation_8th': _ratio((is_hit & (steps % 4 == 2)).sum(axis=1), num_hit_steps),
  }


def compute(labels_NxTxP: np.ndarray | Sequence[np.ndarray], kind: str) -> dict[str, np.ndarray]:
  """{attribute name: [N] float64} for N label windows of ``kind`` ('melody', 'drums', 'trio').

  ``labels_NxTxP``: [N, T, P] integer labels (or a list of [T, P] windows); melody and drums also
  take [N, T]. P is 1 for melody and drums, 3 for trio. Keys in ``attribute_names(kind)`` order.
  Raises ValueError for an unknown kind, a wrong shape or labels outside the kind's classes.
  """
  _check_kind(kind)
  windows = _as_windows(labels_NxTxP, kind)
  if kind == 'drums':
    return _drum_attributes(windows[:, :, 0])
  return _melody_attributes(windows[:, :, 0])
