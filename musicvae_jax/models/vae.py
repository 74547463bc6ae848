"""MusicVAE: encoder → Gaussian z → flat or hierarchical decoder, built from a config.

Shapes: B = batch, T = steps, P = output parts, O = Σ part depths, Z = latent size.

The model reads the pipeline's labels [B, T, P] (class per step and part) directly: the encoder's
one-hot input becomes a row gather, the drum roll (9 class bits + a NOR bit) is computed from
the 512-way label, and the decoder's inputs are the labels shifted right by one step with -1
(Magenta's zero vector) at t = 0. No one-hot tensor is ever built.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
from flax import nnx

from musicvae_jax.converters import get_converter
from musicvae_jax.models import decoders
from musicvae_jax.models import encoders
from musicvae_jax.models import hierarchical

DECODERS = ('categorical_lstm', 'multi_categorical_lstm', 'hierarchical', 'hierarchical_split')
DRUM_CLASSES = 9


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """What the model needs from a config: typed and frozen (the config stops here)."""
  part_depths: tuple[int, ...]
  input_kind: str          # 'onehot' (parts one-hot, concatenated) or 'drum_roll'
  enc_rnn_size: tuple[int, ...]
  dec_rnn_size: tuple[int, ...]
  z_size: int
  max_seq_len: int
  decoder: str = 'categorical_lstm'
  level_lengths: tuple[int, ...] | None = None

  @property
  def input_depth(self) -> int:
    return DRUM_CLASSES + 1 if self.input_kind == 'drum_roll' else sum(self.part_depths)

  @property
  def hierarchical(self) -> bool:
    return self.decoder.startswith('hierarchical')


class ModelConfigError(ValueError):
  pass


def spec_from_config(config) -> ModelSpec:
  """Checks the model section against the data section and freezes it."""
  m = config.model
  converter = get_converter(config.data)
  if m.encoder != 'bidirectional_lstm':
    raise ModelConfigError(f"model.encoder={m.encoder!r}: only 'bidirectional_lstm' exists.")
  if m.decoder not in DECODERS:
    raise ModelConfigError(f'model.decoder={m.decoder!r}: choose one of {", ".join(DECODERS)}.')
  if m.z_size <= 0:
    raise ModelConfigError('model.z_size must be positive (decoder-only models are not built).')
  if m.dropout_keep_prob != 1.0:
    raise ModelConfigError('model.dropout_keep_prob < 1 is not supported: no config of the '
                           'melody, drums or trio families uses dropout.')
  if m.max_seq_len != converter.max_seq_len:
    raise ModelConfigError(f'model.max_seq_len={m.max_seq_len} but the data windows have '
                           f'{converter.max_seq_len} steps.')
  levels = tuple(m.level_lengths) if m.level_lengths else None
  if m.decoder.startswith('hierarchical'):
    if not levels or len(levels) != 2 or levels[0] * levels[1] != m.max_seq_len:
      raise ModelConfigError(f'model.level_lengths={m.level_lengths}: a hierarchical decoder '
                             f'needs [bars, steps per bar] whose product is {m.max_seq_len}.')
  roll = getattr(converter, 'roll_input', False)
  return ModelSpec(part_depths=tuple(converter.part_depths),
                   input_kind='drum_roll' if roll else 'onehot',
                   enc_rnn_size=tuple(m.enc_rnn_size), dec_rnn_size=tuple(m.dec_rnn_size),
                   z_size=int(m.z_size), max_seq_len=int(m.max_seq_len), decoder=m.decoder,
                   level_lengths=levels)


def shift_right(labels_BxTxP):
  """Decoder inputs: the previous step's labels, -1 (no input) at t = 0."""
  first = -jnp.ones_like(labels_BxTxP[:, :1])
  return jnp.concatenate([first, labels_BxTxP[:, :-1]], axis=1)


class MusicVAE(nnx.Module):

  def __init__(self, spec: ModelSpec, *, rngs: nnx.Rngs):
    self.spec = spec
    self.encoder = encoders.BidirectionalLstmEncoder(spec.input_depth, spec.enc_rnn_size,
                                                     rngs=rngs)
    self.latent = encoders.GaussianHead(self.encoder.output_size, spec.z_size, rngs=rngs)
    if spec.hierarchical:
      self.decoder = hierarchical.HierarchicalDecoder(
          spec.part_depths, spec.z_size, spec.dec_rnn_size, spec.level_lengths,
          split=spec.decoder == 'hierarchical_split', rngs=rngs)
    else:
      self.decoder = decoders.LstmDecoder(spec.part_depths, spec.z_size, spec.dec_rnn_size,
                                          rngs=rngs)

  def encode(self, labels_BxTxP, lengths_B):
    """(mu, sigma) [B, Z] of q(z | x)."""
    if self.spec.input_kind == 'drum_roll':
      bits = (labels_BxTxP[..., :1] >> jnp.arange(DRUM_CLASSES)) & 1
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


def build_model(spec: ModelSpec, seed: int = 0) -> MusicVAE:
  return MusicVAE(spec, rngs=nnx.Rngs(params=seed))
