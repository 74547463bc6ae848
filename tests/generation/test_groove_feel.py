"""A played take's feel (``generation.groove_feel``) on real Groove MIDI performances."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import SHARED_MIDI
from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax import converters
from musicvae_jax.converters import midi_io
from musicvae_jax.generation import groove_feel

DRUMS = SHARED_MIDI / 'drums'
FUNK = DRUMS / 'gmd_drummer1_session1_102_funk_95_beat_4-4.mid'
SWING = DRUMS / 'gmd_drummer10_session1_1_jazz-swing_124_beat_4-4.mid'


def played(path) -> np.ndarray:
  """[S, 27] a performance on the humanize config's grid, with its velocities and offsets."""
  converter = converters.get_converter(config_boundary.data_spec(
      config_lib.get_config('groovae_2bar_humanize').data))
  quantized, reason = converter.quantize(midi_io.read_midi(path))
  assert quantized is not None, reason
  targets, reason = converter.grid(quantized)
  assert targets is not None, reason
  return targets.astype(np.float32)


def halves(targets):
  bars = len(targets) // 16
  cut = bars // 2 * 16
  return targets[:cut], targets[cut:bars * 16]


@pytest.mark.parametrize('path', [FUNK, SWING], ids=['funk', 'swing'])
def test_the_first_half_of_a_take_plays_its_second_half_closer_than_the_grid(path):
  first, second = halves(played(path))
  hits = second[:, :9]
  on = hits > 0.5
  assert on.sum() > 100
  grid = np.concatenate([hits, hits * second[:, 9:18][on].mean(), 0 * hits], -1)
  feel = groove_feel.Feel.of(first).play(hits, grid)
  timing = lambda g: np.abs(g[:, 18:] - second[:, 18:])[on].mean()  # noqa: E731
  velocity = lambda g: np.abs(g[:, 9:18] - second[:, 9:18])[on].mean()  # noqa: E731
  assert timing(feel) < 0.9 * timing(grid)
  assert velocity(feel) < 0.9 * velocity(grid)
  np.testing.assert_array_equal(feel[:, :9], hits)   # the hits are never touched


def test_cells_fall_back_from_the_bar_to_the_beat_to_the_drum():
  take = played(FUNK)
  feel = groove_feel.Feel.of(take)
  on = take[:, :9] > 0.5
  step = np.arange(len(take)) % 16
  offsets = take[:, 18:]
  checked = set()
  for c in range(9):
    for s in range(16):
      at_step = offsets[(step == s) & on[:, c], c]
      at_beat = offsets[(step % 4 == s % 4) & on[:, c], c]
      if len(at_step) >= groove_feel.MIN_HITS:
        want, level = np.median(at_step), 'bar'
      elif len(at_beat) >= groove_feel.MIN_HITS:
        want, level = np.median(at_beat), 'beat'
      elif on[:, c].any():
        want, level = np.median(offsets[on[:, c], c]), 'drum'
      else:
        assert np.isnan(feel.offset_PxC[s, c]) and not feel.hits_C[c]
        checked.add('never played')
        continue
      assert feel.offset_PxC[s, c] == pytest.approx(want, abs=1e-6)
      checked.add(level)
  assert checked >= {'bar', 'beat', 'never played'}


def test_a_drum_the_take_never_plays_keeps_the_fallback():
  take = played(FUNK)
  feel = groove_feel.Feel.of(take)
  silent = int(np.flatnonzero(feel.hits_C == 0)[0])
  hits = np.zeros((32, 9), np.float32)
  hits[::2, silent] = 1.0
  hits[::4, int(np.argmax(feel.hits_C))] = 1.0
  fallback = np.concatenate([hits, hits * 0.3, hits * 0.1], -1)
  out = feel.play(hits, fallback)
  np.testing.assert_array_equal(out[:, [9 + silent, 18 + silent]],
                                fallback[:, [9 + silent, 18 + silent]])
  assert not np.array_equal(out, fallback)


def test_a_groove_that_is_not_whole_bars_is_refused():
  with pytest.raises(ValueError, match='not whole bars of 16 steps'):
    groove_feel.Feel.of(played(FUNK)[:20])
