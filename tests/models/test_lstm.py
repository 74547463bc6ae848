"""lstm_scan against an independent formulation: Magenta's LSTMBlockCell equations step by step.

The reference (``_loop``) is written here from the equations, with nothing from
musicvae_jax.models.lstm but the function under test:

  c_t = σ(i)·tanh(j) + σ(f + 1)·c_{t-1},   h_t = σ(o)·tanh(c_t)   (gates i, j, f, o)

and a masked step (mask 0) keeps the state and outputs the kept h. It runs as a float64 numpy
loop for the forward values, as a Python loop of jnp steps for jax.grad, and its numpy loss
gives finite differences, so the gradients are checked two independent ways. All checks run in
float64 (jax_enable_x64 scoped to each test), so agreement to ~1e-12 shows the same maths.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from musicvae_jax.models import lstm

T, B, H = 7, 4, 5
LENGTHS = np.array([7, 3, 0, 5])  # full, partial, empty, partial


@pytest.fixture(autouse=True)
def x64():
  """float64 for the duration of one test only; the flag is restored afterwards."""
  before = jax.config.jax_enable_x64
  with jax.enable_x64(True):
    yield
  assert jax.config.jax_enable_x64 == before


def _inputs(seed=0, t=T, b=B, h=H):
  """Random pre-activations, recurrent kernel and initial state, float64 numpy."""
  rng = np.random.default_rng(seed)
  xw = rng.normal(size=(t, b, 4 * h))
  w_h = rng.normal(scale=0.5, size=(h, 4 * h))
  c0 = rng.normal(size=(b, h))
  h0 = np.tanh(rng.normal(size=(b, h)))
  return xw, w_h, c0, h0


def _length_mask(lengths, t=T):
  """[T, B]: 1 on the first ``length`` steps of each sequence."""
  return (np.arange(t)[:, None] < np.asarray(lengths)[None, :]).astype(np.float64)


MASKS = {
    'none': None,
    'length': _length_mask(LENGTHS),
    # A time-reversed right-padded sequence: the padding comes first.
    'leading_padding': _length_mask(LENGTHS)[::-1].copy(),
}


def _loop(xp, xw, w_h, c0, h0, mask=None):
  """The reference LSTM, one step at a time; ``xp`` is numpy or jax.numpy."""
  sigmoid = lambda x: 1.0 / (1.0 + xp.exp(-x))
  c, h, hs = c0, h0, []
  for t in range(xw.shape[0]):
    i, j, f, o = xp.split(xw[t] + h @ w_h, 4, axis=-1)
    c_new = sigmoid(i) * xp.tanh(j) + sigmoid(f + 1.0) * c
    h_new = sigmoid(o) * xp.tanh(c_new)
    if mask is None:
      c, h = c_new, h_new
    else:
      keep = mask[t][:, None] > 0
      c, h = xp.where(keep, c_new, c), xp.where(keep, h_new, h)
    hs.append(h)
  return xp.stack(hs), c, h


def _jax(*arrays):
  return tuple(None if a is None else jnp.asarray(a) for a in arrays)


@pytest.mark.parametrize('mask_name', list(MASKS))
def test_forward_matches_reference_loop(mask_name):
  """Outputs and final state equal the float64 numpy loop, with and without a mask."""
  mask = MASKS[mask_name]
  args = _inputs(seed=2)
  want = _loop(np, *args, mask)
  got = lstm.lstm_scan(*_jax(*args, mask))
  for name, g, w in zip(('h sequence', 'final c', 'final h'), got, want):
    assert g.dtype == jnp.float64, name
    np.testing.assert_allclose(g, w, rtol=0, atol=1e-12, err_msg=name)


def test_forward_matches_magenta_kernel_layout():
  """[x, h]·kernel + b with kernel [D + H, 4H], split as the package's layers split it."""
  rng = np.random.default_rng(1)
  d, t, b, h = 3, 6, 2, 4
  x = rng.normal(size=(t, b, d))
  kernel = rng.normal(scale=0.5, size=(d + h, 4 * h))
  bias = rng.normal(scale=0.5, size=(4 * h,))
  c0 = rng.normal(size=(b, h))
  h0 = np.tanh(rng.normal(size=(b, h)))
  sigmoid = lambda v: 1.0 / (1.0 + np.exp(-v))
  c, hh, want_seq = c0, h0, []
  for x_t in x:
    i, j, f, o = np.split(np.concatenate([x_t, hh], axis=-1) @ kernel + bias, 4, axis=-1)
    c = sigmoid(i) * np.tanh(j) + sigmoid(f + 1.0) * c
    hh = sigmoid(o) * np.tanh(c)
    want_seq.append(hh)
  xw = jnp.asarray(x @ kernel[:d] + bias)
  got_seq, got_c, got_h = lstm.lstm_scan(xw, *_jax(kernel[d:], c0, h0))
  np.testing.assert_allclose(got_seq, np.stack(want_seq), rtol=0, atol=1e-12)
  np.testing.assert_allclose(got_c, c, rtol=0, atol=1e-12)
  np.testing.assert_allclose(got_h, hh, rtol=0, atol=1e-12)
  # One step of lstm.cell (used by step-by-step decoding) is the same cell.
  _, h1 = lstm.cell(xw[0], *_jax(kernel[d:], c0, h0))
  np.testing.assert_allclose(h1, want_seq[0], rtol=0, atol=1e-12)


