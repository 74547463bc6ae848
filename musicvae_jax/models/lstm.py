"""One LSTM layer over a whole sequence, with the input projection hoisted out of the loop.

Shapes: T = time steps, B = batch, H = hidden size, G = 4H (the gate pre-activations).

The cell is Magenta's ``LSTMBlockCell``: gates in the order i, j (candidate), f, o, forget bias
+1.0 added at run time (checkpoints store the bias without it), no peepholes:

  c_t = sigmoid(i)·tanh(j) + sigmoid(f + 1)·c_{t-1},   h_t = sigmoid(o)·tanh(c_t)

``lstm_scan`` takes the input's share of the pre-activations, ``xw_TxBxG = x·W_x + b``,
already computed for every step (one large GEMM, a row gather for one-hot inputs, or a
per-sequence constant for z), so the loop multiplies only ``h·W_h``. Its gradient is written
by hand (``jax.custom_vjp``) for the same reason: the backward loop computes only the per-step
gate gradients and ``dh·W_hᵀ``; the weight gradient ``dW_h = Σ_t h_{t-1}ᵀ·dg_t`` is then one
GEMM over all steps at once, instead of T rank-B updates inside the loop, which is what
autodiff of ``lax.scan`` does. bench/lstm_gradient.py times both (BENCHMARKS.md, "lstm
gradient"): at the configs' layer shapes it takes about 0.95x autodiff's time on the decoder
layers and 0.8-0.9x on the masked encoder.

An optional mask [T, B] freezes the state on steps where it is 0 (past a sequence's length,
or, for a time-reversed sequence, before its start), so the final state is the state at each
sequence's own last valid step, as ``tf.nn.dynamic_rnn`` with ``sequence_length`` gives.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

FORGET_BIAS = 1.0


def _gates(g_BxG):
  i, j, f, o = jnp.split(g_BxG, 4, axis=-1)
  return (jax.nn.sigmoid(i), jnp.tanh(j), jax.nn.sigmoid(f + FORGET_BIAS), jax.nn.sigmoid(o))


def cell(xw_BxG, w_h_HxG, c_BxH, h_BxH):
  """One step: returns (c, h). Used by step-by-step decoding (sampling)."""
  return cell_from_preactivations(xw_BxG + h_BxH @ w_h_HxG, c_BxH)


def cell_from_preactivations(g_BxG, c_BxH):
  """(c, h) from the summed gate pre-activations of one step."""
  i, j, f, o = _gates(g_BxG)
  c = i * j + f * c_BxH
  return c, o * jnp.tanh(c)


def _forward(xw_TxBxG, w_h_HxG, c0_BxH, h0_BxH, mask_TxB):
  """Runs the loop; returns outputs, final state and what the backward pass needs."""
  masked = mask_TxB is not None
  xs = (xw_TxBxG, mask_TxB[..., None]) if masked else (xw_TxBxG,)

  def step(carry, x):
    c_prev, h_prev = carry
    act = _gates(x[0] + h_prev @ w_h_HxG)
    i, j, f, o = act
    c_new = i * j + f * c_prev
    h_new = o * jnp.tanh(c_new)
    if masked:
      m = x[1]
      c = jnp.where(m > 0, c_new, c_prev)
      h = jnp.where(m > 0, h_new, h_prev)
    else:
      c, h = c_new, h_new
    return (c, h), (h, c_new, jnp.concatenate(act, axis=-1))

  (c_T, h_T), (h_TxBxH, cnew_TxBxH, act_TxBxG) = jax.lax.scan(step, (c0_BxH, h0_BxH), xs)
  return h_TxBxH, c_T, h_T, cnew_TxBxH, act_TxBxG


@functools.partial(jax.custom_vjp, nondiff_argnums=())
def _lstm_scan(xw_TxBxG, w_h_HxG, c0_BxH, h0_BxH, mask_TxB):
  h_TxBxH, c_T, h_T, _, _ = _forward(xw_TxBxG, w_h_HxG, c0_BxH, h0_BxH, mask_TxB)
  return h_TxBxH, c_T, h_T


def _lstm_fwd(xw_TxBxG, w_h_HxG, c0_BxH, h0_BxH, mask_TxB):
  h_TxBxH, c_T, h_T, cnew_TxBxH, act_TxBxG = _forward(xw_TxBxG, w_h_HxG, c0_BxH, h0_BxH,
                                                      mask_TxB)
  residuals = (w_h_HxG, c0_BxH, h0_BxH, mask_TxB, h_TxBxH, cnew_TxBxH, act_TxBxG)
  return (h_TxBxH, c_T, h_T), residuals


def _shift_in(first_BxH, seq_TxBxH):
  """[first, seq_0, ..., seq_{T-2}]: the value each step started from."""
  return jnp.concatenate([first_BxH[None], seq_TxBxH[:-1]], axis=0)


def _lstm_bwd(residuals, cotangents):
  w_h_HxG, c0_BxH, h0_BxH, mask_TxB, h_TxBxH, cnew_TxBxH, act_TxBxG = residuals
  dh_TxBxH, dc_T, dh_T = cotangents
  masked = mask_TxB is not None
  hprev_TxBxH = _shift_in(h0_BxH, h_TxBxH)
  if masked:
    # The carried c differs from c_new on masked steps; rebuild the carried sequence.
    m_TxBx1 = mask_TxB[..., None]
    c_carried = jax.lax.scan(
        lambda c, x: ((lambda v: (v, v))(jnp.where(x[1] > 0, x[0], c))),
        c0_BxH, (cnew_TxBxH, m_TxBx1))[1]
    cprev_TxBxH = _shift_in(c0_BxH, c_carried)
  else:
    cprev_TxBxH = _shift_in(c0_BxH, cnew_TxBxH)
  w_hT_GxH = w_h_HxG.T

  def step(carry, x):
    dc_next, dh_next = carry
    if masked:
      dh_out, c_new, c_prev, act, m = x
    else:
      dh_out, c_new, c_prev, act = x
    i, j, f, o = jnp.split(act, 4, axis=-1)
    dh = dh_next + dh_out
    if masked:
      keep = m > 0
      dh_new = jnp.where(keep, dh, 0.0)
      dc_in = jnp.where(keep, dc_next, 0.0)
    else:
      dh_new, dc_in = dh, dc_next
    tc = jnp.tanh(c_new)
    dc = dc_in + dh_new * o * (1.0 - tc * tc)
    dg = jnp.concatenate([
        dc * j * i * (1.0 - i),
        dc * i * (1.0 - j * j),
        dc * c_prev * f * (1.0 - f),
        dh_new * tc * o * (1.0 - o),
    ], axis=-1)
    dc_prev = dc * f
    dh_prev = dg @ w_hT_GxH
    if masked:
      dc_prev = dc_prev + jnp.where(keep, 0.0, dc_next)
      dh_prev = dh_prev + jnp.where(keep, 0.0, dh)
    return (dc_prev, dh_prev), dg

  xs = (dh_TxBxH, cnew_TxBxH, cprev_TxBxH, act_TxBxG)
  if masked:
    xs = xs + (m_TxBx1,)
  (dc0, dh0), dg_TxBxG = jax.lax.scan(step, (dc_T, dh_T), xs, reverse=True)
  # All steps' weight gradient as one GEMM: [H, T·B] x [T·B, G].
  dw_h = jnp.einsum('tbh,tbg->hg', hprev_TxBxH, dg_TxBxG)
  dmask = None if mask_TxB is None else jnp.zeros_like(mask_TxB)
  return dg_TxBxG, dw_h, dc0, dh0, dmask


_lstm_scan.defvjp(_lstm_fwd, _lstm_bwd)


def lstm_scan(xw_TxBxG, w_h_HxG, c0_BxH, h0_BxH, mask_TxB=None):
  """Returns (h for every step [T, B, H], final c [B, H], final h [B, H])."""
  return _lstm_scan(xw_TxBxG, w_h_HxG, c0_BxH, h0_BxH, mask_TxB)

