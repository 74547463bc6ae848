"""Every config's ':tiny' variant trains and evaluates, sharded over the 8 fake CPU devices."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax.converters import dmelodies
from musicvae_jax.input_pipeline import groove_examples
from musicvae_jax.training import loop

import magenta_reference

FOLDERS = {'melody': 'melody', 'drums': 'drums', 'trio': 'multitrack', 'groove': 'drums',
           'multiperf': 'multitrack', 'pianoroll': 'multitrack'}


def _real_batch(config, shared_midi, batch_size):
  """``batch_size`` real windows of the config's converter from the shared MIDI set, as the
  pipeline batches them (GrooVAE: inputs, targets and controls derived from the windows)."""
  converter = config_boundary.converter_of(config)
  kind = config.data.converter
  if kind == 'chordkey':   # beats of real POP909 songs, with their labels
    from musicvae_jax.training import chordkey_family  # pylint: disable=g-import-not-at-top
    songs = sorted((shared_midi.parent / 'pop909' / 'songs').iterdir())
    windows = [w for song in songs[:4]
               for w in converter.extract_file(song / f'{song.name}.mid').windows]
    make = chordkey_family.ChordKeyExamples(1.0)
    examples = [make({'labels': w, 'source': np.int64(0), 'window': np.int64(0)}, None)
                for w in windows[:batch_size]]
    return {k: np.stack([e[k] for e in examples]) for k in examples[0]}
  if kind == 'dmelodies':  # generated from its rules: every 1000th item of the full set
    tokens = dmelodies.generate(range(0, 1000 * batch_size, 1000)).tokens
    return dict(labels=tokens[..., None], lengths=np.full((batch_size,), 16, np.int32),
                mask=np.ones((batch_size, 16), np.float32))
  windows = []
  # Groove MIDI performances: one window from each, so the batch spans drummers and styles.
  paths = sorted((shared_midi / FOLDERS[kind]).glob('gmd_*.mid' if kind == 'groove' else '*.mid'))
  for path in paths:
    found = converter.extract(magenta_reference.note_sequence(str(path))).windows
    windows += found[:1] if kind == 'groove' else found
    if len(windows) >= batch_size:
      break
  if kind == 'groove':
    return groove_examples.batch_of(converter, windows[:batch_size], np.random.default_rng(0))
  labels = np.stack(windows[:batch_size]).astype(np.int32)
  t = labels.shape[1]
  return dict(labels=labels, lengths=np.full((batch_size,), t, np.int32),
              mask=np.ones((batch_size, t), np.float32))


@pytest.mark.parametrize('name', config_lib.config_names())
def test_tiny_config_trains_on_8_devices(name, shared_midi):
  config = config_lib.get_config(f'{name}:tiny')
  session, state = loop.new_session(config_boundary.run_spec(config))
  assert session.mesh.devices.size == 8
  batch = session.put(_real_batch(config, shared_midi, config.train.batch_size))
  first = batch[session.family.batch_keys[0]]
  assert first.sharding.spec[0] == ('data', 'fsdp')  # one example per device
  assert len({s.index[0].start for s in first.addressable_shards}) == 8
  key = jax.random.PRNGKey(0)
  before = jax.device_get(state['params'])
  losses = []
  for step in range(3):
    state, metrics = session.train_step(state, batch, key)  # key folded with the step
    losses.append(float(metrics['loss']))
  assert int(state['step']) == 3 and all(np.isfinite(losses))
  after = jax.device_get(state['params'])
  moved = {path: not np.array_equal(a, b) for (path, a), b in zip(
      jax.tree_util.tree_leaves_with_path(before), jax.tree.leaves(after))}
  if config.model.get('stage1_steps'):  # TS-DSAE's stage 1: v's encoder and the decoder only
    trained = ('v_encoder', 'decoder', 'out')
    assert all(m == (jax.tree_util.keystr(p).split("'")[1] in trained) for p, m in moved.items())
  else:
    assert all(moved.values()), 'every parameter gets a gradient'
  sums = jax.device_get(session.eval_step(state['params'], batch, key, jnp.int32(3)))
  assert sums['examples'] == config.train.batch_size
  if config.model.get('family') == 'dsae':
    t = config.data.slice_bars * config.data.steps_per_quarter * 4
    assert 0 <= sums['hits'] <= sums['steps'] == config.train.batch_size * t
  elif config.model.get('family') == 'musicoder':
    hidden_max = config.train.batch_size * config.data.slice_bars * 16 * 88
    assert 0 < sums['cells'] < hidden_max and 0 <= sums['hits'] <= sums['cells']
    assert 0 <= sums['found'] <= min(sums['onsets'], sums['said'])
  elif config.model.get('family') == 'chordkey':
    assert sums['beats'] == np.asarray(batch['mask']).sum() > 0
    assert 0 < sums['majmin_num'] <= sums['majmin_den'] <= sums['seconds']
    assert 0 <= sums['chord_hits'] <= sums['beats']
  elif config.data.converter == 'groove':
    t = config.data.slice_bars * 16
    assert sums['cells'] == config.train.batch_size * t * 9
    assert sums['played_hits'] == np.asarray(batch['targets'])[..., :9].sum() > 0
    assert 0 <= sums['hits_right'] <= sums['cells']
  else:
    assert 0 <= sums['teacher_forced_hits'].sum() <= sums['steps'] * len(sums['sampled_hits'])
