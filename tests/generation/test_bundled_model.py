"""The model that ships in data/models: it loads, makes melodies, and its attribute vectors work.

Measured on real tunes the model never trained on (the bundled melodies of the eval split), so
these are checks of the shipped model, not of numbers written down beside it.
"""

import jax
import numpy as np
import pytest

from conftest import SHARED
from conftest import held_out_midi
from musicvae_jax.chordkey import pop909
from musicvae_jax.converters import midi_io
from musicvae_jax.generation import attribute_metrics
from musicvae_jax.generation import attribute_vectors
from musicvae_jax.generation import model_files
from musicvae_jax.generation.trained_model import TrainedModel
from musicvae_jax.training import evaluate

NUM_INPUTS = 32


@pytest.fixture(scope='module')
def model():
  return TrainedModel.from_workdir()


@pytest.fixture(scope='module')
def eval_windows(model):
  """One window from each of 32 held-out tunes (the eval split of the bundled melodies)."""
  windows = []
  for path in held_out_midi(model.run, 'melody'):
    w = model.split_windows(midi_io.read_midi(path), source=str(path)).labels
    windows.append(w[len(w) // 2])  # mid-tune: past any pickup bar
    if len(windows) == NUM_INPUTS:
      break
  assert len(windows) == NUM_INPUTS, f'only {len(windows)} eval tunes'
  return np.stack(windows)


def test_bundled_model_is_the_documented_one(model):
  assert model.info['bundled'] and model.name == 'cat-mel_2bar_small'
  assert model.spec.z_size == 256 and list(model.spec.dec_rnn_size) == [256, 256]
  assert model.step >= 1000
  for key in ('teacher_forced_accuracy', 'sampled_accuracy', 'kl_bits', 'data'):
    assert key in model.info, key
  assert (model_files.bundled_model_dir() / attribute_vectors.FILE).exists()


def test_reconstructs_held_out_tunes(model, eval_windows):
  """Greedy reconstructions of unseen windows get most steps right (an untrained model: ~0)."""
  _, mu, _ = model.encode_labels(eval_windows)
  again = model.decode_labels(mu, key=jax.random.key(0), temperature=0)
  accuracy = float(np.mean(again == eval_windows))
  assert accuracy > 0.7, accuracy


def test_samples_look_like_the_tunes(model, eval_windows):
  """Prior samples at temperature 0.5 have the tunes' note density and range (not noise)."""
  samples = model.decode_labels(model.sample_z(64, key=jax.random.key(3)),
                                key=jax.random.key(3), temperature=0.5)
  real = attribute_metrics.compute(eval_windows, 'melody')
  mine = attribute_metrics.compute(samples, 'melody')
  for name in ('note_density', 'pitch_range', 'average_interval'):
    low, high = np.percentile(real[name], [10, 90])
    assert low <= np.median(mine[name]) <= high, (name, np.median(mine[name]), low, high)
  # Note-offs and holds as in real tunes: most sampled steps are not onsets.
  assert 0.05 < np.mean(mine['note_density']) < 0.6


def test_scores_held_out_pop_melodies(model, tmp_path):
  """Pop, a style it trained on beside folk: the MELODY tracks of POP909 test songs (never
  trained on), put on their beat grids, teacher-forced (the folk-only model scored 0.568 on
  161 such files)."""
  data_dir = SHARED / 'data' / 'pop909'
  ids = [i for i in pop909.song_ids(data_dir) if pop909.split_of(i) == 'test'][:16]
  counts = pop909.regrid_melodies(data_dir, tmp_path, ids=ids)
  assert counts['songs'] >= 10
  result = evaluate.evaluate_midi(model.info['workdir'], tmp_path, workers=1, progress=False)
  assert result['prepared']['windows'] > 200
  assert result['teacher_forced_accuracy'] > 0.85, result['teacher_forced_accuracy']


@pytest.mark.parametrize('name', attribute_metrics.MELODY_ATTRIBUTES)
def test_attribute_vector_moves_its_attribute(model, eval_windows, name):
  """mu + k·v decoded greedily, mean over 32 held-out inputs: k > 0 raises the attribute.

  k = 2: these inputs are folk tunes, with almost no syncopation, and the syncopation vectors
  need it; at k = 1 the 8th-note one does not yet move greedy decodes. Negative k lowers
  the attribute, or leaves it at its floor near 0 (held-out folk windows at k = 0 have almost
  no syncopation: a greedy decode at k = -2 may keep one syncopated onset in a few windows).
  """
  vectors, meta = attribute_vectors.load(model_files.bundled_model_dir() / attribute_vectors.FILE)
  attribute_vectors.check_fits('bundled', meta, model)
  assert not meta['statistics'][name]['degenerate']
  _, mu, _ = model.encode_labels(eval_windows)
  values = {}
  for k in (-2.0, 0.0, 2.0):
    labels = model.decode_labels(mu + k * vectors[name], key=jax.random.key(0), temperature=0)
    values[k] = float(np.mean(attribute_metrics.compute(labels, 'melody')[name]))
  assert values[2.0] > values[0.0], values
  at_floor = max(values[-2.0], values[0.0]) <= 0.01  # syncopation: under 1 % of steps
  assert values[-2.0] < values[0.0] or at_floor, values


def test_note_density_vector_is_graded(model, eval_windows):
  """The paper's figure: -1.5 ... +1.5 in steps of 0.5 give ever denser melodies."""
  vectors, _ = attribute_vectors.load(model_files.bundled_model_dir() / attribute_vectors.FILE)
  _, mu, _ = model.encode_labels(eval_windows)
  amounts = (-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5)
  z = np.concatenate([mu + k * vectors['note_density'] for k in amounts])
  labels = model.decode_labels(z, key=jax.random.key(0), temperature=0)
  density = attribute_metrics.compute(labels, 'melody')['note_density'].reshape(len(amounts), -1)
  assert np.all(np.diff(density.mean(axis=1)) > 0), density.mean(axis=1)


def test_bundled_models_are_named_by_prefix(model):
  assert 'cat-mel_2bar_small' in model_files.bundled_names()
  named = TrainedModel.from_workdir('bundled:cat-mel_2bar_small')
  assert named.info['bundled'] and named.info['workdir'] == model.info['workdir']
  with pytest.raises(model_files.checkpointing.WorkdirError, match='bundled:cat-mel_2bar_small'):
    TrainedModel.from_workdir('bundled:no-such-model')
