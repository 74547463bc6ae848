"""TrainedModel on Magenta's real small checkpoints: determinism, batching, encode, interpolate.

The models are Magenta's own checkpoint fixtures (shared/reference/magenta_checkpoints) imported
into workdirs as a user would. Their weights are near initialisation, which does not matter here:
these tests check the maths and the contracts (keys, batching, the path's ends, round trips), not
the music.
"""

import copy
import warnings

import jax
import numpy as np
import pytest

from conftest import SHARED
from conftest import magenta_checkpoint
from musicvae_jax import bundled_data
from musicvae_jax.converters import midi_io
from musicvae_jax.converters import melody as melody_lib
from musicvae_jax.generation import inputs
from musicvae_jax.generation import interpolation
from musicvae_jax.generation import model_files
from musicvae_jax.generation.trained_model import TrainedModel
from musicvae_jax.magenta import importer

with warnings.catch_warnings():
  warnings.simplefilter('ignore', RuntimeWarning)
  from note_seq import sequences_lib

CHECKPOINTS = SHARED / 'reference' / 'magenta_checkpoints'
MELODY = bundled_data.midi_dir('melody')
TUNES = ('nottingham_reelsa-c14.mid', 'nottingham_hpps65.mid')  # 4/4, 120 qpm, 32 bars


def _import(tmp_path_factory, fixture, config):
  workdir = tmp_path_factory.mktemp(fixture) / 'workdir'
  importer.import_checkpoint(magenta_checkpoint(fixture), config, workdir, log=lambda *_: None)
  return workdir


@pytest.fixture(scope='module')
def mel2_dir(tmp_path_factory):
  return _import(tmp_path_factory, 'mel2', 'cat-mel_2bar_small')


@pytest.fixture(scope='module')
def model(mel2_dir):
  return TrainedModel.from_workdir(mel2_dir)


def _with_batch(model, max_batch_size):
  """The same model (same jitted functions and parameters) chunking at another batch size."""
  other = copy.copy(model)
  other.max_batch_size = max_batch_size
  return other


@pytest.fixture(scope='module')
def tunes():
  return [midi_io.read_midi(MELODY / name) for name in TUNES]


@pytest.fixture(scope='module')
def two_windows(tunes):
  """Two real 2-bar inputs: bars 1-2 of one tune and bars 5-6 of another."""
  return (sequences_lib.extract_subsequence(tunes[0], 0.0, 4.0),
          sequences_lib.extract_subsequence(tunes[1], 8.0, 12.0))


@pytest.fixture(scope='module')
def codes(model):
  return model.sample_z(70, key=jax.random.key(7))


def _canonical(labels_NxTx1):
  """Each window's canonical form (a NOTE_OFF that ends no note is NO_EVENT)."""
  return np.stack([melody_lib.canonical_melody_labels(w) for w in labels_NxTx1])


def _labels(model, note_sequences):
  return np.stack([model.converter.to_labels(ns) for ns in note_sequences])


def test_imported_workdir_reproduces_magenta_encode_and_greedy_decode(model):
  """From a workdir, the model encodes Magenta's batch to its mu and sigma and argmax-decodes
  Magenta's z to Magenta's greedy tokens."""
  with np.load(CHECKPOINTS / 'mel2' / 'reference.npz') as npz:
    ref = {k: npz[k] for k in ('target_classes', 'mu', 'sigma', 'z', 'greedy_tokens')}
  assert model.step == 3 and model.info['bundled'] is False
  z, mu, sigma = model.encode_labels(ref['target_classes'])
  np.testing.assert_allclose(mu, ref['mu'], rtol=0, atol=1e-5)
  np.testing.assert_allclose(sigma, ref['sigma'], rtol=0, atol=1e-5)
  np.testing.assert_array_equal(z, mu)
  tokens = model.decode_labels(ref['z'], key=jax.random.key(0), temperature=0)
  np.testing.assert_array_equal(tokens, ref['greedy_tokens'])


