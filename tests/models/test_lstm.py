"""lstm_scan: Magenta's LSTMBlockCell maths, sequence masks and the hand-written gradient.

All checks run in float64 (jax_enable_x64 scoped to each test), so that agreement to ~1e-12
shows the two computations are the same maths and not merely close in float32.
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
  """Random pre-activations, recurrent kernel and initial state, float64."""
  rng = np.random.default_rng(seed)
  xw = rng.normal(size=(t, b, 4 * h))
  w_h = rng.normal(scale=0.5, size=(h, 4 * h))
  c0 = rng.normal(size=(b, h))
  h0 = np.tanh(rng.normal(size=(b, h)))
  return tuple(jnp.asarray(a, jnp.float64) for a in (xw, w_h, c0, h0))


def _length_mask(lengths, t=T):
  """[T, B]: 1 on the first ``length`` steps of each sequence."""
  return (np.arange(t)[:, None] < np.asarray(lengths)[None, :]).astype(np.float64)


MASKS = {
    'none': None,
    'length': _length_mask(LENGTHS),
    # A time-reversed right-padded sequence: the padding comes first.
    'leading_padding': _length_mask(LENGTHS)[::-1].copy(),
}


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def _magenta_cell_loop(x_TxBxD, kernel, bias, c0, h0):
  """Magenta's LSTMBlockCell written out: [x, h]·W + b, gates i, j, f, o, forget bias +1."""
  c, h = np.asarray(c0), np.asarray(h0)
  hs = []
  for x in x_TxBxD:
    g = np.concatenate([x, h], axis=-1) @ kernel + bias
    i, j, f, o = np.split(g, 4, axis=-1)
    c = _sigmoid(i) * np.tanh(j) + _sigmoid(f + 1.0) * c
    h = _sigmoid(o) * np.tanh(c)
    hs.append(h)
  return np.stack(hs), c, h


def test_forward_matches_magenta_cell():
  """Outputs and final state equal a plain numpy loop of Magenta's cell (kernel [D + H, 4H])."""
  rng = np.random.default_rng(1)
  d, t, b, h = 3, 6, 2, 4
  x = rng.normal(size=(t, b, d))
  kernel = rng.normal(scale=0.5, size=(d + h, 4 * h))
  bias = rng.normal(scale=0.5, size=(4 * h,))
  c0 = rng.normal(size=(b, h))
  h0 = np.tanh(rng.normal(size=(b, h)))
  want_seq, want_c, want_h = _magenta_cell_loop(x, kernel, bias, c0, h0)
  xw = jnp.asarray(x @ kernel[:d] + bias)
  got_seq, got_c, got_h = lstm.lstm_scan(xw, jnp.asarray(kernel[d:]), jnp.asarray(c0),
                                         jnp.asarray(h0))
  assert got_seq.dtype == jnp.float64
  np.testing.assert_allclose(got_seq, want_seq, rtol=0, atol=1e-12)
  np.testing.assert_allclose(got_c, want_c, rtol=0, atol=1e-12)
  np.testing.assert_allclose(got_h, want_h, rtol=0, atol=1e-12)
  # One step of lstm.cell (used by step-by-step decoding) is the same cell.
  c1, h1 = lstm.cell(xw[0], jnp.asarray(kernel[d:]), jnp.asarray(c0), jnp.asarray(h0))
  np.testing.assert_allclose(h1, want_seq[0], rtol=0, atol=1e-12)


def _loss(scan, cotangent_seed=7):
  """A scalar that puts a random cotangent on every output (h sequence, final c, final h)."""
  rng = np.random.default_rng(cotangent_seed)
  w_seq = jnp.asarray(rng.normal(size=(T, B, H)))
  w_c = jnp.asarray(rng.normal(size=(B, H)))
  w_h = jnp.asarray(rng.normal(size=(B, H)))

  def loss(xw, w_hh, c0, h0, mask):
    h_seq, c_t, h_t = scan(xw, w_hh, c0, h0, mask)
    return jnp.sum(h_seq * w_seq) + jnp.sum(c_t * w_c) + jnp.sum(h_t * w_h)

  return loss


