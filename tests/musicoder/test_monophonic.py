"""The best single line through a real POP909 song's notes: it is one voice, it is the best such
set (checked against every subset of short stretches), and a line through the MELODY track is
kept whole."""

import itertools

import numpy as np
import pytest

from musicvae_jax.converters import pianoroll
from musicvae_jax.musicoder import melody_notes
from musicvae_jax.musicoder import monophonic

from conftest import SHARED

SONG = SHARED / 'data' / 'pop909' / 'songs' / '005' / '005.mid'


@pytest.fixture(scope='module')
def song():
  return melody_notes.read_song(SONG, pianoroll.PianoRollConverter(slice_bars=4, min_notes=4))


def clashes(start, end, overlap=1):
  """Whether any two notes share an onset or overlap by more than ``overlap`` frames."""
  order = np.argsort(start, kind='stable')
  s, e = start[order], end[order]
  return bool(np.any(s[1:] == s[:-1]) or np.any(e[:-1] - overlap > s[1:]))


def test_the_melody_tracks_notes_are_kept_when_they_score_best(song):
  melody = song.classes == 2
  log_odds = np.where(melody, 1.0, -1.0)
  kept = monophonic.best_line(song.start, song.end, log_odds)
  assert not kept[~melody].any()
  assert kept.sum() >= 0.99 * melody.sum()   # the track is one voice but for a few notes


def test_the_line_is_one_voice_and_drops_what_scores_below_zero(song):
  log_odds = np.random.default_rng(0).normal(size=len(song))
  kept = monophonic.best_line(song.start, song.end, log_odds)
  assert kept.sum() > 50 and not clashes(song.start[kept], song.end[kept])
  assert np.all(log_odds[kept] > 0)


def test_the_line_is_the_best_of_every_subset_on_short_stretches(song):
  rng = np.random.default_rng(1)
  for first in range(0, 600, 60):
    s, e = song.start[first:first + 12], song.end[first:first + 12]
    w = rng.normal(size=len(s))
    kept = monophonic.best_line(s, e, w)
    best = 0.0
    for r in range(1, len(s) + 1):
      for subset in itertools.combinations(range(len(s)), r):
        idx = list(subset)
        if not clashes(s[idx], e[idx]):
          best = max(best, w[idx][w[idx] > 0].sum() if np.all(w[idx] > 0) else -np.inf)
    assert w[kept].sum() == pytest.approx(best)
    assert not clashes(s[kept], e[kept])


def test_nothing_positive_keeps_nothing(song):
  assert not monophonic.best_line(song.start, song.end, -np.ones(len(song))).any()
  assert not monophonic.best_line(song.start[:0], song.end[:0], np.zeros(0)).any()
