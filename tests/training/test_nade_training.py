"""nade-drums through prepare -> musicvae-train -> evaluate -> sample / reconstruct / interpolate,
on real Groove MIDI drum performances (shared/data/midi/drums).

Both nade-drums configs' ':tiny' variants train on shards prepared from real files, on the 8 fake
CPU devices, through the normal family path (``training.family.for_spec`` picks the NADE family);
a run stopped at a checkpoint and resumed ends bit for bit where an uninterrupted one does. The
trained models then sample, reconstruct and interpolate multi-hot drum rolls that decode to MIDI
drum NoteSequences.
"""

import csv
import json
import shutil
import subprocess
import sys
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from array_record.python.array_record_module import ArrayRecordReader

from conftest import require_shared
from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax.converters import midi_io
from musicvae_jax.generation.trained_model import TrainedModel
from musicvae_jax.input_pipeline import pipeline
from musicvae_jax.input_pipeline import prepare
from musicvae_jax.input_pipeline import records
from musicvae_jax.training import evaluate
from musicvae_jax.training import family
from musicvae_jax.training import loop
from musicvae_jax.training import nade_family

from tests import run_state

with warnings.catch_warnings():
  warnings.simplefilter('ignore', RuntimeWarning)
  import note_seq

CONFIGS = {'nade-drums_2bar_reduced': 9, 'nade-drums_2bar_full': 61}
FILES = 8  # Groove MIDI performances (beats) prepared for these tests


