"""hier-multiperf windows through the shared training step: the MusicVAE family's loss, the
jitted ``steps.make_train_step``, Adam, a few steps on one batch.

The batches are the Magenta fixture's four real-shaped windows (8 track slots of 64 rows, label
-1 on the padding rows) and, where the multiperf converter is registered, windows it extracts
from the shared multitrack MIDI files. The model is a tiny one of hier-multiperf's structure
(hierarchical encoder [64, 8], hierarchical decoder [8, 64], 490 classes).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import magenta_checkpoint
from conftest import require_shared
from musicvae_jax import specs
from musicvae_jax.training import family
from musicvae_jax.training import musicvae_family
from musicvae_jax.training import optimizer
from musicvae_jax.training import steps

CONFIG = 'hier-multiperf_vel_1bar_med'
STEPS = 10


def tiny_run(chords=False) -> specs.RunSpec:
  model = specs.ModelSpec(
      heads=(specs.Head('categorical', 490),), input=specs.StepInput('one_hot', 490),
      encoder=specs.EncoderSpec('hierarchical_lstm', (16,), level_lengths=(64, 8)),
      decoder=specs.DecoderSpec('hierarchical', (16, 16), (8, 64)), z_size=8, seq_len=512,
      controls=(specs.Control('chords', 49),) if chords else ())
  return specs.RunSpec(name='multiperf-tiny',
                       data=specs.DataSpec(converter='multiperf', slice_bars=1), model=model,
                       loss=specs.LossSpec(free_bits=0.0, max_beta=1.0, beta_rate=0.0),
                       train=specs.TrainSpec(batch_size=4, learning_rate=1e-2, seed=0))


def reference_windows():
  with np.load(magenta_checkpoint('multiperf') / 'reference.npz') as npz:
    return npz['target_classes'].astype(np.int16)  # [4, 512, 1], -1 on padding rows


def batch_of(windows):
  windows = jnp.asarray(windows)
  b, t = windows.shape[:2]
  return dict(labels=windows, lengths=jnp.full((b,), t, jnp.int32),
              mask=jnp.ones((b, t), jnp.float32))


def train(run, batch, num_steps=STEPS):
  """Metrics of ``num_steps`` jitted steps on one batch, and how often the step was traced."""
  fam = family.for_spec(run)
  assert isinstance(fam, musicvae_family.MusicVAEFamily)
  tx = optimizer.make(run.train)
  graphdef = steps.graph_of(fam)
  state = jax.jit(steps.make_init(fam, tx, run.train.seed))()
  traces = []

  def counted(state, batch, key):
    traces.append(1)  # runs only while tracing
    return steps.make_train_step(graphdef, fam, tx)(state, batch, key)

  train_step = jax.jit(counted)
  history = []
  for i in range(num_steps):
    state, metrics = train_step(state, batch, jax.random.key(i))
    history.append({k: float(v) for k, v in metrics.items()})
  return history, len(traces)


def check_training(history, traces, batch):
  for m in history:
    for k, v in m.items():
      assert np.isfinite(v), k
    assert 0.0 <= m['accuracy'] <= 1.0
  assert traces == 1, 'the train step was traced again'
  losses = [m['loss'] for m in history]
  assert losses[-1] < losses[0] * 0.9, losses
  # The loss is a sum over valid rows only: far below 512 rows of log(490) each.
  valid = int(np.sum(np.asarray(batch['labels'])[..., 0] >= 0))
  assert losses[0] < 1.2 * valid * np.log(490), (losses[0], valid)


def test_training_on_the_reference_windows():
  batch = batch_of(reference_windows())
  history, traces = train(tiny_run(), batch)
  check_training(history, traces, batch)


def test_chord_variant_trains():
  windows = reference_windows()
  chords = np.random.default_rng(0).integers(0, 49, windows.shape[:2] + (1,)).astype(np.int16)
  chords[windows < 0] = -1  # the converter's chord on a padding row
  batch = batch_of(np.concatenate([windows, chords], -1))
  history, traces = train(tiny_run(chords=True), batch, num_steps=4)
  for m in history:
    assert all(np.isfinite(v) for v in m.values())
  assert traces == 1
  assert history[-1]['loss'] < history[0]['loss']


def test_training_on_converted_multitrack_windows(shared_midi):
  """Windows the multiperf converter cuts from real multitrack MIDI files train the same way."""
  try:
    from musicvae_jax.converters import multiperf  # pylint: disable=import-outside-toplevel
  except ImportError:
    pytest.skip('the multiperf converter is not there yet')
  from musicvae_jax.converters import midi_io  # pylint: disable=import-outside-toplevel
  converter = multiperf.MultiPerformanceConverter()  # hier-multiperf_vel_1bar_*'s options
  folder = shared_midi / 'multitrack'
  require_shared(folder / 'MANIFEST.csv')
  windows = []
  for path in sorted(folder.glob('*.mid')):
    windows.extend(np.asarray(w) for w in converter.extract(midi_io.read_midi(path)).windows)
    if len(windows) >= 8:
      break
  assert len(windows) >= 4
  picked = np.stack(windows[:8:2]).astype(np.int16)
  assert picked.shape == (4, 512, 1)
  assert (picked >= -1).all() and (picked < 490).all() and (picked == -1).any()
  batch = batch_of(picked)
  history, traces = train(tiny_run(), batch)
  check_training(history, traces, batch)
