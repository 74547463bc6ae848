"""MusicVAE: encoder → Gaussian z → flat or hierarchical decoder, built from a ``ModelSpec``.

Shapes: B = batch, T = steps, P = output parts, O = Σ part depths, Z = latent size.

The model reads the pipeline's labels [B, T, P] (class per step and part) directly: the encoder's
one-hot input becomes a row gather, the drum roll (9 class bits + a NOR bit) is computed from
the 512-way label, and the decoder's inputs are the labels shifted right by one step with -1
(Magenta's zero vector) at t = 0. No one-hot tensor is ever built.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from flax import nnx

from musicvae_jax import specs
from musicvae_jax.models import decoders
from musicvae_jax.models import encoders
from musicvae_jax.models import hierarchical

# The spec's name for the model's hyperparameters (models take specs only; see config_boundary).
ModelSpec = specs.ModelSpec


def check_buildable(spec: specs.ModelSpec) -> None:
  """Refuses a spec whose heads, inputs or layers this module cannot build yet."""
  unbuilt = [h.kind for h in spec.heads if h.kind != 'categorical']
  if unbuilt or spec.controls or spec.encoder.kind != 'bidirectional_lstm':
    what = unbuilt or [c.name for c in spec.controls] or [spec.encoder.kind]
    raise NotImplementedError(f'MusicVAE builds categorical heads, no controls and a '
                              f'bidirectional LSTM encoder; this spec asks for {what}.')


def shift_right(labels_BxTxP):
  """Decoder inputs: the previous step's labels, -1 (no input) at t = 0."""
  first = -jnp.ones_like(labels_BxTxP[:, :1])
  return jnp.concatenate([first, labels_BxTxP[:, :-1]], axis=1)


class MusicVAE(nnx.Module):

  def __init__(self, spec: specs.ModelSpec, *, rngs: nnx.Rngs):
    check_buildable(spec)
    self.spec = spec
    self.encoder = encoders.BidirectionalLstmEncoder(spec.input_depth, spec.enc_rnn_size,
                                                     rngs=rngs)
    self.latent = encoders.GaussianHead(self.encoder.output_size, spec.z_size, rngs=rngs)
    if spec.hierarchical:
      self.decoder = hierarchical.HierarchicalDecoder(
          spec.part_depths, spec.z_size, spec.dec_rnn_size, spec.level_lengths,
          split=spec.decoder.split_parts, rngs=rngs)
    else:
      self.decoder = decoders.LstmDecoder(spec.part_depths, spec.z_size, spec.dec_rnn_size,
                                          rngs=rngs)

  def encode(self, labels_BxTxP, lengths_B):
    """(mu, sigma) [B, Z] of q(z | x)."""
    if self.spec.input.kind == 'drum_roll':
      # The 512-way label is a bit set of drum classes; the roll adds a silence (NOR) bit.
      bits = (labels_BxTxP[..., :1] >> jnp.arange(self.spec.input_depth - 1)) & 1
      nor = jnp.all(bits == 0, axis=-1, keepdims=True)
      dense = jnp.concatenate([bits, nor], axis=-1).astype(jnp.float32)
      encoding = self.encoder(lengths_B, dense_BxTxD=dense)
    else:
      offsets = jnp.asarray(np.cumsum((0,) + self.spec.part_depths[:-1]), jnp.int32)
      encoding = self.encoder(lengths_B, rows_BxTxP=labels_BxTxP + offsets)
    return self.latent(encoding)

  def teacher_forced_logits(self, z_BxZ, inputs_BxTxP, **kwargs):
    return self.decoder.teacher_forced(z_BxZ, inputs_BxTxP, **kwargs)

  def scheduled_inputs(self, z_BxZ, labels_BxTxP, sample_mask_BxT, key):
    """Step inputs when the decoder feeds back its own samples where the mask is set."""
    inputs = shift_right(labels_BxTxP)
    if self.spec.hierarchical:
      return self.decoder.scheduled_inputs(z_BxZ, labels_BxTxP, inputs, sample_mask_BxT, key)
    out = self.decoder.decode_loop(z_BxZ, inputs[:, 0], labels_BxTxP.shape[1], key,
                                   targets_BxTxP=labels_BxTxP, sample_mask_BxT=sample_mask_BxT)
    return out['inputs']

  def sample(self, z_BxZ, key, temperature=1.0, *, greedy: bool = False, gumbel_BxTxO=None):
    """Free-running decode from z: ``samples`` [B, T, P] and ``logits`` [B, T, O].

    ``gumbel_BxTxO``: standard Gumbel noise for every step and class, drawn by the caller (so
    each sequence can have its own key); without it the noise comes from ``key``.
    """
    if self.spec.hierarchical:
      return self.decoder.sample(z_BxZ, key, temperature, greedy=greedy,
                                 gumbel_BxTxO=gumbel_BxTxO)
    first = -jnp.ones((z_BxZ.shape[0], len(self.spec.part_depths)), jnp.int32)
    return self.decoder.decode_loop(z_BxZ, first, self.spec.max_seq_len, key, temperature,
                                    greedy=greedy, gumbel_BxTxO=gumbel_BxTxO)


def build_model(spec: specs.ModelSpec, seed: int = 0) -> MusicVAE:
  return MusicVAE(spec, rngs=nnx.Rngs(params=seed))
