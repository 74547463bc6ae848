"""Magenta's MusicVAE loss, as small pure functions.

Shapes: B = batch, T = steps, P = output parts, O = Σ part depths, Z = latent size.

- Reconstruction: per example, the **sum** over valid steps (and over parts) of the softmax
  cross-entropy; no division by length. Hierarchical segments of their own lengths
  (hier-multiperf) are the same sum with padding rows (label -1) masked out, which is Magenta's
  sum over segments of each segment's sum over its first ``sequence_length[k]`` steps.
- GrooVAE's reconstruction, summed the same way: per step, over the nine drum classes, the log
  loss of the hit (sigmoid probability, ε = 1e-7 inside the logs, as ``tf.losses.log_loss``) plus
  the squared errors of the sigmoid velocity and the tanh offset.
- The NADE's (nade-drums), summed the same way: per step, -Σ_d [x_d log(p_d + 1e-6) +
  (1 - x_d) log(1 - p_d + 1e-6)] over the D bits, p_d the NADE's conditional given the true
  earlier bits; a step is right when every bit's p_d ≥ 0.5 agrees with the target.
- KL(q(z|x) ‖ N(0, I)) in nats per example; free bits are in bits and come off the summed KL:
  kl_cost = max(KL - free_bits·ln 2, 0).
- loss = mean(r_loss) + β·mean(kl_cost), the means over real examples (padding rows of an eval
  batch have weight 0).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from musicvae_jax.models import groove_decoder

LOG_LOSS_EPSILON = 1e-7
NADE_LOG_EPSILON = 1e-6  # Magenta's NADE: log(1e-6 + p)


def split_parts(logits_BxTxO, part_depths):
  bounds = np.cumsum((0,) + tuple(part_depths))
  return [logits_BxTxO[..., bounds[p]:bounds[p + 1]] for p in range(len(part_depths))]


def reconstruction(logits_BxTxO, labels_BxTxP, mask_BxT, part_depths):
  """(r_loss [B], correct [B, T, P]): summed cross-entropy and argmax hits per step and part.

  A label of -1 (a padding row, hier-multiperf) must have mask 0; its loss is 0, not NaN."""
  r_loss, correct = 0.0, []
  for p, logits in enumerate(split_parts(logits_BxTxO, part_depths)):
    target = labels_BxTxP[..., p]
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, jnp.maximum(target, 0))
    r_loss = r_loss + jnp.sum(jnp.where(mask_BxT > 0, ce, 0.0) * mask_BxT, axis=-1)
    correct.append(jnp.argmax(logits, axis=-1) == target)
  return r_loss, jnp.stack(correct, axis=-1)


def groove_reconstruction(logits_BxTxO, targets_BxTxO, mask_BxT):
  """GrooVAE's r_loss [B] and its parts: {'hits', 'velocities', 'offsets'} summed per example
  [B], and ``hits_correct`` [B, T, 9] (hit predicted, probability > 0.5, equal to the target)."""
  targets = targets_BxTxO.astype(logits_BxTxO.dtype)
  hits, velocities, offsets = jnp.split(targets, 3, axis=-1)
  p_hits, p_velocities, p_offsets = groove_decoder.activate(logits_BxTxO)
  eps = LOG_LOSS_EPSILON
  per_step = dict(
      hits=-hits * jnp.log(p_hits + eps) - (1.0 - hits) * jnp.log(1.0 - p_hits + eps),
      velocities=jnp.square(velocities - p_velocities),
      offsets=jnp.square(offsets - p_offsets))
  parts = {k: jnp.sum(jnp.sum(v, axis=-1) * mask_BxT, axis=-1) for k, v in per_step.items()}
  r_loss = jnp.sum(sum(per_step.values()).sum(axis=-1) * mask_BxT, axis=-1)
  hit_logits = jnp.split(logits_BxTxO, 3, axis=-1)[0]
  return r_loss, dict(parts, hits_correct=(hit_logits > 0) == (hits > 0.5))


def nade_reconstruction(cond_logits_BxTxD, targets_BxTxD, mask_BxT):
  """(r_loss [B], correct [B, T], predicted [B, T, D]): the NADE's summed negative
  log-likelihood, whether each step's bits are all right, and the bits predicted (p_d ≥ 0.5)."""
  x = targets_BxTxD.astype(cond_logits_BxTxD.dtype)
  p = jax.nn.sigmoid(cond_logits_BxTxD)
  eps = NADE_LOG_EPSILON
  nll = -jnp.sum(x * jnp.log(p + eps) + (1.0 - x) * jnp.log(1.0 - p + eps), axis=-1)
  predicted = p >= 0.5
  correct = jnp.all(predicted == (x > 0.5), axis=-1)
  return jnp.sum(nll * mask_BxT, axis=-1), correct, predicted


def kl_divergence(mu_BxZ, sigma_BxZ):
  """KL(N(mu, sigma²) ‖ N(0, I)) in nats, [B]."""
  return jnp.sum(0.5 * (mu_BxZ ** 2 + sigma_BxZ ** 2 - 1.0) - jnp.log(sigma_BxZ), axis=-1)


def gaussian_kl(mu_q, sigma_q, mu_p, sigma_p, min_sigma: float = 1e-4):
  """KL(N(mu_q, sigma_q²) ‖ N(mu_p, sigma_p²)) in nats, summed over the last axis."""
  sigma_q, sigma_p = jnp.maximum(sigma_q, min_sigma), jnp.maximum(sigma_p, min_sigma)
  return jnp.sum(jnp.log(sigma_p / sigma_q)
                 + (sigma_q ** 2 + (mu_q - mu_p) ** 2) / (2.0 * sigma_p ** 2) - 0.5, axis=-1)


def kl_cost(kl_B, free_bits):
  return jnp.maximum(kl_B - free_bits * math.log(2.0), 0.0)


def beta(step, max_beta, beta_rate):
  """(1 - beta_rate^step)·max_beta; with beta_rate 0 that is 0 at step 0, max_beta after."""
  return (1.0 - jnp.power(jnp.asarray(beta_rate, jnp.float32), step)) * max_beta


def weighted_mean(x_B, weights_B):
  return jnp.sum(x_B * weights_B) / jnp.maximum(jnp.sum(weights_B), 1.0)
