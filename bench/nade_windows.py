"""The nade-drums converter against Magenta's windows on every shared file (tests: a subsample).

  python bench/nade_windows.py [--data=../shared/data]

For nade-drums_2bar_reduced and nade-drums_2bar_full and each folder (drums/, multitrack/):
reads every file with ``read_midi``, extracts the drum-roll windows with the config's converter
and compares each file's window multiset (per step sum(2**class)) with Magenta's. Prints the
counts, the files that differ and the time taken; exits 1 unless every file matches.
"""

import argparse
import collections
import gzip
import json
import os
import pathlib
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get('MUSICVAE_SHARED', REPO.parent / 'shared'))
REFERENCE_DIR = SHARED / 'reference' / 'magenta_windows'
CONFIGS = ('nade-drums_2bar_reduced', 'nade-drums_2bar_full')
FOLDERS = ('drums', 'multitrack')


def main() -> int:
  ap = argparse.ArgumentParser(description=__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument('--data', default=str(SHARED / 'data'))
  args = ap.parse_args()

  from musicvae_jax import config_boundary  # pylint: disable=import-outside-toplevel
  from musicvae_jax import config_lib  # pylint: disable=import-outside-toplevel
  from musicvae_jax.converters import drum_roll  # pylint: disable=import-outside-toplevel
  from musicvae_jax.converters import midi_io  # pylint: disable=import-outside-toplevel

  start = time.perf_counter()
  sequences = {folder: {p.name: midi_io.read_midi(p) for p in
                        sorted((pathlib.Path(args.data) / 'midi' / folder).glob('*.mid'))}
               for folder in FOLDERS}
  print(f'read {sum(map(len, sequences.values()))} files in {time.perf_counter() - start:.1f} s')
  failed = 0
  for name in CONFIGS:
    converter = config_boundary.converter_of(config_lib.get_config(name))
    for folder, seqs in sequences.items():
      with gzip.open(REFERENCE_DIR / f'{name}__{folder}.jsonl.gz', 'rt') as fh:
        reference = {r['file']: r for r in map(json.loads, fh)}
      t0 = time.perf_counter()
      bad, windows = [], 0
      for file, sequence in seqs.items():
        ours = converter.extract(sequence).windows
        windows += len(ours)
        got = collections.Counter(tuple(int(v) for v in drum_roll.roll_to_labels(w))
                                  for w in ours)
        want = collections.Counter(tuple(w) for w in reference[file]['windows'])
        if got != want:
          bad.append(f'{file}: ours {len(ours)}, Magenta {reference[file]["n_windows"]}')
      failed += len(bad) + (sorted(seqs) != sorted(reference))
      print(f'{name} {folder}: {len(seqs)} files, {windows} windows, {len(bad)} files differ '
            f'({time.perf_counter() - t0:.1f} s)')
      for line in bad[:10]:
        print('  ' + line)
  return 1 if failed else 0


if __name__ == '__main__':
  sys.exit(main())
