"""``train_and_evaluate(config, data_dir, workdir)``: the whole training run, resumable.

Re-running the same command on the same workdir resumes from the latest checkpoint: the
parameters, the optimizer, the step and the data iterator's position come back, and every
step's randomness is ``fold_in(seed key, step)``, so a run killed at any point and resumed ends
with the same parameters as one that never stopped.
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from musicvae_jax.distributed import host_data
from musicvae_jax.distributed import mesh as mesh_lib
from musicvae_jax.distributed import preemption
from musicvae_jax.input_pipeline import pipeline
from musicvae_jax.models import vae
from musicvae_jax.training import checkpointing
from musicvae_jax.training import evaluation
from musicvae_jax.training import metrics_io
from musicvae_jax.training import steps

DEVICE_KEYS = ('labels', 'lengths', 'mask')


class TrainingDiverged(RuntimeError):
  pass


class DataMismatchError(ValueError):
  pass


def check_data(spec: vae.ModelSpec, data_dir) -> dict:
  """The prepared dataset's description, after checking it fits the model."""
  try:
    info = pipeline.dataset_info(data_dir)
  except (FileNotFoundError, pipeline.DatasetError) as e:
    raise DataMismatchError(f'{data_dir}: {e}') from e
  depths = tuple(info.get('part_depths', ()))
  if info.get('T') != spec.max_seq_len or depths != spec.part_depths:
    raise DataMismatchError(
        f'{data_dir} was prepared with --config={info.get("config_name")} (windows of '
        f'{info.get("T")} steps, parts {list(depths)}); this model needs {spec.max_seq_len} '
        f'steps and parts {list(spec.part_depths)}. Prepare the MIDI again with this config.')
  return info


@dataclasses.dataclass
class Session:
  """What one process needs to run steps: model graph, jitted steps, shardings.

  ``train_step(state, batch, key)`` takes the step's key; ``keyed_step(state, batch, seed_key)``
  is the same step drawing its key as ``fold_in(seed_key, state['step'])`` on the device, which
  the training loop uses so that no per-step host work waits on the device.
  """
  spec: vae.ModelSpec
  loss_spec: steps.LossSpec
  graphdef: object
  mesh: jax.sharding.Mesh
  train_step: object
  eval_step: object
  state_sharding: object
  keyed_step: object = None
  is_finite: object = None

  def put(self, batch: dict) -> dict:
    """This process's share of a batch -> global arrays split along the mesh's batch axes."""
    return host_data.to_global(batch, self.mesh, DEVICE_KEYS)


def _place(state, shardings):
  """Host arrays -> global arrays; every process holds the same values and keeps its shards."""
  return jax.tree.map(
      lambda x, s: jax.make_array_from_callback(np.shape(x), s, lambda i: np.asarray(x)[i]),
      state, shardings)


def new_session(config, *, devices=None):
  """(session, freshly initialised state placed on the mesh)."""
  t = config.train
  spec = vae.spec_from_config(config)
  loss_spec = steps.LossSpec.from_config(config)
  dtype = steps.check_compute_dtype(t.get('compute_dtype', 'float32'))
  model = vae.build_model(spec, seed=int(t.seed))
  graphdef, state = steps.init_state(model)
  num_devices = len(jax.devices() if devices is None else devices)
  mesh = mesh_lib.make_mesh(devices, fsdp=mesh_lib.fsdp_size_of(t, num_devices))
  host_data.local_batch_size(int(t.batch_size), mesh)
  replicated = mesh_lib.replicated(mesh)
  state_sharding = mesh_lib.state_shardings(state, mesh)
  state = _place(state, state_sharding)
  options = dict(compute_dtype=None if dtype == np.float32 else dtype,
                 compute_sharding=replicated if mesh.shape[mesh_lib.FSDP] > 1 else None)
  raw_step = steps.make_train_step(graphdef, loss_spec, **options)
  batch_sharding = mesh_lib.batch_sharding(mesh)
  jit = functools.partial(jax.jit, donate_argnums=0,
                          in_shardings=(state_sharding, batch_sharding, replicated),
                          out_shardings=(state_sharding, replicated))
  train_step = jit(raw_step)
  keyed_step = jit(lambda s, b, k: raw_step(s, b, jax.random.fold_in(k, s['step'])))
  params_sharding = state_sharding['params']
  eval_step = jax.jit(steps.make_eval_step(graphdef, loss_spec, **options),
                      in_shardings=(params_sharding, batch_sharding, replicated, replicated),
                      out_shardings=replicated)
  is_finite = jax.jit(lambda tree: jax.tree.reduce(
      lambda a, x: a & jnp.all(jnp.isfinite(x)), tree, jnp.bool_(True)),
                      in_shardings=(params_sharding,), out_shardings=replicated)
  return Session(spec, loss_spec, graphdef, mesh, train_step, eval_step, state_sharding,
                 keyed_step, is_finite), state


