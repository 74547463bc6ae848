"""GrooVAE through prepare -> train -> evaluate, on real Groove MIDI performances.

Every GrooVAE config's ':tiny' variant trains on shards prepared from real performances of the
shared Groove MIDI set, on the 8 fake CPU devices, and a run stopped at a checkpoint and resumed
ends bit for bit where an uninterrupted one does (note dropout and input dropout included).
Prepare stores Magenta's own windows (float32, exactly); the evaluation's hit and
velocity/offset figures are checked against counts made by hand from real windows.
"""

import csv
import gzip
import json
import shutil

import jax.numpy as jnp
import numpy as np
import pytest
from array_record.python.array_record_module import ArrayRecordReader

from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax.converters import groove
from musicvae_jax.converters import midi_io
from musicvae_jax.input_pipeline import groove_examples
from musicvae_jax.input_pipeline import pipeline
from musicvae_jax.input_pipeline import prepare
from musicvae_jax.input_pipeline import records
from musicvae_jax.training import evaluate
from musicvae_jax.training import groove_family
from musicvae_jax.training import loop

from conftest import require_shared
from tests import run_state

GROOVE_CONFIGS = [n for n in config_lib.config_names() if n.startswith('groovae_')]
FILES = 8  # Groove MIDI performances (beats) prepared for these tests
TOL = 1e-5  # Magenta's reference windows are rounded to 6 decimals


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
  """{window bars: prepared folder}: one 2-bar set serves every 2-bar config."""
  root = tmp_path_factory.mktemp('groove_data')
  out = {2: root / 'bars2', 4: root / 'bars4'}
  for bars, name in ((2, 'groovae_2bar_humanize'), (4, 'groovae_4bar')):
    info = _prepare(name, performances, out[bars])
    assert info['splits']['train']['windows'] >= 8 and info['splits']['eval']['windows'] >= 1
  return out


def _stored(data_dir):
  """{(source file, window index): stored window} of both splits."""
  sources = (data_dir / 'sources.txt').read_text().splitlines()
  info = pipeline.dataset_info(data_dir)
  out = {}
  for split in pipeline.SPLITS:
    for name in info['splits'][split]['shards']:
      reader = ArrayRecordReader(str(data_dir / name))
      for r in reader.read_all():
        rec = records.decode(r)
        out[(sources[int(rec['source'])], int(rec['window']))] = rec['labels']
      reader.close()
  return out


@pytest.mark.parametrize('bars,reference', [(2, 'groovae_2bar_humanize'), (4, 'groovae_4bar')])
def test_prepare_stores_magentas_windows_as_float32(datasets, bars, reference,
                                                    magenta_windows_dir):
  data_dir = datasets[bars]
  info = pipeline.dataset_info(data_dir)
  assert info['window'] == {'dtype': 'float32', 'shape': [16 * bars, 27]}
  assert info['record_format'].startswith('MVF1') and info['part_depths'] == [9, 9, 9]
  stored = _stored(data_dir)
  files = {f for f, _ in stored}
  refs = {}
  with gzip.open(magenta_windows_dir / f'{reference}__drums.jsonl.gz', 'rt') as fh:
    for line in fh:
      if any(f'"{f}"' in line[:200] for f in files):
        rec = json.loads(line)
        refs[rec['file']] = rec
  assert sorted(refs) == sorted(files)
  for f, rec in refs.items():
    ours = [stored[(f, i)] for i in range(sum(1 for g, _ in stored if g == f))]
    assert len(ours) == rec['n_windows'], f
    for i, (w, ref) in enumerate(zip(ours, rec['windows'])):
      assert w.dtype == np.float32 and w.shape == (16 * bars, 27)
      np.testing.assert_allclose(w, np.reshape(ref['out'], w.shape), atol=TOL,
                                 err_msg=f'{f} window {i}')
  # Bit for bit what the converter gives: nothing is rounded on the way to the shards.
  converter = config_boundary.converter_of(config_lib.get_config(reference))
  f = sorted(files)[0]
  input_dir = json.loads((data_dir / 'run.json').read_text())['input_dir']
  windows = converter.extract(midi_io.read_midi(f'{input_dir}/{f}')).windows
  for i, w in enumerate(windows):
    np.testing.assert_array_equal(stored[(f, i)], w)


def test_a_dataset_of_other_windows_is_refused(datasets, performances, tmp_path):
  drums = tmp_path / 'drums'
  _prepare('cat-drums_2bar_small', performances, drums)
  cases = [('groovae_2bar_humanize:tiny', drums, 'int16 windows of 32 steps x 1'),
           ('cat-drums_2bar_small:tiny', datasets[2], 'float32 windows of 32 steps x 27'),
           ('groovae_4bar:tiny', datasets[2], 'float32 windows of 32 steps x 27')]
  for name, data, found in cases:
    run = config_boundary.run_spec(config_lib.get_config(name))
    with pytest.raises(pipeline.DatasetError) as caught:
      loop.check_data(run, data)
    message = str(caught.value)
    assert found in message and 'Prepare the MIDI again with this config' in message, message
    assert '\n' not in message


def _tiny(name, steps):
  config = config_lib.get_config(f'{name}:tiny')
  config.train.num_steps = steps
  config.train.checkpoint_every_steps = 2
  config.train.eval_every_steps = 1000
  config.train.eval_num_batches = 1
  config.train.log_every_steps = 1
  return config