@pytest.mark.parametrize('mask_name', list(MASKS))
def test_custom_vjp_matches_autodiff(mask_name):
  """The hand-written backward pass gives autodiff's gradients for xw, W_h, c0 and h0."""
  mask = MASKS[mask_name]
  mask = None if mask is None else jnp.asarray(mask)
  args = _inputs()
  grad = lambda scan: jax.jit(jax.grad(_loss(scan), argnums=(0, 1, 2, 3)))(*args, mask)
  got = grad(lstm.lstm_scan)
  want = grad(lstm.reference_lstm_scan)
  for name, g, w in zip(('xw', 'w_h', 'c0', 'h0'), got, want):
    assert g.shape == w.shape and g.dtype == jnp.float64, name
    assert np.abs(w).max() > 1e-3, f'{name}: the reference gradient is trivially zero'
    np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12, err_msg=name)
  # Both gradients see the padding: nothing flows into the pre-activations of masked steps.
  if mask is not None:
    masked_xw_grad = np.asarray(got[0])[np.asarray(mask) == 0]
    np.testing.assert_array_equal(masked_xw_grad, 0.0)


def test_forward_same_with_and_without_custom_vjp():
  """lstm_scan and reference_lstm_scan compute the same forward values."""
  args = _inputs(seed=3)
  for mask in MASKS.values():
    m = None if mask is None else jnp.asarray(mask)
    for got, want in zip(lstm.lstm_scan(*args, m), lstm.reference_lstm_scan(*args, m)):
      np.testing.assert_array_equal(got, want)


def test_length_mask_final_state_is_prefix_state():
  """With a length mask each sequence's final state is that of its unpadded prefix alone."""
  xw, w_h, c0, h0 = _inputs(seed=4)
  _, c_t, h_t = lstm.lstm_scan(xw, w_h, c0, h0, jnp.asarray(MASKS['length']))
  for b, n in enumerate(LENGTHS):
    if n == 0:
      want_c, want_h = c0[b:b + 1], h0[b:b + 1]
    else:
      _, want_c, want_h = lstm.lstm_scan(xw[:n, b:b + 1], w_h, c0[b:b + 1], h0[b:b + 1])
    np.testing.assert_allclose(c_t[b:b + 1], want_c, rtol=0, atol=1e-12, err_msg=f'c, b={b}')
    np.testing.assert_allclose(h_t[b:b + 1], want_h, rtol=0, atol=1e-12, err_msg=f'h, b={b}')
  # The mask matters: sequence 1 (length 3) run unmasked ends elsewhere.
  _, _, h_full = lstm.lstm_scan(xw, w_h, c0, h0)
  assert np.abs(h_full[1] - h_t[1]).max() > 1e-3


def test_leading_padding_final_state_is_suffix_state():
  """With leading padding the state stays at its initial value until the sequence starts."""
  xw, w_h, c0, h0 = _inputs(seed=5)
  h_seq, c_t, h_t = lstm.lstm_scan(xw, w_h, c0, h0, jnp.asarray(MASKS['leading_padding']))
  for b, n in enumerate(LENGTHS):
    start = T - n
    # Before the start, the outputs repeat the initial h.
    np.testing.assert_array_equal(h_seq[:start, b], np.broadcast_to(h0[b], (start, H)))
    if n == 0:
      np.testing.assert_array_equal(c_t[b], c0[b])
      np.testing.assert_array_equal(h_t[b], h0[b])
      continue
    want_seq, want_c, want_h = lstm.lstm_scan(xw[start:, b:b + 1], w_h, c0[b:b + 1],
                                              h0[b:b + 1])
    np.testing.assert_allclose(h_seq[start:, b:b + 1], want_seq, rtol=0, atol=1e-12)
    np.testing.assert_allclose(c_t[b:b + 1], want_c, rtol=0, atol=1e-12)
    np.testing.assert_allclose(h_t[b:b + 1], want_h, rtol=0, atol=1e-12)
