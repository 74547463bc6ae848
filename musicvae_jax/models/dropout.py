"""Input dropout as Magenta's LSTM cells apply it (``DropoutWrapper(input_keep_prob=...)``).

Every LSTM layer's input is dropped element by element, with a fresh draw at every step, and the
kept values are scaled by 1 / keep_prob; only while training (evaluation and sampling run the
layers untouched). GrooVAE's configs keep 30 % of the inputs; the other configs keep all.

The draws come from an explicit key, so a training step is a pure function of its key.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def active(key, keep_prob: float) -> bool:
  """Whether a pass drops anything: a key was given (training) and something is dropped."""
  return key is not None and keep_prob < 1.0


def scales(key, keep_prob: float, shape, dtype=jnp.float32):
  """Per-element factors: 1 / keep_prob where kept (probability keep_prob), 0 where dropped."""
  kept = jax.random.bernoulli(key, keep_prob, shape)
  return jnp.where(kept, 1.0 / keep_prob, 0.0).astype(dtype)


def apply(key, keep_prob: float, x):
  """``x`` with input dropout (no-op without a key or at keep_prob 1)."""
  if not active(key, keep_prob):
    return x
  return x * scales(key, keep_prob, x.shape, x.dtype)
