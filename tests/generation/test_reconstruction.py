"""One reconstruct path: its keys, its repeats, its agreement figure, and the callers that share it.

Run on the bundled cat-mel_2bar_small model and bundled Nottingham tunes, cut into windows as the
commands cut them (tests/cli/test_generate_cli.py checks that musicvae-reconstruct writes exactly
what this path returns for the same seed).
"""

import jax
import numpy as np
import pytest

from musicvae_jax import bundled_data
from musicvae_jax.generation import reconstruction
from musicvae_jax.generation.trained_model import TrainedModel

MELODY = bundled_data.midi_dir('melody')
TUNES = ('nottingham_hpps11.mid', 'nottingham_morris19.mid')  # 4 and 5 windows of 2 bars


@pytest.fixture(scope='module')
def model():
  return TrainedModel.from_workdir()


@pytest.fixture(scope='module')
def pieces(model):
  return [model.read_windows(MELODY / name).labels for name in TUNES]


def test_keys_are_the_documented_ones(model, pieces):
  """z = mu + sigma·ε with ε from fold_in(key, 1); reconstruction r of window j decodes with
  fold_in(key, r·N + j), i.e. the R copies of the codes decoded in one call under ``key``."""
  labels, key = pieces[0], jax.random.key(4)
  got = model.reconstruct_windows(labels, key=key, num_outputs=2, temperature=0.5,
                                  use_mean=False)
  z, mu, _ = model.encode_labels(labels, key=jax.random.fold_in(key, 1))
  assert not np.array_equal(z, mu)
  want = model.decode_labels(np.concatenate([z, z]), key=key, temperature=0.5)
  np.testing.assert_array_equal(got.labels, want.reshape((2,) + labels.shape))
  np.testing.assert_array_equal(got.inputs, labels)
  # From mu, the same decode keys.
  from_mu = model.reconstruct_windows(labels, key=key, num_outputs=2, temperature=0.5)
  want = model.decode_labels(np.concatenate([mu, mu]), key=key, temperature=0.5)
  np.testing.assert_array_equal(from_mu.labels, want.reshape((2,) + labels.shape))


def test_agreement_is_the_share_of_steps_equal_to_the_input(model, pieces):
  labels = pieces[1]
  # Temperature 2: at 1.0 the bundled model returns this tune exactly, every repeat.
  got = model.reconstruct_windows(labels, key=jax.random.key(1), num_outputs=3,
                                  temperature=2.0)
  assert len(got.agreement) == 3
  for mine, agree in zip(got.labels, got.agreement):
    assert agree == np.count_nonzero(mine == labels) / labels.size
  # A trained model gets most steps of a tune back; the repeats differ only by sampling.
  assert min(got.agreement) > 0.5, got.agreement
  assert not np.array_equal(got.labels[0], got.labels[1])


def test_greedy_repeats_are_identical_and_from_mu_are_the_greedy_decode(model, pieces):
  labels, key = pieces[0], jax.random.key(2)
  got = model.reconstruct_windows(labels, key=key, num_outputs=2, temperature=0)
  np.testing.assert_array_equal(got.labels[0], got.labels[1])
  _, mu, _ = model.encode_labels(labels)
  np.testing.assert_array_equal(got.labels[0],
                                model.decode_labels(mu, key=jax.random.key(9), temperature=0))


def test_each_input_has_its_own_key(model, pieces):
  """Input i is reconstructed under fold_in(key, i): another input beside it changes nothing."""
  key = jax.random.key(3)
  both = reconstruction.reconstruct_inputs(model, pieces, key=key, num_outputs=2,
                                           temperature=0.5, use_mean=False)
  for i, labels in enumerate(pieces):
    alone = model.reconstruct_windows(labels, key=jax.random.fold_in(key, i), num_outputs=2,
                                      temperature=0.5, use_mean=False)
    np.testing.assert_array_equal(both[i].labels, alone.labels)
    assert both[i].agreement == alone.agreement
  first = reconstruction.reconstruct_inputs(model, pieces[:1], key=key, num_outputs=2,
                                            temperature=0.5, use_mean=False)
  np.testing.assert_array_equal(first[0].labels, both[0].labels)


def test_reconstruct_of_note_sequences_is_the_same_path(model, pieces):
  """TrainedModel.reconstruct (one window per input) is reconstruct_windows of those windows."""
  windows = pieces[1][:3]
  sequences = model.to_note_sequences(windows)
  key = jax.random.key(6)
  for use_mean in (True, False):
    got = model.reconstruct(sequences, key=key, temperature=0.5, use_mean=use_mean)
    want = model.reconstruct_windows(model.to_labels(sequences), key=key, temperature=0.5,
                                      use_mean=use_mean)
    assert got == model.to_note_sequences(want.labels[0])


def test_a_reconstruction_joins_its_windows_into_one_piece(model, pieces):
  """Window k of the piece is window k of the reconstruction, shifted by k windows (4 s each)."""
  got = model.reconstruct_windows(pieces[1], key=jax.random.key(7), temperature=0)
  windows = model.to_note_sequences(got.labels[0])
  assert [w.total_time for w in windows] == [4.0] * len(pieces[1])  # 2 bars at 120 qpm
  want = sorted((n.pitch, round(n.start_time + 4.0 * k, 6), round(n.end_time + 4.0 * k, 6))
                for k, w in enumerate(windows) for n in w.notes)
  piece = model.to_piece(got.labels[0])
  assert sorted((n.pitch, round(n.start_time, 6), round(n.end_time, 6))
                for n in piece.notes) == want
  assert piece.total_time == pytest.approx(4.0 * len(pieces[1]))


def test_no_outputs_is_refused(model, pieces):
  with pytest.raises(ValueError, match='num_outputs=0'):
    model.reconstruct_windows(pieces[0], key=jax.random.key(0), num_outputs=0)
