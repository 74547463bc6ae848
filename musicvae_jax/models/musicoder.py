"""MusiCoder's network: a bidirectional transformer encoder over piano-roll frames.

Shapes: B = batch, T = frames, P = pitch channels (88), K = classes per cell (2 + velocity
bins), D = model width, C = classes of a fine-tuning task.

A frame's input is, per pitch channel, four numbers: onset, sounding, the onset's velocity (bin
centre in [0, 1]) and whether the cell is masked (a masked cell's first three are zero). A linear
map takes the 4P numbers to D, a learnt position embedding is added, then ``num_layers``
pre-LayerNorm blocks of full (bidirectional) self-attention and a GELU MLP, and a final
LayerNorm: ``encode`` gives [B, T, D].

Pretraining (``training/musicoder_family.py``) masks contiguous frames (CFM) and contiguous
pitch channels (CCM) and asks ``reconstruct`` (a linear head, [B, T, P, K] logits) for the
masked cells' labels. Fine-tuning puts a small head on ``encode``: ``ClassifierHead`` (mean over
frames -> C classes, composer) or ``CellHead`` (one logit per frame and pitch, melody notes).

Where this differs from MusiCoder (audio frames, a BERT encoder): the input is a symbolic piano
roll, cells say whether they are masked instead of a learnt [MASK] vector (so a masked channel
band is not mistaken for silence), and there is no dropout (the CPU-scale models here are
small against their data).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from musicvae_jax import specs

FEATURES_PER_CHANNEL = 4  # onset, sounding, velocity, masked


def features(labels_BxTxP, cell_mask_BxTxP, velocity_bins: int):
  """The encoder's input [B, T, 4P] from cell labels and the mask of hidden cells."""
  labels = labels_BxTxP.astype(jnp.int32)
  keep = 1.0 - cell_mask_BxTxP.astype(jnp.float32)
  onset = (labels >= 2).astype(jnp.float32)
  sounding = (labels >= 1).astype(jnp.float32)
  velocity = onset * (jnp.maximum(labels - 2, 0).astype(jnp.float32) + 0.5) / velocity_bins
  stacked = jnp.stack([onset * keep, sounding * keep, velocity * keep, 1.0 - keep], axis=-1)
  return stacked.reshape(*labels.shape[:2], -1)


class Block(nnx.Module):
  """Pre-LayerNorm transformer block: self-attention, then a GELU MLP, each residual."""

  def __init__(self, width: int, heads: int, mlp: int, *, rngs: nnx.Rngs):
    self.norm1 = nnx.LayerNorm(width, rngs=rngs)
    self.attention = nnx.MultiHeadAttention(num_heads=heads, in_features=width,
                                            decode=False, rngs=rngs)
    self.norm2 = nnx.LayerNorm(width, rngs=rngs)
    self.up = nnx.Linear(width, mlp, rngs=rngs)
    self.down = nnx.Linear(mlp, width, rngs=rngs)

  def __call__(self, x_BxTxD):
    x = x_BxTxD + self.attention(self.norm1(x_BxTxD), deterministic=True)
    return x + self.down(jax.nn.gelu(self.up(self.norm2(x))))


class MusiCoder(nnx.Module):
  """The encoder and its pretraining head."""

  def __init__(self, spec: specs.ModelSpec, *, rngs: nnx.Rngs):
    m = spec.musicoder
    self.spec = spec
    self.num_pitches = len(spec.heads)
    self.classes = spec.heads[0].depth
    width = m.width
    self.embed_in = nnx.Linear(self.num_pitches * FEATURES_PER_CHANNEL, width, rngs=rngs)
    self.position = nnx.Param(0.02 * jax.random.normal(rngs.params(), (spec.seq_len, width)))
    self.blocks = nnx.List([Block(width, m.num_heads, m.mlp_width, rngs=rngs)
                            for _ in range(m.num_layers)])
    self.norm = nnx.LayerNorm(width, rngs=rngs)
    self.head = nnx.Linear(width, self.num_pitches * self.classes, rngs=rngs)

  @property
  def width(self) -> int:
    return self.spec.musicoder.width

  def encode(self, labels_BxTxP, cell_mask_BxTxP=None):
    """Hidden frames [B, T', D] (T' <= T frames; the positions are the first T')."""
    if cell_mask_BxTxP is None:
      cell_mask_BxTxP = jnp.zeros(labels_BxTxP.shape, bool)
    x = self.embed_in(features(labels_BxTxP, cell_mask_BxTxP, self.classes - 2))
    x = x + self.position[...][:x.shape[1]]
    for block in self.blocks:
      x = block(x)
    return self.norm(x)

  def reconstruct(self, hidden_BxTxD):
    """Logits [B, T, P, K] of every cell's label."""
    logits = self.head(hidden_BxTxD)
    return logits.reshape(*logits.shape[:2], self.num_pitches, self.classes)


class ClassifierHead(nnx.Module):
  """A window's class from its frames' mean: [B, T, D] -> [B, C]."""

  def __init__(self, width: int, classes: int, *, rngs: nnx.Rngs):
    self.out = nnx.Linear(width, classes, rngs=rngs)

  def __call__(self, hidden_BxTxD, frames_BxT=None):
    if frames_BxT is None:
      pooled = jnp.mean(hidden_BxTxD, axis=1)
    else:
      w = frames_BxT.astype(hidden_BxTxD.dtype)[..., None]
      pooled = jnp.sum(hidden_BxTxD * w, axis=1) / jnp.maximum(jnp.sum(w, axis=1), 1.0)
    return self.out(pooled)


