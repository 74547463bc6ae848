"""The second classifier kind: a transformer over a song's beats with local attention.

Shapes: B batch, T beats, D model width, N heads, W attention reach in beats.

Per-beat features -> Dense to D -> L blocks of (pre-norm self-attention, pre-norm MLP), each
with a residual -> chord and key heads, the same outputs as ``classifier.ChordKeyClassifier``.
Each beat attends to the beats within W of it (a band mask; padding masked as keys) with a
learned bias per head for every offset -W..W. No absolute positions: the model does not
depend on where a chunk starts, so it trains on 128-beat chunks and reads whole songs of any
length, as the BiLSTM does.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from musicvae_jax.chordkey import vocabulary
from musicvae_jax.chordkey.classifier import NUM_FEATURES
from musicvae_jax.models import layers


class LocalSelfAttention(nnx.Module):
  def __init__(self, width: int, heads: int, reach: int, *, rngs: nnx.Rngs):
    self.heads, self.reach = heads, reach
    self.qkv = layers.Dense(width, 3 * width, rngs=rngs)
    self.out = layers.Dense(width, width, rngs=rngs)
    self.offset_bias = nnx.Param(jnp.zeros((heads, 2 * reach + 1)))

  def __call__(self, x_BxTxD, mask_BxT):
    b, t, d = x_BxTxD.shape
    n = self.heads
    q_BxTxNxE, k_BxTxNxE, v_BxTxNxE = jnp.split(
        self.qkv(x_BxTxD).reshape(b, t, 3 * n, d // n), 3, axis=2)
    scores_BxNxTxS = jnp.einsum('btne,bsne->bnts', q_BxTxNxE, k_BxTxNxE) / jnp.sqrt(d // n)
    offset_TxS = jnp.arange(t)[None, :] - jnp.arange(t)[:, None]
    near_TxS = jnp.abs(offset_TxS) <= self.reach
    bias_NxTxS = self.offset_bias[...][:, jnp.clip(offset_TxS, -self.reach, self.reach)
                                       + self.reach]
    allowed_BxTxS = near_TxS[None] & (mask_BxT[:, None, :] > 0)
    scores_BxNxTxS = jnp.where(allowed_BxTxS[:, None], scores_BxNxTxS + bias_NxTxS[None],
                               -1e9)
    weights_BxNxTxS = jax.nn.softmax(scores_BxNxTxS, axis=-1)
    y_BxTxNxE = jnp.einsum('bnts,bsne->btne', weights_BxNxTxS, v_BxTxNxE)
    return self.out(y_BxTxNxE.reshape(b, t, d))


class Block(nnx.Module):
  def __init__(self, width: int, heads: int, reach: int, *, rngs: nnx.Rngs):
    self.norm1 = nnx.LayerNorm(width, rngs=rngs)
    self.attention = LocalSelfAttention(width, heads, reach, rngs=rngs)
    self.norm2 = nnx.LayerNorm(width, rngs=rngs)
    self.mlp_in = layers.Dense(width, 4 * width, rngs=rngs)
    self.mlp_out = layers.Dense(4 * width, width, rngs=rngs)

  def __call__(self, x_BxTxD, mask_BxT):
    x_BxTxD = x_BxTxD + self.attention(self.norm1(x_BxTxD), mask_BxT)
    return x_BxTxD + self.mlp_out(jax.nn.gelu(self.mlp_in(self.norm2(x_BxTxD))))


class TransformerClassifier(nnx.Module):
  """Per-beat features -> local-attention transformer -> chord [B, T, C] and key [B, T, K]
  logits."""

  def __init__(self, width: int = 128, num_layers: int = 4, heads: int = 4, reach: int = 32,
               *, rngs: nnx.Rngs):
    self.embed = layers.Dense(NUM_FEATURES, width, rngs=rngs)
    self.blocks = nnx.List([Block(width, heads, reach, rngs=rngs) for _ in range(num_layers)])
    self.norm = nnx.LayerNorm(width, rngs=rngs)
    self.chord_head = layers.Dense(width, vocabulary.NUM_CHORDS, rngs=rngs)
    self.key_head = layers.Dense(width, vocabulary.NUM_KEYS, rngs=rngs)

  def __call__(self, x_BxTxF, mask_BxT):
    h_BxTxD = self.embed(x_BxTxF)
    for block in self.blocks:
      h_BxTxD = block(h_BxTxD, mask_BxT)
    h_BxTxD = self.norm(h_BxTxD)
    return self.chord_head(h_BxTxD), self.key_head(h_BxTxD)
