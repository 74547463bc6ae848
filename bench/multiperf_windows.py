"""The multi-instrument performance converter against Magenta's windows on every shared file
(tests: every file without chords, a few with).

  python bench/multiperf_windows.py [--data=../shared/data] [--configs=med,med_chords]

For hier-multiperf_vel_1bar_med and hier-multiperf_vel_1bar_med_chords (the _big configs cut the
same windows): reads every multitrack/ file once with ``read_midi`` (note-seq's parser: the
sustain pedals count), extracts the windows with the config's converter and compares each file's
windows, with their per-track lengths, as a multiset with Magenta's. Prints the counts, the files
that differ and files per second (extraction alone, and with the reading); exits 1 unless every
file matches. Chord inference makes the _chords pass slow (about a file a second).
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
PREFIX = 'hier-multiperf_vel_1bar_'


def main() -> int:
  ap = argparse.ArgumentParser(description=__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument('--data', default=str(SHARED / 'data'))
  ap.add_argument('--configs', default='med,med_chords')
  args = ap.parse_args()

  from musicvae_jax import config_boundary  # pylint: disable=import-outside-toplevel
  from musicvae_jax import config_lib  # pylint: disable=import-outside-toplevel
  from musicvae_jax.converters import midi_io  # pylint: disable=import-outside-toplevel

  start = time.perf_counter()
  paths = sorted((pathlib.Path(args.data) / 'midi' / 'multitrack').glob('*.mid'))
  sequences = {p.name: midi_io.read_midi(p) for p in paths}
  read = time.perf_counter() - start
  print(f'read {len(sequences)} files in {read:.1f} s')
  failed = 0
  for suffix in args.configs.split(','):
    name = PREFIX + suffix
    converter = config_boundary.converter_of(config_lib.get_config(name))
    with gzip.open(REFERENCE_DIR / f'{name}__multitrack.jsonl.gz', 'rt') as fh:
      reference = {r['file']: r for r in map(json.loads, fh)}
    t0 = time.perf_counter()
    bad, windows, skipped = [], 0, collections.Counter()
    for file, sequence in sequences.items():
      extraction = converter.extract(sequence)
      windows += len(extraction.windows)
      skipped.update(extraction.skipped)
      got = collections.Counter(
          tuple(int(v) for v in w.reshape(-1)) + tuple(converter.track_lengths(w).tolist())
          for w in extraction.windows)
      want = collections.Counter(tuple(w) + tuple(n) for w, n in
                                 zip(reference[file]['windows'], reference[file]['lengths']))
      if got != want:
        bad.append(f'{file}: ours {len(extraction.windows)}, Magenta '
                   f'{reference[file]["n_windows"]}')
    spent = time.perf_counter() - t0
    failed += len(bad) + (sorted(sequences) != sorted(reference))
    print(f'{name}: {len(sequences)} files, {windows} windows, {len(bad)} files differ; '
          f'{spent:.1f} s, {len(sequences) / spent:.1f} files/s '
          f'({len(sequences) / (spent + read):.1f} with reading)')
    print('  skipped bars: ' + ', '.join(f'{k} {v}' for k, v in skipped.most_common()))
    for line in bad[:10]:
      print('  ' + line)
  return 1 if failed else 0


if __name__ == '__main__':
  sys.exit(main())
