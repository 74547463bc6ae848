"""Dense and LSTM-stack modules with Magenta's parameter layout and initialisers.

Shapes: B = batch, T = time steps, D = an input's depth, H = hidden size, G = 4H.

Parameters keep Magenta's layout exactly (LSTM kernel [D + H, G], input rows first, gate blocks
i, j, f, o; dense kernel [in, out]), so a Magenta checkpoint maps onto them by name alone
(``magenta_names``). The layer-0 input of an LSTM stack is given as its projection onto the gates
for every step, built by ``project_steps`` from whatever the input is made of: a dense array
(one GEMM for all steps), class indices (a row gather, since the input is one-hot), or a
per-sequence vector such as z (projected once and broadcast over time).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from musicvae_jax.models import lstm

State = list[tuple[jax.Array, jax.Array]]  # per layer (c [B, H], h [B, H])


class Dense(nnx.Module):
  """y = x·W + b; glorot-uniform kernel (TF's default) or N(0, stddev²) as Magenta's heads use."""

  def __init__(self, in_features: int, out_features: int, *, rngs: nnx.Rngs,
               stddev: float | None = None):
    key = rngs.params()
    if stddev is None:
      kernel = jax.nn.initializers.glorot_uniform()(key, (in_features, out_features))
    else:
      kernel = stddev * jax.random.normal(key, (in_features, out_features))
    self.kernel = nnx.Param(kernel)
    self.bias = nnx.Param(jnp.zeros((out_features,)))

  def __call__(self, x):
    return x @ self.kernel[...] + self.bias[...]


class LSTMLayer(nnx.Module):
  """Parameters of one ``LSTMBlockCell``: kernel [D + H, G], bias [G] (no forget bias stored)."""

  def __init__(self, input_size: int, hidden_size: int, *, rngs: nnx.Rngs):
    self.input_size = input_size
    self.hidden_size = hidden_size
    self.kernel = nnx.Param(jax.nn.initializers.glorot_uniform()(
        rngs.params(), (input_size + hidden_size, 4 * hidden_size)))
    self.bias = nnx.Param(jnp.zeros((4 * hidden_size,)))

  @property
  def w_x(self):
    return self.kernel[...][:self.input_size]

  @property
  def w_h(self):
    return self.kernel[...][self.input_size:]


class BiLSTMLayer(nnx.Module):
  """A forward and a backward ``LSTMLayer``; output [T, B, 2H] (forward h, backward h)."""

  def __init__(self, input_size: int, hidden_size: int, *, rngs: nnx.Rngs):
    self.fwd = LSTMLayer(input_size, hidden_size, rngs=rngs)
    self.bwd = LSTMLayer(input_size, hidden_size, rngs=rngs)

  def __call__(self, x_TxBxD, mask_TxB):
    outs = []
    for layer, reverse in ((self.fwd, False), (self.bwd, True)):
      xw_TxBxG = jnp.einsum('tbd,dg->tbg', x_TxBxD, layer.w_x) + layer.bias[...]
      m_TxB = mask_TxB[::-1] if reverse else mask_TxB
      xw_TxBxG = xw_TxBxG[::-1] if reverse else xw_TxBxG
      zeros_BxH = jnp.zeros((x_TxBxD.shape[1], layer.hidden_size), x_TxBxD.dtype)
      h_TxBxH, _, _ = lstm.lstm_scan(xw_TxBxG, layer.w_h, zeros_BxH, zeros_BxH, m_TxB)
      outs.append(h_TxBxH[::-1] if reverse else h_TxBxH)
    return jnp.concatenate(outs, axis=-1)


def gather_rows(w_DxG, rows):
  """Σ over the last axis of ``rows`` of w[row]; a row of -1 contributes nothing.

  This is x·W for a multi-hot x given by its set indices, without the GEMM.
  """
  picked = jnp.take(w_DxG, jnp.maximum(rows, 0), axis=0)
  picked = jnp.where((rows >= 0)[..., None], picked, 0.0)
  return picked.sum(axis=-2)


def project_steps(w_DxG, bias_G, *, rows_BxTxP=None, dense_BxTxD=None, const_BxC=None,
                  const_rows: slice | None = None):
  """The layer-0 input's share of the gates for every step, time-major [T, B, G].

  ``rows_BxTxP`` index rows of ``w_DxG`` (one-hot parts, offsets included); ``dense_BxTxD``
  multiplies its first D rows; ``const_BxC`` multiplies rows ``const_rows`` once per sequence.
  """
  total = bias_G
  if const_BxC is not None:
    total = total + (const_BxC @ w_DxG[const_rows])[None]
  if rows_BxTxP is not None:
    total = total + gather_rows(w_DxG, jnp.swapaxes(rows_BxTxP, 0, 1))
  if dense_BxTxD is not None:
    d = dense_BxTxD.shape[-1]
    total = total + jnp.einsum('btd,dg->tbg', dense_BxTxD.astype(w_DxG.dtype), w_DxG[:d])
  return total


class LSTMStack(nnx.Module):
  """Stacked LSTM layers (Magenta's ``MultiRNNCell`` of ``LSTMBlockCell``)."""

  def __init__(self, input_size: int, sizes, *, rngs: nnx.Rngs):
    sizes = list(sizes)
    ins = [input_size] + sizes[:-1]
    self.layers = nnx.List([LSTMLayer(i, h, rngs=rngs) for i, h in zip(ins, sizes)])

  @property
  def sizes(self) -> list[int]:
    return [layer.hidden_size for layer in self.layers]

  @property
  def state_size(self) -> int:
    """Length of the flattened state [c_0, h_0, c_1, h_1, ...]."""
    return 2 * sum(self.sizes)

  def split_state(self, flat_BxS) -> State:
    """Magenta's flattened-state order: layer by layer, c before h."""
    state, start = [], 0
    for h in self.sizes:
      state.append((flat_BxS[:, start:start + h], flat_BxS[:, start + h:start + 2 * h]))
      start += 2 * h
    return state

  def run(self, xw0_TxBxG, state: State, mask_TxB=None):
    """Teacher-forced: the whole sequence, layer after layer. Returns (top h [T, B, H], state)."""
    h_TxBxH, final = None, []
    for k, layer in enumerate(self.layers):
      xw = xw0_TxBxG if k == 0 else (
          jnp.einsum('tbd,dg->tbg', h_TxBxH, layer.w_x) + layer.bias[...])
      c0, h0 = state[k]
      h_TxBxH, c_T, h_T = lstm.lstm_scan(xw, layer.w_h, c0, h0, mask_TxB)
      final.append((c_T, h_T))
    return h_TxBxH, final

  def step(self, xw0_BxG, state: State):
    """One step of every layer (step-by-step decoding). Returns (top h [B, H], state)."""
    h, new = None, []
    for k, layer in enumerate(self.layers):
      c_prev, h_prev = state[k]
      if k == 0:
        c, h = lstm.cell(xw0_BxG, layer.w_h, c_prev, h_prev)
      else:  # [h below, h before] · kernel: one GEMM rather than two half-size ones
        g = jnp.concatenate([h, h_prev], axis=-1) @ layer.kernel[...] + layer.bias[...]
        c, h = lstm.cell_from_preactivations(g, c_prev)
      new.append((c, h))
    return h, new