def cell_features(labels_BxTxP):
  """[B, T, P, 6] per cell: onset, sounding, velocity, and how many notes sound above it, start
  above it and sound below it in its frame (each / 8), the context a melody rule reads."""
  labels = labels_BxTxP.astype(jnp.int32)
  onset = (labels >= 2).astype(jnp.float32)
  sounding = (labels >= 1).astype(jnp.float32)
  velocity = onset * (jnp.maximum(labels - 2, 0).astype(jnp.float32) + 0.5) / 8.0
  above = lambda x: jnp.flip(jnp.cumsum(jnp.flip(x, -1), -1), -1) - x
  below = jnp.cumsum(sounding, -1) - sounding
  return jnp.stack([onset, sounding, velocity, above(sounding) / 8.0, above(onset) / 8.0,
                    below / 8.0], axis=-1)


class CellHead(nnx.Module):
  """One logit per frame and pitch, [B, T, D] -> [B, T, P] (melody note or not), the sum of:

  * a per-pitch linear readout of the frame's hidden vector, the way pretraining's head reads a
    cell (``MusiCoder.reconstruct``), so what a pretrained encoder holds about each pitch is read
    as it was learnt;
  * an MLP of the frame's hidden vector, the pitch's embedding and the cell's neighbourhood: a
    convolution over ``local`` frames x semitones of every cell's own features
    (``cell_features``), which sees the line a note belongs to (the notes just before and after
    it, a few semitones away) as well as what sounds above and below it.
  """

  def __init__(self, width: int, num_pitches: int, *, hidden: int = 64, local=(9, 7),
               channels: int = 32, rngs: nnx.Rngs):
    self.readout = nnx.Linear(width, num_pitches, rngs=rngs)
    self.frame = nnx.Linear(width, hidden, rngs=rngs)
    self.pitch = nnx.Embed(num_pitches, hidden, rngs=rngs)
    self.local = nnx.Conv(6, channels, kernel_size=tuple(local), padding='SAME', rngs=rngs)
    self.cell = nnx.Linear(channels + 6, hidden, rngs=rngs)
    self.out = nnx.Linear(hidden, 1, rngs=rngs)

  def __call__(self, hidden_BxTxD, labels_BxTxP):
    own = cell_features(labels_BxTxP)
    around = jax.nn.gelu(self.local(own))
    x = (self.frame(hidden_BxTxD)[:, :, None, :] + self.pitch.embedding[...][None, None]
         + self.cell(jnp.concatenate([own, around], axis=-1)))
    return self.readout(hidden_BxTxD) + self.out(jax.nn.gelu(x))[..., 0]


def coder_spec(coder: specs.MusiCoderSpec) -> specs.ModelSpec:
  """The ModelSpec of a MusiCoder with ``coder``'s architecture over 88 pitches x 10 classes."""
  return specs.ModelSpec(
      heads=(specs.Head('categorical', 10),) * 88, input=specs.StepInput('dense', 4 * 88),
      encoder=specs.EncoderSpec('transformer', (coder.width,) * coder.num_layers),
      decoder=specs.DecoderSpec('linear', ()), z_size=0, seq_len=coder.frames,
      family='musicoder', musicoder=coder)


MELODY_VELOCITY_LABEL = 2 + 4  # an onset at velocity 80 (bin 4 of 8), as melodies are written


def melody_roll(classes_BxT, lengths_B=None):
  """Melody classes [B, T] (0 no event, 1 note-off, 2 + k the onset of pitch 21 + k; -1
  padding) -> piano-roll labels [B, T, 88]: the onset cell, then 'sounding' while the note
  holds, silence after a note-off (and past ``lengths_B``)."""
  classes = classes_BxT.astype(jnp.int32)
  T = classes.shape[1]
  steps = jnp.arange(T)
  if lengths_B is not None:
    classes = jnp.where(steps[None] < lengths_B[:, None], classes, 1)
  classes = jnp.maximum(classes, 0)
  last_event = jax.lax.cummax(jnp.where(classes != 0, steps[None], -1), axis=1)
  state = jnp.where(last_event >= 0,
                    jnp.take_along_axis(classes, jnp.maximum(last_event, 0), axis=1), 1)
  sounding = state >= 2
  value = jnp.where(classes >= 2, MELODY_VELOCITY_LABEL, 1) * sounding
  return (jax.nn.one_hot(jnp.where(sounding, state - 2, -1), 88, dtype=jnp.int32)
          * value[..., None]).astype(jnp.int16)


class MusiCoderEncoder(nnx.Module):
  """MusicVAE's encoder seam: melody windows read by a (pretrained) MusiCoder, its hidden
  frames averaged over the window's valid steps -> [B, width] for the Gaussian head."""

  def __init__(self, coder: specs.MusiCoderSpec, *, rngs: nnx.Rngs):
    self.coder = MusiCoder(coder_spec(coder), rngs=rngs)

  @property
  def output_size(self) -> int:
    return self.coder.width

  def __call__(self, lengths_B, *, labels_BxTxP):
    hidden = self.coder.encode(melody_roll(labels_BxTxP[..., 0], lengths_B))
    valid = (jnp.arange(hidden.shape[1])[None] < lengths_B[:, None]).astype(hidden.dtype)
    return (jnp.sum(hidden * valid[..., None], axis=1)
            / jnp.maximum(jnp.sum(valid, axis=1, keepdims=True), 1.0))


def build(spec: specs.ModelSpec, seed: int = 0) -> MusiCoder:
  return MusiCoder(spec, rngs=nnx.Rngs(seed))
