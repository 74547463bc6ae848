"""One training command on 1 device, on 8 (data parallel), with FSDP, in bfloat16; N -> M restore.

Every run is the real ``train_and_evaluate`` on real melodies (40 Nottingham reels) for 20
steps, so the comparisons cover the data pipeline, the sharded steps and the Orbax checkpoints.
"""

import collections
import os
import subprocess

import jax
import numpy as np
import pytest

from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax.distributed import mesh as mesh_lib
from musicvae_jax.input_pipeline.prepare import prepare
from musicvae_jax import checkpointing
from musicvae_jax.training import loop
from musicvae_jax.training import metrics_io

from tests import cli_process

FLAT = 'cat-mel_2bar_small:tiny'
HIER = 'hierdec-mel_16bar:tiny'
STEPS = 20
# 1 and 8 devices sum the batch's gradients in different orders (float32 rounding); Adam's
# normalised updates carry those differences into the parameters at ~1e-6 after 20 steps.
PARAM_ATOL = 2e-5
LOSS_RTOL = 1e-5


@pytest.fixture(scope='module')
def datasets(tmp_path_factory, melody_dataset, shared_midi):
  """{config: prepared dataset}: 2-bar windows (conftest) and 16-bar windows of the same reels."""
  import shutil  # pylint: disable=import-outside-toplevel
  src = tmp_path_factory.mktemp('reels16')
  for p in sorted(shared_midi.joinpath('melody').glob('nottingham_reels*.mid'))[:40]:
    shutil.copy(p, src / p.name)
  config = config_lib.get_config(HIER)
  config.data.eval_fraction = 0.25
  out = tmp_path_factory.mktemp('prepared16') / 'reels16'
  prepare(config_boundary.run_spec(config), src, out, workers=1, progress=False)
  return {FLAT: melody_dataset, HIER: out}


def _config(name, **train):
  config = config_lib.get_config(name)
  config.train.num_steps = STEPS
  config.train.checkpoint_every_steps = STEPS
  config.train.eval_every_steps = STEPS
  config.train.eval_num_batches = 1
  config.train.log_every_steps = 5
  config.train.update(train)
  return config


class Runs:
  """Each distinct run once per module: {(config, devices, train overrides): workdir}."""

  def __init__(self, root, datasets):
    self.root, self.datasets, self.done = root, datasets, {}

  def __call__(self, name, num_devices=8, **train):
    key = (name, num_devices, tuple(sorted(train.items())))
    if key not in self.done:
      workdir = self.root / f'run{len(self.done)}'
      lines = []
      loop.train_and_evaluate(_config(name, **train), self.datasets[name], workdir,
                              progress=False, devices=jax.devices()[:num_devices],
                              log=lines.append)
      self.done[key] = (workdir, lines)
    return self.done[key]


@pytest.fixture(scope='module')
def runs(tmp_path_factory, datasets):
  return Runs(tmp_path_factory.mktemp('runs'), datasets)


def _restored(workdir, devices=None):
  session, restored, _ = loop.restore_workdir(workdir, devices=devices)
  return session, restored


def _assert_close(a, b, atol):
  leaves_a, tree_a = jax.tree.flatten(jax.device_get(a))
  leaves_b, tree_b = jax.tree.flatten(jax.device_get(b))
  assert tree_a == tree_b
  worst = max(float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))))
              for x, y in zip(leaves_a, leaves_b))
  assert worst <= atol, f'parameters differ by up to {worst:.3g} (tolerance {atol:.1g})'
  return worst


def _losses(workdir):
  return [(r['step'], r['loss']) for r in metrics_io.read_metrics(workdir)
          if r['split'] == 'train']


@pytest.mark.parametrize('name', [FLAT, HIER])
def test_eight_devices_match_one(runs, name):
  one, _ = runs(name, num_devices=1)
  eight, log = runs(name, num_devices=8)
  assert '1 process, 8 devices (cpu), mesh data=8 fsdp=1' in ' '.join(log)
  _, a = _restored(one)
  _, b = _restored(eight)
  assert int(a['step']) == int(b['step']) == STEPS
  _assert_close(a['params'], b['params'], PARAM_ATOL)
  la, lb = _losses(one), _losses(eight)
  assert [s for s, _ in la] == [s for s, _ in lb] == [5, 10, 15, 20]
  np.testing.assert_allclose([l for _, l in la], [l for _, l in lb], rtol=LOSS_RTOL)
  assert lb[-1][1] < lb[0][1]  # and it learns


@pytest.mark.parametrize('name,fsdp_size,mesh', [(FLAT, -1, 'data=1 fsdp=8'),
                                                 (HIER, 4, 'data=2 fsdp=4')])
