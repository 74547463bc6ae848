"""musicvae-evaluate on every kind of model a user can load, leaving each untouched.

The bundled model (``bundled:<name>``), an exported folder (musicvae-export of a tiny run) and
a folder of MIDI given with --midi, on real Nottingham tunes. Each model folder must hold the
same files, with the same bytes, after it was scored.
"""

import json
import pathlib
import shutil
import subprocess

import pytest

from cli_process import argv
from conftest import REPO
from conftest import held_out_midi
from musicvae_jax import checkpointing
from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax.generation import model_files
from musicvae_jax.input_pipeline import pipeline
from musicvae_jax.training import evaluate
from musicvae_jax.training import loop

BUNDLED = 'cat-mel_2bar_small'
TINY = 'cat-mel_2bar_small:tiny'


def _evaluate(*args, cwd):
  proc = subprocess.run(argv('musicvae-evaluate', *args), capture_output=True, text=True,
                        cwd=cwd, timeout=600, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc


def _files(folder: pathlib.Path) -> dict:
  """Every file under ``folder`` with its size and modification time."""
  return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
          for p in sorted(folder.rglob('*'))}


def _git_status_of_data() -> str:
  return subprocess.run(['git', 'status', '--porcelain', '--untracked-files=all', 'data/'],
                        cwd=REPO, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope='module')
def exported(tmp_path_factory, melody_dataset) -> dict:
  """A tiny run trained two steps, and its float32 export (musicvae-export's function)."""
  tmp = tmp_path_factory.mktemp('exported')
  config = config_lib.get_config(TINY)
  config.train.num_steps = 2
  config.train.eval_every_steps = 1000
  loop.train_and_evaluate(config, melody_dataset, tmp / 'run', progress=False,
                          log=lambda *a, **k: None)
  model_files.export(tmp / 'run', tmp / 'model', dtype='float32')
  return dict(run=tmp / 'run', model=tmp / 'model')


def test_the_bundled_model_is_scored_and_its_folder_left_alone(melody_dataset, tmp_path):
  folder = model_files.bundled_model_dir(BUNDLED)
  before, status = _files(folder), _git_status_of_data()
  report = tmp_path / 'out' / 'bundled.json'
  proc = _evaluate(f'--workdir=bundled:{BUNDLED}', f'--data={melody_dataset}',
                   f'--json={report}', cwd=tmp_path)
  result = json.loads(report.read_text())
  info = pipeline.dataset_info(melody_dataset)
  assert result['examples'] == info['splits']['eval']['windows'] > 0
  assert result['step'] == json.loads((folder / model_files.INFO_FILE).read_text())['step']
  assert result['config'] == BUNDLED and result['model'] == f'bundled:{BUNDLED}'
  # A trained model, not a fresh one: it reads Nottingham reels well.
  assert 0.5 < result['teacher_forced_accuracy'] <= 1.0
  for key in ('teacher_forced_accuracy', 'sampled_accuracy'):
    assert f'{result[key]:.4f}' in proc.stdout
  assert _files(folder) == before
  assert _git_status_of_data() == status
  assert sorted(p.name for p in tmp_path.iterdir()) == ['out']


def test_an_exported_model_scores_as_its_workdir_did(exported, melody_dataset, tmp_path):
  before = _files(exported['model'])
  report = tmp_path / 'export.json'
  _evaluate(f'--workdir={exported["model"]}', f'--data={melody_dataset}', '--split=all',
            f'--json={report}', cwd=tmp_path)
  from_export = json.loads(report.read_text())
  from_run = evaluate.evaluate_workdir(exported['run'], melody_dataset, split='all',
                                       progress=False)
  assert from_export['step'] == from_run['step'] == 2
  assert set(from_export['splits']) == {'train', 'eval'}
  for key in ('examples', 'teacher_forced_accuracy', 'sampled_accuracy', 'r_loss', 'kl_bits'):
    assert from_export[key] == pytest.approx(from_run[key], rel=1e-5), key
  assert _files(exported['model']) == before
  assert not (exported['model'] / checkpointing.CHECKPOINT_DIR).exists()


def test_a_midi_folder_is_scored_as_its_prepared_windows(tmp_path):
  run = config_boundary.run_spec(config_lib.get_config(BUNDLED))
  midi = tmp_path / 'tunes'
  midi.mkdir()
  for p in held_out_midi(run, 'melody')[:6]:
    shutil.copy(p, midi / p.name)
  report = tmp_path / 'midi.json'
  proc = _evaluate(f'--workdir=bundled:{BUNDLED}', f'--midi={midi}', f'--json={report}',
                   cwd=tmp_path)
  result = json.loads(report.read_text())
  # The same files prepared by hand, every one in the eval split, score the same.
  from musicvae_jax.input_pipeline.prepare import prepare  # pylint: disable=import-outside-toplevel
  config = config_lib.get_config(BUNDLED)
  config.data.eval_fraction = 1.0
  prepare(config_boundary.run_spec(config), midi, tmp_path / 'prepared', workers=1,
          progress=False)
  by_hand = evaluate.evaluate_workdir(f'bundled:{BUNDLED}', tmp_path / 'prepared',
                                      progress=False)
  windows = pipeline.dataset_info(tmp_path / 'prepared')['splits']['eval']['windows']
  assert result['examples'] == result['prepared']['windows'] == windows > 0
  assert result['prepared']['files_found'] == 6
  assert result['data'] == str(midi) and set(result['splits']) == {evaluate.MIDI_SPLIT}
  assert result['teacher_forced_accuracy'] == pytest.approx(by_hand['teacher_forced_accuracy'])
  assert result['sampled_accuracy'] == pytest.approx(by_hand['sampled_accuracy'])
  assert f'{windows} windows from 6 of 6 MIDI files' in proc.stdout
  assert f'{result["teacher_forced_accuracy"]:.4f}' in proc.stdout
  assert sorted(p.name for p in tmp_path.iterdir()) == ['midi.json', 'prepared', 'tunes']


def test_a_workdir_without_a_checkpoint_is_refused_and_left_as_it_was(melody_dataset,
                                                                     tmp_path):
  workdir = tmp_path / 'w'
  checkpointing.check_or_write_config(workdir, config_lib.get_config(TINY), write=True)
  with pytest.raises(checkpointing.WorkdirError, match='has no checkpoint yet; train first'):
    evaluate.evaluate_workdir(workdir, melody_dataset, progress=False)
  with pytest.raises(checkpointing.WorkdirError, match='has no checkpoint and no params.npz'):
    model_files.load_params(workdir, checkpointing.load_run_spec(workdir).model)
  assert sorted(p.name for p in workdir.iterdir()) == [checkpointing.CONFIG_FILE]


def test_a_midi_folder_without_windows_for_the_model_is_refused(shared_midi, tmp_path):
  drums = tmp_path / 'drums'
  drums.mkdir()
  for p in sorted(shared_midi.joinpath('drums').glob('freedoom_d_dm0*_drumtrack.mid'))[:3]:
    shutil.copy(p, drums / p.name)
  with pytest.raises(evaluate.EvaluateError,
                     match='none of its 3 MIDI files gave a 2-bar melody window for '
                     'cat-mel_2bar_small'):
    evaluate.evaluate_midi(f'bundled:{BUNDLED}', drums, workers=1, progress=False)
