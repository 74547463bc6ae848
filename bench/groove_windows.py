"""GrooveConverter against Magenta's GrooVAE windows on every shared file (tests: every 4th).

  python bench/groove_windows.py [--data=../shared/data] [--keep=DIR]

For each GrooVAE config with a Magenta reference (groovae_4bar, _2bar_humanize,
_2bar_tap_fixed_velocity, _2bar_add_closed_hh, _2bar_hits_control) and each folder (drums/,
multitrack/): reads every file with ``read_midi(parser='fast')``, extracts the windows with the
config's converter, writes them in the reference's format (inputs, targets, hit controls, 6
decimals) and runs the reference's own ``compare.py`` over them (multisets, tolerance 1e-5).
Prints its report, the skip reasons and the time taken; exits 1 unless every comparison is 100 %.
"""

import argparse
import collections
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get('MUSICVAE_SHARED', REPO.parent / 'shared'))
REFERENCE_DIR = SHARED / 'reference' / 'magenta_windows'
# Our config -> Magenta's name of it (the reference's file names).
CONFIGS = {'groovae_4bar': 'groovae_4bar', 'groovae_2bar_humanize': 'groovae_2bar_humanize',
           'groovae_2bar_tap_fixed_velocity': 'groovae_2bar_tap_fixed_velocity',
           'groovae_2bar_add_closed_hh': 'groovae_2bar_add_closed_hh',
           'groovae_2bar_hits_control': 'groovae_2bar_hits_control_tfds'}
FOLDERS = ('drums', 'multitrack')
NOT_OPTIONS = ('converter', 'transpose_range', 'eval_fraction', 'split_seed')


def _rows(array) -> list:
  return [[round(float(v), 6) for v in row] for row in array]


def main() -> int:
  ap = argparse.ArgumentParser(description=__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument('--data', default=str(SHARED / 'data'))
  ap.add_argument('--keep', help='write the candidate files here (default: a temporary folder)')
  args = ap.parse_args()

  from musicvae_jax import config_lib  # pylint: disable=import-outside-toplevel
  from musicvae_jax.converters import groove  # pylint: disable=import-outside-toplevel
  from musicvae_jax.converters import midi_io  # pylint: disable=import-outside-toplevel

  out_dir = pathlib.Path(args.keep or tempfile.mkdtemp(prefix='groove_windows_'))
  out_dir.mkdir(parents=True, exist_ok=True)
  start = time.perf_counter()
  sequences = {}
  for folder in FOLDERS:
    paths = sorted((pathlib.Path(args.data) / 'midi' / folder).glob('*.mid'))
    sequences[folder] = {p.name: midi_io.read_midi(p, parser='fast') for p in paths}
  read_s = time.perf_counter() - start
  print(f'read {sum(map(len, sequences.values()))} files in {read_s:.1f} s')
  for name, magenta_name in CONFIGS.items():
    data = config_lib.get_config(name).data
    converter = groove.GrooveConverter(
        **{k: v for k, v in data.items() if k not in NOT_OPTIONS})
    for folder, seqs in sequences.items():
      t0 = time.perf_counter()
      skipped = collections.Counter()
      windows = 0
      with open(out_dir / f'{magenta_name}__{folder}.jsonl', 'w') as fh:
        for file, sequence in seqs.items():
          extraction = converter.extract(sequence)
          skipped.update(extraction.skipped)
          records = []
          for w in extraction.windows:
            inputs, outputs, controls = converter.window_tensors(w)
            record = {'in': _rows(inputs), 'out': _rows(outputs)}
            if converter.hits_as_controls:
              record['ctl'] = [[int(v) for v in row] for row in controls]
            records.append(record)
          windows += len(records)
          fh.write(json.dumps({'file': file, 'windows': records}) + '\n')
      print(f'{name} {folder}: {len(seqs)} files, {windows} windows in '
            f'{time.perf_counter() - t0:.1f} s; skipped {dict(skipped)}')
  result = subprocess.run([sys.executable, str(REFERENCE_DIR / 'compare.py'), '--ref-dir',
                           str(REFERENCE_DIR), '--cand-dir', str(out_dir)],
                          capture_output=True, text=True, check=False)
  report = '\n'.join(line for line in result.stdout.splitlines()
                     if 'no candidate file' not in line)
  print(report)
  print(f'total {time.perf_counter() - start:.1f} s; candidates in {out_dir}')
  # compare.py's exit status also counts the non-GrooVAE references, which have no candidate.
  compared = [line for line in report.splitlines() if line.startswith('== groovae')]
  exact = [line for line in report.splitlines() if 'exact window-set match' in line]
  ok = len(compared) == len(CONFIGS) * len(FOLDERS) and all('100.00%' in l for l in exact)
  print('ALL MATCH' if ok else 'MISMATCH')
  return 0 if ok else 1


if __name__ == '__main__':
  sys.exit(main())
