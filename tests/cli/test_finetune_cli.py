"""musicvae-finetune as a user runs it: a split file of real POP909 songs, a pretrained tiny
MusiCoder (musicvae-pretrain) and the from-scratch control; result.json holds what it printed."""

import json
import subprocess

import pytest

import cli_process
from conftest import SHARED
import musicoder_workdirs


@pytest.fixture(scope='module')
def split_csv(tmp_path_factory):
  return musicoder_workdirs.pop909_split(tmp_path_factory.mktemp('split') / 'split.csv', 5, 1)


@pytest.fixture(scope='module')
def pretrained(tmp_path_factory, shared_midi):
  return musicoder_workdirs.tiny_pretrained(tmp_path_factory.mktemp('pretrain'), shared_midi, 5)


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


@pytest.mark.parametrize('start', ['pretrained', 'scratch'])
def test_song_head_reads_whole_songs_and_scores_their_notes(start, split_csv, pretrained,
                                                           tmp_path):
  source = (f'--pretrained={pretrained}' if start == 'pretrained'
            else '--config=musicoder:tiny')
  out = tmp_path / 'out'
  proc = subprocess.run(cli_process.argv(
      'musicvae-finetune', '--task=melody', '--head=song', source, f'--split_file={split_csv}',
      f'--output={out}', '--steps=10', '--labels_fraction=0.6', '--seed=1'),
      capture_output=True, text=True, timeout=600, check=False)
  assert proc.returncode == 0, proc.stderr
  result = json.loads((out / 'result.json').read_text())
  assert result['head'] == 'song' and result['train_files'] == 3 and result['test_files'] == 1
  # The pretrained encoder's hidden states join the note features; from scratch, none do.
  assert (result['encoder_features'] > 0) == (start == 'pretrained')
  assert 0.0 <= result['note_f1'] <= 1.0 and 0.3 < result['skyline_note_f1'] < 0.8
  assert f'note_f1 {result["note_f1"]:.4f} on {result["notes"]} notes of 1 test songs' in (
      proc.stdout)


def test_song_head_pretrains_on_train_and_unlabelled_notes_first(split_csv, tmp_path):
  multitrack = sorted((SHARED / 'data' / 'midi' / 'multitrack').rglob('*.mid'))[0]
  corrupt = tmp_path / 'corrupt.mid'
  corrupt.write_bytes(b'MThd not really a midi file')
  split = tmp_path / 'split.csv'
  split.write_text(split_csv.read_text() + f'{multitrack},,unlabelled\n{corrupt},,unlabelled\n')
  out = tmp_path / 'out'
  proc = subprocess.run(cli_process.argv(
      'musicvae-finetune', '--task=melody', '--head=song', '--config=musicoder:tiny',
      '--pretrain_steps=4', '--objectives=cfm', f'--split_file={split}', f'--output={out}',
      '--steps=4', '--labels_fraction=0.4', '--seed=1'),
      capture_output=True, text=True, timeout=600, check=False)
  assert proc.returncode == 0, proc.stderr
  result = json.loads((out / 'result.json').read_text())
  # Pretraining reads every train song and the readable unlabelled one; the tagger then trains
  # on its 40 % of the labelled songs only.
  assert result['pretrained_notes'] and result['pretrain_songs'] == 6
  assert result['pretrain_steps'] == 4 and result['objectives'] == 'cfm'
  assert result['train_files'] == 2 and result['pretrain_cpu_s'] >= 0
  [(path, reason)] = result['unlabelled_skipped']
  assert path == str(corrupt) and reason
  assert 0.0 <= result['note_f1'] <= 1.0
