"""Hierarchical LSTM encoder (Magenta's ``HierarchicalLstmEncoder`` of bidirectional encoders).

Shapes: B = batch, T = steps, P = input columns (one-hot parts, plus a control), N = segments,
S = steps per segment, H = encoder size per direction.

``level_lengths`` [S_0, S_1, ...] multiply to T (hier-multiperf: [64, 8], 8 tracks of 64
events). Level 0 cuts the sequence into T / S_0 segments of S_0 steps and encodes every segment
with one shared bidirectional encoder, each segment read up to its own length; level k > 0 cuts
the [B, N, 2H] embeddings of the level below into groups of S_k and encodes them at full length.
The last level leaves one embedding [B, 2H] per sequence.

Where it differs from Magenta: Magenta encodes the segments one after another (a Python loop
building one graph per segment); here every level runs all its segments as one batch of B·N
sequences. Magenta takes the segment lengths from the converter (a [B, N] vector); here they
are counted from the labels, a step being valid where no part is -1 (an all-zero padding row)
and it lies within the sequence's scalar length, so one scalar length of T (every hierarchical
melody or trio window) gives full segments, as Magenta's divided scalar length does. A [B, N]
length array, if given, is used as it is. Valid steps must come first in each segment, as the
converter lays them out.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from flax import nnx

from musicvae_jax.models import encoders


def segment_lengths(labels_BxTxP, lengths_B, segment_steps: int):
  """Valid steps per level-0 segment [B, N]: rows with no -1 part, within ``lengths_B``."""
  batch, steps = labels_BxTxP.shape[:2]
  valid_BxT = jnp.all(labels_BxTxP >= 0, axis=-1) & (
      jnp.arange(steps)[None] < jnp.reshape(lengths_B, (-1, 1)))
  return valid_BxT.reshape(batch, steps // segment_steps, segment_steps).sum(-1).astype(
      jnp.int32)


class HierarchicalLstmEncoder(nnx.Module):

  def __init__(self, input_size: int, sizes, level_lengths, *, rngs: nnx.Rngs):
    self.level_lengths = tuple(int(n) for n in level_lengths)
    levels = []
    for k in range(len(self.level_lengths)):
      size = input_size if k == 0 else levels[-1].output_size
      levels.append(encoders.BidirectionalLstmEncoder(size, sizes, rngs=rngs))
    self.levels = nnx.List(levels)

  @property
  def output_size(self) -> int:
    return self.levels[-1].output_size

  def __call__(self, lengths, *, rows_BxTxP, labels_BxTxP):
    """[B, 2H] from the one-hot rows of every step (offsets applied, -1 = no input).

    ``labels_BxTxP`` (the parts alone) give the segment lengths; ``lengths`` is [B] (each
    sequence's length, T for a whole window, 0 for padding) or [B, N] (segment lengths)."""
    batch, steps = rows_BxTxP.shape[:2]
    if steps != int(np.prod(self.level_lengths)):
      raise ValueError(f'the hierarchical encoder reads {int(np.prod(self.level_lengths))} '
                       f'steps (level lengths {list(self.level_lengths)}), not {steps}.')
    first = self.level_lengths[0]
    lengths = jnp.asarray(lengths)
    seg_BxN = lengths if lengths.ndim == 2 else segment_lengths(labels_BxTxP, lengths, first)
    n = steps // first
    rows = rows_BxTxP.reshape((batch * n, first) + rows_BxTxP.shape[2:])
    out = self.levels[0](seg_BxN.reshape(-1), rows_BxTxP=rows)
    for level, size in zip(self.levels[1:], self.level_lengths[1:]):
      n //= size
      dense = out.reshape(batch * n, size, out.shape[-1])
      out = level(jnp.full((batch * n,), size, jnp.int32), dense_BxTxD=dense)
    return out.reshape(batch, -1)
