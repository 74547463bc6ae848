"""Throughput and memory of the offline prepare job on the shared MIDI set.

  python bench/prepare.py [--midi=../shared/data/midi] [--workers=1,2] [--scale=10,121] [--write]

One config of each converter kind on its folder, each run in a fresh subprocess so its peak RSS
(resource.getrusage: the main process, and the largest worker) is its own. Prints a markdown
table; ``--scale=K[,K2...]`` adds a run over K symlinked copies of the melody folder for each K
(K x 826 files; 121 copies make 100k files: peak RSS should not grow with the file count).
``speed-up`` is files/s over the 1-worker run of the same config, both from this run.
``--write`` puts the table in the ``## prepare`` section of BENCHMARKS.md.
"""

import argparse
import json
import os
import pathlib
import platform
import resource
import subprocess
import sys
import tempfile
import time

import report  # bench/report.py

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_MIDI = pathlib.Path(os.environ.get('MUSICVAE_SHARED', REPO.parent / 'shared')) / 'data/midi'
RUNS = (('cat-mel_2bar_small', 'melody'), ('cat-drums_2bar_small', 'drums'),
        ('hierdec-trio_16bar', 'multitrack'))


def one_run(config_name: str, input_dir: str, workers: int) -> dict:
  """Runs prepare once in this process; returns counts, timing and peak RSS (MiB)."""
  from musicvae_jax import config_boundary
from musicvae_jax import config_lib  # pylint: disable=g-import-not-at-top
  from musicvae_jax.input_pipeline import prepare  # pylint: disable=g-import-not-at-top
  config = config_lib.get_config(config_name)
  with tempfile.TemporaryDirectory() as out:
    start = time.perf_counter()
    info = prepare.prepare(config_boundary.run_spec(config), input_dir, out, workers=workers, progress=False)
    wall = time.perf_counter() - start
  windows = info['splits']['train']['windows'] + info['splits']['eval']['windows']
  kib = 1024 if sys.platform.startswith('linux') else 1024 * 1024  # ru_maxrss units
  return {'files': info['counts']['files_found'], 'windows': windows, 'wall_s': wall,
          'rss_main_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / kib,
          'rss_worker_mib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / kib}


def table(rows: list[dict]) -> str:
  lines = ['| config | input | workers | files | windows | wall s | files/s | windows/s '
           '| speed-up vs 1 worker | peak RSS main MiB | peak RSS worker MiB |',
           '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |']
  single = {(r['config'], r['input']): r['files'] / r['wall_s'] for r in rows
            if r['workers'] == 1}
  for r in rows:
    worker = f"{r['rss_worker_mib']:.0f}" if r['workers'] > 1 else '-'
    base = single.get((r['config'], r['input']))
    speedup = f"{r['files'] / r['wall_s'] / base:.2f}" if base else '-'
    lines.append(
        f"| {r['config']} | {r['input']} | {r['workers']} | {r['files']} | {r['windows']} "
        f"| {r['wall_s']:.1f} | {r['files'] / r['wall_s']:.0f} | {r['windows'] / r['wall_s']:.0f} "
        f"| {speedup} | {r['rss_main_mib']:.0f} | {worker} |")
  return '\n'.join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--midi', default=str(SHARED_MIDI))
  parser.add_argument('--workers', default='1,2')
  parser.add_argument('--scale', default='10',
                      help='comma-separated copy counts of the melody folder (0: none)')
  parser.add_argument('--write', action='store_true')
  parser.add_argument('--one', nargs=3, metavar=('CONFIG', 'INPUT', 'WORKERS'),
                      help=argparse.SUPPRESS)  # internal: one measured run, JSON on stdout
  args = parser.parse_args()
  if args.one:
    print(json.dumps(one_run(args.one[0], args.one[1], int(args.one[2]))))
    return
  rows = []
  for config_name, folder in RUNS:
    for workers in (int(w) for w in args.workers.split(',')):
      proc = subprocess.run([sys.executable, __file__, '--one', config_name,
                             str(pathlib.Path(args.midi) / folder), str(workers)],
                            capture_output=True, text=True, check=True)
      row = json.loads(proc.stdout.strip().splitlines()[-1])
      rows.append({'config': config_name, 'input': folder, 'workers': workers, **row})
      print(table(rows[-1:]).splitlines()[-1], file=sys.stderr)
  for scale in (int(k) for k in args.scale.split(',') if int(k) > 1):
    with tempfile.TemporaryDirectory() as tmp:
      for k in range(scale):
        copy = pathlib.Path(tmp, f'copy{k:03d}')
        copy.mkdir()
        for path in sorted((pathlib.Path(args.midi) / 'melody').glob('*.mid')):
          (copy / path.name).symlink_to(path.resolve())
      workers = max(int(w) for w in args.workers.split(','))
      proc = subprocess.run([sys.executable, __file__, '--one', RUNS[0][0], tmp, str(workers)],
                            capture_output=True, text=True, check=True)
    rows.append({'config': RUNS[0][0], 'input': f'melody x{scale}', 'workers': workers,
                 **json.loads(proc.stdout.strip().splitlines()[-1])})
    print(table(rows[-1:]).splitlines()[-1], file=sys.stderr)
  command = 'python bench/prepare.py ' + ' '.join(sys.argv[1:])
  text = (f'{table(rows)}\n\nCommand: `{command.strip()}` on {os.cpu_count()} CPUs '
          f'({platform.processor() or platform.machine()}), Python {platform.python_version()}, '
          f'{time.strftime("%Y-%m-%d")}. Input: the shared MIDI set (`{args.midi}`); wall time '
          'includes reading every file, extracting, writing shards, and the pool start-up.')
  print(text)
  if args.write:
    report.write_section('prepare', text)


if __name__ == '__main__':
  main()