@pytest.mark.parametrize('name', GROOVE_CONFIGS)
def test_tiny_groove_config_trains_and_resumes_identically(name, datasets, tmp_path):
  data = datasets[4 if '4bar' in name else 2]
  straight = loop.train_and_evaluate(_tiny(name, 4), data, tmp_path / 'straight',
                                     progress=False, log=lambda *a: None)
  train = straight['train']
  for k in ('loss', 'r_loss', 'kl_loss', 'hits_loss', 'velocities_loss', 'offsets_loss',
            'hits_accuracy', 'global_norm'):
    assert np.isfinite(train[k]), k
  assert 0 <= train['hits_accuracy'] <= 1
  assert train['r_loss'] == pytest.approx(
      train['hits_loss'] + train['velocities_loss'] + train['offsets_loss'], rel=1e-5)
  metrics = straight['eval_eval']
  for k in ('hit_accuracy', 'hit_precision', 'hit_recall', 'hit_f1'):
    assert 0 <= metrics[k] <= 1, k
  assert metrics['velocity_mse'] <= metrics['velocity_mae'] <= 1 and metrics['offset_mae'] <= 2
  # Stopped at its step-2 checkpoint, then the same command to step 4.
  stopped = tmp_path / 'stopped'
  loop.train_and_evaluate(_tiny(name, 2), data, stopped, progress=False, log=lambda *a: None)
  loop.train_and_evaluate(_tiny(name, 4), data, stopped, progress=False, log=lambda *a: None)
  run_state.assert_same_final_state(tmp_path / 'straight', stopped, 4)


def test_musicvae_evaluate_reports_the_groove_metrics(datasets, tmp_path):
  workdir = tmp_path / 'run'
  loop.train_and_evaluate(_tiny('groovae_2bar_hits_control', 2), datasets[2], workdir,
                          progress=False, log=lambda *a: None)
  result = evaluate.evaluate_workdir(workdir, datasets[2], split='eval', progress=False)
  windows = pipeline.dataset_info(datasets[2])['splits']['eval']['windows']
  assert result['examples'] == windows and result['step'] == 2
  for k in ('hit_accuracy', 'hit_precision', 'hit_recall', 'hit_f1', 'velocity_mse',
            'velocity_mae', 'offset_mae'):
    assert np.isfinite(result[k]), k
  table = evaluate.report(result)
  assert 'hit acc' in table and 'offset MAE' in table and f'{windows:>10}' in table
  again = evaluate.evaluate_workdir(workdir, datasets[2], split='eval', progress=False)
  assert again['hit_f1'] == result['hit_f1']  # note-free config, fixed key: the same pass


def _real_targets(data_dir, n):
  converter = groove.GrooveConverter(split_bars=2)
  batch = next(iter(pipeline.eval_dataset(data_dir, batch_size=n, split='train',
                                          transform=groove_examples.GrooveExamples(converter))))
  return batch['targets'], batch['mask']


def test_evaluation_counts_match_a_hand_count_on_real_windows(datasets):
  targets, mask = _real_targets(datasets[2], 4)
  hits, velocities, offsets = targets[..., :9], targets[..., 9:18], targets[..., 18:]
  played = hits > 0.5
  n_played, cells = played.sum(), hits.size
  assert 0 < n_played < cells
  # A padding row (mask 0) full of hits counts for nothing.
  pad_targets = np.concatenate([targets, np.ones_like(targets[:1])])
  pad_mask = np.concatenate([mask, np.zeros_like(mask[:1])])

  def score(logits):
    sums = groove_family.cell_sums(jnp.asarray(logits), jnp.asarray(pad_targets),
                                   jnp.asarray(pad_mask))
    return groove_family.summarize_cells({k: np.asarray(v) for k, v in sums.items()})

  # A model that hits every cell at velocity 0.5 (sigmoid 0) on the grid (tanh 0).
  always = np.zeros_like(pad_targets)
  always[..., :9] = 20.0
  m = score(always)
  assert m['hit_recall'] == 1.0
  assert m['hit_precision'] == pytest.approx(n_played / cells)
  assert m['hit_accuracy'] == pytest.approx(n_played / cells)
  assert m['hit_f1'] == pytest.approx(2 * (n_played / cells) / (n_played / cells + 1))
  assert m['velocity_mae'] == pytest.approx(np.abs(0.5 - velocities[played]).mean(), rel=1e-5)
  assert m['velocity_mse'] == pytest.approx(np.square(0.5 - velocities[played]).mean(),
                                            rel=1e-5)
  assert m['offset_mae'] == pytest.approx(np.abs(offsets[played]).mean(), rel=1e-5)

  # A model that is right everywhere but misses every kick (class 0).
  exact = np.concatenate([np.where(pad_targets[..., :9] > 0.5, 20.0, -20.0),
                          np.log(np.clip(pad_targets[..., 9:18], 1e-6, 1 - 1e-6))
                          - np.log1p(-np.clip(pad_targets[..., 9:18], 1e-6, 1 - 1e-6)),
                          np.arctanh(np.clip(pad_targets[..., 18:], -1 + 1e-6, 1 - 1e-6))],
                         axis=-1)
  exact[..., 0] = -20.0
  kicks = played[..., 0].sum()
  assert kicks > 0
  m = score(exact)
  assert m['hit_precision'] == 1.0
  assert m['hit_recall'] == pytest.approx((n_played - kicks) / n_played)
  assert m['hit_accuracy'] == pytest.approx((cells - kicks) / cells)
  assert m['velocity_mae'] < 1e-4 and m['offset_mae'] < 1e-4