def test_same_key_same_music_other_key_other_music(model):
  key = jax.random.key(1)
  a = _labels(model, model.sample(8, key=key))
  b = _labels(model, model.sample(8, key=key))
  np.testing.assert_array_equal(a, b)
  c = _labels(model, model.sample(8, key=jax.random.key(2)))
  assert (a != c).mean() > 0.5
  # sample() is decode() of sample_z() with the same key.
  z = model.sample_z(8, key=key)
  np.testing.assert_array_equal(
      a, _canonical(model.decode_labels(z, key=key)))
  # The decode key alone changes the music at temperature 1.
  other = model.decode_labels(z, key=jax.random.key(3))
  assert (other != model.decode_labels(z, key=key)).mean() > 0.5


def test_output_does_not_depend_on_batching_or_padding(model, codes):
  """Output i draws on fold_in(key, i): 70 codes decode the same in chunks of 64 (64 + 6 padded
  to 8), of 8 (the last 6 padded to 8) and in one padded batch of 128."""
  key = jax.random.key(11)
  assert model.max_batch_size == 64
  ref = model.decode_labels(codes, key=key)
  assert ref.shape == (70, 32, 1)
  for size in (8, 128):
    np.testing.assert_array_equal(_with_batch(model, size).decode_labels(codes, key=key), ref)
  # A prefix of the codes gives the prefix of the outputs, and output i depends on code i only.
  np.testing.assert_array_equal(_with_batch(model, 8).decode_labels(codes[:16], key=key),
                                ref[:16])
  changed = codes.copy()
  changed[5:] = model.sample_z(65, key=jax.random.key(12))
  mixed = model.decode_labels(changed, key=key)
  np.testing.assert_array_equal(mixed[:5], ref[:5])
  assert not np.array_equal(mixed[5:], ref[5:])  # the codes do matter


def test_greedy_decoding_ignores_the_key(model, codes):
  a = model.decode_labels(codes[:8], key=jax.random.key(0), temperature=0)
  b = model.decode_labels(codes[:8], key=jax.random.key(99), temperature=0)
  np.testing.assert_array_equal(a, b)
  sampled = model.decode_labels(codes[:8], key=jax.random.key(0), temperature=1.0)
  assert not np.array_equal(a, sampled)
  # So a code decoded alone gives greedily what it gave inside the batch.
  alone = model.decode_labels(codes[5:6], key=jax.random.key(0), temperature=0)
  np.testing.assert_array_equal(alone[0], a[5])


def test_same_z_repeats_one_code_and_only_the_decode_key_varies(model):
  key = jax.random.key(4)
  z = model.sample_z(8, key=key, same_z=True)
  np.testing.assert_array_equal(z, np.repeat(model.sample_z(1, key=key), 8, axis=0))
  greedy = _labels(model, model.sample(8, key=key, temperature=0, same_z=True))
  assert all(np.array_equal(g, greedy[0]) for g in greedy)
  sampled = _labels(model, model.sample(8, key=key, same_z=True))
  assert len({s.tobytes() for s in sampled}) == 8


def test_negative_temperature_is_refused(model, codes):
  with pytest.raises(ValueError, match='temperature=-0.5'):
    model.decode_labels(codes[:2], key=jax.random.key(0), temperature=-0.5)
  with pytest.raises(ValueError, match='temperature'):
    model.sample(2, key=jax.random.key(0), temperature=-1.0)


def test_empty_batches(model):
  assert model.decode_labels(np.zeros((0, 16)), key=jax.random.key(0)).shape == (0, 32, 1)
  z, mu, sigma = model.encode_labels(np.zeros((0, 32, 1), np.int32))
  assert z.shape == mu.shape == sigma.shape == (0, 16)


