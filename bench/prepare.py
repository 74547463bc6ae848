"""Throughput and memory of the offline prepare job on the shared MIDI set.

  python bench/prepare.py [--midi=../shared/data/midi] [--workers=1,2] [--parsers=note_seq,fast]
      [--scale=10,121] [--write]

One config of each converter kind on its folder (and the melody config on POP909, next to the
``midi`` folder), with each MIDI reader of ``--parsers`` (``midi_io.PARSERS``) and each worker
count, each run in a fresh subprocess so its peak RSS (resource.getrusage: the main process, and
the largest worker) is its own. Prints two markdown tables: every run, and the readers side by
side (files/s of each run over note-seq's in one process, the pipeline Magenta's own speed is no
better than; the windows and skip counts must be the same whichever reader). ``--scale=K[,K2...]``
adds a run over K symlinked copies of the melody folder for each K (K x 826 files; 121 copies
make 100k files: peak RSS should not grow with the file count). ``speed-up`` is files/s over the
1-worker run of the same config and reader, both from this run. ``--write`` puts the tables in
the ``## prepare`` section of BENCHMARKS.md.
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
# (config, folder under --midi); '../pop909/songs' is POP909, next to the midi folder.
RUNS = (('cat-mel_2bar_small', 'melody'), ('cat-drums_2bar_small', 'drums'),
        ('hierdec-trio_16bar', 'multitrack'), ('cat-mel_2bar_small', '../pop909/songs'))


def one_run(config_name: str, input_dir: str, workers: int, parser: str) -> dict:
  """Runs prepare once in this process; returns counts, timing and peak RSS (MiB)."""
  from musicvae_jax import config_boundary  # pylint: disable=g-import-not-at-top
  from musicvae_jax import config_lib  # pylint: disable=g-import-not-at-top
  from musicvae_jax.converters import midi_io  # pylint: disable=g-import-not-at-top
  from musicvae_jax.input_pipeline import prepare  # pylint: disable=g-import-not-at-top
  config = config_lib.get_config(config_name)
  limits = midi_io.MidiLimits(parser=parser)
  walls = []
  for _ in range(2):  # the first pass pays the start-up (numba's code, the pool), the second not
    with tempfile.TemporaryDirectory() as out:
      start = time.perf_counter()
      info = prepare.prepare(config_boundary.run_spec(config), input_dir, out, workers=workers,
                             limits=limits, progress=False)
      walls.append(time.perf_counter() - start)
  wall, wall_again = walls
  windows = info['splits']['train']['windows'] + info['splits']['eval']['windows']
  kib = 1024 if sys.platform.startswith('linux') else 1024 * 1024  # ru_maxrss units
  return {'files': info['counts']['files_found'], 'windows': windows, 'wall_s': wall,
          'wall_again_s': wall_again,
          'counts': {**info['counts'], 'windows': windows, 'skipped': info['skipped_files'],
                     'dropped': info['dropped']},
          'rss_main_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / kib,
          'rss_worker_mib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / kib}


def table(rows: list[dict]) -> str:
  lines = ['| config | input | reader | workers | files | windows | wall s | files/s | windows/s '
           '| speed-up vs 1 worker | second pass s | peak RSS main MiB | peak RSS worker MiB |',
           '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |']
  single = {(r['config'], r['input'], r['parser']): r['files'] / r['wall_s'] for r in rows
            if r['workers'] == 1}
  for r in rows:
    worker = f"{r['rss_worker_mib']:.0f}" if r['workers'] > 1 else '-'
    base = single.get((r['config'], r['input'], r['parser']))
    speedup = f"{r['files'] / r['wall_s'] / base:.2f}" if base else '-'
    lines.append(
        f"| {r['config']} | {r['input']} | {r['parser']} | {r['workers']} | {r['files']} "
        f"| {r['windows']} | {r['wall_s']:.1f} | {r['files'] / r['wall_s']:.0f} "
        f"| {r['windows'] / r['wall_s']:.0f} | {speedup} | {r['wall_again_s']:.2f} "
        f"| {r['rss_main_mib']:.0f} | {worker} |")
  return '\n'.join(lines)


def side_by_side(rows: list[dict]) -> str:
  """Each (config, input): files/s of every reader and worker count over note-seq in-process."""
  runs = [r for r in rows if 'counts' in r]
  keys = list(dict.fromkeys((r['config'], r['input']) for r in runs))
  columns = list(dict.fromkeys((r['parser'], r['workers']) for r in runs))
  lines = ['| config | input | files | ' + ' | '.join(f'{p} x{w} files/s' for p, w in columns)
           + ' | ' + ' | '.join(f'{p} x{w} / note_seq x1' for p, w in columns
                                if (p, w) != ('note_seq', 1))
           + ' | same windows and skip counts |',
           '| --- | --- | ---: | ' + '---: | ' * (2 * len(columns) - 1) + '--- |']
  for key in keys:
    mine = {(r['parser'], r['workers']): r for r in runs if (r['config'], r['input']) == key}
    rate = {c: r['files'] / r['wall_s'] for c, r in mine.items()}
    again = {c: r['files'] / r['wall_again_s'] for c, r in mine.items()}
    base = rate.get(('note_seq', 1))
    base_again = again.get(('note_seq', 1))
    same = len({json.dumps(r['counts'], sort_keys=True) for r in mine.values()}) == 1
    lines.append(
        f'| {key[0]} | {key[1]} | {next(iter(mine.values()))["files"]} | '
        + ' | '.join(f'{rate[c]:.0f}' if c in rate else '-' for c in columns) + ' | '
        + ' | '.join(f'**{rate[c] / base:.1f}x** ({again[c] / base_again:.1f}x)'
                     if base and c in rate else '-'
                     for c in columns if c != ('note_seq', 1))
        + f" | {'yes' if same else 'NO'} |")
  for key in keys:
    mine = {(r['parser'], r['workers']): r for r in runs if (r['config'], r['input']) == key}
    base, top = mine.get(('note_seq', 1)), mine.get(('fast', max(w for _, w in mine)))
    if base and top:
      first = top['files'] / top['wall_s'] / (base['files'] / base['wall_s'])
      again = top['files'] / top['wall_again_s'] / (base['files'] / base['wall_again_s'])
      verdict = ('met' if first >= 10 else
                 'met on the second pass only' if again >= 10 else 'NOT met')
      gap = '' if lines[-1].lstrip().startswith('- ') else '\n'
      workers = max(w for _, w in mine)
      lines.append(f'{gap}- {key[0]} on {key[1]}: fast x{workers} is **{first:.1f}x** note_seq '
                   f'x1 ({again:.1f}x on the second pass); goal 10x: {verdict}')
  return '\n'.join(lines)


def measure(config_name: str, input_dir, workers: int, parser: str) -> dict:
  proc = subprocess.run([sys.executable, __file__, '--one', config_name, str(input_dir),
                         str(workers), parser], capture_output=True, text=True, check=True)
  return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--midi', default=str(SHARED_MIDI))
  parser.add_argument('--workers', default='1,2')
  parser.add_argument('--parsers', default='note_seq,fast',
                      help='comma-separated MIDI readers (midi_io.PARSERS) to run side by side')
  parser.add_argument('--scale', default='10',
                      help='comma-separated copy counts of the melody folder (0: none)')
  parser.add_argument('--write', action='store_true')
  parser.add_argument('--one', nargs=4, metavar=('CONFIG', 'INPUT', 'WORKERS', 'PARSER'),
                      help=argparse.SUPPRESS)  # internal: one measured run, JSON on stdout
  args = parser.parse_args()
  if args.one:
    print(json.dumps(one_run(args.one[0], args.one[1], int(args.one[2]), args.one[3])))
    return
  worker_counts = [int(w) for w in args.workers.split(',')]
  parsers = args.parsers.split(',')
  # Compile (or load) the fast reader's numba code once, so no run pays for compiling it.
  warm = next((REPO / 'data' / 'midi').rglob('*.mid'))
  subprocess.run([sys.executable, '-c', 'import sys; from musicvae_jax.converters import '
                  'midi_io; midi_io.read_midi(sys.argv[1])', str(warm)], check=True)
  rows = []
  for config_name, folder in RUNS:
    input_dir = os.path.normpath(pathlib.Path(args.midi) / folder)
    for parser_name in parsers:
      for workers in worker_counts:
        row = measure(config_name, input_dir, workers, parser_name)
        rows.append({'config': config_name, 'input': os.path.relpath(input_dir, args.midi),
                     'parser': parser_name, 'workers': workers, **row})
        print(table(rows[-1:]).splitlines()[-1], file=sys.stderr)
  for scale in (int(k) for k in args.scale.split(',') if int(k) > 1):
    with tempfile.TemporaryDirectory() as tmp:
      for k in range(scale):
        copy = pathlib.Path(tmp, f'copy{k:03d}')
        copy.mkdir()
        for path in sorted((pathlib.Path(args.midi) / 'melody').glob('*.mid')):
          (copy / path.name).symlink_to(path.resolve())
      row = measure(RUNS[0][0], tmp, max(worker_counts), parsers[-1])
    row.pop('counts')
    rows.append({'config': RUNS[0][0], 'input': f'melody x{scale}', 'parser': parsers[-1],
                 'workers': max(worker_counts), **row})
    print(table(rows[-1:]).splitlines()[-1], file=sys.stderr)
  command = 'python bench/prepare.py ' + ' '.join(sys.argv[1:])
  text = (f'{table(rows)}\n\n{side_by_side(rows)}\n\nCommand: `{command.strip()}` on '
          f'{os.cpu_count()} CPUs ({report.cpu_name()}), Python {platform.python_version()}, '
          f'{time.strftime("%Y-%m-%d")}. Input: the shared MIDI set (`{args.midi}`, and POP909 '
          'beside it); wall time includes reading every file, extracting, writing shards, and '
          'the pool start-up. Readers (`musicvae-prepare --midi_parser`): `note_seq` is mido + '
          'pretty_midi + note-seq, as Magenta reads MIDI; `fast` is the compiled reader of '
          '`converters/fast_midi.py`, which gives the same NoteSequence notes, tempos and '
          'signatures (checked file by file on the whole shared set by '
          '`bench/midi_equivalence.py`, and by tests/converters/test_fast_midi.py in CI). '
          'Each run is a fresh process that prepares its folder twice: `wall s` and the ratios '
          'are the first pass, which pays the start-up (loading numba\'s compiled code, '
          'forking the pool); `second pass s` and the ratios in brackets are the second pass '
          'over the same folder in the same process, the rate a long job runs at.')
  print(text)
  if args.write:
    report.write_section('prepare', text)


if __name__ == '__main__':
  main()
