"""MusicVAE as a model family: its loss, its metrics and its batch layout.

Shapes: B = batch, T = steps, P = output parts, Z = latent size.

One training pass, as Magenta's ``MusicVAE._compute_model_loss``: z = mu + sigma·ε; decoder
inputs = targets shifted right, or, under scheduled sampling, the inputs a free-running pass
picked (each step its own sample with probability p(step)); loss = mean(r_loss) +
β(step)·mean(kl_cost). Losses and metrics are computed in float32 whatever dtype the model
computes in.

Evaluation (the MusicVAE paper's table for one checkpoint): ``teacher_forced_accuracy`` is argmax
of the decoder's output equal to the target with the decoder fed the true previous step;
``sampled_accuracy`` the same with the decoder fed its own samples at every step (Magenta's
evaluation under a sampling schedule, p = 1); in the hierarchical decoder each bar still starts
from the true last step of the bar before, as in Magenta's evaluation graph. Both are means over
valid steps (and parts; per-part values are listed as well). Padding rows (label -1, the rows
past each track's length in a hier-multiperf window) are not valid steps.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from musicvae_jax import specs
from musicvae_jax.input_pipeline import pipeline
from musicvae_jax.models import vae
from musicvae_jax.training import family
from musicvae_jax.training import losses
from musicvae_jax.training import schedules


def valid_steps(labels_BxTxP, mask_BxT):
  """The steps the loss and the accuracies count: the batch's mask less the padding rows
  (label -1: hier-multiperf's rows past each track's length, Magenta's segment lengths)."""
  return mask_BxT * jnp.all(labels_BxTxP >= 0, axis=-1).astype(mask_BxT.dtype)


def forward(model: vae.MusicVAE, batch, key, *, sampling_probability):
  """Everything a loss or a metric needs from one pass. Returns a dict of arrays, ``mask``
  [B, T] the valid steps."""
  lengths = batch['lengths']
  # A chord model's windows carry each step's chord after the parts: its control, no target.
  labels, chords = model.split_controls(batch['labels'])
  mask = valid_steps(labels, batch['mask'])
  ctl = {} if chords is None else dict(controls_BxT=chords)
  key_eps, key_mask, key_sample = jax.random.split(key, 3)
  mu, sigma = model.encode(labels, lengths, **ctl)
  z = mu + sigma * jax.random.normal(key_eps, mu.shape, mu.dtype)
  inputs = vae.shift_right(labels)
  if sampling_probability is not None:
    sample_mask = jax.random.bernoulli(key_mask, sampling_probability, mask.shape)
    inputs = jax.lax.stop_gradient(
        model.scheduled_inputs(z, labels, sample_mask.astype(jnp.float32), key_sample, **ctl))
  logits = model.teacher_forced_logits(z, inputs, **ctl).astype(jnp.float32)
  mu, sigma = mu.astype(jnp.float32), sigma.astype(jnp.float32)
  r_loss, correct = losses.reconstruction(logits, labels, mask, model.spec.part_depths)
  kl = losses.kl_divergence(mu, sigma)
  return dict(mu=mu, sigma=sigma, z=z, logits=logits, r_loss=r_loss, correct=correct, kl=kl,
              mask=mask)


def example_weights(batch):
  return (batch['lengths'] > 0).astype(jnp.float32)


def accuracy(correct_BxTxP, mask_BxT):
  """Mean over valid steps and parts of argmax == target."""
  hits = correct_BxTxP.astype(jnp.float32) * mask_BxT[..., None]
  return jnp.sum(hits) / jnp.maximum(jnp.sum(mask_BxT) * correct_BxTxP.shape[-1], 1.0)


def loss_terms(out, batch, spec: specs.LossSpec, step):
  weights = example_weights(batch)
  beta = losses.beta(step, spec.max_beta, spec.beta_rate)
  kl_cost = losses.kl_cost(out['kl'], spec.free_bits)
  r_loss = losses.weighted_mean(out['r_loss'], weights)
  kl_loss = losses.weighted_mean(kl_cost, weights)
  return dict(loss=r_loss + beta * kl_loss, r_loss=r_loss, kl_loss=kl_loss,
              kl_bits=losses.weighted_mean(out['kl'], weights) / math.log(2.0), beta=beta)


def sampling_probability(spec: specs.LossSpec, step):
  """p(step) of feeding the decoder its own sample, or None when the schedule is off."""
  if not schedules.uses_scheduled_sampling(spec.sampling_schedule, spec.sampling_rate):
    return None
  return schedules.sampling_probability(step, schedule=spec.sampling_schedule,
                                        rate=spec.sampling_rate)


class MusicVAEFamily(family.Family):
  """Encoder → z → decoder over class labels [B, T, P] with lengths and a step mask."""

  batch_keys = ('labels', 'lengths', 'mask')

  def build(self, seed: int = 0):
    return vae.build_model(self.run.model, seed=seed)

  def check_dataset(self, data_dir) -> dict:
    model = self.run.model
    return pipeline.check_fits(data_dir, seq_len=model.seq_len, part_depths=model.part_depths,
                               window_columns=len(model.part_depths) + len(model.controls))

  def loss(self, model, batch, key, step):
    p = sampling_probability(self.run.loss, step)
    out = forward(model, batch, key, sampling_probability=p)
    terms = loss_terms(out, batch, self.run.loss, step)
    return terms['loss'], dict(
        terms, accuracy=accuracy(out['correct'], out['mask']),
        sampling_probability=jnp.asarray(0.0 if p is None else p, jnp.float32))

  def eval_sums(self, model, batch, key, step):
    weights = example_weights(batch)
    tf_out = forward(model, batch, key, sampling_probability=None)
    mask = tf_out['mask']
    sampled = forward(model, batch, key, sampling_probability=jnp.float32(1.0))
    beta = losses.beta(step, self.run.loss.max_beta, self.run.loss.beta_rate)
    kl_cost = losses.kl_cost(tf_out['kl'], self.run.loss.free_bits)
    parts = tf_out['correct'].shape[-1]
    hits = lambda c: jnp.sum(c.astype(jnp.float32) * mask[..., None], axis=(0, 1))
    return dict(
        examples=jnp.sum(weights), steps=jnp.sum(mask),
        r_loss=jnp.sum(tf_out['r_loss'] * weights),
        sampled_r_loss=jnp.sum(sampled['r_loss'] * weights),
        kl_loss=jnp.sum(kl_cost * weights), kl=jnp.sum(tf_out['kl'] * weights),
        loss=jnp.sum((tf_out['r_loss'] + beta * kl_cost) * weights),
        teacher_forced_hits=hits(tf_out['correct']).reshape(parts),
        sampled_hits=hits(sampled['correct']).reshape(parts))

  def summarize(self, totals: dict) -> dict:
    n = max(float(totals['examples']), 1.0)
    steps = max(float(totals['steps']), 1.0)
    tf_parts = np.asarray(totals['teacher_forced_hits'], np.float64) / steps
    sampled_parts = np.asarray(totals['sampled_hits'], np.float64) / steps
    out = dict(
        examples=int(totals['examples']),
        teacher_forced_accuracy=float(tf_parts.mean()),
        sampled_accuracy=float(sampled_parts.mean()),
        loss=float(totals['loss']) / n, r_loss=float(totals['r_loss']) / n,
        sampled_r_loss=float(totals['sampled_r_loss']) / n,
        kl_loss=float(totals['kl_loss']) / n, kl_bits=float(totals['kl']) / n / math.log(2.0))
    if tf_parts.size > 1:
      out['teacher_forced_accuracy_per_part'] = [float(x) for x in tf_parts]
      out['sampled_accuracy_per_part'] = [float(x) for x in sampled_parts]
    return out

  def format_table(self, rows: dict[str, dict]) -> str:
    head = (f'{"split":<8}{"examples":>10}{"teacher-forced acc":>20}{"sampled acc":>14}'
            f'{"r_loss":>10}{"KL bits":>10}')
    lines = [head]
    names = [h.name or f'part {i}' for i, h in enumerate(self.run.model.heads)]
    for split, m in rows.items():
      lines.append(f'{split:<8}{m["examples"]:>10}{m["teacher_forced_accuracy"]:>20.4f}'
                   f'{m["sampled_accuracy"]:>14.4f}{m["r_loss"]:>10.2f}{m["kl_bits"]:>10.1f}')
      for name, a, b in zip(names, m.get('teacher_forced_accuracy_per_part', ()),
                            m.get('sampled_accuracy_per_part', ())):
        lines.append(f'{"  " + name:<18}{a:>20.4f}{b:>14.4f}')
    return '\n'.join(lines)

  def headline(self, metrics: dict) -> str:
    return (f'teacher-forced accuracy {metrics["teacher_forced_accuracy"]:.4f}, '
            f'sampled accuracy {metrics["sampled_accuracy"]:.4f}, '
            f'KL {metrics["kl_bits"]:.1f} bits')
