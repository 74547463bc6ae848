"""Adam behind Magenta's gradient rule: clip to a global norm, or zero a step whose norm explodes.

Magenta (music_vae_train.py): with g the global norm of all gradients, if g < grad_norm_clip_to_zero
the gradients are clipped to norm grad_clip; otherwise (or if g is NaN) every gradient is replaced
by zeros and Adam still applies an update from its moments. The learning rate is applied in the
train step from ``schedules.learning_rate`` so that it is logged exactly as used.

Adam here is optax's, whose epsilon sits outside the bias correction; TensorFlow's v1 Adam puts
it inside (ε·√(1 - β₂ᵗ)). With ε = 1e-8 the two differ only where a gradient's second moment is
near 1e-16.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def clip_or_zero(grads, *, grad_clip: float, grad_norm_clip_to_zero: float):
  """(clipped gradients, global norm before clipping)."""
  norm = optax.tree.norm(grads)
  scale = jnp.where(norm < grad_norm_clip_to_zero,
                    grad_clip / jnp.maximum(norm, grad_clip), 0.0)
  return jax.tree.map(lambda g: jnp.where(scale > 0, g * scale, jnp.zeros_like(g)), grads), norm


def adam() -> optax.GradientTransformation:
  """TF1 AdamOptimizer's defaults; the step size (negative learning rate) is applied by the caller."""
  return optax.scale_by_adam(b1=0.9, b2=0.999, eps=1e-8)
