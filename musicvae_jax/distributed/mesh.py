"""The device mesh and the shardings every jitted function uses, declared in one place.

Model code names no physical axis: batches are split along the mesh axis ``data`` and
parameters and optimizer state are replicated (data parallelism over every device).
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

DATA = 'data'


def make_mesh(devices=None) -> Mesh:
  devices = jax.devices() if devices is None else devices
  return Mesh(np.asarray(devices), (DATA,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(DATA))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def describe(mesh: Mesh) -> str:
  return (f'{jax.process_count()} process(es), {mesh.devices.size} device(s) '
          f'({jax.devices()[0].platform}), mesh {DATA}={mesh.shape[DATA]}')
