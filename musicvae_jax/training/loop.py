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

from musicvae_jax import checkpointing
from musicvae_jax import config_boundary
from musicvae_jax import progress as progress_bars
from musicvae_jax import specs
from musicvae_jax.distributed import host_data
from musicvae_jax.distributed import mesh as mesh_lib
from musicvae_jax.distributed import preemption
from musicvae_jax.input_pipeline import pipeline
from musicvae_jax.training import evaluation
from musicvae_jax.training import family as family_lib
from musicvae_jax.training import init_from
from musicvae_jax.training import metrics_io
from musicvae_jax.training import optimizer
from musicvae_jax.training import steps


class TrainingDiverged(RuntimeError):
  pass


def check_data(run: specs.RunSpec, data_dir) -> dict:
  """The prepared dataset's description, after the model family checked it fits."""
  return family_lib.for_spec(run).check_dataset(data_dir)


@dataclasses.dataclass
class Session:
  """What one process needs to run steps: the family, the graph, jitted steps, shardings.

  ``train_step(state, batch, seed_key)`` draws the step's key as ``fold_in(seed_key,
  state['step'])`` on the device, so no per-step host work waits on the device.
  """
  run: specs.RunSpec
  family: family_lib.Family
  graphdef: object
  mesh: jax.sharding.Mesh
  train_step: object
  eval_step: object
  state_sharding: object
  is_finite: object
  initialize: object  # () -> a fresh state, each device computing only its own shards

  @property
  def spec(self) -> specs.ModelSpec:
    return self.run.model

  def put(self, batch: dict) -> dict:
    """This process's share of a batch -> global arrays split along the mesh's batch axes."""
    return host_data.to_global(batch, self.mesh, self.family.batch_keys)


def new_session(run: specs.RunSpec, *, devices=None, initialize: bool = True):
  """(session, freshly initialised state on the mesh, or its abstract shapes).

  The state is initialised by one jitted call whose ``out_shardings`` are the state's
  shardings, so every device computes only its own shards and no host holds the whole state.
  With ``initialize=False`` only the shapes are traced (for a restore).
  """
  t = run.train
  fam = family_lib.for_spec(run)
  dtype = jnp.dtype(t.compute_dtype)
  tx = optimizer.make(t)
  graphdef = steps.graph_of(fam)
  num_devices = len(jax.devices() if devices is None else devices)
  mesh = mesh_lib.make_mesh(devices, fsdp=t.fsdp_devices(num_devices))
  host_data.local_batch_size(t.batch_size, mesh)
  replicated = mesh_lib.replicated(mesh)
  init = steps.make_init(fam, tx, t.seed)
  abstract = jax.eval_shape(init)
  state_sharding = mesh_lib.state_shardings(abstract, mesh)
  initial = jax.jit(init, out_shardings=state_sharding)
  options = dict(compute_dtype=None if dtype == np.float32 else dtype,
                 compute_sharding=replicated if mesh.shape[mesh_lib.FSDP] > 1 else None)
  raw_step = steps.make_train_step(graphdef, fam, tx, **options)
  batch_sharding = mesh_lib.batch_sharding(mesh)
  train_step = jax.jit(lambda s, b, k: raw_step(s, b, jax.random.fold_in(k, s['step'])),
                       donate_argnums=0,
                       in_shardings=(state_sharding, batch_sharding, replicated),
                       out_shardings=(state_sharding, replicated))
  params_sharding = state_sharding['params']
  eval_step = jax.jit(steps.make_eval_step(graphdef, fam, **options),
                      in_shardings=(params_sharding, batch_sharding, replicated, replicated),
                      out_shardings=replicated)
  is_finite = jax.jit(lambda tree: jax.tree.reduce(
      lambda a, x: a & jnp.all(jnp.isfinite(x)), tree, jnp.bool_(True)),
                      in_shardings=(params_sharding,), out_shardings=replicated)
  session = Session(run, fam, graphdef, mesh, train_step, eval_step, state_sharding,
                    is_finite, initial)
  return session, (initial() if initialize else checkpointing.abstract(abstract, state_sharding))


