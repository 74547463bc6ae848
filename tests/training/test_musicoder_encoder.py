"""The encoder seam: a melody MusicVAE whose encoder is a pretrained MusiCoder starts from the
pretrained transformer (head and decoder fresh), trains, and reconstructs real tunes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax.converters import midi_io
from musicvae_jax.models import musicoder
from musicvae_jax.training import loop

import musicoder_workdirs


@pytest.fixture(scope='module')
def pretrained(tmp_path_factory, shared_midi):
  return musicoder_workdirs.tiny_pretrained(tmp_path_factory.mktemp('musicoder'), shared_midi, 10)


def _config(pretrained, steps):
  config = config_lib.get_config('cat-mel_2bar_small:tiny')
  config.model.encoder = 'musicoder'
  config.train.update(init_from=str(pretrained), num_steps=steps)
  return config


def test_melody_classes_become_the_piano_roll_a_written_melody_gives(shared_midi):
  from musicvae_jax import converters  # pylint: disable=g-import-not-at-top
  from musicvae_jax.converters import pianoroll  # pylint: disable=g-import-not-at-top
  melody = converters.get_converter(config_boundary.data_spec(
      config_lib.get_config('cat-mel_2bar_small').data))
  frames = pianoroll.PianoRollConverter(slice_bars=2)
  path = sorted((shared_midi / 'melody').glob('nottingham_reels*.mid'))[0]
  for window in melody.extract(midi_io.read_midi(path)).windows[:6]:
    rolled = np.asarray(musicoder.melody_roll(jnp.asarray(window[None, :, 0])))[0]
    written = frames.extract(melody.from_labels(window)).windows
    expected = written[0] if written else np.zeros_like(rolled)
    np.testing.assert_array_equal(rolled >= 2, expected >= 2)  # the onsets
    np.testing.assert_array_equal(rolled >= 1, expected >= 1)  # and what sounds


def test_the_encoder_starts_from_the_pretrained_transformer(pretrained):
  from musicvae_jax.training import init_from  # pylint: disable=g-import-not-at-top
  run = config_boundary.run_spec(_config(pretrained, 5))
  assert run.model.encoder.kind == 'musicoder' and run.model.musicoder.width == 16
  session, state = loop.new_session(run)
  fresh = jax.device_get(state['params'])
  loaded = init_from.load(str(pretrained), run.model)
  placed = init_from.place(fresh, loaded)
  coder = jax.device_get(loop.restore_params(pretrained)[1])
  for a, b in zip(jax.tree.leaves(placed['encoder']['coder']), jax.tree.leaves(coder)):
    np.testing.assert_array_equal(a, b)
  assert jax.tree.structure(placed) == jax.tree.structure(fresh)
  for part in ('latent', 'decoder'):
    for a, b in zip(jax.tree.leaves(placed[part]), jax.tree.leaves(fresh[part])):
      np.testing.assert_array_equal(a, b)
  del session


def test_a_melody_vae_with_the_pretrained_encoder_trains_and_reconstructs(
    pretrained, melody_dataset, tmp_path, shared_midi):
  from musicvae_jax.generation import trained_model  # pylint: disable=g-import-not-at-top
  workdir = tmp_path / 'seam'
  loop.train_and_evaluate(_config(pretrained, 20), melody_dataset, workdir, progress=False)
  model = trained_model.TrainedModel.from_workdir(workdir)
  path = sorted((shared_midi / 'melody').glob('nottingham_reels*.mid'))[0]
  windows = np.stack(model.converter.extract(midi_io.read_midi(path)).windows[:4])
  z, mu, _ = model.encode_labels(windows)
  assert z.shape == (4, 8) and np.all(np.isfinite(z))
  assert not np.allclose(mu[0], mu[1])  # different bars of the tune, different codes
  decoded = np.asarray(model.decode_labels(mu, key=jax.random.PRNGKey(0), temperature=0))
  assert decoded.shape == windows.shape


def test_the_seam_says_what_it_needs():
  config = config_lib.get_config('cat-mel_2bar_small:tiny')
  config.model.encoder = 'musicoder'
  with pytest.raises(config_boundary.ModelConfigError, match='--config.train.init_from'):
    config_boundary.run_spec(config)
  drums = config_lib.get_config('cat-drums_2bar_small:tiny')
  drums.model.encoder = 'musicoder'
  with pytest.raises(config_boundary.ModelConfigError, match='one-part melody windows'):
    config_boundary.run_spec(drums)