def test_encode_without_key_is_mu_with_key_adds_sigma_scaled_noise(model, tunes):
  windows = np.concatenate([model.split_windows(t).labels for t in tunes])  # 32 real windows
  z, mu, sigma = model.encode(model.to_note_sequences(windows))
  np.testing.assert_array_equal(z, mu)
  assert np.all(sigma > 0)
  key = jax.random.key(5)
  z, mu2, sigma2 = model.encode_labels(windows, key=key)
  np.testing.assert_allclose(mu2, mu, rtol=0, atol=1e-6)
  assert np.all(z != mu2)
  eps = (z - mu2) / sigma2
  assert abs(eps.mean()) < 0.15 and 0.9 < eps.std() < 1.1  # 512 standard normal draws
  # The same key gives the same standard normal draw, scaled by each input's own sigma.
  z_rev, mu_rev, sigma_rev = model.encode_labels(windows[::-1], key=key)
  np.testing.assert_allclose((z_rev - mu_rev) / sigma_rev, eps, rtol=1e-4, atol=1e-5)
  z_other, _, _ = model.encode_labels(windows, key=jax.random.key(6))
  assert np.all(z_other != z)


def test_interpolation_ends_are_the_reconstructions(model, two_windows):
  a, b = two_windows
  key = jax.random.key(8)
  _, mu, _ = model.encode([a, b])
  assert not np.allclose(mu[0], mu[1])
  morph = model.interpolate(a, b, 8, key=key, temperature=0)
  assert len(morph) == 8
  recon = model.reconstruct([a, b], key=key, temperature=0)
  np.testing.assert_array_equal(_labels(model, morph[:1]), _labels(model, recon[:1]))
  np.testing.assert_array_equal(_labels(model, morph[-1:]), _labels(model, recon[1:]))
  # The path runs between the inputs' mu, exactly, and output i is decoded with fold_in(key, i).
  path = interpolation.path(mu[0], mu[1], 8)
  assert path[0].tobytes() == mu[0].tobytes() and path[-1].tobytes() == mu[1].tobytes()
  sampled = model.interpolate(a, b, 8, key=key, temperature=1.0)
  np.testing.assert_array_equal(
      _labels(model, sampled), _canonical(model.decode_labels(path, key=key)))
  lerp = model.interpolate(a, b, 8, key=key, method='lerp', temperature=1.0)
  np.testing.assert_array_equal(
      _labels(model, lerp),
      _canonical(model.decode_labels(
          interpolation.path(mu[0], mu[1], 8, 'lerp'), key=key)))


def test_reconstruct_from_mu_is_the_greedy_decode_of_mu(model, two_windows):
  key = jax.random.key(9)
  _, mu, _ = model.encode(list(two_windows))
  got = _labels(model, model.reconstruct(list(two_windows), key=key, temperature=0))
  np.testing.assert_array_equal(
      got, _canonical(model.decode_labels(mu, key=key, temperature=0)))
  # From a posterior sample instead of mu, the same key reproduces it.
  post = [_labels(model, model.reconstruct(list(two_windows), key=key, use_mean=False))
          for _ in range(2)]
  np.testing.assert_array_equal(post[0], post[1])


def test_to_labels_takes_one_window_per_input(model, tunes, two_windows):
  np.testing.assert_array_equal(model.to_labels(list(two_windows)),
                                _labels(model, two_windows))
  with pytest.raises(inputs.UnencodableInput) as err:
    model.to_labels([two_windows[0], tunes[1]])
  assert err.value.source == 'input 1' and '16 windows of 2 bars' in err.value.reason


def test_sampled_melodies_round_trip_through_the_converter(model, codes):
  """Decoded NoteSequences encode back to the sampled labels, in the converter's canonical form
  (a NOTE_OFF that ends no note reads back as NO_EVENT)."""
  labels = model.decode_labels(codes[:8], key=jax.random.key(10))
  assert np.any(labels >= 2) and np.any(labels == 1)
  canonical = _canonical(labels)
  sequences = model.to_note_sequences(labels)
  assert all(len(ns.notes) > 0 and ns.total_time == 4.0 for ns in sequences)
  np.testing.assert_array_equal(_labels(model, sequences), canonical)
  np.testing.assert_array_equal(model.to_labels(sequences), canonical)