def _resume(session: Session, mgr, abstract):
  """(state, data position) of the latest checkpoint, also one written before the optimiser
  was one optax chain (its state then held Adam's moments alone; see ``optimizer.upgrade``)."""
  try:
    return checkpointing.restore(mgr, abstract)
  except checkpointing.WorkdirError as error:
    tx = optimizer.make(session.run.train)
    legacy = jax.eval_shape(lambda p: optimizer.legacy_adam().init(p), abstract['params'])
    target = dict(abstract, opt_state=checkpointing.abstract(
        legacy, mesh_lib.state_shardings(legacy, session.mesh)))
    try:
      old, data_state = checkpointing.restore(mgr, target)
    except checkpointing.WorkdirError:
      raise error from None  # not a legacy checkpoint either: the first refusal stands
    upgrade = jax.jit(lambda s: dict(s, opt_state=optimizer.upgrade(
        tx, s['params'], s['opt_state'], s['step'])), out_shardings=session.state_sharding)
    return upgrade(old), data_state


def _restore(workdir, read, *, step, devices):
  """(session, read(manager, abstract state) or (None, None)) for a workdir's checkpoint."""
  session, abstract = new_session(checkpointing.load_run_spec(workdir), devices=devices,
                                  initialize=False)
  mgr = checkpointing.manager(workdir)
  try:
    if mgr.latest_step() is None and step is None:
      return session, (None, None)
    return session, read(mgr, abstract)
  finally:
    mgr.close()


def restore_params(workdir, *, step=None, devices=None):
  """(session, params or None, step) of a workdir's checkpoint, on ``devices``' mesh.

  Parameters only (evaluation): the optimiser state is neither built nor read. The specs come
  from the workdir's config.json; the checkpoint may have been written on any number of
  devices. The parameters are None when the workdir has no checkpoint yet.
  """
  session, (params, at_step) = _restore(
      workdir, lambda mgr, abstract: checkpointing.restore_params(mgr, abstract['params'], step),
      step=step, devices=devices)
  return session, params, at_step


def restore_workdir(workdir, *, step=None, devices=None):
  """(session, whole train state or None, data position) of a workdir's checkpoint: what a
  resumed run starts from (parameters, optimiser, step), placed on ``devices``' mesh."""
  session, (state, data_state) = _restore(
      workdir, lambda mgr, abstract: checkpointing.restore(mgr, abstract, step),
      step=step, devices=devices)
  return session, state, data_state


def evaluate_splits(session: Session, params, data_dir, splits, *, key, step,
                    max_batches: int = 0, batch_size: int, progress: bool = False) -> dict:
  """Metrics per split; ``batch_size`` is global (each process reads its share)."""
  out = {}
  for split in splits:
    ds = pipeline.eval_dataset(data_dir,
                               batch_size=host_data.local_batch_size(batch_size, session.mesh),
                               split=split,
                               shard_index=jax.process_index(),
                               shard_count=jax.process_count(),
                               transform=session.family.example_transform(),
                               seed=session.run.train.seed)
    total = min(len(ds), max_batches) if max_batches else len(ds)
    bar = progress_bars.bar(total=total, desc=f'evaluate {split}', unit='batch', leave=False,
                            enabled=progress and jax.process_index() == 0)
    out[split] = evaluation.run(session.eval_step, params, iter(ds), key=key,
                                step=step, summarize=session.family.summarize, put=session.put,
                                max_batches=max_batches, progress=bar)
    bar.close()
  return out


def _fingerprint(info: dict) -> dict:
  """What identifies a prepared dataset's records: a stored data position is only valid on it."""
  return dict(config=info.get('config_name'), splits=info.get('splits'))


