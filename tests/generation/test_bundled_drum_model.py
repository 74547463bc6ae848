"""The drum model that ships in data/models: grooves from the prior, reconstructions, vectors.

Measured on the bundled drum files of the eval split (never trained on).
"""

import jax
import numpy as np
import pytest

from conftest import held_out_midi
from musicvae_jax.converters import midi_io
from musicvae_jax.generation import attribute_metrics
from musicvae_jax.generation import attribute_vectors
from musicvae_jax.generation import inputs
from musicvae_jax.generation import model_files
from musicvae_jax.generation.trained_model import TrainedModel

NAME = 'cat-drums_2bar_small'
NUM_INPUTS = 32


@pytest.fixture(scope='module')
def model():
  return TrainedModel.from_workdir(f'bundled:{NAME}')


@pytest.fixture(scope='module')
def eval_windows(model):
  """32 held-out windows, evenly spread over all windows of the eval-split drum files."""
  windows = []
  for path in held_out_midi(model.run, 'drums'):
    try:
      windows.extend(model.split_windows(midi_io.read_midi(path), source=str(path)).labels)
    except (inputs.UnencodableInput, midi_io.MidiReadError):
      continue
  assert len(windows) >= NUM_INPUTS, len(windows)
  picks = np.linspace(0, len(windows) - 1, NUM_INPUTS).astype(int)
  return np.stack([windows[i] for i in picks])


def test_it_is_the_documented_drum_model(model):
  assert model.name == NAME and model.info['bundled']
  assert model.step >= 1000 and 'teacher_forced_accuracy' in model.info


def test_reconstructs_held_out_grooves(model, eval_windows):
  """Greedy reconstructions get most steps right (all-silent steps alone would not do it)."""
  _, mu, _ = model.encode_labels(eval_windows)
  again = model.decode_labels(mu, key=jax.random.key(0), temperature=0)
  accuracy = float(np.mean(again == eval_windows))
  silent = float(np.mean(eval_windows == 0))
  assert accuracy > max(0.5, silent + 0.1), (accuracy, silent)


def test_samples_have_the_grooves_density(model, eval_windows):
  samples = model.decode_labels(model.sample_z(64, key=jax.random.key(4)),
                                key=jax.random.key(4), temperature=0.5)
  real = attribute_metrics.compute(eval_windows, 'drums')['note_density']
  mine = attribute_metrics.compute(samples, 'drums')['note_density']
  low, high = np.percentile(real, [10, 90])
  assert low <= np.median(mine) <= high, (np.median(mine), low, high)


# Measured: the 8th-note syncopation vector of this 4,000-step model does not raise greedy
# decodes' 8th syncopation (0.247 / 0.296 / 0.267 at k = -2 / 0 / +2). Strict: when a better
# model makes it pass, this marker has to go.
EIGHTH_UNMOVED = pytest.mark.xfail(strict=True, reason='measured: the 8th-syncopation vector '
                                   'does not move greedy decodes of this model')


@pytest.mark.parametrize('name', [
    n if n != 'syncopation_8th' else pytest.param(n, marks=EIGHTH_UNMOVED)
    for n in attribute_metrics.DRUM_ATTRIBUTES])
def test_attribute_vector_moves_its_attribute(model, eval_windows, name):
  """mu + k·v decoded greedily, mean over 32 held-out windows: k = +2 raises, -2 lowers."""
  path = model_files.bundled_model_dir(NAME) / attribute_vectors.FILE
  vectors, meta = attribute_vectors.load(path)
  attribute_vectors.check_fits('bundled', meta, model)
  _, mu, _ = model.encode_labels(eval_windows)
  values = {}
  for k in (-2.0, 0.0, 2.0):
    labels = model.decode_labels(mu + k * vectors[name], key=jax.random.key(0), temperature=0)
    values[k] = float(np.mean(attribute_metrics.compute(labels, 'drums')[name]))
  assert values[2.0] > values[0.0] > values[-2.0], values
