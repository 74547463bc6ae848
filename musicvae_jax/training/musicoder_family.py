"""MusiCoder's pretraining as a model family: masked cells of piano-roll frames reconstructed.

Shapes: B = batch, T = frames, P = pitch channels, K = classes per cell.

Each step draws, from the step's key, which cells of each window to hide:

* CFM (contiguous frames masked): span starts fall on each frame with probability
  ``frame_fraction / frame_span`` and hide ``frame_span`` frames from there (every channel), so
  about ``frame_fraction`` of the frames are hidden, in runs;
* CCM (contiguous channels masked): likewise bands of ``channel_span`` semitones across the
  whole window, about ``channel_fraction`` of the channels.

A hidden cell reaches the encoder as zeros with its 'masked' flag set (``models.musicoder``);
the loss is the cross-entropy of the hidden cells' labels (silent, sounding, onset of a velocity
bin), averaged over hidden cells. With both objectives a window gets both kinds of mask at once.

Metrics: ``accuracy`` over hidden cells (mostly silence), and the figure that says more,
``onset_f1``: hidden onsets found (argmax an onset class) against hidden onsets there.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from musicvae_jax.input_pipeline import pipeline
from musicvae_jax.models import musicoder
from musicvae_jax.training import family


def _spans(key, shape, fraction: float, span: int):
  """[B, L] bool: runs of ``span`` starting at Bernoulli(fraction / span) positions."""
  starts = jax.random.bernoulli(key, fraction / span, shape).astype(jnp.int32)
  total = jnp.cumsum(starts, axis=1)
  before = jnp.pad(total, ((0, 0), (span, 0)))[:, :shape[1]]
  return (total - before) > 0


def cell_mask(spec, key, batch: int):
  """[B, T, P] bool: the cells this step hides, by the spec's objectives."""
  m = spec.musicoder
  T, P = spec.seq_len, len(spec.heads)
  k_frames, k_channels = jax.random.split(key)
  mask = jnp.zeros((batch, T, P), bool)
  if 'cfm' in m.objectives:
    mask = mask | _spans(k_frames, (batch, T), m.frame_fraction, m.frame_span)[:, :, None]
  if 'ccm' in m.objectives:
    mask = mask | _spans(k_channels, (batch, P), m.channel_fraction, m.channel_span)[:, None, :]
  return mask


def masked_terms(model: musicoder.MusiCoder, labels_BxTxP, key, weights_B):
  """Per-window sums over hidden cells: cross-entropy, cells, hits, onset counts."""
  labels = labels_BxTxP.astype(jnp.int32)
  hidden = cell_mask(model.spec, key, labels.shape[0]) & (weights_B[:, None, None] > 0)
  logits = model.reconstruct(model.encode(labels, hidden)).astype(jnp.float32)
  ce = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
  predicted = jnp.argmax(logits, axis=-1)
  h = hidden.astype(jnp.float32)
  is_onset, said_onset = labels >= 2, predicted >= 2
  per = lambda x: jnp.sum(x.astype(jnp.float32) * h, axis=(1, 2))
  return dict(ce=per(ce), cells=per(jnp.ones_like(ce)), hits=per(predicted == labels),
              onsets=per(is_onset), said=per(said_onset), found=per(is_onset & said_onset))


def _f1(found, onsets, said):
  return 2.0 * found / jnp.maximum(onsets + said, 1.0)


class MusiCoderFamily(family.Family):
  """Masked-cell pretraining of the transformer over [B, T, P] piano-roll labels."""

  batch_keys = ('labels', 'lengths', 'mask')
  progress_metric = 'onset_f1'

  def build(self, seed: int = 0):
    return musicoder.build(self.run.model, seed)

  def check_dataset(self, data_dir) -> dict:
    model = self.run.model
    return pipeline.check_fits(data_dir, seq_len=model.seq_len, part_depths=model.part_depths)

  def _sums(self, model, batch, key):
    weights = (batch['lengths'] > 0).astype(jnp.float32)
    return masked_terms(model, batch['labels'], key, weights), weights

  def loss(self, model, batch, key, step):
    del step
    t, _ = self._sums(model, batch, key)
    total = {k: jnp.sum(v) for k, v in t.items()}
    cells = jnp.maximum(total['cells'], 1.0)
    loss = total['ce'] / cells
    return loss, dict(loss=loss, accuracy=total['hits'] / cells,
                      onset_f1=_f1(total['found'], total['onsets'], total['said']),
                      hidden_cells=cells)

  def eval_sums(self, model, batch, key, step):
    del step
    t, weights = self._sums(model, batch, key)
    return dict(examples=jnp.sum(weights), **{k: jnp.sum(v) for k, v in t.items()})

  def summarize(self, totals: dict) -> dict:
    cells = max(float(totals['cells']), 1.0)
    onsets, said, found = (float(totals[k]) for k in ('onsets', 'said', 'found'))
    return dict(examples=int(totals['examples']), loss=float(totals['ce']) / cells,
                accuracy=float(totals['hits']) / cells,
                onset_precision=found / max(said, 1.0), onset_recall=found / max(onsets, 1.0),
                onset_f1=2.0 * found / max(onsets + said, 1.0))

  def format_table(self, rows: dict[str, dict]) -> str:
    lines = [f'{"split":<8}{"examples":>10}{"loss":>9}{"accuracy":>10}{"onset P":>9}'
             f'{"onset R":>9}{"onset F1":>10}']
    for split, m in rows.items():
      lines.append(f'{split:<8}{m["examples"]:>10}{m["loss"]:>9.4f}{m["accuracy"]:>10.4f}'
                   f'{m["onset_precision"]:>9.3f}{m["onset_recall"]:>9.3f}{m["onset_f1"]:>10.3f}')
    return '\n'.join(lines)

  def headline(self, metrics: dict) -> str:
    return (f'hidden-cell loss {metrics["loss"]:.4f}, accuracy {metrics["accuracy"]:.4f}, '
            f'hidden onsets F1 {metrics["onset_f1"]:.3f}')
