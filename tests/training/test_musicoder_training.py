"""MusiCoder's pretraining: the masks are what the config says, a hidden cell's label never
reaches the encoder, and a tiny run on real frames learns and resumes bit for bit."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax import errors
from musicvae_jax.converters import midi_io
from musicvae_jax.training import musicoder_family


def _run(name='musicoder:tiny', **overrides):
  config = config_lib.get_config(name)
  config.model.update(overrides)
  return config_boundary.run_spec(config)


def _real_windows(shared_midi, n=8):
  run = _run()
  from musicvae_jax import converters  # pylint: disable=g-import-not-at-top
  converter = converters.get_converter(run.data)
  windows = []
  for path in sorted((shared_midi / 'multitrack').glob('*.mid')):
    windows += converter.extract(midi_io.read_midi(path)).windows
    if len(windows) >= n:
      return np.stack(windows[:n])
  raise AssertionError('not enough windows')


@pytest.mark.parametrize('objectives', [('cfm',), ('ccm',), ('cfm', 'ccm')])
def test_masks_hide_runs_of_frames_and_bands_of_channels_as_configured(objectives):
  spec = _run(objectives=objectives).model
  m = spec.musicoder
  mask = np.asarray(musicoder_family.cell_mask(spec, jax.random.PRNGKey(0), 2000))
  frames = mask.all(axis=2)     # [B, T]: every channel hidden
  channels = mask.all(axis=1)   # [B, P]: every frame hidden
  if 'cfm' in objectives:
    assert abs(frames.mean() - m.frame_fraction) < 0.03
    # Hidden frames come in runs of at least frame_span, except where a run meets an edge.
    inner = frames[:, 1:-1]
    starts = inner & ~frames[:, :-2]
    lengths = [len(r) for row in frames for r in ''.join('x' if f else ' ' for f in row).split()]
    assert starts.any() and min(lengths) >= 1 and np.median(lengths) >= m.frame_span
  else:
    assert not frames.any()
  if 'ccm' in objectives:
    assert abs(channels.mean() - m.channel_fraction) < 0.05
  else:
    assert not channels.any()
  assert np.array_equal(mask, frames[:, :, None] | channels[:, None, :])


def test_a_hidden_cells_label_never_reaches_the_encoder(shared_midi):
  run = _run()
  fam = musicoder_family.MusiCoderFamily(run)
  model = fam.build(seed=0)
  windows = jnp.asarray(_real_windows(shared_midi))
  hidden = musicoder_family.cell_mask(run.model, jax.random.PRNGKey(3), windows.shape[0])
  assert 0 < int(hidden.sum()) < hidden.size
  scrambled = jnp.where(hidden, jax.random.randint(jax.random.PRNGKey(4), windows.shape, 0, 10),
                        windows).astype(windows.dtype)
  assert not np.array_equal(scrambled, windows)
  a = model.reconstruct(model.encode(windows, hidden))
  b = model.reconstruct(model.encode(scrambled, hidden))
  np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  # ... while an unhidden cell's label does change what the encoder sees.
  c = model.reconstruct(model.encode(scrambled, jnp.zeros_like(hidden)))
  assert not np.allclose(np.asarray(a), np.asarray(c))


def test_tiny_pretraining_learns_and_resumes_bit_for_bit(shared_midi, tmp_path):
  from musicvae_jax.input_pipeline import prepare  # pylint: disable=g-import-not-at-top
  from musicvae_jax.training import loop  # pylint: disable=g-import-not-at-top
  config = config_lib.get_config('musicoder:tiny')
  data = tmp_path / 'data'
  prepare.prepare(config_boundary.run_spec(config), shared_midi / 'multitrack', data, workers=1)
  config.train.update(num_steps=30, checkpoint_every_steps=10, eval_every_steps=30,
                      learning_rate=3e-3)
  loop.train_and_evaluate(config, data, tmp_path / 'whole', progress=False)
  config.train.num_steps = 10
  loop.train_and_evaluate(config, data, tmp_path / 'split', progress=False)
  config.train.num_steps = 30
  loop.train_and_evaluate(config, data, tmp_path / 'split', progress=False)
  read = lambda d: [json.loads(l) for l in (tmp_path / d / 'metrics.jsonl').read_text().split('\n')
                    if l]
  train = [m for m in read('whole') if m['split'] == 'train']
  assert train[-1]['loss'] < 0.7 * train[0]['loss']  # from ln(10) = 2.3 towards the silence rate
  whole = jax.device_get(loop.restore_params(tmp_path / 'whole')[1])
  split, at = loop.restore_params(tmp_path / 'split')[1:]
  assert at == 30
  for x, y in zip(jax.tree.leaves(whole), jax.tree.leaves(jax.device_get(split))):
    np.testing.assert_array_equal(x, y)


def test_a_pretrained_workdir_embeds_a_midi_file_window_by_window(shared_midi, tmp_path):
  from musicvae_jax.input_pipeline import prepare  # pylint: disable=g-import-not-at-top
  from musicvae_jax.musicoder import embedding  # pylint: disable=g-import-not-at-top
  from musicvae_jax.training import loop  # pylint: disable=g-import-not-at-top
  config = config_lib.get_config('musicoder:tiny')
  data = tmp_path / 'data'
  prepare.prepare(config_boundary.run_spec(config), shared_midi / 'multitrack', data, workers=1)
  config.train.num_steps = 10
  loop.train_and_evaluate(config, data, tmp_path / 'run', progress=False)
  embedder = embedding.Embedder.load(tmp_path / 'run')
  song = sorted((shared_midi / 'multitrack').glob('*.mid'))[0]
  windows = embedder.windows(song)
  vectors = embedder.embed(song)
  frames = embedder.embed(song, pool=False)
  assert vectors.shape == (len(windows), 16) and frames.shape == (len(windows), 64, 16)
  np.testing.assert_allclose(vectors, frames.mean(axis=1), rtol=1e-5, atol=1e-6)
  # Each window is embedded on its own: the same window alone gives the same vector.
  np.testing.assert_allclose(embedder.embed_windows(windows[1:2]), vectors[1:2], atol=1e-5)
  assert not np.allclose(vectors[0], vectors[1])
  with pytest.raises(errors.UserError, match='no window to embed'):
    embedder.embed(sorted((shared_midi / 'drums').glob('*.mid'))[0])
