"""Masked-note pretraining (``musicoder.note_pretrain``) against training from scratch, for
melody identification note by note at a fraction of the labelled songs.

  python bench/musicoder_note_pretrain.py --split_file=runs/musicoder/pop909_split.csv \
      --objectives=both --pretrain_steps=1500 --fraction=0.1 --seeds=0,1,2 --steps=400 \
      --out=runs/musicoder/note_pretrain.jsonl

Pretrains once on every train song of the split (its notes only: no track label is read), then
for each seed trains the tagger on the seed's ``--fraction`` of the train songs twice, from the
pretrained parameters and from a fresh draw, with the same steps and batches, and scores both
on the split's test songs (note F1 against the MELODY track). Each result line carries the
pretraining's wall and CPU seconds. ``--save=<npz>`` keeps the pretrained parameters and
``--load=<npz>`` starts from them instead of pretraining again; ``--starts``, ``--dropout`` and
``--learning_rate`` pick the runs and the tagger's training.
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
  p.add_argument('--objectives', default='both', choices=('cfm', 'ccm', 'both'))
  p.add_argument('--pretrain_steps', type=int, default=1500)
  p.add_argument('--fraction', type=float, default=0.1)
  p.add_argument('--seeds', default='0,1,2')
  p.add_argument('--steps', type=int, default=400)
  p.add_argument('--learning_rate', type=float, default=2e-3, help='the tagger training')
  p.add_argument('--dropout', type=float, default=0.0, help='the tagger training')
  p.add_argument('--starts', default='pretrained,scratch')
  p.add_argument('--save', default='', help='an .npz to keep the pretrained parameters in')
  p.add_argument('--load', default='', help='an .npz of --save: skips pretraining')
  p.add_argument('--out', default='')
  a = p.parse_args()
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  from musicvae_jax.converters import pianoroll  # pylint: disable=g-import-not-at-top
  from musicvae_jax.musicoder import melody_notes  # pylint: disable=g-import-not-at-top
  from musicvae_jax.musicoder import note_pretrain  # pylint: disable=g-import-not-at-top
  log = lambda line: print(line, flush=True)
  converter = pianoroll.PianoRollConverter(slice_bars=4, min_notes=4)
  songs = melody_notes.read_split(a.split_file, converter, splits=('train', 'test'),
                                  progress=lambda it, n: tqdm(it, total=n, desc='songs'))
  import jax  # pylint: disable=g-import-not-at-top
  settings = note_pretrain.PretrainSettings(steps=a.pretrain_steps, objectives=a.objectives)
  if a.load:
    fresh = note_pretrain.Pretrainer(settings).state['params']
    with np.load(a.load) as saved:
      params = jax.tree.unflatten(jax.tree.structure(fresh),
                                  [saved[f'leaf{i}'] for i in range(len(saved.files) - 1)])
      cost = json.loads(str(saved['cost']))
  else:
    wall, cpu = time.time(), time.process_time()
    params, history = note_pretrain.pretrain(songs['train'], settings, log_every=100, log=log)
    cost = dict(pretrain_wall_s=round(time.time() - wall), pretrain_cpu_s=round(
        time.process_time() - cpu), pretrain_songs=len(songs['train']),
                pretrain_steps=a.pretrain_steps, objectives=a.objectives,
                pretrain_pitch_loss=float(np.mean([h['pitch'] for h in history[-100:]])),
                pretrain_feature_loss=float(np.mean([h['features'] for h in history[-100:]])))
    if a.save:
      np.savez(a.save, cost=json.dumps(cost),
               **{f'leaf{i}': np.asarray(x) for i, x in enumerate(jax.tree.leaves(params))})
  log(json.dumps(cost))
  for seed in [int(s) for s in a.seeds.split(',')]:
    for start in [(name, params if name == 'pretrained' else None)
                  for name in a.starts.split(',')]:
      t = time.time()
      result = melody_notes.run(songs, melody_notes.Settings(
          steps=a.steps, seed=seed, learning_rate=a.learning_rate, dropout=a.dropout),
                                a.fraction, log_every=100, log=log, params=start[1])
      result.update(start=start[0], learning_rate=a.learning_rate, dropout=a.dropout,
                    train_s=round(time.time() - t), **cost)
      log(json.dumps(result))
      if a.out:
        with open(a.out, 'a') as f:
          f.write(json.dumps(result) + '\n')


if __name__ == '__main__':
  main()
