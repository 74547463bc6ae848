"""slerp, lerp and the interpolation path: the closed formula, its geometry, and the exact ends.

Then pieces of several windows morphed on the bundled model (``decode_paths``,
``TrainedModel.interpolate_windows``), with bundled Nottingham tunes as the inputs.
"""

import warnings

import jax
import numpy as np
import pytest

from musicvae_jax import bundled_data
from musicvae_jax.generation import interpolation
from musicvae_jax.generation.trained_model import TrainedModel

with warnings.catch_warnings():  # note_seq's pydub warns that there is no ffmpeg
  warnings.simplefilter('ignore', RuntimeWarning)
  from note_seq import sequences_lib

Z = 16


def _codes(seed, n=2, size=Z):
  return np.random.default_rng(seed).normal(size=(n, size))


def _angle(a, b):
  return np.arccos(np.clip(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b), -1.0, 1.0))


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_slerp_matches_the_closed_formula(seed):
  p0, p1 = _codes(seed)
  omega = _angle(p0, p1)
  for t in (0.0, 0.1, 0.37, 0.5, 0.9, 1.0):
    want = (np.sin((1 - t) * omega) * p0 + np.sin(t * omega) * p1) / np.sin(omega)
    np.testing.assert_allclose(interpolation.slerp(p0, p1, t), want, rtol=1e-12, atol=1e-12)


def test_slerp_ends_are_the_inputs():
  p0, p1 = _codes(3)
  np.testing.assert_allclose(interpolation.slerp(p0, p1, 0.0), p0, rtol=0, atol=1e-12)
  np.testing.assert_allclose(interpolation.slerp(p0, p1, 1.0), p1, rtol=0, atol=1e-12)


def test_slerp_between_unit_vectors_stays_on_the_sphere_at_a_linear_angle():
  p0, p1 = _codes(4)
  p0, p1 = p0 / np.linalg.norm(p0), p1 / np.linalg.norm(p1)
  omega = _angle(p0, p1)
  assert 0.5 < omega < np.pi - 0.5  # a real arc, far from both degenerate cases
  ts = np.linspace(0.0, 1.0, 11)
  points = [interpolation.slerp(p0, p1, t) for t in ts]
  np.testing.assert_allclose([np.linalg.norm(p) for p in points], 1.0, rtol=0, atol=1e-12)
  np.testing.assert_allclose([_angle(p0, p) for p in points], ts * omega, rtol=0, atol=1e-7)
  np.testing.assert_allclose([_angle(p, p1) for p in points], (1 - ts) * omega, atol=1e-7)
  # ... and off the straight line, whose midpoint is shorter than the radius.
  assert np.linalg.norm(interpolation.lerp(p0, p1, 0.5)) < 1 - 1e-3


def test_slerp_scales_with_its_inputs():
  """slerp(c·p0, c·p1, t) = c·slerp(p0, p1, t): only the angle enters the weights."""
  p0, p1 = _codes(5)
  np.testing.assert_allclose(interpolation.slerp(3 * p0, 3 * p1, 0.3),
                             3 * interpolation.slerp(p0, p1, 0.3), rtol=1e-12)


@pytest.mark.parametrize('scale', [1.0, 2.5])
def test_parallel_codes_fall_back_to_the_straight_line(scale):
  p0 = _codes(6, n=1)[0]
  p1 = scale * p0
  for t in (0.0, 0.25, 0.5, 1.0):
    got = interpolation.slerp(p0, p1, t)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, (1 - t) * p0 + t * p1, rtol=1e-12)


def test_zero_code_falls_back_to_the_straight_line():
  p1 = _codes(7, n=1)[0]
  got = interpolation.slerp(np.zeros(Z), p1, 0.5)
  assert np.all(np.isfinite(got))
  np.testing.assert_allclose(got, 0.5 * p1, rtol=1e-12)


def test_lerp_midpoint_is_the_mean():
  p0, p1 = _codes(8)
  np.testing.assert_allclose(interpolation.lerp(p0, p1, 0.5), (p0 + p1) / 2, rtol=1e-12)
  np.testing.assert_allclose(interpolation.lerp(p0, p1, 0.25), 0.75 * p0 + 0.25 * p1, rtol=1e-12)


@pytest.mark.parametrize('method', interpolation.METHODS)
@pytest.mark.parametrize('num_steps', [2, 3, 7])
def test_path_has_the_inputs_exactly_at_its_ends(method, num_steps):
  z_a, z_b = _codes(9).astype(np.float32)
  got = interpolation.path(z_a, z_b, num_steps, method)
  assert got.shape == (num_steps, Z) and got.dtype == np.float32
  assert got[0].tobytes() == z_a.tobytes()
  assert got[-1].tobytes() == z_b.tobytes()
  fn = interpolation.slerp if method == 'slerp' else interpolation.lerp
  for i, t in enumerate(np.linspace(0.0, 1.0, num_steps)[1:-1], start=1):
    np.testing.assert_allclose(got[i], fn(z_a, z_b, t), rtol=1e-6, atol=1e-6)


