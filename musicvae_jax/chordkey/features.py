"""A song's per-beat features and labels for the chord/key model (numpy only, no jax).

Shapes: B = beats, F = 37 features: PIANO chroma, PIANO bass chroma and MELODY+BRIDGE chroma
(each a 12-wide pitch-class block, the chromas normalised by their per-beat maximum), then a
silence flag. Labels: chord classes [B] (``vocabulary``: 181) and key classes [B] (24).

Transposing by k semitones rolls each pitch-class block up k and moves chord roots and key
tonics by k, so augmentation needs no MIDI.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from musicvae_jax.chordkey import vocabulary

NUM_BLOCKS = 3   # 12-wide pitch-class blocks at the front of the features (rolled by transposes)
NUM_FEATURES = 12 * NUM_BLOCKS + 1


# --- features and labels ----------------------------------------------------------------------

def _norm(chroma_b12):
  return chroma_b12 / np.maximum(chroma_b12.max(axis=1, keepdims=True), 1e-9)


def song_features(song) -> np.ndarray:
  """[B, F] float32: PIANO chroma, PIANO bass chroma, MELODY+BRIDGE chroma, silence flag."""
  piano_b12 = song.chroma(('PIANO',))
  silent_b1 = (piano_b12.sum(axis=1, keepdims=True) == 0).astype(float)
  parts = [_norm(piano_b12), song.bass_chroma(('PIANO',)), _norm(song.chroma(('MELODY', 'BRIDGE'))),
           silent_b1]
  return np.concatenate(parts, axis=1).astype(np.float32)


def song_labels(song):
  """([B] chord classes, [B] key classes) as int32."""
  chords_b = np.array([vocabulary.chord_index(lab) for lab in song.chord_labels_b], np.int32)
  keys_b = np.array([vocabulary.key_index(lab) for lab in song.key_labels_b()], np.int32)
  return chords_b, keys_b


def transpose_chords(chords, k: int):
  """Chord classes moved up k semitones (class 1 + 15 * root + quality; N stays N)."""
  chords = np.asarray(chords)
  nq = len(vocabulary.QUALITIES)
  root, quality = np.divmod(np.maximum(chords - 1, 0), nq)
  return np.where(chords == 0, 0, 1 + nq * ((root + k) % 12) + quality).astype(chords.dtype)


def transpose_keys(keys, k: int):
  """Key classes (tonic + 12 * minor) moved up k semitones."""
  keys = np.asarray(keys)
  return ((keys % 12 + k) % 12 + 12 * (keys >= 12)).astype(keys.dtype)


def transpose_features(x_TxF, k: int):
  """Rolls each 12-wide pitch-class block up k semitones (pitch class p -> p + k)."""
  blocks = [np.roll(x_TxF[..., 12 * i:12 * i + 12], k, axis=-1) for i in range(NUM_BLOCKS)]
  return np.concatenate(blocks + [x_TxF[..., 12 * NUM_BLOCKS:]], axis=-1)


@dataclasses.dataclass
class Example:
  """One song's arrays: features [B, F], chord and key classes [B]."""
  x_bf: np.ndarray
  chords_b: np.ndarray
  keys_b: np.ndarray


def example(song) -> Example:
  return Example(song_features(song), *song_labels(song))
