"""The chord-conditioned melody converter against Magenta's windows on every shared file (tests:
a subsample).

  python bench/chord_windows.py [--data=../shared/data] [--folders=melody,multitrack]

For cat-mel_2bar_med_chords and each folder (melody/, multitrack/): reads every file with
``read_midi``, extracts the (melody, chord) windows with the config's converter (chords inferred
as Magenta does: slow, about 1-3 files a second) and compares each file's window multiset with
Magenta's. Prints the counts, the files that differ and the time taken; exits 1 unless every
file matches.
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
CONFIG = 'cat-mel_2bar_med_chords'


def main() -> int:
  ap = argparse.ArgumentParser(description=__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument('--data', default=str(SHARED / 'data'))
  ap.add_argument('--folders', default='melody,multitrack')
  args = ap.parse_args()

  from musicvae_jax import config_boundary  # pylint: disable=import-outside-toplevel
  from musicvae_jax import config_lib  # pylint: disable=import-outside-toplevel
  from musicvae_jax.converters import midi_io  # pylint: disable=import-outside-toplevel

  converter = config_boundary.converter_of(config_lib.get_config(CONFIG))
  failed = 0
  for folder in args.folders.split(','):
    with gzip.open(REFERENCE_DIR / f'{CONFIG}__{folder}.jsonl.gz', 'rt') as fh:
      reference = {r['file']: r for r in map(json.loads, fh)}
    paths = sorted((pathlib.Path(args.data) / 'midi' / folder).glob('*.mid'))
    t0 = time.perf_counter()
    bad, windows = [], 0
    for path in paths:
      ours = converter.extract(midi_io.read_midi(path)).windows
      windows += len(ours)
      got = collections.Counter(tuple(int(v) for v in w.reshape(-1)) for w in ours)
      want = collections.Counter(tuple(w) for w in reference[path.name]['windows'])
      if got != want:
        bad.append(f'{path.name}: ours {len(ours)}, Magenta {reference[path.name]["n_windows"]}')
    failed += len(bad) + (sorted(p.name for p in paths) != sorted(reference))
    print(f'{CONFIG} {folder}: {len(paths)} files, {windows} windows, {len(bad)} files differ '
          f'({time.perf_counter() - t0:.1f} s)')
    for line in bad[:10]:
      print('  ' + line)
  return 1 if failed else 0


if __name__ == '__main__':
  sys.exit(main())