@pytest.fixture(scope='module')
def performances(tmp_path_factory, shared_midi):
  """FILES Groove MIDI beats of 20-60 s, of several drummers, copied into one folder."""
  manifest = shared_midi / 'drums' / 'MANIFEST.csv'
  require_shared(manifest)
  rows = [r for r in csv.DictReader(manifest.open()) if r['source'] == 'groove_midi_dataset'
          and r['beat_type'] == 'beat' and 20 <= float(r['duration_s']) <= 60]
  src = tmp_path_factory.mktemp('gmd')
  for r in rows[::max(1, len(rows) // FILES)][:FILES]:
    shutil.copy(shared_midi / 'drums' / r['file'], src / r['file'])
  return src


def _prepare(name, src, out):
  config = config_lib.get_config(name)
  config.data.eval_fraction = 0.3
  return prepare.prepare(config_boundary.run_spec(config), src, out, workers=1, progress=False)


@pytest.fixture(scope='module')
def datasets(tmp_path_factory, performances):
  """{config name: prepared folder}."""
  root = tmp_path_factory.mktemp('nade_data')
  out = {}
  for name in CONFIGS:
    out[name] = root / name
    info = _prepare(name, performances, out[name])
    assert info['splits']['train']['windows'] >= 8 and info['splits']['eval']['windows'] >= 1
  return out


def _tiny(name, steps):
  config = config_lib.get_config(f'{name}:tiny')
  config.train.num_steps = steps
  config.train.checkpoint_every_steps = 2
  config.train.eval_every_steps = 1000
  config.train.eval_num_batches = 1
  config.train.log_every_steps = 1
  return config


@pytest.fixture(scope='module')
def trained(datasets, tmp_path_factory):
  """{config name: workdir} of 4 tiny training steps each (library entry point)."""
  out = {}
  for name in CONFIGS:
    workdir = tmp_path_factory.mktemp(name) / 'run'
    result = loop.train_and_evaluate(_tiny(name, 4), datasets[name], workdir, progress=False,
                                     log=lambda *a: None)
    out[name] = (workdir, result)
  return out


@pytest.mark.parametrize('name,depth', list(CONFIGS.items()))
def test_prepare_stores_the_converters_rolls(name, depth, datasets):
  data_dir = datasets[name]
  info = pipeline.dataset_info(data_dir)
  assert info['window'] == {'dtype': 'int16', 'shape': [32, depth]}
  assert info['part_depths'] == [2] * depth and info['record_format'].startswith('MVW1')
  assert (info['input_depth'], info['output_depth']) == (depth + 1, depth)
  sources = (data_dir / 'sources.txt').read_text().splitlines()
  stored = {}
  for split in pipeline.SPLITS:
    for shard in info['splits'][split]['shards']:
      reader = ArrayRecordReader(str(data_dir / shard))
      for r in reader.read_all():
        rec = records.decode(r)
        stored[(sources[int(rec['source'])], int(rec['window']))] = rec['labels']
      reader.close()
  # Bit for bit what the converter gives, window by window, for every file.
  converter = config_boundary.converter_of(config_lib.get_config(name))
  input_dir = json.loads((data_dir / 'run.json').read_text())['input_dir']
  for f in sorted({f for f, _ in stored}):
    windows = converter.extract(midi_io.read_midi(f'{input_dir}/{f}')).windows
    assert len(windows) == sum(1 for g, _ in stored if g == f), f
    for i, w in enumerate(windows):
      np.testing.assert_array_equal(stored[(f, i)], w)


def test_a_dataset_of_other_windows_is_refused(datasets, performances, tmp_path):
  drums = tmp_path / 'drums'
  _prepare('cat-drums_2bar_small', performances, drums)
  cases = [('nade-drums_2bar_reduced:tiny', drums, 'parts [512]'),
           ('nade-drums_2bar_full:tiny', datasets['nade-drums_2bar_reduced'], 'parts [2, 2'),
           ('cat-drums_2bar_small:tiny', datasets['nade-drums_2bar_reduced'], 'parts [2, 2')]
  for name, data, found in cases:
    run = config_boundary.run_spec(config_lib.get_config(name))
    with pytest.raises(pipeline.DatasetError) as caught:
      loop.check_data(run, data)
    message = str(caught.value)
    assert found in message and 'Prepare the MIDI again with this config' in message, message


@pytest.mark.parametrize('name', list(CONFIGS))
def test_tiny_config_trains_and_evaluates(name, trained, datasets):
  run = config_boundary.run_spec(config_lib.get_config(f'{name}:tiny'))
  assert isinstance(family.for_spec(run), nade_family.NadeFamily)
  workdir, result = trained[name]
  train = result['train']
  for k in ('loss', 'r_loss', 'kl_loss', 'accuracy', 'global_norm', 'sampling_probability'):
    assert np.isfinite(train[k]), k
  assert 0 <= train['accuracy'] <= 1
  # inverse_sigmoid at rate 1000: the scheduled-sampling pass is on from the first step.
  assert 0 < train['sampling_probability'] < 0.01
  report = evaluate.evaluate_workdir(workdir, datasets[name], split='eval', progress=False)
  windows = pipeline.dataset_info(datasets[name])['splits']['eval']['windows']
  assert report['examples'] == windows and report['step'] == 4
  for k in ('teacher_forced_accuracy', 'sampled_accuracy', 'bit_precision', 'bit_recall'):
    assert 0 <= report[k] <= 1, k
  assert report['r_loss'] > 0 and np.isfinite(report['kl_bits'])
  table = evaluate.report(report)
  assert 'bit precision' in table and f'{windows:>10}' in table


def test_training_resumes_identically(datasets, trained, tmp_path):
  name = 'nade-drums_2bar_reduced'
  stopped = tmp_path / 'stopped'
  loop.train_and_evaluate(_tiny(name, 2), datasets[name], stopped, progress=False,
                          log=lambda *a: None)
  loop.train_and_evaluate(_tiny(name, 4), datasets[name], stopped, progress=False,
                          log=lambda *a: None)
  run_state.assert_same_final_state(trained[name][0], stopped, 4)


def test_bit_precision_and_recall_match_a_hand_count(datasets):
  """On real rolls: predicting every bit gives recall 1 and precision = the share of bits set;
  a padding row (mask 0) full of bits counts for nothing."""
  data = datasets['nade-drums_2bar_full']
  batch = next(iter(pipeline.eval_dataset(data, batch_size=6, split='train')))
  labels, mask = batch['labels'], batch['mask']
  labels = np.concatenate([labels, np.ones_like(labels[:1])])
  mask = np.concatenate([mask, np.zeros_like(mask[:1])])
  sums = nade_family.bit_sums(jnp.ones(labels.shape, bool), jnp.asarray(labels),
                              jnp.asarray(mask))
  set_bits = int(batch['labels'].sum())
  assert 0 < set_bits < batch['labels'].size
  assert float(sums['true_positives']) == float(sums['true_bits']) == set_bits
  assert float(sums['predicted_bits']) == batch['labels'].size


def _drum_notes_ok(ns, converter):
  exemplars = set(converter.vocabulary.exemplar_pitches)
  return all(n.is_drum and n.pitch in exemplars and n.velocity == 80 for n in ns.notes)


@pytest.mark.parametrize('name,depth', list(CONFIGS.items()))
def test_trained_model_samples_reconstructs_and_interpolates_drum_rolls(name, depth, trained,
                                                                          performances):
  model = TrainedModel.from_workdir(trained[name][0])
  converter = model.converter
  key = jax.random.key(0)
  z = model.sample_z(6, key=key)
  rolls = model.decode_labels(z, key=key, temperature=1.0)
  assert rolls.shape == (6, 32, depth) and set(np.unique(rolls)) <= {0, 1} and rolls.any()
  again = model.decode_labels(z, key=key, temperature=1.0)
  np.testing.assert_array_equal(again, rolls)
  greedy = model.decode_labels(z, key=key, temperature=0)
  assert greedy.shape == rolls.shape
  samples = model.sample(6, key=key)
  assert len(samples) == 6
  for ns, roll in zip(samples, rolls):
    assert _drum_notes_ok(ns, converter) and len(ns.notes) == roll.sum()
    np.testing.assert_array_equal(converter.to_labels(ns), roll)
  # A real performance's windows: encoded, reconstructed and morphed into another's.
  files = sorted(performances.glob('*.mid'))
  a, b = model.read_windows(files[0]), model.read_windows(files[1])
  assert a.labels.shape[1:] == (32, depth) and a.labels.any()
  result = model.reconstruct_windows(a.labels, key=key, num_outputs=2)
  assert result.labels.shape == (2,) + a.labels.shape
  assert set(np.unique(result.labels)) <= {0, 1}
  pieces = model.interpolate_windows(a.labels, b.labels, 3, key=key, temperature=0,
                                     qpm=a.qpm)
  assert len(pieces) == 3 and all(_drum_notes_ok(p, converter) and p.notes for p in pieces)


def test_musicvae_train_and_sample_commands(datasets, tmp_path):
  """The commands as a user runs them: musicvae-train on the prepared rolls, then
  musicvae-sample writes MIDI files of drums on the config's exemplar pitches."""
  workdir, out = tmp_path / 'run', tmp_path / 'samples'
  name = 'nade-drums_2bar_full'

  def cli(prog, module, *args):
    code = f'import sys; sys.argv[0] = {prog!r}; from musicvae_jax.cli.{module} import run; run()'
    proc = subprocess.run([sys.executable, '-c', code, *args], capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]

  cli('musicvae-train', 'train', f'--config={name}:tiny', f'--data={datasets[name]}',
      f'--workdir={workdir}', '--progress=false', '--config.train.num_steps=2',
      '--config.train.eval_every_steps=1000')
  cli('musicvae-sample', 'sample', f'--workdir={workdir}', '--num_outputs=3', '--seed=1',
      '--temperature=1.0', '--nowav', f'--output_dir={out}')
  written = sorted(out.glob('*.mid'))
  assert len(written) == 3
  converter = config_boundary.converter_of(config_lib.get_config(name))
  exemplars = set(converter.vocabulary.exemplar_pitches)
  for path in written:
    ns = note_seq.midi_file_to_note_sequence(str(path))
    assert ns.notes and all(n.is_drum and n.pitch in exemplars for n in ns.notes)
