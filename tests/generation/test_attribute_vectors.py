"""Attribute vectors from real windows: which windows form each group, and the vector's maths."""

import types

import numpy as np
import pytest

from musicvae_jax import config_boundary
from musicvae_jax import bundled_data
from musicvae_jax import config_lib
from musicvae_jax.converters import midi_io
from musicvae_jax.generation import attribute_metrics
from musicvae_jax.generation import attribute_vectors


@pytest.fixture(scope='module')
def windows():
  converter = config_boundary.converter_of(config_lib.get_config('cat-mel_2bar_small'))
  paths = sorted(bundled_data.midi_dir('melody').glob('*.mid'))[::3]
  out = []
  for path in paths:
    out.extend(converter.extract(midi_io.read_midi(path)).windows)
  return np.stack(out).astype(np.int32)


def test_vector_is_top_quarter_minus_bottom_quarter(windows):
  """A code whose first coordinate is the attribute: the vector's first coordinate is the gap."""
  values = attribute_metrics.compute(windows, 'melody')
  rng = np.random.default_rng(0)
  mu = rng.standard_normal((len(windows), 8)).astype(np.float32)
  mu[:, 0] = values['pitch_range']
  vectors, stats = attribute_vectors.compute(mu, windows, 'melody')
  s = stats['pitch_range']
  quarter = len(windows) // 4
  assert s['top_count'] == s['bottom_count'] == quarter
  ranked = np.sort(values['pitch_range'])
  assert s['bottom_mean'] == pytest.approx(ranked[:quarter].mean())
  assert s['top_mean'] == pytest.approx(ranked[-quarter:].mean())
  assert vectors['pitch_range'][0] == pytest.approx(s['top_mean'] - s['bottom_mean'], rel=1e-5)
  assert not s['degenerate']
  # The other coordinates are noise: much smaller than the planted one.
  assert np.max(np.abs(vectors['pitch_range'][1:])) < 0.5 * vectors['pitch_range'][0]


def test_a_value_filling_a_quarter_gives_the_other_side_every_window_beyond_it(windows):
  """Syncopation is 0 in most folk windows: the top group is the syncopated windows only."""
  values = attribute_metrics.compute(windows, 'melody')['syncopation_8th']
  nonzero = int(np.sum(values > 0))
  assert attribute_vectors.MIN_GROUP <= nonzero < len(windows) // 4, nonzero
  mu = np.zeros((len(windows), 4), np.float32)
  mu[:, 0] = values > 0
  vectors, stats = attribute_vectors.compute(mu, windows, 'melody')
  s = stats['syncopation_8th']
  assert s['top_count'] == nonzero and s['top_mean'] == pytest.approx(values[values > 0].mean())
  assert s['bottom_mean'] == 0.0
  assert vectors['syncopation_8th'][0] == pytest.approx(1.0)  # no tied window diluting it


def test_same_windows_same_vectors_and_the_file_round_trips(windows, tmp_path):
  mu = np.random.default_rng(1).standard_normal((len(windows), 8)).astype(np.float32)
  a, _ = attribute_vectors.compute(mu, windows, 'melody')
  b, stats = attribute_vectors.compute(mu, windows, 'melody')
  for name in a:
    np.testing.assert_array_equal(a[name], b[name])
  meta = dict(config='cat-mel_2bar_small', z_size=8, statistics=stats)
  path = attribute_vectors.save(tmp_path / 'v.npz', a, meta)
  loaded, loaded_meta = attribute_vectors.load(path)
  assert loaded_meta == meta and sorted(loaded) == sorted(a)
  fits = types.SimpleNamespace(name='cat-mel_2bar_small', spec=types.SimpleNamespace(z_size=8))
  attribute_vectors.check_fits(path, loaded_meta, fits)
  other = types.SimpleNamespace(name='cat-drums_2bar_small', spec=types.SimpleNamespace(z_size=8))
  with pytest.raises(ValueError, match='cat-drums_2bar_small'):
    attribute_vectors.check_fits(path, loaded_meta, other)


def test_too_few_windows_and_a_missing_file_are_refused(windows, tmp_path):
  with pytest.raises(ValueError, match='at least 4'):
    attribute_vectors.compute(np.zeros((3, 2)), windows[:3], 'melody')
  with pytest.raises(FileNotFoundError, match='musicvae-attributes compute'):
    attribute_vectors.load(tmp_path / 'none.npz')