def restore_params(session: Session, state, workdir, step=None):
  """The state of ``workdir``'s latest (or given) checkpoint, or None if it has none."""
  mgr = checkpointing.manager(workdir)
  if mgr.latest_step() is None:
    return None, None
  target = checkpointing.abstract(state, session.state_sharding)
  return checkpointing.restore(mgr, target, step)


def restore_workdir(workdir, *, step=None, devices=None):
  """(session, state, data position) of a workdir's checkpoint, placed on ``devices``' mesh.

  The config comes from the workdir's config.json; the checkpoint may have been written on any
  number of devices. The state is None when the workdir has no checkpoint yet.
  """
  config = checkpointing.load_config(workdir)
  session, state = new_session(config, devices=devices)
  restored, data_state = restore_params(session, state, workdir, step)
  return session, restored, data_state


def evaluate_splits(session: Session, params, data_dir, splits, *, key, step,
                    max_batches: int = 0, batch_size: int, progress: bool = False) -> dict:
  """Metrics per split; ``batch_size`` is global (each process reads its share)."""
  out = {}
  for split in splits:
    ds = pipeline.eval_dataset(data_dir,
                               batch_size=host_data.local_batch_size(batch_size, session.mesh),
                               split=split,
                               shard_index=jax.process_index(),
                               shard_count=jax.process_count())
    total = min(len(ds), max_batches) if max_batches else len(ds)
    bar = tqdm(total=total, desc=f'evaluate {split}', unit='batch', leave=False,
               disable=not progress or jax.process_index() != 0)
    out[split] = evaluation.run(session.eval_step, params, iter(ds), key=key,
                                step=step, put=session.put,
                                max_batches=max_batches, progress=bar)
    bar.close()
  return out


def _fingerprint(info: dict) -> dict:
  """What identifies a prepared dataset's records: a stored data position is only valid on it."""
  return dict(config=info.get('config_name'), splits=info.get('splits'))


