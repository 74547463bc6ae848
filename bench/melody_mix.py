"""Builds the folk + pop melody mix the bundled melody models are trained on.

  python bench/melody_mix.py --output=runs/melody_mix

Writes
  <output>/midi/folk/   the 431 Nottingham tunes of data/midi/melody (copied)
  <output>/midi/pop/    POP909's MELODY tracks put onto their beat grids (4/4 songs only;
                        converters/beat_grid.py), one file per run of 4-beat bars
  <output>/split.csv    file, style, split: folk by the hashed split every melody config uses
                        on data/midi/melody (so the old model's eval tunes stay held out), pop
                        by POP909 song id (pop909.split_of: its test songs are eval, train and
                        valid songs train)
  <output>/heldout/{folk,pop}/  copies of the eval files of each style, for
                        musicvae-evaluate --midi=<folder> per style
  <output>/mix.json     the counts
Then: musicvae-prepare --config=<melody config> --input=<output>/midi
      --split_csv=<output>/split.csv --split_column=split --output=<dataset>
"""

import argparse
import csv
import json
import pathlib
import shutil
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from musicvae_jax import progress  # pylint: disable=wrong-import-position
from musicvae_jax.chordkey import pop909  # pylint: disable=wrong-import-position
from musicvae_jax.input_pipeline import splits  # pylint: disable=wrong-import-position


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--output', required=True)
  parser.add_argument('--folk', default=str(ROOT / 'data' / 'midi' / 'melody'))
  parser.add_argument('--pop909', default=str(pop909.DATA_DIR))
  parser.add_argument('--max_songs', type=int, default=None, help='POP909 songs (default all)')
  args = parser.parse_args()
  out = pathlib.Path(args.output)
  if out.exists():
    shutil.rmtree(out)
  rows = []
  folk_dir = out / 'midi' / 'folk'
  folk_dir.mkdir(parents=True)
  for path in sorted(pathlib.Path(args.folk).glob('*.mid')):
    shutil.copy2(path, folk_dir / path.name)
    # data.split_seed 0 and eval_fraction 0.1 as in every melody config; the path relative
    # to data/midi/melody is the bare name.
    rows.append((f'folk/{path.name}', 'folk', splits.hashed_split(path.name, 0, 0.1)))
  ids = pop909.song_ids(args.pop909)[:args.max_songs]
  counts = pop909.regrid_melodies(args.pop909, out / 'midi' / 'pop', ids=ids,
                                   progress=lambda xs: progress.bar(xs, desc='POP909'))
  for name, song_id in sorted(counts.pop('files').items()):
    rows.append((f'pop/{name}', 'pop', 'eval' if pop909.split_of(song_id) == 'test' else 'train'))
  with open(out / 'split.csv', 'w', newline='', encoding='utf-8') as f:
    writer = csv.writer(f)
    writer.writerow(['file', 'style', 'split'])
    writer.writerows(rows)
  for rel, style, split in rows:
    if split == 'eval':
      (out / 'heldout' / style).mkdir(parents=True, exist_ok=True)
      shutil.copy2(out / 'midi' / rel, out / 'heldout' / style / pathlib.Path(rel).name)
  summary = dict(pop909=counts, files={f'{s}/{sp}': sum(r[1] == s and r[2] == sp for r in rows)
                                       for s in ('folk', 'pop') for sp in ('train', 'eval')})
  (out / 'mix.json').write_text(json.dumps(summary, indent=2) + '\n')
  print(json.dumps(summary, indent=2))


if __name__ == '__main__':
  main()