def test_slerp_and_lerp_paths_differ_inside():
  z_a, z_b = _codes(10).astype(np.float32)
  s = interpolation.path(z_a, z_b, 5, 'slerp')
  line = interpolation.path(z_a, z_b, 5, 'lerp')
  np.testing.assert_array_equal(s[[0, -1]], line[[0, -1]])
  assert np.all(np.abs(s[1:-1] - line[1:-1]).max(axis=1) > 1e-3)


def test_path_default_method_is_slerp():
  z_a, z_b = _codes(11).astype(np.float32)
  np.testing.assert_array_equal(interpolation.path(z_a, z_b, 4),
                                interpolation.path(z_a, z_b, 4, 'slerp'))


@pytest.mark.parametrize('num_steps', [1, 0, -3])
def test_path_rejects_fewer_than_two_steps(num_steps):
  z_a, z_b = _codes(12)
  with pytest.raises(ValueError, match=f'num_steps={num_steps}'):
    interpolation.path(z_a, z_b, num_steps)


@pytest.mark.parametrize('method', ['linear', 'SLERP', ''])
def test_path_rejects_unknown_methods(method):
  z_a, z_b = _codes(13)
  with pytest.raises(ValueError, match='slerp, lerp'):
    interpolation.path(z_a, z_b, 3, method)


# ---- pieces of several windows, on the bundled model ---------------------------------------------
TUNES = ('nottingham_hpps11.mid', 'nottingham_morris19.mid')  # 4 and 5 windows of 2 bars


@pytest.fixture(scope='module')
def model():
  return TrainedModel.from_workdir()


@pytest.fixture(scope='module')
def pieces(model):
  return [model.read_windows(bundled_data.midi_dir('melody') / name).labels for name in TUNES]


def test_step_s_of_every_window_decodes_in_one_batch_step_major(model, pieces):
  """Piece s joins window k's code s, decoded as output s·W + k of one call under ``key``."""
  a, b = pieces[0][:2], pieces[1][:3]  # 2 and 3 windows: the first 2 of each are morphed
  key = jax.random.key(5)
  got = model.interpolate_windows(a, b, 4, key=key, method='lerp', temperature=0.5)
  assert len(got) == 4
  _, mu_a, _ = model.encode_labels(a)
  _, mu_b, _ = model.encode_labels(b[:2])
  codes = [interpolation.path(mu_a[k], mu_b[k], 4, 'lerp')[s] for s in range(4) for k in range(2)]
  decoded = model.decode_labels(codes, key=key, temperature=0.5)
  for s in range(4):
    assert got[s] == model.to_piece(decoded[2 * s:2 * s + 2])
  assert got[1] != got[2]


def test_two_windows_are_the_two_one_window_morphs_joined(model, pieces):
  """Greedy, so the keys do not matter: each window is morphed on its own, then joined."""
  a, b = pieces[0][:2], pieces[1][:2]
  both = model.interpolate_windows(a, b, 3, key=jax.random.key(0), temperature=0)
  alone = [model.interpolate_windows(a[k:k + 1], b[k:k + 1], 3, key=jax.random.key(1),
                                     temperature=0) for k in range(2)]
  for s in range(3):
    assert both[s] == sequences_lib.concatenate_sequences([alone[0][s], alone[1][s]])
  # The ends are the inputs' reconstructions.
  for end, labels in ((both[0], a), (both[-1], b)):
    again = model.reconstruct_windows(labels, key=jax.random.key(2), temperature=0)
    assert end == model.to_piece(again.labels[0])
  assert both[0] != both[1] != both[2]


def test_interpolate_is_the_one_window_case(model, pieces):
  """Same keys (output s under fold_in(key, s)), same music; only the encoding batch differs
  (both inputs in one call), which moves a code by far less than changes a sampled note."""
  seq_a = model.to_note_sequences(pieces[0][1:2])[0]  # a window of each tune
  seq_b = model.to_note_sequences(pieces[1][3:4])[0]
  key = jax.random.key(3)
  for method in interpolation.METHODS:
    got = model.interpolate(seq_a, seq_b, 5, key=key, method=method, temperature=0.5)
    want = model.interpolate_windows(model.to_labels([seq_a]), model.to_labels([seq_b]), 5,
                                     key=key, method=method, temperature=0.5)
    assert got == want
    assert got != model.interpolate(seq_a, seq_b, 5, key=jax.random.key(4), method=method,
                                    temperature=0.5)


def test_decode_paths_needs_a_pair_of_codes_per_window(model):
  with pytest.raises(ValueError, match='a pair per window'):
    interpolation.decode_paths(model, np.zeros((2, 256)), np.zeros((3, 256)), 3,
                               key=jax.random.key(0))
