"""Train-step throughput through the sharded training path: float32 vs bfloat16, FSDP vs not.

  python bench/scaleout.py [--steps=5] [--quick] [--write]

Each row is the jitted, donated step that ``musicvae-train`` runs (``loop.new_session``: the
mesh over every local device, the state's shardings, the batch split over the mesh), fed the
same random valid batches. Rows of one config are timed round-robin in one run, and the table
gives ratios to the float32, replicated row: bfloat16 compute (float32 master parameters) and
FSDP (state split over all devices, gathered per step). On a machine with one device the FSDP
rows are left out (there is nothing to split over). ``--write`` puts the table in the
``## scale-out`` section of BENCHMARKS.md.

bfloat16 is for accelerators: CPUs without bfloat16 matrix units run it through conversions,
so a CPU row says nothing about a GPU or TPU.
"""

import argparse
import pathlib
import statistics
import sys
import time

import jax
import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from musicvae_jax import config_boundary  # pylint: disable=wrong-import-position
from musicvae_jax.distributed import mesh as mesh_lib  # pylint: disable=wrong-import-position
from musicvae_jax.training import loop  # pylint: disable=wrong-import-position
import report  # bench/report.py  # pylint: disable=wrong-import-position
import train as train_bench  # bench/train.py  # pylint: disable=wrong-import-position


CPU_NOTE = ('On a CPU the bfloat16 rows only show that the switch works: XLA\'s CPU backend '
            'runs bfloat16 products in float32, plus the conversions. The comparison that '
            'matters, on a GPU or TPU, has not been measured yet: no accelerator was available '
            'to the project for this table. Run the same command there.')


def runner(label, config, batches):
  session, state = loop.new_session(config_boundary.run_spec(config))
  placed = [session.put({k: np.asarray(v) for k, v in b.items()}) for b in batches]
  key = np.asarray(jax.random.PRNGKey(0))
  holder = {'state': state}

  def step(i):
    holder['state'], metrics = session.train_step(holder['state'], placed[i % len(placed)], key)
    jax.block_until_ready((holder['state'], metrics))

  return train_bench.Runner(label, step), mesh_lib.describe(session.mesh)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--steps', type=int, default=5)
  parser.add_argument('--catmel_batch', type=int, default=512)
  parser.add_argument('--hierdec_batch', type=int, default=64)
  parser.add_argument('--quick', action='store_true', help='small batches, 2 timed steps')
  parser.add_argument('--write', action='store_true')
  args = parser.parse_args()
  if args.quick:
    args.steps, args.catmel_batch, args.hierdec_batch = 2, 64, 8
  devices = jax.device_count()
  variants = [('float32', {}), ('bfloat16', {'train.compute_dtype': 'bfloat16'})]
  if devices > 1:
    variants += [('float32, FSDP', {'train.fsdp': True}),
                 ('bfloat16, FSDP', {'train.fsdp': True, 'train.compute_dtype': 'bfloat16'})]
  cases = [('cat-mel_2bar_small', {}, args.catmel_batch),
           (train_bench.HIERDEC, train_bench.HALVED, args.hierdec_batch)]
  lines, started, where = [], time.perf_counter(), ''
  for name, base, batch in cases:
    runners = []
    for label, over in variants:
      config = train_bench.make_config(name.split(' ')[0], {**base, **over,
                                                            'train.batch_size': batch})
      spec = config_boundary.model_spec(config)
      r, where = runner(f'{name} {label}', config,
                        train_bench.random_batches(spec, batch, min(args.steps + 2, 3)))
      runners.append((label, r))
    train_bench.measure([r for _, r in runners], args.steps)
    base_s = statistics.median(runners[0][1].times)
    for label, r in runners:
      sec = statistics.median(r.times)
      lines.append(f'| {name} | {label} | {batch} | {batch / sec:,.1f} | {base_s / sec:.2f}x | '
                   f'{r.compile_s:.0f} s |')
  device = jax.devices()[0]
  text = '\n'.join([
      f'`python bench/scaleout.py {" ".join(sys.argv[1:])}` on {where} '
      f'({getattr(device, "device_kind", device.platform)}; {report.cpu_name()}), '
      f'median of {args.steps} steps, random valid labels, {time.perf_counter() - started:.0f} s '
      'in all.', '',
      '| config | compute | global batch | examples/s | vs float32 | compile |',
      '| --- | --- | ---: | ---: | ---: | ---: |', *lines]
      + (['', CPU_NOTE] if device.platform == 'cpu' else []))
  print(text)
  if args.write:
    report.write_section('scale-out', text)


if __name__ == '__main__':
  main()
