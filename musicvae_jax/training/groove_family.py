"""GrooVAE as a model family: its batch layout, loss, metrics and evaluation.

Shapes: B = batch, T = steps, O = 27 (hits | velocities | offsets of 9 drum classes), C = 9
(hits_as_controls) or 0, Z = latent size.

A batch holds ``inputs`` and ``targets`` float32 [B, T, O], ``controls`` [B, T, C], ``lengths``
[B] and ``mask`` [B, T]; the inputs are derived from the stored targets in the grain pipeline
(``input_pipeline.groove_examples``) by the training config's transforms. One training pass, as
Magenta's: z = mu + sigma·ε from the encoder's reading of the inputs (and controls); the decoder
is teacher-forced on the targets shifted right (zeros at t = 0); input dropout at
``model.dropout_keep_prob`` on every LSTM layer, with its own key for the encoder and the
decoder, in training only; loss = mean(r_loss) + β(step)·mean(kl_cost) with r_loss the summed
hit log loss and velocity and offset squared errors (``losses.groove_reconstruction``). Logged
as Magenta logs them: hits_loss, velocities_loss, offsets_loss (means over examples) and the
hit accuracy.

Evaluation (teacher-forced, no dropout, z sampled as in Magenta's eval): over every valid step
and drum class, a hit is predicted where its probability is over 0.5; ``hit_accuracy`` is the
share of cells predicted right, ``hit_precision`` / ``hit_recall`` / ``hit_f1`` those of the
true hits. ``velocity_mse`` / ``velocity_mae`` (velocity / 127, sigmoid output) and
``offset_mae`` (offsets in [-1, 1], tanh output) are over the cells where the target has a hit:
the velocity and timing of the notes that were played.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from musicvae_jax.converters import get_converter
from musicvae_jax.input_pipeline import groove_examples
from musicvae_jax.input_pipeline import pipeline
from musicvae_jax.models import groove_decoder
from musicvae_jax.models import vae
from musicvae_jax.training import family
from musicvae_jax.training import losses

PARTS = ('hits', 'velocities', 'offsets')


def forward(model: vae.MusicVAE, batch, key, *, train: bool):
  """Everything a loss or a metric needs from one teacher-forced pass. Returns a dict."""
  targets, lengths, mask = batch['targets'], batch['lengths'], batch['mask']
  controls = batch['controls'] if model.spec.control_depth else None
  key_eps, key_enc, key_dec = jax.random.split(key, 3)
  mu, sigma = model.encode(batch['inputs'], lengths, controls_BxTxC=controls,
                           dropout_key=key_enc if train else None)
  z = mu + sigma * jax.random.normal(key_eps, mu.shape, mu.dtype)
  logits = model.teacher_forced_logits(
      z, groove_decoder.shift_right(targets.astype(z.dtype)), controls_BxTxC=controls,
      dropout_key=key_dec if train else None).astype(jnp.float32)
  mu, sigma = mu.astype(jnp.float32), sigma.astype(jnp.float32)
  r_loss, parts = losses.groove_reconstruction(logits, targets, mask)
  return dict(mu=mu, sigma=sigma, logits=logits, r_loss=r_loss, parts=parts,
              kl=losses.kl_divergence(mu, sigma))


def example_weights(batch):
  return (batch['lengths'] > 0).astype(jnp.float32)


def hit_accuracy(hits_correct_BxTxN, mask_BxT):
  """Mean over valid steps and drum classes of (hit predicted) == (hit played)."""
  right = hits_correct_BxTxN.astype(jnp.float32) * mask_BxT[..., None]
  return jnp.sum(right) / jnp.maximum(jnp.sum(mask_BxT) * hits_correct_BxTxN.shape[-1], 1.0)


def cell_sums(logits_BxTxO, targets_BxTxO, mask_BxT) -> dict:
  """Sums over valid cells (step, drum class) of the evaluation's counts and errors."""
  hit_logits = jnp.split(logits_BxTxO, 3, axis=-1)[0]
  _, velocities, offsets = groove_decoder.activate(logits_BxTxO)
  hits, true_velocities, true_offsets = jnp.split(targets_BxTxO.astype(jnp.float32), 3, axis=-1)
  valid = mask_BxT[..., None]
  played = (hits > 0.5).astype(jnp.float32) * valid
  predicted = (hit_logits > 0).astype(jnp.float32) * valid
  velocity_error = (velocities - true_velocities) * played
  offset_error = (offsets - true_offsets) * played
  return dict(
      cells=jnp.sum(valid) * hits.shape[-1],
      hits_right=jnp.sum(valid - jnp.abs(predicted - played)),
      true_positives=jnp.sum(predicted * played), predicted_hits=jnp.sum(predicted),
      played_hits=jnp.sum(played),
      velocity_squared_error=jnp.sum(jnp.square(velocity_error)),
      velocity_abs_error=jnp.sum(jnp.abs(velocity_error)),
      offset_abs_error=jnp.sum(jnp.abs(offset_error)))


