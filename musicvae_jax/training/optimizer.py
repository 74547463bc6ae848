"""The optimiser, built in one place: Magenta's gradient rule, then Adam at the decayed rate.

    optax.chain(clip_or_zero(grad_clip, grad_norm_clip_to_zero),
                inject_hyperparams(adam)(learning_rate=schedules.learning_rate(count)))

Magenta (music_vae_train.py): with g the global norm of all gradients, if g < grad_norm_clip_to_zero
the gradients are clipped to norm grad_clip; otherwise (or if g is NaN) every gradient is replaced
by zeros and Adam still applies an update from its moments. ``inject_hyperparams`` keeps the
learning rate in the optimiser state, so the train step logs exactly the rate it applied.

Adam here is optax's, whose epsilon sits outside the bias correction; TensorFlow's v1 Adam puts
it inside (ε·√(1 - β₂ᵗ)). With ε = 1e-8 the two differ only where a gradient's second moment is
near 1e-16.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax

from musicvae_jax import specs
from musicvae_jax.training import schedules

global_norm = optax.tree.norm


def clip_or_zero(grad_clip: float, grad_norm_clip_to_zero: float
                 ) -> optax.GradientTransformation:
  """Clips to global norm ``grad_clip``, or zeros every gradient when the norm reaches
  ``grad_norm_clip_to_zero`` or is not finite."""

  def update(updates, state, params=None):
    del params
    norm = global_norm(updates)
    scale = jnp.where(norm < grad_norm_clip_to_zero,
                      grad_clip / jnp.maximum(norm, grad_clip), 0.0)
    # where(), not a product: 0 × NaN would still be NaN.
    return jax.tree.map(lambda g: jnp.where(scale > 0, g * scale, jnp.zeros_like(g)),
                        updates), state

  return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def make(train: specs.TrainSpec) -> optax.GradientTransformation:
  """The run's optimiser (TF1 AdamOptimizer's defaults behind Magenta's clipping rule)."""
  schedule = functools.partial(schedules.learning_rate, learning_rate=train.learning_rate,
                               decay_rate=train.decay_rate,
                               min_learning_rate=train.min_learning_rate)
  adam = optax.inject_hyperparams(optax.adam)(learning_rate=schedule, b1=0.9, b2=0.999, eps=1e-8)
  return optax.chain(clip_or_zero(train.grad_clip, train.grad_norm_clip_to_zero), adam)


def learning_rate(opt_state):
  """The learning rate the last update applied (read from ``make``'s state)."""
  return opt_state[1].hyperparams['learning_rate']


def init(tx: optax.GradientTransformation, params, step: int = 0):
  """``tx.init(params)`` with the learning-rate schedule at ``step`` (an imported checkpoint
  continues at its own step's rate; Adam's moments and bias correction start afresh)."""
  state = tx.init(params)
  if not step:
    return state
  adam = state[1]
  schedule = adam.hyperparams_states['learning_rate']._replace(count=jnp.asarray(step, jnp.int32))
  return (state[0], adam._replace(
      hyperparams_states=dict(adam.hyperparams_states, learning_rate=schedule)))


def legacy_adam() -> optax.GradientTransformation:
  """The optimiser state that checkpoints written before ``make`` hold: Adam's moments alone
  (the clipping and the learning rate were applied by hand then)."""
  return optax.scale_by_adam(b1=0.9, b2=0.999, eps=1e-8)


def upgrade(tx: optax.GradientTransformation, params, legacy_state, step):
  """``make``'s state carrying a legacy checkpoint's Adam moments and count, its schedule at
  ``step``: a run started before ``make`` resumes where it stopped."""
  state = init(tx, params)
  adam = state[1]
  schedule = adam.hyperparams_states['learning_rate']._replace(count=step)
  return (state[0], adam._replace(
      count=step, hyperparams_states=dict(adam.hyperparams_states, learning_rate=schedule),
      inner_state=(legacy_state,) + tuple(adam.inner_state[1:])))
