"""slerp, lerp and the interpolation path: the closed formula, its geometry, and the exact ends."""

import numpy as np
import pytest

from musicvae_jax.generation import interpolation

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