def test_sampled_drums_round_trip_exactly(tmp_path_factory):
  drums = TrainedModel.from_workdir(_import(tmp_path_factory, 'drums2', 'cat-drums_2bar_small'))
  key = jax.random.key(13)
  labels = drums.decode_labels(drums.sample_z(8, key=key), key=key)
  assert labels.shape == (8, 32, 1) and labels.max() < 512 and np.any(labels > 0)
  sequences = drums.decode(drums.sample_z(8, key=key), key=key)
  assert all(n.is_drum for ns in sequences for n in ns.notes)
  np.testing.assert_array_equal(drums.to_labels(sequences), labels)


def test_float16_export_loads_and_decodes_like_float32(model, mel2_dir, tmp_path):
  out = model_files.export(mel2_dir, tmp_path / 'fp16')
  half = TrainedModel.from_workdir(out)
  assert half.step == model.step == 3 and half.info['dtype'] == 'float16'
  assert half.info['bundled'] is False
  full, half_params = dict(model_files._flat(model.params)), dict(model_files._flat(half.params))
  assert full.keys() == half_params.keys()
  rounded = 0
  for name, value in full.items():
    value = np.asarray(value)
    assert half_params[name].dtype == value.dtype == np.float32, name
    # Exactly the float16 rounding of each parameter, nothing else.
    np.testing.assert_array_equal(half_params[name], value.astype(np.float16).astype(np.float32))
    rounded += int(np.sum(half_params[name] != value))
  assert rounded > 1000
  codes = model.sample_z(64, key=jax.random.key(14))
  key = jax.random.key(15)
  a = model.decode_labels(codes, key=key, temperature=0)
  b = half.decode_labels(codes, key=key, temperature=0)
  token_agreement = (a == b).mean()
  sequence_agreement = np.all(a == b, axis=(1, 2)).mean()
  print(f'float16 vs float32 greedy: {token_agreement:.1%} of tokens, '
        f'{sequence_agreement:.1%} of sequences identical')
  assert token_agreement >= 0.9 and sequence_agreement >= 0.75


def test_bundled_model_loads():
  model_files.bundled_model_dir()  # data/ ships one: a missing one raises here, naming where
  model = TrainedModel.from_workdir(None)
  assert model.info['bundled'] is True
  labels = model.decode_labels(model.sample_z(2, key=jax.random.key(0)),
                               key=jax.random.key(0), temperature=0)
  assert labels.shape == (2, model.spec.max_seq_len, 1)


def test_decoding_split_over_eight_devices_gives_what_one_device_gives():
  one = TrainedModel.from_workdir(devices=jax.devices()[:1])
  eight = TrainedModel.from_workdir(devices=jax.devices())
  assert (one.num_devices, eight.num_devices) == (1, 8)
  z = one.sample_z(11, key=jax.random.key(5))  # 11: padded to 16, two rows per device
  for temperature in (0.0, 0.5):
    a = one.decode_labels(z, key=jax.random.key(6), temperature=temperature)
    b = eight.decode_labels(z, key=jax.random.key(6), temperature=temperature)
    assert a.shape == (11, one.spec.max_seq_len, 1)
    np.testing.assert_array_equal(a, b)
  labels = one.to_labels(one.decode(z[:3], key=jax.random.key(7), temperature=0.0))
  for x, y in zip(one.encode_labels(labels), eight.encode_labels(labels)):
    np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
  assert len(eight._decode(eight.params, np.zeros((8, eight.spec.z_size), np.float32),
                           jax.random.split(jax.random.key(0), 8), np.float32(1.0),
                           True).sharding.device_set) == 8
