"""Which POP909 tracks a fine-tuned melody model's notes come from: how often it calls a
BRIDGE note or an accompaniment note the melody, and where the melody notes it misses go.

  python bench/musicoder_melody_tracks.py --split_file=runs/musicoder/pop909_split.csv \
      --pretrained=runs/musicoder/pre_both --fraction=0.1 --seed=0 --steps=400 --transpose=6

One run as ``bench/musicoder_tasks.py`` makes it (same subsample, held-out files, settings and
early stopping), then the test songs' onset cells are told apart by track (MELODY, BRIDGE, the
rest) and the model's calls counted for each.
"""

import argparse
import pathlib
import sys

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  p.add_argument('--split_file', required=True)
  p.add_argument('--pretrained', default='', help='a musicvae-pretrain workdir; none: scratch')
  p.add_argument('--fraction', type=float, default=0.1)
  p.add_argument('--seed', type=int, default=0)
  p.add_argument('--steps', type=int, default=400)
  p.add_argument('--transpose', type=int, default=6)
  a = p.parse_args()
  from flax import nnx  # pylint: disable=g-import-not-at-top
  from musicvae_jax import config_boundary, config_lib  # pylint: disable=g-import-not-at-top
  from musicvae_jax.converters import pianoroll  # pylint: disable=g-import-not-at-top
  from musicvae_jax.models import musicoder  # pylint: disable=g-import-not-at-top
  from musicvae_jax.musicoder import finetune, tasks  # pylint: disable=g-import-not-at-top
  data = tasks.load('melody', a.split_file, progress=True)
  test = data['test']
  converter = pianoroll.PianoRollConverter(slice_bars=4, min_notes=4)
  tracks = np.concatenate([tasks.melody_windows(path, converter, with_tracks=True)[2]
                           for path in dict.fromkeys(test.groups)])
  encoder = (finetune.load_encoder(a.pretrained) if a.pretrained else musicoder.build(
      config_boundary.model_spec(config_lib.get_config('musicoder')), a.seed))
  settings = finetune.Settings(steps=a.steps, seed=a.seed, transpose=a.transpose)
  labelled = tasks.subsample_groups(data['train'], a.fraction, a.seed)
  train, valid = tasks.hold_out(labelled, settings.valid_fraction, a.seed)
  trainer = finetune.Trainer(finetune.TaskModel(encoder, 'melody', 1, rngs=nnx.Rngs(a.seed + 1)),
                             settings)
  trainer.fit(train, valid)
  called = trainer.predict(test.windows)
  print(f'note F1 {finetune.score("melody", called, test)["note_f1"]:.4f}\n')
  print('| track | notes | called melody |\n| --- | ---: | ---: |')
  for name, code in tasks.TRACK_CODES.items():
    cells = tracks == code
    print(f'| {name} | {cells.sum():,} | {(called & cells).sum() / cells.sum():.1%} |')
  missed = (tracks == tasks.TRACK_CODES[tasks.MELODY_TRACK]) & ~called
  elsewhere = missed & called.any(-1, keepdims=True)
  print(f'\nmelody notes missed: {missed.sum():,}; in a frame where another note was called: '
        f'{elsewhere.sum():,}; in a frame called empty: {(missed & ~elsewhere).sum():,}')


if __name__ == '__main__':
  main()
