"""Each process's share of a batch -> global ``jax.Array`` batches split along the mesh.

Every process reads its own ``1 / process_count`` of the records (``input_pipeline``'s
``shard_index``/``shard_count``) and hands its numpy batch here; the global array is the
processes' shares stacked in process order, with no host-to-host copy.
"""

from __future__ import annotations

import hashlib
import json

import jax
import numpy as np
from jax.experimental import multihost_utils

from musicvae_jax.distributed import mesh as mesh_lib


def local_batch_size(global_batch: int, mesh) -> int:
  """This process's share of a global batch, checked to split evenly over the devices."""
  devices, procs = mesh.devices.size, jax.process_count()
  if global_batch % devices:
    raise mesh_lib.MeshError(f'train.batch_size={global_batch} does not split evenly over '
                             f'{devices} devices; use a multiple of {devices}.')
  return global_batch // procs


def to_global(batch: dict, mesh, keys) -> dict:
  """``{k: global array}`` for ``keys`` of this process's numpy ``batch``."""
  sharding = mesh_lib.batch_sharding(mesh)
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(batch[k]))
          for k in keys}


def check_same_on_every_process(obj, what: str) -> None:
  """Raises unless every process holds the same JSON-able ``obj`` (one small collective).

  A checkpoint stores one copy of host-side state (process 0's), such as the data iterator's
  position; that is only right if every process's copy is the same.
  """
  if jax.process_count() == 1:
    return
  digest = hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).digest()
  multihost_utils.assert_equal(np.frombuffer(digest, np.uint8),
                               f'{what} differs between processes')
