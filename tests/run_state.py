"""Comparing what two training workdirs ended with."""

import jax
import numpy as np

from musicvae_jax.training import loop


def assert_same_final_state(workdir_a, workdir_b, step: int) -> None:
  """Both workdirs' latest checkpoints are at ``step`` and equal bit for bit: parameters,
  optimizer moments, step, and the data iterator's position."""
  (_, a, data_a), (_, b, data_b) = (loop.restore_workdir(w) for w in (workdir_a, workdir_b))
  a, b = jax.device_get(a), jax.device_get(b)
  assert int(a['step']) == int(b['step']) == step
  leaves_a, tree_a = jax.tree.flatten(a)
  leaves_b, tree_b = jax.tree.flatten(b)
  assert tree_a == tree_b
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_array_equal(x, y)
  assert data_a == data_b
