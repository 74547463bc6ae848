"""The bundled 16-bar hierarchical model: it loads as the documented one, beats the commonest
token on the 16-bar windows of held-out folk tunes, and its prior samples are melodies that
play through their bars (measured here, on music it never saw, not copied from its card)."""

import jax
import numpy as np
import pytest

from conftest import held_out_midi
from musicvae_jax.converters import midi_io
from musicvae_jax.generation.trained_model import TrainedModel

BARS, STEPS_PER_BAR = 16, 16


@pytest.fixture(scope='module')
def model():
  return TrainedModel.from_workdir('bundled:hierdec-mel_16bar')


@pytest.fixture(scope='module')
def windows(model):
  """The first 16-bar window of each held-out folk tune that has one."""
  found = []
  for path in held_out_midi(model.run, 'melody'):
    w = model.split_windows(midi_io.read_midi(path), source=str(path)).labels
    if len(w):
      found.append(w[0])
  assert len(found) >= 30, len(found)
  return np.stack(found)


def _bars_with_onsets(labels_NxTx1):
  onsets = labels_NxTx1[..., 0] >= 2  # 0 no event, 1 note-off, 2.. a note starts
  return onsets.reshape(len(onsets), BARS, STEPS_PER_BAR).any(-1).sum(-1)


def test_is_the_documented_hierarchical_model(model):
  assert model.info['bundled'] and model.name == 'hierdec-mel_16bar'
  assert model.spec.hierarchical and model.spec.level_lengths == (BARS, STEPS_PER_BAR)
  assert (model.spec.z_size, list(model.spec.dec_rnn_size)) == (128, [128, 128])
  assert model.step == 7000


def test_reconstructs_held_out_tunes_better_than_the_commonest_token(model, windows):
  _, mu, _ = model.encode_labels(windows)
  again = np.asarray(model.decode_labels(mu, key=jax.random.key(0), temperature=0))
  agreement = float(np.mean(again == windows))
  commonest = max(float(np.mean(windows == c)) for c in np.unique(windows))
  assert agreement > commonest + 0.01, (agreement, commonest)
  # Not silence: the decodes play in most bars, as the tunes do.
  assert _bars_with_onsets(again).mean() >= 12, _bars_with_onsets(again)


def test_prior_samples_play_through_their_bars(model, windows):
  samples = np.asarray(model.decode_labels(model.sample_z(32, key=jax.random.key(1)),
                                           key=jax.random.key(1), temperature=0.5))
  assert samples.shape == (32,) + windows.shape[1:]
  assert _bars_with_onsets(samples).mean() >= 10
  notes_a_bar = np.mean(samples[..., 0] >= 2) * STEPS_PER_BAR
  assert 1.5 <= notes_a_bar <= 10, notes_a_bar
