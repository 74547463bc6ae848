"""musicvae-finetune as a user runs it: a split file of real POP909 songs, a pretrained tiny
MusiCoder (musicvae-pretrain) and the from-scratch control; result.json holds what it printed."""

import csv
import json
import subprocess

import pytest

from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax.training import loop

import cli_process
from conftest import SHARED

SONGS = SHARED / 'data' / 'pop909' / 'songs'


@pytest.fixture(scope='module')
def split_csv(tmp_path_factory):
  ids = sorted(p.name for p in SONGS.iterdir())[:6]
  path = tmp_path_factory.mktemp('split') / 'split.csv'
  with path.open('w', newline='') as f:
    w = csv.writer(f)
    w.writerow(['path', 'label', 'split'])
    for k, song in enumerate(ids):
      w.writerow([str(SONGS / song / f'{song}.mid'), '', 'test' if k == 5 else 'train'])
  return path


@pytest.fixture(scope='module')
def pretrained(tmp_path_factory, shared_midi):
  from musicvae_jax.input_pipeline import prepare  # pylint: disable=g-import-not-at-top
  config = config_lib.get_config('musicoder:tiny')
  root = tmp_path_factory.mktemp('pretrain')
  prepare.prepare(config_boundary.run_spec(config), shared_midi / 'multitrack', root / 'data',
                  workers=1, progress=False)
  config.train.num_steps = 5
  loop.train_and_evaluate(config, root / 'data', root / 'run', progress=False)
  return root / 'run'


@pytest.mark.parametrize('start', ['pretrained', 'scratch'])
def test_finetune_writes_the_score_it_prints(start, split_csv, pretrained, tmp_path):
  source = (f'--pretrained={pretrained}' if start == 'pretrained'
            else '--config=musicoder:tiny')
  out = tmp_path / 'out'
  proc = subprocess.run(cli_process.argv(
      'musicvae-finetune', '--task=melody', source, f'--split_file={split_csv}',
      f'--output={out}', '--steps=20', '--batch_size=8', '--labels_fraction=0.5', '--seed=2'),
      capture_output=True, text=True, timeout=600, check=False)
  assert proc.returncode == 0, proc.stderr
  result = json.loads((out / 'result.json').read_text())
  assert result['task'] == 'melody' and result['pretrained'] == (
      str(pretrained) if start == 'pretrained' else '')
  assert result['train_files'] == 2 and result['valid_files'] == 1  # half of 5, a fifth held out
  assert 0.0 <= result['note_f1'] <= 1.0 and result['windows'] > 0
  assert f'note_f1 {result["note_f1"]:.4f}' in proc.stdout