def test_float32_matches_float64_reference():
  """The float32 path (what training runs) agrees with the float64 loop to float32 precision."""
  args = _inputs(seed=6)
  want = _loop(np, *args, MASKS['length'])
  got = lstm.lstm_scan(*(jnp.asarray(a, jnp.float32) for a in args + (MASKS['length'],)))
  for g, w in zip(got, want):
    assert g.dtype == jnp.float32
    np.testing.assert_allclose(g, w, rtol=0, atol=1e-5)


def _cotangents(seed=7):
  """Random weights putting a gradient on every output (h sequence, final c, final h)."""
  rng = np.random.default_rng(seed)
  return rng.normal(size=(T, B, H)), rng.normal(size=(B, H)), rng.normal(size=(B, H))


def _loss(xp, scan, weights, mask):
  def loss(xw, w_h, c0, h0):
    outputs = scan(xw, w_h, c0, h0, mask)
    return sum(xp.sum(o * w) for o, w in zip(outputs, weights))
  return loss


def _grads(scan, args, mask):
  loss = _loss(jnp, scan, _jax(*_cotangents()), None if mask is None else jnp.asarray(mask))
  return jax.jit(jax.grad(loss, argnums=(0, 1, 2, 3)))(*_jax(*args))


@pytest.mark.parametrize('mask_name', list(MASKS))
def test_gradients_match_reference_loop(mask_name):
  """jax.grad through lstm_scan equals jax.grad through the step-by-step jnp reference."""
  mask = MASKS[mask_name]
  args = _inputs()
  got = _grads(lstm.lstm_scan, args, mask)
  want = _grads(lambda *a: _loop(jnp, *a), args, mask)
  for name, g, w in zip(('xw', 'w_h', 'c0', 'h0'), got, want):
    assert g.shape == w.shape and g.dtype == jnp.float64, name
    assert np.abs(w).max() > 1e-3, f'{name}: the reference gradient is trivially zero'
    np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12, err_msg=name)
  # Padding gets no gradient: nothing flows into the pre-activations of masked steps.
  if mask is not None:
    np.testing.assert_array_equal(np.asarray(got[0])[mask == 0], 0.0)
    assert np.abs(np.asarray(got[0])[mask > 0]).min() > 0


@pytest.mark.parametrize('mask_name', list(MASKS))
def test_gradients_match_finite_differences(mask_name):
  """Directional derivatives of the numpy loop's loss equal lstm_scan's gradient · direction."""
  mask = MASKS[mask_name]
  args = _inputs(seed=8)
  got = _grads(lstm.lstm_scan, args, mask)
  loss = _loss(np, lambda *a: _loop(np, *a), _cotangents(), mask)
  rng = np.random.default_rng(9)
  eps = 1e-6
  for k in range(3):
    # One input at a time, then all four together.
    which = [k] if k < 2 else [0, 1, 2, 3]
    direction = [rng.normal(size=a.shape) if n in which else np.zeros_like(a)
                 for n, a in enumerate(args)]
    plus = loss(*(a + eps * v for a, v in zip(args, direction)))
    minus = loss(*(a - eps * v for a, v in zip(args, direction)))
    numeric = (plus - minus) / (2 * eps)
    analytic = sum(np.sum(np.asarray(g) * v) for g, v in zip(got, direction))
    np.testing.assert_allclose(analytic, numeric, rtol=1e-7, err_msg=f'direction {which}')


def test_length_mask_final_state_is_prefix_state():
  """With a length mask each sequence's final state is that of its unpadded prefix alone."""
  xw, w_h, c0, h0 = _inputs(seed=4)
  _, c_t, h_t = lstm.lstm_scan(*_jax(xw, w_h, c0, h0, MASKS['length']))
  for b, n in enumerate(LENGTHS):
    if n == 0:
      want_c, want_h = c0[b:b + 1], h0[b:b + 1]
    else:
      _, want_c, want_h = _loop(np, xw[:n, b:b + 1], w_h, c0[b:b + 1], h0[b:b + 1])
    np.testing.assert_allclose(c_t[b:b + 1], want_c, rtol=0, atol=1e-12, err_msg=f'c, b={b}')
    np.testing.assert_allclose(h_t[b:b + 1], want_h, rtol=0, atol=1e-12, err_msg=f'h, b={b}')
  # The mask matters: sequence 1 (length 3) run unmasked ends elsewhere.
  _, _, h_full = lstm.lstm_scan(*_jax(xw, w_h, c0, h0))
  assert np.abs(h_full[1] - h_t[1]).max() > 1e-3


def test_leading_padding_final_state_is_suffix_state():
  """With leading padding the state stays at its initial value until the sequence starts."""
  xw, w_h, c0, h0 = _inputs(seed=5)
  h_seq, c_t, h_t = lstm.lstm_scan(*_jax(xw, w_h, c0, h0, MASKS['leading_padding']))
  for b, n in enumerate(LENGTHS):
    start = T - n
    # Before the start, the outputs repeat the initial h.
    np.testing.assert_array_equal(h_seq[:start, b], np.broadcast_to(h0[b], (start, H)))
    if n == 0:
      np.testing.assert_array_equal(c_t[b], c0[b])
      np.testing.assert_array_equal(h_t[b], h0[b])
      continue
    want_seq, want_c, want_h = _loop(np, xw[start:, b:b + 1], w_h, c0[b:b + 1], h0[b:b + 1])
    np.testing.assert_allclose(h_seq[start:, b:b + 1], want_seq, rtol=0, atol=1e-12)
    np.testing.assert_allclose(c_t[b:b + 1], want_c, rtol=0, atol=1e-12)
    np.testing.assert_allclose(h_t[b:b + 1], want_h, rtol=0, atol=1e-12)
