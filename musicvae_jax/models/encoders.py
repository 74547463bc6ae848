"""Bidirectional LSTM encoder (Magenta's ``BidirectionalLstmEncoder``) and the Gaussian head.

Shapes: B = batch, T = steps, H = encoder size per direction, Z = latent size.

Each layer runs a forward and a backward LSTM; layer k > 0 reads [fw_t, bw_t] of layer k-1.
The backward LSTM reads the padded sequence reversed in time with its state frozen on the
padding (which now comes first), so it starts at each sequence's own last valid step, as
``tf.reverse_sequence`` + ``dynamic_rnn`` do. The encoding is [fw final h, bw final h] of the
last layer.

While training, a config with ``dropout_keep_prob`` < 1 (GrooVAE) drops each direction's layer
input on its own, step by step (``models.dropout``); this needs dense inputs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from musicvae_jax.models import dropout
from musicvae_jax.models import layers
from musicvae_jax.models import lstm


class BidirectionalLstmEncoder(nnx.Module):

  def __init__(self, input_size: int, sizes, *, rngs: nnx.Rngs):
    sizes = list(sizes)
    ins = [input_size] + [2 * h for h in sizes[:-1]]
    self.fw = nnx.List([layers.LSTMLayer(i, h, rngs=rngs) for i, h in zip(ins, sizes)])
    self.bw = nnx.List([layers.LSTMLayer(i, h, rngs=rngs) for i, h in zip(ins, sizes)])

  @property
  def output_size(self) -> int:
    return 2 * self.fw[-1].hidden_size

  def __call__(self, lengths_B, *, rows_BxTxP=None, dense_BxTxD=None, keep_prob=1.0,
               dropout_key=None):
    """Encodes a batch given as one-hot rows or dense features. Returns [B, 2H]."""
    drop = dropout.active(dropout_key, keep_prob)
    if drop and rows_BxTxP is not None:
      raise NotImplementedError('encoder input dropout is built for dense inputs only')

    def layer_input(x, k, d):  # layer k's input to direction d (0 fw, 1 bw)
      if not drop:
        return x
      return dropout.apply(jax.random.fold_in(dropout_key, 2 * k + d), keep_prob, x)

    def first_projection(layer, d):
      return layers.project_steps(layer.kernel[...], layer.bias[...], rows_BxTxP=rows_BxTxP,
                                  dense_BxTxD=None if dense_BxTxD is None
                                  else layer_input(dense_BxTxD, 0, d))

    steps = (rows_BxTxP if rows_BxTxP is not None else dense_BxTxD).shape[1]
    mask_TxB = (jnp.arange(steps)[:, None] < lengths_B[None, :]).astype(jnp.float32)
    mask_rev_TxB = mask_TxB[::-1]
    out_TxBx2H = None
    for k, (fw, bw) in enumerate(zip(self.fw, self.bw)):
      finals = []
      outs = []
      for d, (layer, mask, reverse) in enumerate(((fw, mask_TxB, False),
                                                  (bw, mask_rev_TxB, True))):
        if k == 0:
          xw = first_projection(layer, d)
        else:
          xw = (jnp.einsum('tbd,dg->tbg', layer_input(out_TxBx2H, k, d), layer.w_x)
                + layer.bias[...])
        if reverse:
          xw = xw[::-1]
        batch = xw.shape[1]
        zeros = jnp.zeros((batch, layer.hidden_size), xw.dtype)
        h_TxBxH, _, h_final = lstm.lstm_scan(xw, layer.w_h, zeros, zeros, mask)
        outs.append(h_TxBxH[::-1] if reverse else h_TxBxH)
        finals.append(h_final)
      out_TxBx2H = jnp.concatenate(outs, axis=-1)
    return jnp.concatenate(finals, axis=-1)


class GaussianHead(nnx.Module):
  """mu = Dense(enc), sigma = softplus(Dense(enc)); kernels N(0, 0.001²) as Magenta's."""

  def __init__(self, in_features: int, z_size: int, *, rngs: nnx.Rngs):
    self.mu = layers.Dense(in_features, z_size, stddev=1e-3, rngs=rngs)
    self.sigma = layers.Dense(in_features, z_size, stddev=1e-3, rngs=rngs)

  def __call__(self, encoding_BxE):
    return self.mu(encoding_BxE), jax.nn.softplus(self.sigma(encoding_BxE))
