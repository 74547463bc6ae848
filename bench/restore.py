"""Restoring a trained model's parameters: peak host memory and wall time, before vs after.

  python bench/restore.py [--config=hierdec-trio_16bar] [--repeats=2] [--write]

A full-size checkpoint of ``--config`` (float32 parameters + Adam moments, as musicvae-train
writes it) is saved once into a temp folder; then each way of getting the parameters back runs
in a fresh Python process, so its peak resident memory (``ru_maxrss``: on a CPU, device memory
is host memory) is its own. The ways run interleaved ``--repeats`` times in one run:

- ``before (evaluate)``: what musicvae-evaluate did: initialise the whole train state on the
  host (parameters and Adam moments), place it, then restore the whole state over it;
- ``before (sample)``: what TrainedModel.from_workdir did: trace the whole state's shapes, then
  restore the whole state (parameters and both Adam moments) and keep the parameters;
- ``after``: what both do now: an Orbax partial restore of the parameters alone into abstract
  targets (``checkpointing.restore_params`` via ``model_files.load_params``).

Wall time includes the process's imports and jit compilation; the ``baseline`` row (imports and
building the model's shapes only) is what every way pays before it reads anything.
"""

import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

WAYS = ('baseline', 'before (evaluate)', 'before (sample)', 'after')

# Runs in a child process: prints {"seconds": ..., "peak_mib": ..., "params": ...}.
CHILD = r'''
import json, resource, sys, time
t0 = time.perf_counter()
import jax, numpy as np
from musicvae_jax import checkpointing
from musicvae_jax.generation import model_files
from musicvae_jax.training import family, optimizer, steps
way, workdir = sys.argv[1], sys.argv[2]
run = checkpointing.load_run_spec(workdir)
fam = family.for_spec(run)
init = steps.make_init(fam, optimizer.make(run.train), run.train.seed)
if way == 'baseline':
  params = jax.eval_shape(init)['params']
elif way == 'before (evaluate)':
  state = init()  # eagerly, on one device, as the old new_session did
  mgr = checkpointing.manager(workdir)
  state, _ = checkpointing.restore(mgr, checkpointing.abstract(state))
  params = state['params']
elif way == 'before (sample)':
  mgr = checkpointing.manager(workdir)
  state, _ = checkpointing.restore(mgr, checkpointing.abstract(jax.eval_shape(init)),
                                   with_data=False)
  params = jax.tree.map(np.asarray, state['params'])
else:
  params, _, _ = model_files.load_params(workdir, run.model)
jax.block_until_ready(params)
n = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(params))
print(json.dumps(dict(seconds=time.perf_counter() - t0, params=n,
                     peak_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
'''


# Runs in a child process (so that this process stays small and its children's peak memory,
# which starts from their parent's at fork, is their own): a full-size train state saved as
# musicvae-train saves it. Adam's moments are given values, as a trained run's have (at
# initialisation they are zeros, which the checkpoint compresses to nothing).
MAKE = r'''
import sys
import jax, jax.numpy as jnp
from musicvae_jax import checkpointing, config_boundary, config_lib
from musicvae_jax.training import family, optimizer, steps
name, workdir = sys.argv[1], sys.argv[2]
config = config_lib.get_config(name)
run = config_boundary.run_spec(config)
state = jax.jit(steps.make_init(family.for_spec(run), optimizer.make(run.train), run.train.seed))()
leaves, tree = jax.tree.flatten(state['opt_state'])
keys = jax.random.split(jax.random.PRNGKey(1), len(leaves))
leaves = [jnp.abs(jax.random.normal(k, x.shape, x.dtype)) * 1e-3
          if x.ndim and jnp.issubdtype(x.dtype, jnp.floating) else x for k, x in zip(keys, leaves)]
state['opt_state'] = jax.tree.unflatten(tree, leaves)
checkpointing.check_or_write_config(workdir, config, write=True)
mgr = checkpointing.manager(workdir)
checkpointing.save(mgr, 1000, state)
mgr.close()
'''


def make_checkpoint(config_name: str, workdir: pathlib.Path) -> float:
  """Saves a full-size train state; returns its size on disk in GB."""
  subprocess.run([sys.executable, '-c', MAKE, config_name, str(workdir)], check=True, cwd=REPO,
                 capture_output=True)
  return sum(p.stat().st_size for p in workdir.rglob('*') if p.is_file()) / 1e9




def child(way: str, workdir: pathlib.Path) -> dict:
  out = subprocess.run([sys.executable, '-c', CHILD, way, str(workdir)], capture_output=True,
                       text=True, check=True, cwd=REPO)
  return json.loads(out.stdout.strip().splitlines()[-1])


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--config', default='hierdec-trio_16bar')
  parser.add_argument('--repeats', type=int, default=2)
  parser.add_argument('--write', action='store_true')
  args = parser.parse_args()
  import report  # bench/report.py  # pylint: disable=import-outside-toplevel
  with tempfile.TemporaryDirectory() as tmp:
    workdir = pathlib.Path(tmp) / 'run'
    t0 = time.perf_counter()
    size = make_checkpoint(args.config, workdir)
    print(f'checkpoint: {size:.2f} GB in {time.perf_counter() - t0:.0f} s', file=sys.stderr)
    results = {w: [] for w in WAYS}
    for r in range(args.repeats):
      for way in (WAYS if r % 2 == 0 else WAYS[::-1]):
        results[way].append(child(way, workdir))
        print(f'  {way}: {results[way][-1]}', file=sys.stderr)
  params = results['after'][0]['params']
  base_s = statistics.median(x['seconds'] for x in results['baseline'])
  after_mib = statistics.median(x['peak_mib'] for x in results['after'])
  after_s = statistics.median(x['seconds'] for x in results['after']) - base_s
  rows = []
  for way in WAYS:
    mib = [x['peak_mib'] for x in results[way]]
    sec = [x['seconds'] for x in results[way]]
    cells = [way, f'{statistics.median(mib):,.0f} MiB ({min(mib):,.0f}-{max(mib):,.0f})',
             f'{statistics.median(sec):.1f} s ({min(sec):.1f}-{max(sec):.1f})']
    if way == 'baseline':
      cells += ['-', '-', '-']
    else:
      extra = statistics.median(sec) - base_s
      cells += [f'{extra:.1f} s', f'{statistics.median(mib) / after_mib:.2f}x',
                f'{extra / max(after_s, 1e-9):.2f}x']
    rows.append('| ' + ' | '.join(cells) + ' |')
  text = '\n'.join([
      f'`python bench/restore.py {" ".join(sys.argv[1:])}` on {report.cpu_name()} '
      f'({time.strftime("%Y-%m-%d")}): the parameters ({params / 1e6:.1f} M, float32) of a '
      f'full-size {args.config} checkpoint ({size:.2f} GB on disk with its Adam moments), each '
      f'way in a fresh process, {args.repeats} runs interleaved; median (min-max). "over '
      'baseline" subtracts the imports and shape tracing every way pays; the ratios are to '
      '"after".', '',
      '| way | peak host memory | wall time | over baseline | memory / after | '
      'time over baseline / after |',
      '| --- | ---: | ---: | ---: | ---: | ---: |', *rows])
  print(text)
  if args.write:
    report.write_section('restore', text)


if __name__ == '__main__':
  main()
