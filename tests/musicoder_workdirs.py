"""What the MusiCoder tests share: a tiny pretrained workdir on real MIDI and a split file of
real POP909 songs (plain functions; each test module wraps them in its own fixtures)."""

import csv
import pathlib

from conftest import SHARED
from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax.training import loop

POP909_SONGS = SHARED / 'data' / 'pop909' / 'songs'


def tiny_pretrained(root: pathlib.Path, shared_midi: pathlib.Path, steps: int) -> pathlib.Path:
  """A musicoder:tiny workdir pretrained ``steps`` steps on the shared multitrack songs."""
  from musicvae_jax.input_pipeline import prepare  # pylint: disable=g-import-not-at-top
  config = config_lib.get_config('musicoder:tiny')
  prepare.prepare(config_boundary.run_spec(config), shared_midi / 'multitrack', root / 'data',
                  workers=1, progress=False)
  config.train.num_steps = steps
  loop.train_and_evaluate(config, root / 'data', root / 'run', progress=False)
  return root / 'run'


def pop909_split(path: pathlib.Path, train: int, test: int) -> pathlib.Path:
  """A split file of the first ``train`` + ``test`` POP909 songs (by id), the last ``test``
  of them for testing."""
  ids = sorted(p.name for p in POP909_SONGS.iterdir())[:train + test]
  with path.open('w', newline='') as f:
    w = csv.writer(f)
    w.writerow(['path', 'label', 'split'])
    for k, song in enumerate(ids):
      w.writerow([str(POP909_SONGS / song / f'{song}.mid'), '',
                  'train' if k < train else 'test'])
  return path
