"""The device mesh and every sharding the jitted functions use, declared in one place.

The mesh has two axes: ``data`` and ``fsdp``. A batch is split along both (every device gets
its own examples). Parameters and optimizer state are replicated over the whole mesh by default
(data parallelism); with FSDP on they are split along ``fsdp`` instead, each array on its
largest axis that divides evenly, and gathered for the step's compute (``state_shardings``).
``fsdp`` devices then hold one copy of the state between them, and ``data`` groups of them
replicate it.

Model code names no physical axis: it sees plain arrays, and these shardings reach it only
through the ``in_shardings``/``out_shardings`` of the jitted steps.
"""

from __future__ import annotations

import math

import jax
import numpy as np
from jax.experimental import mesh_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from musicvae_jax import errors

DATA = 'data'
FSDP = 'fsdp'
BATCH_AXES = (DATA, FSDP)
# Arrays smaller than this stay replicated under FSDP: biases and scalars are not worth a
# collective, and splitting them saves nothing.
MIN_SHARDED_ELEMENTS = 256


class MeshError(errors.UserError, ValueError):
  pass


def make_mesh(devices=None, *, fsdp: int = 1) -> Mesh:
  """A ``data x fsdp`` mesh over ``devices`` (default: every device of every process)."""
  devices = list(jax.devices() if devices is None else devices)
  n = len(devices)
  if fsdp < 1 or n % fsdp:
    raise MeshError(f'config.train.fsdp_size={fsdp} does not divide the {n} devices; use a '
                    f'divisor of {n}, or -1 for all of them.')
  shape = (n // fsdp, fsdp)
  try:  # lays the axes along the physical topology of TPU slices
    grid = mesh_utils.create_device_mesh(shape, devices, allow_split_physical_axes=True)
  except (AssertionError, NotImplementedError, ValueError):
    grid = np.asarray(devices).reshape(shape)
  return Mesh(grid, (DATA, FSDP))


def batch_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P(BATCH_AXES))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def _leaf_spec(shape, fsdp: int) -> P:
  if fsdp == 1 or math.prod(shape) < MIN_SHARDED_ELEMENTS:
    return P()
  axes = [a for a in range(len(shape)) if shape[a] % fsdp == 0]
  if not axes:
    return P()
  axis = max(axes, key=lambda a: (shape[a], -a))
  return P(*([None] * axis + [FSDP]))


def state_shardings(state, mesh: Mesh):
  """Per-leaf shardings of a train state (or any pytree of arrays) on ``mesh``."""
  fsdp = mesh.shape[FSDP]
  return jax.tree.map(lambda x: NamedSharding(mesh, _leaf_spec(np.shape(x), fsdp)), state)


def sharded_fraction(state, shardings) -> float:
  """Share of the state's elements that are split rather than replicated (for the log)."""
  sizes = [(math.prod(np.shape(x)), s.spec != P()) for x, s in
           zip(jax.tree.leaves(state), jax.tree.leaves(shardings))]
  total = sum(n for n, _ in sizes)
  return sum(n for n, split in sizes if split) / max(total, 1)


def describe(mesh: Mesh) -> str:
  """E.g. ``2 processes, 8 devices (cpu), mesh data=4 fsdp=2``."""
  procs = jax.process_count()
  return (f'{procs} process{"es" if procs > 1 else ""}, {mesh.devices.size} '
          f'device{"s" if mesh.devices.size > 1 else ""} ({mesh.devices.flat[0].platform}), '
          f'mesh {DATA}={mesh.shape[DATA]} {FSDP}={mesh.shape[FSDP]}')