def train_and_evaluate(config, data_dir, workdir, *, progress: bool = True, devices=None,
                       log=print) -> dict:
  """Trains to ``config.train.num_steps``; returns the last train and eval metrics.

  On SIGTERM (a preemption notice) the run saves a checkpoint after the step in flight and
  returns ``{'preempted_at': step}``; the same call then resumes from there.
  """
  workdir = pathlib.Path(workdir)
  lead = jax.process_index() == 0
  if not lead:
    log = lambda *a, **k: None  # only process 0 talks
  session, state = new_session(config, devices=devices)
  info = check_data(session.spec, data_dir)
  checkpointing.check_or_write_config(workdir, config, write=lead)
  t = config.train
  mgr = checkpointing.manager(workdir)
  it = pipeline.train_dataset(
      data_dir, batch_size=host_data.local_batch_size(int(t.batch_size), session.mesh),
      seed=int(t.seed),
      shard_index=jax.process_index(), shard_count=jax.process_count(),
      transpose_range=tuple(config.data.transpose_range)).__iter__()
  start = 0
  if mgr.latest_step() is not None:
    state, data_state = checkpointing.restore(
        mgr, checkpointing.abstract(state, session.state_sharding))
    if data_state is not None and 'iterator' not in data_state:  # written before fingerprints
      data_state = dict(iterator=data_state, dataset=_fingerprint(info))
    if data_state is not None and data_state.get('dataset') == _fingerprint(info):
      it.set_state(data_state['iterator'])
    elif data_state is not None:
      log(f'warning: {data_dir} is not the dataset the checkpoint was reading (its shards or '
          'counts differ); reading it from its start.')
    start = int(jax.device_get(state['step']))
    log(f'resuming {workdir} from step {start}')
  log(f'{config.name}: {mesh_lib.describe(session.mesh)}, batch {t.batch_size}, '
      f'steps {start} -> {t.num_steps}')
  if start >= t.num_steps:
    log(f'{workdir} is already at step {start} (train.num_steps={t.num_steps}); nothing to do. '
        'Raise --config.train.num_steps to train longer.')
    mgr.close()
    return {}
  writer = metrics_io.MetricsWriter(workdir, enabled=lead, resume_step=start)
  key = jax.random.PRNGKey(int(t.seed))
  seed_key = np.asarray(key)  # a host value: the same on every process, placed by the step
  eval_key = jax.random.fold_in(key, evaluation.EVAL_KEY_SALT)
  last = {}

  windows = {s: info['splits'].get(s, {}).get('windows', 0) for s in pipeline.SPLITS}
  eval_splits = tuple(s for s in pipeline.SPLITS if windows[s])
  eval_batches = int(t.get('eval_num_batches', 0) or 0)
  if not eval_batches:  # the whole eval split, and as many batches of the train split
    eval_batches = max(1, -(-(windows['eval'] or 4 * t.batch_size) // t.batch_size))

  def evaluate(step):
    splits = evaluate_splits(session, state['params'], data_dir, eval_splits,
                             key=eval_key, step=step, batch_size=t.batch_size,
                             max_batches=eval_batches, progress=progress)
    for split, m in splits.items():
      writer.write(step, f'eval_{split}', m)
    last.update({f'eval_{s}': m for s, m in splits.items()})

  def checkpoint(step):
    if not bool(jax.device_get(session.is_finite(state['params']))):
      raise TrainingDiverged(f'parameters are NaN/Inf at step {step}; not saving. The last '
                             f'good checkpoint (step {mgr.latest_step()}) is kept.')
    # One position is stored for all processes: each reads an equal share of the records in
    # lockstep, so their positions are the same, and this checks it.
    position = it.get_state()
    host_data.check_same_on_every_process(position, 'the data iterator position')
    checkpointing.save(mgr, step, state, dict(iterator=position, dataset=_fingerprint(info)))

  bar = tqdm(total=t.num_steps, initial=start, desc=config.name, unit='step',
             disable=not progress or not lead, dynamic_ncols=True)
  step, t0 = start, time.perf_counter()
  try:
    with preemption.PreemptionGuard() as guard:
      while step < t.num_steps:
        batch = session.put(next(it))
        state, metrics = session.keyed_step(state, batch, seed_key)
        step += 1
        bar.update(1)
        if step % t.log_every_steps == 0 or step == t.num_steps:
          metrics = jax.device_get(metrics)
          if not (np.isfinite(metrics['loss']) and np.isfinite(metrics['global_norm'])):
            raise TrainingDiverged(
                f'loss is {metrics["loss"]} at step {step} (global norm '
                f'{metrics["global_norm"]}). Stopped; the last good checkpoint (step '
                f'{mgr.latest_step()}) is kept in {workdir}. Try a lower '
                '--config.train.learning_rate or check the data.')
          metrics['steps_per_sec'] = t.log_every_steps / max(time.perf_counter() - t0, 1e-9)
          t0 = time.perf_counter()
          last['train'] = writer.write(step, 'train', metrics)
          bar.set_postfix(loss=f'{metrics["loss"]:.2f}', acc=f'{metrics["accuracy"]:.3f}')
        saved = step % t.checkpoint_every_steps == 0 or step == t.num_steps
        if saved:
          checkpoint(step)
        if guard.reached(step):
          if not saved:
            checkpoint(step)
          log(f'preempted: saved step {step} in {workdir}; run the same command to resume.')
          last['preempted_at'] = step
          break
        if step % t.eval_every_steps == 0 or step == t.num_steps:
          evaluate(step)
  finally:
    bar.close()
    writer.close()
    mgr.close()
  return last
