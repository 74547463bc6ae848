"""Melody identification note by note over whole songs (``musicoder.melody_notes``), with or
without a frozen MusiCoder encoder's features, at a fraction of the training songs.

  python bench/musicoder_melody_notes.py --split_file=runs/musicoder/pop909_split.csv \
      --fraction=0.1 --seeds=0 --encoder=none|pretrained|random \
      --pretrained=runs/musicoder/pre_both6k --out=runs/musicoder/melody_notes.jsonl

``--encoder=pretrained`` adds the workdir's encoder's hidden state at each note's onset frame;
``random`` the same encoder shape freshly initialised (the scratch control for a frozen
encoder); ``none`` the note features alone (``--pretrained`` then unused). The fraction keeps
the songs that ``bench/musicoder_tasks.py`` keeps at the same seed. Scored on the split's test
songs: note F1 against the MELODY track, beside the skyline rule on the same notes.
"""

import argparse
import json
import pathlib
import sys
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  p.add_argument('--split_file', required=True)
  p.add_argument('--fraction', type=float, default=0.1)
  p.add_argument('--seeds', default='0')
  p.add_argument('--steps', type=int, default=1500)
  p.add_argument('--encoder', default='none', choices=('none', 'pretrained', 'random'))
  p.add_argument('--pretrained', default='runs/musicoder/pre_both6k')
  p.add_argument('--attention_heads', type=int, default=0)
  p.add_argument('--dropout', type=float, default=0.0)
  p.add_argument('--length', type=int, default=512)
  p.add_argument('--batch_size', type=int, default=16)
  p.add_argument('--out', default='')
  a = p.parse_args()
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  # pylint: disable=g-import-not-at-top
  from musicvae_jax import checkpointing, config_boundary, config_lib, converters
  from musicvae_jax.models import musicoder  # pylint: disable=g-import-not-at-top
  from musicvae_jax.musicoder import embedding, melody_notes  # pylint: disable=g-import-not-at-top
  t0 = time.time()
  embedder = None
  if a.encoder != 'none':
    embedder = embedding.Embedder.load(a.pretrained)
    if a.encoder == 'random':
      run = checkpointing.load_run_spec(a.pretrained)
      embedder = embedding.Embedder(musicoder.build(run.model, 0), embedder.converter)
  # Without an encoder the notes are read as the musicoder config reads them (no workdir needed).
  converter = embedder.converter if embedder else converters.get_converter(
      config_boundary.data_spec(config_lib.get_config('musicoder').data))
  songs = melody_notes.read_split(a.split_file, converter, embedder, splits=('train', 'test'),
                                  progress=lambda it, n: tqdm(it, total=n, desc='songs'))
  read_s = time.time() - t0
  for seed in [int(s) for s in a.seeds.split(',')]:
    t1 = time.time()
    result = melody_notes.run(songs, melody_notes.Settings(
        steps=a.steps, seed=seed, attention_heads=a.attention_heads, dropout=a.dropout,
        length=a.length, batch_size=a.batch_size),
                              a.fraction, log_every=100,
                              log=lambda line: print(line, flush=True))
    result.update(encoder=a.encoder, pretrained=a.pretrained if embedder else '',
                  train_s=round(time.time() - t1), read_s=round(read_s))
    print(json.dumps(result), flush=True)
    if a.out:
      with open(a.out, 'a') as f:
        f.write(json.dumps(result) + '\n')


if __name__ == '__main__':
  main()
