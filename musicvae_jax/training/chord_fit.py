"""Do sampled melodies follow the chords they were decoded under?

A melody obeys its chords when its note onsets land on the sounding chord's tones. The measure is
the share of onsets, over steps with a chord (N.C. steps are not scored), whose pitch class is one
of the chord's triad. Three players are scored against the same progressions (real ones, taken
from held-out windows):

* ``conditioned``: the chord model's samples decoded under each progression;
* ``shuffled``: the same model and codes decoded under another window's progression (a
  derangement, so no window keeps its own), scored against the progression it was not told;
* ``unconditioned``: a melody model without chords (cat-mel_2bar_small), scored against the
  progressions as if it had been told them.

Chance is about 3/7 for diatonic melodies against diatonic triads; a model that hears its chords
sits well above the two others.
"""

from __future__ import annotations

import functools
import warnings

import jax
import numpy as np

from musicvae_jax.converters import chords as chords_lib
from musicvae_jax.converters import vocabulary

with warnings.catch_warnings():
  warnings.simplefilter('ignore', RuntimeWarning)
  from note_seq import chord_symbols_lib

_MELODY = vocabulary.MELODY


@functools.lru_cache(maxsize=None)
def chord_pitch_classes(chord: int) -> frozenset:
  """The pitch classes of a triad class (empty for N.C.)."""
  symbol = chords_lib.chord_symbol(chord)
  if symbol == chords_lib.NO_CHORD:
    return frozenset()
  return frozenset(p % 12 for p in chord_symbols_lib.chord_symbol_pitches(symbol))


@functools.lru_cache(maxsize=1)
def _tone_table() -> np.ndarray:
  """[49, 12] bool: pitch class p is a tone of triad class c."""
  table = np.zeros((chords_lib.CHORD_CLASSES, 12), bool)
  for chord in range(chords_lib.CHORD_CLASSES):
    table[chord, list(chord_pitch_classes(chord))] = True
  return table


def chord_tone_counts(melody_NxT, chords_NxT) -> tuple[int, int]:
  """(onsets on a chord tone, onsets under a chord) of melody labels under chord classes."""
  melody = np.asarray(melody_NxT)
  chords = np.asarray(chords_NxT)
  if melody.shape != chords.shape:
    raise ValueError(f'melody {melody.shape} and chords {chords.shape} must have one shape')
  scored = _MELODY.is_onset(melody) & (chords != 0)
  pitch_class = (melody - _MELODY.FIRST_PITCH_LABEL + _MELODY.min_pitch) % 12
  on_tone = _tone_table()[chords, pitch_class] & scored
  return int(on_tone.sum()), int(scored.sum())


def chord_tone_share(melody_NxT, chords_NxT) -> float:
  hits, total = chord_tone_counts(melody_NxT, chords_NxT)
  if not total:
    raise ValueError('no onset falls under a chord: nothing to score')
  return hits / total


def derangement(n: int, rng: np.random.Generator) -> np.ndarray:
  """A permutation of range(n) that moves every index (n >= 2)."""
  if n < 2:
    raise ValueError('a shuffle needs at least two progressions')
  while True:
    perm = rng.permutation(n)
    if (perm != np.arange(n)).all():
      return perm


def progressions(chords_NxT, *, min_distinct: int = 2) -> np.ndarray:
  """The held-out windows' progressions worth scoring: at least ``min_distinct`` chords (so a
  shuffle can change something) and no N.C. step."""
  chords = np.asarray(chords_NxT, np.int32)
  keep = [(c > 0).all() and len(set(c.tolist())) >= min_distinct for c in chords]
  return chords[np.asarray(keep, bool)]


def score(chord_model, progressions_NxT, *, key, temperature: float = 0.5,
          unconditioned_model=None, seed: int = 0) -> dict:
  """{player: {'share', 'onsets'}} for the players of the module's docstring."""
  chords = np.asarray(progressions_NxT, np.int32)
  n = len(chords)
  z = chord_model.sample_z(n, key=key)
  decode_key = jax.random.fold_in(key, 1)
  told = chord_model.decode_labels(z, key=decode_key, temperature=temperature, chords_NxT=chords)
  other = chords[derangement(n, np.random.default_rng(seed))]
  shuffled = chord_model.decode_labels(z, key=decode_key, temperature=temperature,
                                       chords_NxT=other)
  players = {'conditioned': told[..., 0], 'shuffled': shuffled[..., 0]}
  if unconditioned_model is not None:
    free = unconditioned_model.decode_labels(unconditioned_model.sample_z(n, key=key),
                                             key=decode_key, temperature=temperature)
    players['unconditioned'] = free[..., 0]
  out = {}
  for name, melody in players.items():
    hits, total = chord_tone_counts(melody, chords)
    out[name] = {'share': hits / max(total, 1), 'onsets': total}
  return out