def summarize_cells(totals: dict) -> dict:
  """Hit accuracy, precision, recall, F1 and the velocity and offset errors from ``cell_sums``."""
  f = lambda k: float(totals[k])
  precision = f('true_positives') / max(f('predicted_hits'), 1.0)
  recall = f('true_positives') / max(f('played_hits'), 1.0)
  played = max(f('played_hits'), 1.0)
  return dict(
      hit_accuracy=f('hits_right') / max(f('cells'), 1.0), hit_precision=precision,
      hit_recall=recall,
      hit_f1=2 * precision * recall / (precision + recall) if precision + recall else 0.0,
      velocity_mse=f('velocity_squared_error') / played,
      velocity_mae=f('velocity_abs_error') / played,
      offset_mae=f('offset_abs_error') / played)


class GrooveFamily(family.Family):
  """Encoder → z → GrooVAE decoder over dense [B, T, 27] steps, optional hits controls."""

  batch_keys = ('inputs', 'targets', 'controls', 'lengths', 'mask')
  progress_metric = 'hits_accuracy'

  def build(self, seed: int = 0):
    return vae.build_model(self.run.model, seed=seed)

  def check_dataset(self, data_dir) -> dict:
    spec = self.run.model
    return pipeline.check_fits(data_dir, seq_len=spec.seq_len, part_depths=spec.part_depths,
                               window_dtype='float32', window_columns=spec.output_depth)

  def example_transform(self):
    return groove_examples.GrooveExamples(get_converter(self.run.data))

  def loss(self, model, batch, key, step):
    out = forward(model, batch, key, train=True)
    weights = example_weights(batch)
    spec = self.run.loss
    beta = losses.beta(step, spec.max_beta, spec.beta_rate)
    r_loss = losses.weighted_mean(out['r_loss'], weights)
    kl_loss = losses.weighted_mean(losses.kl_cost(out['kl'], spec.free_bits), weights)
    loss = r_loss + beta * kl_loss
    parts = {f'{p}_loss': losses.weighted_mean(out['parts'][p], weights) for p in PARTS}
    return loss, dict(
        parts, loss=loss, r_loss=r_loss, kl_loss=kl_loss, beta=beta,
        kl_bits=losses.weighted_mean(out['kl'], weights) / math.log(2.0),
        hits_accuracy=hit_accuracy(out['parts']['hits_correct'], batch['mask']))

  def eval_sums(self, model, batch, key, step):
    weights = example_weights(batch)
    out = forward(model, batch, key, train=False)
    spec = self.run.loss
    beta = losses.beta(step, spec.max_beta, spec.beta_rate)
    kl_cost = losses.kl_cost(out['kl'], spec.free_bits)
    per_example = {f'{p}_loss': jnp.sum(out['parts'][p] * weights) for p in PARTS}
    return dict(
        per_example, examples=jnp.sum(weights), r_loss=jnp.sum(out['r_loss'] * weights),
        kl_loss=jnp.sum(kl_cost * weights), kl=jnp.sum(out['kl'] * weights),
        loss=jnp.sum((out['r_loss'] + beta * kl_cost) * weights),
        **cell_sums(out['logits'], batch['targets'], batch['mask']))

  def summarize(self, totals: dict) -> dict:
    n = max(float(totals['examples']), 1.0)
    out = dict(examples=int(totals['examples']), **summarize_cells(totals))
    for k in ('loss', 'r_loss', 'kl_loss', *(f'{p}_loss' for p in PARTS)):
      out[k] = float(totals[k]) / n
    out['kl_bits'] = float(totals['kl']) / n / math.log(2.0)
    return out

  def format_table(self, rows: dict[str, dict]) -> str:
    cols = (('hit acc', 'hit_accuracy', 9), ('precision', 'hit_precision', 11),
            ('recall', 'hit_recall', 8), ('F1', 'hit_f1', 8), ('vel MSE', 'velocity_mse', 9),
            ('vel MAE', 'velocity_mae', 9), ('offset MAE', 'offset_mae', 12))
    head = f'{"split":<8}{"examples":>10}' + ''.join(f'{n:>{w}}' for n, _, w in cols)
    head += f'{"r_loss":>10}{"KL bits":>9}'
    lines = [head]
    for split, m in rows.items():
      lines.append(f'{split:<8}{m["examples"]:>10}'
                   + ''.join(f'{m[k]:>{w}.4f}' for _, k, w in cols)
                   + f'{m["r_loss"]:>10.2f}{m["kl_bits"]:>9.1f}')
    return '\n'.join(lines)

  def headline(self, metrics: dict) -> str:
    return (f'hit accuracy {metrics["hit_accuracy"]:.4f}, hit F1 {metrics["hit_f1"]:.4f}, '
            f'velocity MAE {metrics["velocity_mae"]:.4f}, offset MAE '
            f'{metrics["offset_mae"]:.4f}, KL {metrics["kl_bits"]:.1f} bits')