def train_and_evaluate(config, data_dir, workdir, *, progress: bool = True, devices=None,
                       log=print) -> dict:
  """Trains to ``config.train.num_steps``; returns the last train and eval metrics.

  The one function below the CLI that takes a ConfigDict: it writes it to config.json and
  turns it into specs (``config_boundary.run_spec``) for everything else.

  On SIGTERM (a preemption notice) the run saves a checkpoint after the step in flight and
  returns ``{'preempted_at': step}``; on Ctrl-C (SIGINT) likewise ``{'interrupted_at': step}``
  (a second Ctrl-C aborts at once). The same call then resumes from there.
  """
  workdir = pathlib.Path(workdir)
  lead = jax.process_index() == 0
  if not lead:
    log = lambda *a, **k: None  # only process 0 talks
  run = config_boundary.run_spec(config)
  info = check_data(run, data_dir)
  # Everything that can refuse the run (the data, the mesh, the batch split) before the
  # workdir is written.
  session, state = new_session(run, devices=devices, initialize=False)
  start_params = None  # config.train.init_from, read (and refused) before anything is written
  if run.train.init_from and not checkpointing.has_checkpoint(workdir):
    start_params = init_from.load(run.train.init_from, run.model)
  checkpointing.check_or_write_config(workdir, config, write=lead)
  if lead:
    checkpointing.write_data_dir(workdir, data_dir)
  t = run.train
  mgr = checkpointing.manager(workdir)
  resuming = mgr.latest_step() is not None
  if not resuming:
    state = session.initialize()
    if start_params is not None:
      start_params = init_from.place(jax.device_get(state['params']), start_params)
      state = dict(state, params=jax.device_put(start_params, session.state_sharding['params']))
      log(f'parameters from {t.init_from}')
  it = pipeline.train_dataset(
      data_dir, batch_size=host_data.local_batch_size(t.batch_size, session.mesh),
      seed=t.seed, shard_index=jax.process_index(), shard_count=jax.process_count(),
      transpose_range=run.data.transpose_range,
      transform=session.family.example_transform()).__iter__()
  start = 0
  if resuming:
    state, data_state = _resume(session, mgr, state)
    if data_state is not None and 'iterator' not in data_state:  # written before fingerprints
      data_state = dict(iterator=data_state, dataset=_fingerprint(info))
    if data_state is not None and data_state.get('dataset') == _fingerprint(info):
      it.set_state(data_state['iterator'])
    elif data_state is not None:
      log(f'warning: {data_dir} is not the dataset the checkpoint was reading (its shards or '
          'counts differ); reading it from its start.')
    start = int(jax.device_get(state['step']))
    log(f'resuming {workdir} from step {start}')
  log(f'{run.name}: {mesh_lib.describe(session.mesh)}, batch {t.batch_size}, '
      f'steps {start} -> {t.num_steps}')
  if start >= t.num_steps:
    log(f'{workdir} is already at step {start} (train.num_steps={t.num_steps}); nothing to do. '
        f'To train longer: musicvae-train --workdir={workdir} '
        f'--config.train.num_steps=<more than {start}>')
    mgr.close()
    return {}
  writer = metrics_io.MetricsWriter(workdir, enabled=lead, resume_step=start)
  key = jax.random.PRNGKey(t.seed)
  seed_key = np.asarray(key)  # a host value: the same on every process, placed by the step
  eval_key = jax.random.fold_in(key, evaluation.EVAL_KEY_SALT)
  last = {}

  windows = {s: info['splits'].get(s, {}).get('windows', 0) for s in pipeline.SPLITS}
  eval_splits = tuple(s for s in pipeline.SPLITS if windows[s])
  eval_batches = t.eval_batches(windows['eval'])  # as many batches of the train split

  def evaluate(step):
    splits = evaluate_splits(session, state['params'], data_dir, eval_splits,
                             key=eval_key, step=step, batch_size=t.batch_size,
                             max_batches=eval_batches, progress=progress)
    for split, m in splits.items():
      writer.write(step, f'eval_{split}', m)
    last.update({f'eval_{s}': m for s, m in splits.items()})
    last['headlines'] = {s: session.family.headline(m) for s, m in splits.items()}

  def checkpoint(step):
    if not bool(jax.device_get(session.is_finite(state['params']))):
      raise TrainingDiverged(f'parameters are NaN/Inf at step {step}; not saving. The last '
                             f'good checkpoint (step {mgr.latest_step()}) is kept.')
    # One position is stored for all processes: each reads an equal share of the records in
    # lockstep, so their positions are the same, and this checks it.
    position = it.get_state()
    host_data.check_same_on_every_process(position, 'the data iterator position')
    checkpointing.save(mgr, step, state, dict(iterator=position, dataset=_fingerprint(info)))
    clock.reset()

  bar = progress_bars.bar(total=t.num_steps, initial=start, desc=run.name, unit='step',
                          enabled=progress and lead)
  step, t0 = start, time.perf_counter()
  clock = preemption.SaveClock(t.checkpoint_every_secs)
  try:
    with preemption.PreemptionGuard() as guard:
      while step < t.num_steps:
        batch = session.put(next(it))
        state, metrics = session.train_step(state, batch, seed_key)
        step += 1
        bar.update(1)
        logged = step % t.log_every_steps == 0 or step == t.num_steps
        if logged:
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
          shown = session.family.progress_metric
          bar.set_postfix({'loss': f'{metrics["loss"]:.2f}',
                           'acc' if shown == 'accuracy' else shown: f'{metrics[shown]:.3f}'})
        # The same decision on every process: the clock is process 0's (see SaveClock).
        saved = (step % t.checkpoint_every_steps == 0 or step == t.num_steps
                 or clock.due(synced=logged))
        if saved:
          checkpoint(step)
        if guard.reached(step):
          if not saved:
            checkpoint(step)
          if guard.interrupted:
            last['interrupted_at'] = step
          else:
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
