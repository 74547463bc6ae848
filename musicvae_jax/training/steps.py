"""The pure train and eval steps: ``train_step(state, batch, key) -> (state, metrics)``.

Shapes: B = batch, T = steps, P = output parts, Z = latent size.

The model is split once (``nnx.split``) into a static graph and a parameter pytree; the steps are
plain functions of pytrees, jitted with ``jax.jit`` (the state donated), so nothing walks the
object graph per call and nothing recompiles after the first step.

One step, as Magenta's ``MusicVAE._compute_model_loss`` + ``music_vae_train``:
  z = mu + sigma·ε;  decoder inputs = targets shifted right, or, under scheduled sampling, the
  inputs a free-running pass picked (each step its own sample with probability p(step));
  loss = mean(r_loss) + β(step)·mean(kl_cost); clip-or-zero; Adam at lr(step).

Mixed precision (``compute_dtype='bfloat16'``): the float32 parameters stay the master copy
that Adam updates; each step runs the model on a bfloat16 copy, and the logits, mu and sigma go
back to float32 before the losses, so softmax, KL and the gradients' sums stay in float32.

Under FSDP the state arrives split over devices; ``compute_sharding`` (replicated) gathers the
parameters once at the start of the step, and the step's ``out_shardings`` split the new
state again, so XLA's SPMD partitioner turns the gradient sum into a reduce-scatter.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from musicvae_jax.models import vae
from musicvae_jax.training import losses
from musicvae_jax.training import optimizer
from musicvae_jax.training import schedules


@dataclasses.dataclass(frozen=True)
class LossSpec:
  """Loss, schedule and optimiser hyperparameters (Magenta's names)."""
  free_bits: float = 0.0
  max_beta: float = 1.0
  beta_rate: float = 0.0
  sampling_schedule: str = 'constant'
  sampling_rate: float = 0.0
  learning_rate: float = 1e-3
  decay_rate: float = 0.9999
  min_learning_rate: float = 1e-5
  grad_clip: float = 1.0
  grad_norm_clip_to_zero: float = 1e4

  @classmethod
  def from_config(cls, config) -> 'LossSpec':
    m, t = config.model, config.train
    schedules.sampling_probability(0, schedule=m.sampling_schedule, rate=m.sampling_rate)
    return cls(free_bits=float(m.free_bits), max_beta=float(m.max_beta),
               beta_rate=float(m.beta_rate), sampling_schedule=m.sampling_schedule,
               sampling_rate=float(m.sampling_rate), learning_rate=float(t.learning_rate),
               decay_rate=float(t.decay_rate), min_learning_rate=float(t.min_learning_rate),
               grad_clip=float(t.grad_clip),
               grad_norm_clip_to_zero=float(t.grad_norm_clip_to_zero))

  @property
  def scheduled_sampling(self) -> bool:
    return schedules.uses_scheduled_sampling(self.sampling_schedule, self.sampling_rate)

  def learning_rate_at(self, step):
    return schedules.learning_rate(step, learning_rate=self.learning_rate,
                                   decay_rate=self.decay_rate,
                                   min_learning_rate=self.min_learning_rate)

  def sampling_probability_at(self, step):
    return schedules.sampling_probability(step, schedule=self.sampling_schedule,
                                          rate=self.sampling_rate)


def init_state(model: vae.MusicVAE) -> tuple[nnx.GraphDef, dict[str, Any]]:
  """(static graph, train state pytree {params, opt_state, step})."""
  graphdef, params = nnx.split(model, nnx.Param)
  params = nnx.to_pure_dict(params)
  opt_state = optimizer.adam().init(params)
  return graphdef, dict(params=params, opt_state=opt_state, step=jnp.zeros((), jnp.int32))


COMPUTE_DTYPES = ('float32', 'bfloat16')


def check_compute_dtype(name) -> jnp.dtype:
  if str(name) not in COMPUTE_DTYPES:
    raise ValueError(f'config.train.compute_dtype={name!r}; use one of {COMPUTE_DTYPES}.')
  return jnp.dtype(str(name))


def compute_params(params, dtype=None, sharding=None):
  """The copy of the parameters a step computes with: gathered and cast as asked."""
  if sharding is not None:
    params = jax.lax.with_sharding_constraint(params, jax.tree.map(lambda _: sharding, params))
  if dtype is None or jnp.dtype(dtype) == jnp.float32:
    return params
  return jax.tree.map(
      lambda w: w.astype(dtype) if jnp.issubdtype(w.dtype, jnp.floating) else w, params)


def forward(model: vae.MusicVAE, batch, key, *, sampling_probability, sequential=False):
  """Everything a loss or a metric needs from one pass. Returns a dict of arrays.

  Losses and metrics are computed in float32 whatever dtype the model computes in.
  """
  labels, lengths, mask = batch['labels'], batch['lengths'], batch['mask']
  key_eps, key_mask, key_sample = jax.random.split(key, 3)
  mu, sigma = model.encode(labels, lengths)
  z = mu + sigma * jax.random.normal(key_eps, mu.shape, mu.dtype)
  inputs = vae.shift_right(labels)
  if sampling_probability is not None:
    sample_mask = jax.random.bernoulli(key_mask, sampling_probability, mask.shape)
    inputs = jax.lax.stop_gradient(
        model.scheduled_inputs(z, labels, sample_mask.astype(jnp.float32), key_sample))
  kwargs = dict(sequential=True) if sequential else {}
  logits = model.teacher_forced_logits(z, inputs, **kwargs).astype(jnp.float32)
  mu, sigma = mu.astype(jnp.float32), sigma.astype(jnp.float32)
  r_loss, correct = losses.reconstruction(logits, labels, mask, model.spec.part_depths)
  kl = losses.kl_divergence(mu, sigma)
  return dict(mu=mu, sigma=sigma, z=z, logits=logits, r_loss=r_loss, correct=correct, kl=kl)


def example_weights(batch):
  return (batch['lengths'] > 0).astype(jnp.float32)


def accuracy(correct_BxTxP, mask_BxT):
  """Mean over valid steps and parts of argmax == target."""
  hits = correct_BxTxP.astype(jnp.float32) * mask_BxT[..., None]
  return jnp.sum(hits) / jnp.maximum(jnp.sum(mask_BxT) * correct_BxTxP.shape[-1], 1.0)


def loss_terms(out, batch, spec: LossSpec, step):
  weights = example_weights(batch)
  beta = losses.beta(step, spec.max_beta, spec.beta_rate)
  kl_cost = losses.kl_cost(out['kl'], spec.free_bits)
  r_loss = losses.weighted_mean(out['r_loss'], weights)
  kl_loss = losses.weighted_mean(kl_cost, weights)
  return dict(loss=r_loss + beta * kl_loss, r_loss=r_loss, kl_loss=kl_loss,
              kl_bits=losses.weighted_mean(out['kl'], weights) / math.log(2.0), beta=beta)


def make_train_step(graphdef, spec: LossSpec, *, sequential_bars: bool = False,
                    compute_dtype=None, compute_sharding=None):
  """Returns the pure ``train_step(state, batch, key) -> (state, metrics)`` (not yet jitted)."""
  tx = optimizer.adam()

  def train_step(state, batch, key):
    step = state['step']
    p = spec.sampling_probability_at(step) if spec.scheduled_sampling else None

    def loss_fn(params):
      params = compute_params(params, compute_dtype, compute_sharding)
      model = nnx.merge(graphdef, nnx.State(params))
      out = forward(model, batch, key, sampling_probability=p, sequential=sequential_bars)
      terms = loss_terms(out, batch, spec, step)
      return terms['loss'], (terms, out['correct'])

    grads, (terms, correct) = jax.grad(loss_fn, has_aux=True)(state['params'])
    grads, norm = optimizer.clip_or_zero(grads, grad_clip=spec.grad_clip,
                                         grad_norm_clip_to_zero=spec.grad_norm_clip_to_zero)
    updates, opt_state = tx.update(grads, state['opt_state'], state['params'])
    lr = spec.learning_rate_at(step)
    params = jax.tree.map(lambda w, u: w - lr * u, state['params'], updates)
    metrics = dict(terms, learning_rate=lr, global_norm=norm,
                   sampling_probability=jnp.asarray(0.0 if p is None else p, jnp.float32),
                   accuracy=accuracy(correct, batch['mask']))
    return dict(params=params, opt_state=opt_state, step=step + 1), metrics

  return train_step


def make_eval_step(graphdef, spec: LossSpec, *, compute_dtype=None, compute_sharding=None):
  """``eval_step(params, batch, key, step) -> sums``: teacher-forced and sampled passes.

  The sampled pass feeds the decoder its own samples at every step (Magenta's evaluation
  with a sampling schedule, p = 1), the "sampling" column of the MusicVAE paper. Sums over real
  examples are returned so that batches of any padding combine exactly.
  """

  def eval_step(params, batch, key, step):
    params = compute_params(params, compute_dtype, compute_sharding)
    model = nnx.merge(graphdef, nnx.State(params))
    weights = example_weights(batch)
    mask = batch['mask']
    tf_out = forward(model, batch, key, sampling_probability=None)
    sampled = forward(model, batch, key, sampling_probability=jnp.float32(1.0))
    beta = losses.beta(step, spec.max_beta, spec.beta_rate)
    kl_cost = losses.kl_cost(tf_out['kl'], spec.free_bits)
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

  return eval_step
