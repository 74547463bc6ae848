"""Train-state memory per device, replicated vs FSDP, for every config at full size.

  XLA_FLAGS=--xla_force_host_platform_device_count=8 python bench/state_memory.py [--write]

Exact arithmetic, not a timing: the train state (float32 parameters, Adam's two moments, step)
is built abstractly (``jax.eval_shape``), given the shardings ``musicvae-train`` would give it on
a mesh of all visible devices (``distributed.mesh.state_shardings``), and each array's shard
shape is summed. The fake CPU devices above stand in for 8 accelerators. ``--write`` puts the
table in the ``## state memory`` section of BENCHMARKS.md.
"""

import argparse
import math
import pathlib
import sys

import jax
import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from musicvae_jax import config_boundary  # pylint: disable=wrong-import-position
from musicvae_jax import config_lib  # pylint: disable=wrong-import-position
from musicvae_jax.distributed import mesh as mesh_lib  # pylint: disable=wrong-import-position
from musicvae_jax.training import family  # pylint: disable=wrong-import-position
from musicvae_jax.training import optimizer  # pylint: disable=wrong-import-position
from musicvae_jax.training import steps  # pylint: disable=wrong-import-position
import report  # bench/report.py  # pylint: disable=wrong-import-position


def per_device_bytes(state, mesh) -> int:
  shardings = mesh_lib.state_shardings(state, mesh)
  return sum(math.prod(s.shard_shape(x.shape)) * np.dtype(x.dtype).itemsize
             for x, s in zip(jax.tree.leaves(state), jax.tree.leaves(shardings)))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--write', action='store_true')
  args = parser.parse_args()
  n = jax.device_count()
  rows = []
  for name in config_lib.config_names():
    run = config_boundary.run_spec(config_lib.get_config(name))
    fam = family.for_spec(run)
    state = jax.eval_shape(steps.make_init(fam, optimizer.make(run.train), 0))
    params = sum(math.prod(x.shape) for x in jax.tree.leaves(state['params']))
    plain = per_device_bytes(state, mesh_lib.make_mesh(fsdp=1))
    split = per_device_bytes(state, mesh_lib.make_mesh(fsdp=n))
    rows.append(f'| {name} | {params / 1e6:.1f} M | {plain / 2**20:,.0f} MiB | '
                f'{split / 2**20:,.0f} MiB | {plain / split:.2f}x |')
  text = '\n'.join([
      f'`XLA_FLAGS=--xla_force_host_platform_device_count={n} python bench/state_memory.py'
      f'{" --write" if args.write else ""}`: train state (float32 parameters + Adam moments) '
      f'held by each of {n} devices, replicated (mesh data={n}) vs FSDP (mesh fsdp={n}); arrays '
      f'under {mesh_lib.MIN_SHARDED_ELEMENTS} elements stay replicated. Activations are not '
      'counted.', '',
      '| config | parameters | replicated, per device | FSDP, per device | saving |',
      '| --- | ---: | ---: | ---: | ---: |', *rows])
  print(text)
  if args.write:
    report.write_section('state memory', text)


if __name__ == '__main__':
  main()
