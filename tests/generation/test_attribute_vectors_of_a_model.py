"""Attribute vectors with a trained model: from a prepared dataset, looked up, and applied.

The bundled cat-mel_2bar_small model, the shared Nottingham reels prepared as musicvae-prepare
prepares them (conftest's ``melody_dataset``) and a bundled tune to steer.
(tests/cli/test_generate_cli.py checks that musicvae-attributes writes what these return.)
"""

import pathlib
import shutil

import jax
import numpy as np
import pytest

from musicvae_jax import bundled_data
from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax import errors
from musicvae_jax.generation import attribute_metrics
from musicvae_jax.generation import attribute_vectors as av
from musicvae_jax.generation import model_files
from musicvae_jax.generation.trained_model import TrainedModel
from musicvae_jax.input_pipeline import pipeline
from musicvae_jax.input_pipeline.prepare import prepare

TUNE = bundled_data.midi_dir('melody') / 'nottingham_hpps11.mid'


@pytest.fixture(scope='module')
def model():
  return TrainedModel.from_workdir()


@pytest.fixture(scope='module')
def computed(model, melody_dataset, tmp_path_factory):
  out = tmp_path_factory.mktemp('vectors') / 'v.npz'
  return av.from_dataset(model, melody_dataset, max_windows=100, output=out, progress=False)


def _first_windows(data_dir, split, n):
  ds = pipeline.eval_dataset(data_dir, batch_size=16, split=split)
  labels = np.concatenate([b['labels'][b['lengths'] > 0] for b in ds])
  return labels[:n]


def test_from_dataset_encodes_the_first_windows_of_the_split(model, computed, melody_dataset):
  path, vectors, meta = computed
  labels = _first_windows(melody_dataset, 'train', 100)
  _, mu, _ = model.encode_labels(labels)
  want, stats = av.compute(mu, labels, 'melody')
  assert sorted(vectors) == sorted(want) == sorted(attribute_metrics.attribute_names('melody'))
  for name in want:
    np.testing.assert_allclose(vectors[name], want[name], rtol=0, atol=1e-5)
    assert meta['statistics'][name]['top_count'] == stats[name]['top_count']
    assert meta['statistics'][name]['top_mean'] == stats[name]['top_mean']
  assert meta == dict(config='cat-mel_2bar_small', z_size=256, step=model.step,
                      workdir=model.info['workdir'], data=str(melody_dataset), split='train',
                      windows=100, statistics=meta['statistics'])
  # What it wrote is what it returned.
  loaded, loaded_meta = av.load(path)
  assert loaded_meta == meta and sorted(loaded) == sorted(vectors)
  for name in vectors:
    np.testing.assert_array_equal(loaded[name], vectors[name])


def test_from_dataset_reads_a_whole_split_and_a_bundled_model_writes_here(
    model, melody_dataset, tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  path, _, meta = av.from_dataset(model, melody_dataset, split='eval', progress=False)
  assert path == pathlib.Path(av.FILE) and (tmp_path / av.FILE).is_file()
  assert meta['windows'] == pipeline.dataset_info(melody_dataset)['splits']['eval']['windows']
  # Not into the installed package's model folder.
  assert model.info['bundled'] and av.own_file(model).parent == model_files.bundled_model_dir()


def test_a_dataset_of_another_config_is_refused_before_reading(model, shared_midi, tmp_path):
  drums = tmp_path / 'drum_midi'
  drums.mkdir()
  for p in sorted(shared_midi.joinpath('drums').glob('freedoom_d_dm0*_drumtrack.mid'))[:3]:
    shutil.copy(p, drums / p.name)
  run = config_boundary.run_spec(config_lib.get_config('cat-drums_2bar_small'))
  prepare(run, drums, tmp_path / 'data', workers=1, progress=False)
  with pytest.raises(pipeline.DatasetError) as err:
    av.from_dataset(model, tmp_path / 'data', progress=False)
  assert isinstance(err.value, errors.UserError) and isinstance(err.value, ValueError)
  assert str(err.value) == (
      f'{tmp_path / "data"} was prepared with --config=cat-drums_2bar_small (windows of 32 '
      'steps, parts [512]); this model needs 32 steps and parts [90]. Prepare the MIDI again '
      'with this config.')
  with pytest.raises(pipeline.DatasetError, match='is not a prepared dataset') as err:
    av.from_dataset(model, drums, progress=False)
  assert str(err.value).startswith(f'{drums}: {drums / "dataset.json"} not found')
  assert not list(tmp_path.glob('*.npz'))


def test_fewer_than_four_windows_are_refused_before_reading(model, tmp_path):
  with pytest.raises(av.VectorsError, match='max_windows=3: attribute vectors need at least 4'):
    av.from_dataset(model, tmp_path / 'nowhere', max_windows=3, progress=False)


def test_vector_for_looks_up_the_models_own_file(model, computed, tmp_path):
  vector = av.vector_for(model, 'note_density')
  np.testing.assert_array_equal(vector, model.attribute_vectors()['note_density'])
  path = computed[0]
  np.testing.assert_array_equal(av.vector_for(model, 'pitch_range', path),
                                computed[1]['pitch_range'])
  with pytest.raises(av.VectorsError) as err:
    av.vector_for(model, 'loudness')
  assert isinstance(err.value, errors.UserError) and isinstance(err.value, ValueError)
  names = ', '.join(sorted(attribute_metrics.attribute_names('melody')))
  assert str(err.value) == f'--attribute=loudness: {av.own_file(model)} has {names}.'
  with pytest.raises(av.VectorsNotFound) as err:
    av.vector_for(model, 'note_density', tmp_path / 'none.npz')
  assert isinstance(err.value, errors.UserError) and isinstance(err.value, FileNotFoundError)
  assert 'musicvae-attributes compute' in str(err.value)
  vectors, meta = av.load(path)
  av.save(tmp_path / 'other.npz', vectors, dict(meta, config='cat-drums_2bar_small'))
  with pytest.raises(av.VectorsError, match='not of this cat-mel_2bar_small model'):
    av.vector_for(model, 'note_density', tmp_path / 'other.npz')


def test_apply_steers_measures_and_joins(model):
  windows = model.read_windows(TUNE).labels
  vector = av.vector_for(model, 'note_density')
  key = jax.random.key(5)
  got = av.apply(model, windows, 'note_density', vector, [-1, 0, 1.5], key=key, temperature=0.5)
  assert got.attribute == 'note_density' and got.amounts == (-1.0, 0.0, 1.5)
  steered = model.steer(windows, vector, [-1, 0, 1.5], key=key, temperature=0.5)
  np.testing.assert_array_equal(got.labels, steered)
  for labels, value, piece in zip(steered, got.values, got.pieces):
    assert value == float(np.mean(attribute_metrics.compute(labels, 'melody')['note_density']))
    assert piece == model.to_piece(labels)
  assert got.values[0] < got.values[1] < got.values[2]  # denser with k


def test_table_lists_every_attribute_with_its_groups(computed):
  _, vectors, meta = computed
  lines = av.table(meta['statistics'])
  assert lines[0].split() == ['attribute', 'bottom', 'group', 'top', 'group', '|vector|']
  assert [l.split()[0] for l in lines[1:]] == list(meta['statistics'])
  for line, (name, s) in zip(lines[1:], meta['statistics'].items()):
    assert f'({s["bottom_count"]})' in line and f'({s["top_count"]})' in line
    assert float(line.split()[5]) == pytest.approx(np.linalg.norm(vectors[name]), abs=0.006)
    assert line.endswith('(degenerate: the groups do not differ)') == s['degenerate']