def test_fsdp_matches_replicated_parameters(runs, name, fsdp_size, mesh):
  plain, _ = runs(name)
  sharded, log = runs(name, fsdp=True, fsdp_size=fsdp_size)
  assert f'8 devices (cpu), mesh {mesh}' in ' '.join(log)
  session, b = _restored(sharded)
  # The state really is split: most of it lives on fsdp shards, not on every device.
  assert mesh_lib.sharded_fraction(b, session.state_sharding) > 0.9
  kernel = max(jax.tree.leaves(b['params']), key=lambda x: x.size)
  assert kernel.sharding.spec != jax.sharding.PartitionSpec()
  assert len({s.data.shape for s in kernel.addressable_shards}) == 1
  assert kernel.addressable_shards[0].data.size * session.mesh.shape['fsdp'] == kernel.size
  _, a = _restored(plain)
  _assert_close(a['params'], b['params'], PARAM_ATOL)
  np.testing.assert_allclose([l for _, l in _losses(plain)], [l for _, l in _losses(sharded)],
                             rtol=LOSS_RTOL)


def test_checkpoint_from_eight_devices_restores_on_one(runs):
  workdir, _ = runs(FLAT, fsdp=True)
  _, on_eight = _restored(workdir)
  session, on_one = _restored(workdir, devices=jax.devices()[:1])
  assert session.mesh.devices.size == 1
  for x, y in zip(jax.tree.leaves(on_eight), jax.tree.leaves(on_one)):
    assert len(y.sharding.device_set) == 1
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
  # A process that has one device (a laptop) samples from it and resumes training on it.
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=1')
  out = workdir.parent / 'samples_one_device'
  proc = subprocess.run(cli_process.argv('musicvae-sample', f'--workdir={workdir}',
                                         '--num_outputs=2', f'--output_dir={out}', '--seed=3'),
                        capture_output=True, text=True, env=env, timeout=600, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert len(list(out.glob('*.mid'))) == 2 and len(list(out.glob('*.png'))) == 2
  proc = subprocess.run(cli_process.argv('musicvae-train', f'--workdir={workdir}',
                                         f'--data={runs.datasets[FLAT]}', '--progress=false',
                                         f'--config={FLAT}', '--config.train.fsdp=True',
                                         f'--config.train.num_steps={STEPS + 5}',
                                         '--config.train.eval_every_steps=1000'),
                        capture_output=True, text=True, env=env, timeout=600, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'resuming' in proc.stdout and '1 device (cpu), mesh data=1 fsdp=1' in proc.stdout
  assert checkpointing.manager(workdir).latest_step() == STEPS + 5


def _dot_dtypes(config, data):
  """Result element types of the train step's matrix products, as the program asks for them.

  (Read before XLA's own passes: the CPU backend runs bfloat16 products in float32.)
  """
  session, state = loop.new_session(config_boundary.run_spec(config))
  batch = session.put(next(iter(
      loop.pipeline.eval_dataset(data, batch_size=config.train.batch_size))))
  text = session.train_step.lower(state, batch, np.zeros(2, np.uint32)).as_text()
  return collections.Counter(line.rsplit('x', 1)[-1].rstrip('>').strip()
                             for line in text.splitlines() if 'stablehlo.dot_general' in line
                             for line in [line.rsplit('->', 1)[-1]])


def test_bfloat16_compute_keeps_float32_parameters_and_learns(runs, datasets):
  f32 = _dot_dtypes(_config(FLAT), datasets[FLAT])
  bf16 = _dot_dtypes(_config(FLAT, compute_dtype='bfloat16'), datasets[FLAT])
  assert set(f32) == {'f32'}, f32
  # Forward and backward products in bfloat16; float32 only where a loss or sum needs it.
  assert bf16['bf16'] > 2 * bf16['f32'], bf16
  plain, _ = runs(FLAT)
  mixed, _ = runs(FLAT, compute_dtype='bfloat16')
  _, state = _restored(mixed)
  assert {x.dtype for x in jax.tree.leaves(state['params'])} == {np.dtype(np.float32)}
  la, lb = [l for _, l in _losses(plain)], [l for _, l in _losses(mixed)]
  assert lb[-1] < lb[0]
  np.testing.assert_allclose(lb, la, rtol=0.02)  # bfloat16 rounding, not another model


def test_a_mesh_that_does_not_fit_is_refused_with_the_fix():
  config = _config(FLAT, fsdp=True, fsdp_size=3)
  with pytest.raises(mesh_lib.MeshError, match='fsdp_size=3 does not divide the 8 devices'):
    loop.new_session(config_boundary.run_spec(config))
  config = _config(FLAT, batch_size=12)
  with pytest.raises(ValueError, match='batch_size=12 does not split evenly over 8 devices'):
    loop.new_session(config_boundary.run_spec(config))
  with pytest.raises(ValueError, match="compute_dtype='float16'"):
    loop.new_session(config_boundary.run_spec(_config(FLAT, compute_dtype='float16')))


def test_state_sharding_rule_splits_the_largest_divisible_axis():
  mesh = mesh_lib.make_mesh(jax.devices(), fsdp=4)
  assert dict(mesh.shape) == {'data': 2, 'fsdp': 4}
  state = dict(w=np.zeros((48, 512)), odd=np.zeros((33, 35)), bias=np.zeros(512),
               step=np.zeros(()))
  specs = jax.tree.map(lambda s: tuple(s.spec), mesh_lib.state_shardings(state, mesh))
  assert specs == dict(w=(None, 'fsdp'), odd=(), bias=('fsdp',), step=())
  assert config_boundary.run_spec(_config(FLAT, compute_dtype='bfloat16')).train.compute_dtype \
      == 'bfloat16'

