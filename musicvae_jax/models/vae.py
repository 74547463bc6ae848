"""MusicVAE: encoder → Gaussian z → flat or hierarchical decoder, built from a ``ModelSpec``.

Shapes: B = batch, T = steps, P = output parts, O = Σ part depths, Z = latent size.

The model reads the pipeline's labels [B, T, P] (class per step and part) directly: the encoder's
one-hot input becomes a row gather, the drum roll (9 class bits + a NOR bit) is computed from
the 512-way label, and the decoder's inputs are the labels shifted right by one step with -1
(Magenta's zero vector) at t = 0. No one-hot tensor is ever built.

hier-multiperf (encoder kind ``hierarchical_lstm``, ``hierarchical_encoder``): 8 track slots of
64 rows, -1 on the rows past each track's length (Magenta's all-zero rows). The encoder reads
each track up to its length, counted from the labels; the decoder's teacher-forced pass runs all
rows and the loss masks the -1 rows (``musicvae_family.valid_steps``). A chord model
(``*_chords``, flat or hierarchical) reads each step's chord class after the parts.

The NADE decoder (kind ``nade_lstm``, nade-drums) reads [B, T, D] drum-roll bits: the encoder
adds the NOR bit, the decoder takes the rolls shifted right with zeros
(``nade_decoder.NadeLstmDecoder``); its logits are the NADE's biases per step.

GrooVAE (decoder kind ``groove_lstm``) reads dense float steps instead: ``encode`` takes the
inputs [B, T, D] (and controls [B, T, C], concatenated to them as Magenta does), the decoder
the targets [B, T, 27] shifted right with zeros (``groove_decoder.shift_right``). Its training
passes take a ``dropout_key``: input dropout on every LSTM layer at ``spec.dropout_keep_prob``.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from flax import nnx

from musicvae_jax import specs
from musicvae_jax.models import decoders
from musicvae_jax.models import encoders
from musicvae_jax.models import groove_decoder
from musicvae_jax.models import hierarchical
from musicvae_jax.models import hierarchical_encoder
from musicvae_jax.models import musicoder
from musicvae_jax.models import nade_decoder

# The spec's name for the model's hyperparameters (models take specs only; see config_boundary).
ModelSpec = specs.ModelSpec


def check_buildable(spec: specs.ModelSpec) -> None:
  """Refuses a spec whose heads, inputs or layers this module cannot build yet."""
  if spec.decoder.kind == 'groove_lstm':
    if (any(h.kind != 'continuous' for h in spec.heads) or spec.input.kind != 'dense'
        or spec.encoder.kind != 'bidirectional_lstm'):
      raise NotImplementedError('the GrooVAE decoder takes continuous heads, dense inputs and a '
                                'bidirectional LSTM encoder.')
    return
  if spec.dropout_keep_prob != 1.0:
    raise NotImplementedError('input dropout is built for the GrooVAE decoder only.')
  if spec.decoder.kind == 'nade_lstm':
    if ([h.kind for h in spec.heads] != ['multi_label'] or spec.input.kind != 'drum_roll'
        or spec.controls or spec.encoder.kind != 'bidirectional_lstm'):
      raise NotImplementedError('the NADE decoder takes one multi_label head, drum-roll inputs, '
                                'no controls and a bidirectional LSTM encoder.')
    return
  unbuilt = [h.kind for h in spec.heads if h.kind != 'categorical']
  chords = ([c.name for c in spec.controls] == ['chords']
            and spec.decoder.kind in ('lstm', 'hierarchical'))
  encoder = spec.encoder.kind == 'bidirectional_lstm' or (
      spec.encoder.kind == 'musicoder' and spec.part_depths == (90,) and not spec.controls) or (
      spec.encoder.kind == 'hierarchical_lstm' and spec.input.kind == 'one_hot')
  if unbuilt or (spec.controls and not chords) or not encoder:
    what = unbuilt or [c.name for c in spec.controls] or [spec.encoder.kind]
    raise NotImplementedError(f'MusicVAE builds categorical heads, chord controls and a '
                              f'bidirectional (or, over one-hot inputs, hierarchical) LSTM '
                              f'encoder; this spec asks for {what}.')
  if spec.encoder.kind == 'hierarchical_lstm' and (
      int(np.prod(spec.encoder.level_lengths or (0,))) != spec.seq_len):
    raise ValueError(f'the hierarchical encoder\'s level lengths '
                     f'{list(spec.encoder.level_lengths)} must multiply to the sequence length '
                     f'{spec.seq_len}.')


def shift_right(labels_BxTxP):
  """Decoder inputs: the previous step's labels, -1 (no input) at t = 0."""
  first = -jnp.ones_like(labels_BxTxP[:, :1])
  return jnp.concatenate([first, labels_BxTxP[:, :-1]], axis=1)


