"""nade-drums as a model family: MusicVAE's batches and schedules, the NADE's loss and metrics.

Shapes: B = batch, T = steps, D = drum classes (9 or 61), Z = latent size.

A batch is MusicVAE's (``labels`` int32 [B, T, D]: the drum-roll bits of each step, ``lengths``,
``mask``). One training pass, as Magenta's: z = mu + sigma·ε; the decoder's inputs are the rolls
shifted right (zeros at t = 0), or under scheduled sampling the thresholded rolls (p ≥ 0.5) of a
free-running pass where the schedule picks them; r_loss is the NADE's negative log-likelihood
summed over valid steps (``losses.nade_reconstruction``); loss = mean(r_loss) +
β(step)·mean(kl_cost). Logged as Magenta logs it: ``accuracy``, the share of valid steps whose D
bits are all predicted right (p_d ≥ 0.5, each given the true earlier bits of its step).

Evaluation: ``teacher_forced_accuracy`` as that, ``sampled_accuracy`` the same with the decoder
fed its own thresholded rolls at every step (Magenta's evaluation under a sampling schedule), and
``bit_precision`` / ``bit_recall`` over every valid bit (Magenta's metrics/precision, recall).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from musicvae_jax.input_pipeline import pipeline
from musicvae_jax.training import losses
from musicvae_jax.training import musicvae_family


def shift_right(rolls_BxTxD):
  """Decoder inputs: the previous step's roll, zeros (Magenta's zero vector) at t = 0."""
  return jnp.concatenate([jnp.zeros_like(rolls_BxTxD[:, :1]), rolls_BxTxD[:, :-1]], axis=1)


def forward(model, batch, key, *, sampling_probability):
  """Everything a loss or a metric needs from one pass. Returns a dict of arrays."""
  labels, lengths, mask = batch['labels'], batch['lengths'], batch['mask']
  key_eps, key_mask, key_sample = jax.random.split(key, 3)
  mu, sigma = model.encode(labels, lengths)
  z = mu + sigma * jax.random.normal(key_eps, mu.shape, mu.dtype)
  inputs = shift_right(labels)
  if sampling_probability is not None:
    sample_mask = jax.random.bernoulli(key_mask, sampling_probability, mask.shape)
    inputs = jax.lax.stop_gradient(
        model.scheduled_inputs(z, labels, sample_mask.astype(jnp.float32), key_sample))
  logits = model.teacher_forced_logits(z, inputs)
  cond = model.decoder.conditional_logits(logits, labels).astype(jnp.float32)
  r_loss, correct, predicted = losses.nade_reconstruction(cond, labels, mask)
  mu, sigma = mu.astype(jnp.float32), sigma.astype(jnp.float32)
  return dict(mu=mu, sigma=sigma, z=z, logits=logits.astype(jnp.float32),
              conditional_logits=cond, r_loss=r_loss, correct=correct[..., None],
              predicted=predicted, kl=losses.kl_divergence(mu, sigma))


def bit_sums(predicted_BxTxD, labels_BxTxD, mask_BxT) -> dict:
  """Sums over valid bits: true positives, predicted and true bits (precision and recall)."""
  valid = mask_BxT[..., None]
  predicted = predicted_BxTxD.astype(jnp.float32) * valid
  true = (labels_BxTxD > 0).astype(jnp.float32) * valid
  return dict(true_positives=jnp.sum(predicted * true), predicted_bits=jnp.sum(predicted),
              true_bits=jnp.sum(true))


class NadeFamily(musicvae_family.MusicVAEFamily):
  """Encoder → z → LSTM-NADE decoder over drum rolls [B, T, D]."""

  def check_dataset(self, data_dir) -> dict:
    depth = self.run.model.output_depth
    return pipeline.check_fits(data_dir, seq_len=self.run.model.seq_len,
                               part_depths=(2,) * depth)

  def loss(self, model, batch, key, step):
    p = musicvae_family.sampling_probability(self.run.loss, step)
    out = forward(model, batch, key, sampling_probability=p)
    terms = musicvae_family.loss_terms(out, batch, self.run.loss, step)
    return terms['loss'], dict(
        terms, accuracy=musicvae_family.accuracy(out['correct'], batch['mask']),
        sampling_probability=jnp.asarray(0.0 if p is None else p, jnp.float32))

  def eval_sums(self, model, batch, key, step):
    weights = musicvae_family.example_weights(batch)
    mask = batch['mask']
    tf_out = forward(model, batch, key, sampling_probability=None)
    sampled = forward(model, batch, key, sampling_probability=jnp.float32(1.0))
    spec = self.run.loss
    beta = losses.beta(step, spec.max_beta, spec.beta_rate)
    kl_cost = losses.kl_cost(tf_out['kl'], spec.free_bits)
    hits = lambda c: jnp.sum(c.astype(jnp.float32) * mask[..., None], axis=(0, 1))
    return dict(
        examples=jnp.sum(weights), steps=jnp.sum(mask),
        r_loss=jnp.sum(tf_out['r_loss'] * weights),
        sampled_r_loss=jnp.sum(sampled['r_loss'] * weights),
        kl_loss=jnp.sum(kl_cost * weights), kl=jnp.sum(tf_out['kl'] * weights),
        loss=jnp.sum((tf_out['r_loss'] + beta * kl_cost) * weights),
        teacher_forced_hits=hits(tf_out['correct']), sampled_hits=hits(sampled['correct']),
        **bit_sums(tf_out['predicted'], batch['labels'], mask))

  def summarize(self, totals: dict) -> dict:
    out = super().summarize(totals)
    tp = float(totals['true_positives'])
    out['bit_precision'] = tp / max(float(totals['predicted_bits']), 1.0)
    out['bit_recall'] = tp / max(float(totals['true_bits']), 1.0)
    return out

  def format_table(self, rows: dict[str, dict]) -> str:
    lines = super().format_table(rows).splitlines()
    lines[0] += f'{"bit precision":>15}{"bit recall":>12}'
    for i, m in enumerate(rows.values(), start=1):
      lines[i] += f'{m["bit_precision"]:>15.4f}{m["bit_recall"]:>12.4f}'
    return '\n'.join(lines)

  def headline(self, metrics: dict) -> str:
    return (super().headline(metrics) + f', bit precision {metrics["bit_precision"]:.4f}, '
            f'bit recall {metrics["bit_recall"]:.4f}')
