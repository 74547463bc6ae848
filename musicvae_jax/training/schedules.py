"""Magenta's schedules, as pure functions of the global step (the step before the update)."""

from __future__ import annotations

import jax.numpy as jnp

SAMPLING_SCHEDULES = ('constant', 'exponential', 'inverse_sigmoid')


def learning_rate(step, *, learning_rate, decay_rate, min_learning_rate):
  """(lr - min)·decay^step + min: exponential decay to a floor."""
  step = jnp.asarray(step, jnp.float32)
  return (learning_rate - min_learning_rate) * jnp.power(decay_rate, step) + min_learning_rate


def sampling_probability(step, *, schedule: str, rate: float):
  """Probability that a decoder step is fed its own sample instead of the target.

  constant: rate; exponential: 1 - rate^step; inverse_sigmoid: 1 - k / (k + exp(step / k)).
  """
  step = jnp.asarray(step, jnp.float32)
  if schedule == 'constant':
    return jnp.asarray(rate, jnp.float32)
  if schedule == 'exponential':
    return 1.0 - jnp.power(rate, step)
  if schedule == 'inverse_sigmoid':
    k = jnp.asarray(rate, jnp.float32)
    return 1.0 - k / (k + jnp.exp(step / k))
  raise ValueError(f'model.sampling_schedule={schedule!r}: choose one of '
                   f'{", ".join(SAMPLING_SCHEDULES)}.')


def uses_scheduled_sampling(schedule: str, rate: float) -> bool:
  """Magenta turns the sampling pass on for any schedule except constant 0."""
  return not (schedule == 'constant' and rate == 0)