class MusicVAE(nnx.Module):

  def __init__(self, spec: specs.ModelSpec, *, rngs: nnx.Rngs):
    check_buildable(spec)
    self.spec = spec
    encoder_input = spec.input_depth + spec.control_depth
    if spec.encoder.kind == 'musicoder':
      self.encoder = musicoder.MusiCoderEncoder(spec.musicoder, rngs=rngs)
    elif spec.encoder.kind == 'hierarchical_lstm':
      self.encoder = hierarchical_encoder.HierarchicalLstmEncoder(
          encoder_input, spec.enc_rnn_size, spec.encoder.level_lengths, rngs=rngs)
    else:
      self.encoder = encoders.BidirectionalLstmEncoder(encoder_input, spec.enc_rnn_size,
                                                       rngs=rngs)
    self.latent = encoders.GaussianHead(self.encoder.output_size, spec.z_size, rngs=rngs)
    if self.groove:
      self.decoder = groove_decoder.GrooveLstmDecoder(
          spec.output_depth, spec.z_size, spec.dec_rnn_size, control_depth=spec.control_depth,
          keep_prob=spec.dropout_keep_prob, rngs=rngs)
    elif self.nade:
      self.decoder = nade_decoder.NadeLstmDecoder(
          spec.output_depth, spec.z_size, spec.dec_rnn_size, spec.decoder.nade_hidden, rngs=rngs)
    elif spec.hierarchical:
      self.decoder = hierarchical.HierarchicalDecoder(
          spec.part_depths, spec.z_size, spec.dec_rnn_size, spec.level_lengths,
          split=spec.decoder.split_parts, control_depth=spec.control_depth, rngs=rngs)
    else:
      self.decoder = decoders.LstmDecoder(spec.part_depths, spec.z_size, spec.dec_rnn_size,
                                          control_depth=spec.control_depth, rngs=rngs)

  @property
  def groove(self) -> bool:
    return self.spec.decoder.kind == 'groove_lstm'

  @property
  def nade(self) -> bool:
    return self.spec.decoder.kind == 'nade_lstm'

  def split_controls(self, labels_BxTxL):
    """(labels [B, T, P], control classes [B, T] or None) of stored windows: a chord model's
    windows carry the chord class of every step after the parts (converters.chords)."""
    if self.groove or not self.spec.controls:
      return labels_BxTxL, None
    parts = len(self.spec.part_depths)
    return labels_BxTxL[..., :parts], labels_BxTxL[..., parts]

  def encode(self, labels_BxTxP, lengths_B, *, controls_BxTxC=None, dropout_key=None,
             controls_BxT=None):
    """(mu, sigma) [B, Z] of q(z | x). Dense inputs (GrooVAE): ``labels_BxTxP`` is the float
    input [B, T, D]; ``dropout_key`` (training) turns on input dropout. A chord model takes
    each step's chord class ``controls_BxT``, one-hot after the parts as Magenta concatenates.
    The hierarchical encoder counts each segment's length from the labels (rows with no -1
    part, within ``lengths_B``), or takes ``lengths_B`` [B, N] as the segment lengths."""
    if self.spec.encoder.kind == 'musicoder':  # melody windows as MusiCoder's piano roll
      encoding = self.encoder(lengths_B, labels_BxTxP=labels_BxTxP)
    elif self.spec.input.kind == 'dense':
      dense = labels_BxTxP.astype(jnp.float32)
      if self.spec.controls:
        if controls_BxTxC is None:
          raise ValueError(f'this model reads {self.spec.control_depth} controls per step '
                           '(controls_BxTxC).')
        dense = jnp.concatenate([dense, controls_BxTxC.astype(jnp.float32)], axis=-1)
      encoding = self.encoder(lengths_B, dense_BxTxD=dense, keep_prob=self.spec.dropout_keep_prob,
                              dropout_key=dropout_key)
    elif self.spec.input.kind == 'drum_roll':
      # The 512-way label is a bit set of drum classes (NADE windows hold the bits themselves);
      # the roll adds a silence (NOR) bit.
      bits = labels_BxTxP if self.nade else (
          (labels_BxTxP[..., :1] >> jnp.arange(self.spec.input_depth - 1)) & 1)
      nor = jnp.all(bits == 0, axis=-1, keepdims=True)
      dense = jnp.concatenate([bits, nor], axis=-1).astype(jnp.float32)
      encoding = self.encoder(lengths_B, dense_BxTxD=dense)
    else:
      offsets = jnp.asarray(np.cumsum((0,) + self.spec.part_depths[:-1]), jnp.int32)
      rows = jnp.where(labels_BxTxP >= 0, labels_BxTxP + offsets, -1)  # -1: a padding row
      if self.spec.controls:
        if controls_BxT is None:
          raise ValueError(f'this model reads {self.spec.control_depth} control classes per '
                           'step (controls_BxT).')
        controls = controls_BxT.astype(rows.dtype)  # -1 (a padding row): no control input
        rows = jnp.concatenate(
            [rows, jnp.where(controls >= 0, controls + self.spec.output_depth, -1)[..., None]],
            -1)
      if self.spec.encoder.kind == 'hierarchical_lstm':
        encoding = self.encoder(lengths_B, rows_BxTxP=rows, labels_BxTxP=labels_BxTxP)
      else:
        encoding = self.encoder(lengths_B, rows_BxTxP=rows)
    return self.latent(encoding)

  def teacher_forced_logits(self, z_BxZ, inputs_BxTxP, **kwargs):
    return self.decoder.teacher_forced(z_BxZ, inputs_BxTxP, **kwargs)

  def scheduled_inputs(self, z_BxZ, labels_BxTxP, sample_mask_BxT, key, controls_BxT=None):
    """Step inputs when the decoder feeds back its own samples where the mask is set."""
    if self.groove:
      raise NotImplementedError('scheduled sampling is not built for the GrooVAE decoder.')
    if self.nade:  # fed back: the thresholded roll (Magenta's NADE sample at temperature None)
      return self.decoder.decode_loop(z_BxZ, labels_BxTxP.shape[1], key, threshold=True,
                                      targets_BxTxD=labels_BxTxP,
                                      sample_mask_BxT=sample_mask_BxT)['inputs']
    inputs = shift_right(labels_BxTxP)
    if self.spec.hierarchical:
      return self.decoder.scheduled_inputs(z_BxZ, labels_BxTxP, inputs, sample_mask_BxT, key,
                                           controls_BxT=controls_BxT)
    out = self.decoder.decode_loop(z_BxZ, inputs[:, 0], labels_BxTxP.shape[1], key,
                                   targets_BxTxP=labels_BxTxP, sample_mask_BxT=sample_mask_BxT,
                                   controls_BxT=controls_BxT)
    return out['inputs']

  def sample(self, z_BxZ, key, temperature=1.0, *, greedy: bool = False, gumbel_BxTxO=None,
             controls_BxTxC=None, hit_conditional: bool = False, controls_BxT=None):
    """Free-running decode from z: ``samples`` [B, T, P] and ``logits`` [B, T, O].

    ``gumbel_BxTxO``: standard Gumbel noise for every step and class, drawn by the caller (so
    each sequence can have its own key); without it the noise comes from ``key``. GrooVAE's
    ``samples`` are the emitted [B, T, 27] float vectors; ``controls_BxTxC`` its per-step hits;
    ``hit_conditional`` its velocities and offsets given a hit (``groove_decoder.emit``).
    A chord model decodes under ``controls_BxT``, the chord class of every step.
    """
    if self.groove:
      return self.decoder.decode_loop(z_BxZ, self.spec.max_seq_len, key, temperature,
                                      greedy=greedy, controls_BxTxC=controls_BxTxC,
                                      gumbel_BxTxO=gumbel_BxTxO,
                                      hit_conditional=hit_conditional)
    if self.nade:  # samples: [B, T, D] bits; Bernoulli draws from the Gumbel noise, one a bit
      return self.decoder.decode_loop(z_BxZ, self.spec.max_seq_len, key, temperature,
                                      greedy=greedy, gumbel_BxTxD=gumbel_BxTxO)
    if self.spec.hierarchical:
      return self.decoder.sample(z_BxZ, key, temperature, greedy=greedy,
                                 gumbel_BxTxO=gumbel_BxTxO, controls_BxT=controls_BxT)
    first = -jnp.ones((z_BxZ.shape[0], len(self.spec.part_depths)), jnp.int32)
    return self.decoder.decode_loop(z_BxZ, first, self.spec.max_seq_len, key, temperature,
                                    greedy=greedy, gumbel_BxTxO=gumbel_BxTxO,
                                    controls_BxT=controls_BxT)


def build_model(spec: specs.ModelSpec, seed: int = 0) -> MusicVAE:
  return MusicVAE(spec, rngs=nnx.Rngs(params=seed))
