"""Orbax checkpoints of a run: train state and data-iterator position, plus config.json.

Shared by training (save, resume), generation and evaluation (parameters only) and the Magenta
import, so it sits above all of them.

  <workdir>/config.json                 the full config, so a workdir restores without a config file
  <workdir>/data.json                   the dataset it trains on, so a resume needs no --data
  <workdir>/checkpoints/<step>/state    params, optimizer state, step (Orbax StandardSave)
  <workdir>/checkpoints/<step>/data     the grain iterator's position (JSON)

Orbax writes each checkpoint to a temporary folder and renames it when complete, so a process
killed mid-save leaves the previous checkpoint as the latest. Every process calls ``save``
(Orbax coordinates multi-host writes); only process 0 writes config.json.

``restore_params`` reads the parameters (and the step) alone: Orbax's partial restore into
abstract targets, so sampling and evaluation never build or read the optimiser state.
"""

from __future__ import annotations

import json
import os
import pathlib

import jax
import ml_collections
import orbax.checkpoint as ocp

from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax import errors
from musicvae_jax import specs

CONFIG_FILE = config_lib.WORKDIR_CONFIG
DATA_FILE = 'data.json'
CHECKPOINT_DIR = 'checkpoints'
# Sections that define the model and its data; the rest (run length, logging cadence, ...) may
# change when a run is resumed.
FIXED_SECTIONS = ('data', 'model')
FIXED_TRAIN_KEYS = ('batch_size', 'seed')


class WorkdirError(errors.UserError, ValueError):
  pass


def config_path(workdir) -> pathlib.Path:
  return pathlib.Path(workdir) / CONFIG_FILE


def load_config(workdir) -> ml_collections.ConfigDict:
  path = config_path(workdir)
  if not path.exists():
    raise WorkdirError(f'{workdir} is not a training workdir: it has no {CONFIG_FILE}. Pass the '
                       '--workdir a musicvae-train run wrote to.')
  return config_lib.workdir_config(workdir)


def load_run_spec(workdir) -> specs.RunSpec:
  """The frozen specs of the run that ``workdir`` holds (its config.json)."""
  return config_boundary.run_spec(load_config(workdir))


def _plain(config) -> dict:
  return json.loads(config.to_json())


def check_or_write_config(workdir, config, *, write: bool) -> None:
  """Writes config.json, or checks that a resumed run uses the same model and data config."""
  path = config_path(workdir)
  new = _plain(config)
  if path.exists():
    old = json.loads(path.read_text())
    keys = [(s, k) for s in FIXED_SECTIONS
            for k in sorted(set(old.get(s, {})) | set(new.get(s, {})))
            if not (s == 'model' and k in config_boundary.LEGACY_MODEL_KEYS)]
    keys += [('train', k) for k in FIXED_TRAIN_KEYS]
    diffs = [f'{s}.{k} {old.get(s, {}).get(k)!r} -> {new.get(s, {}).get(k)!r}'
             for s, k in keys if old.get(s, {}).get(k) != new.get(s, {}).get(k)]
    if diffs:
      raise WorkdirError(
          f'{workdir} holds a run of {old.get("name")!r} with a different config '
          f'({"; ".join(diffs)}). Resume it with the config it was started with, or choose a '
          'new --workdir.')
  if write:
    pathlib.Path(workdir).mkdir(parents=True, exist_ok=True)
    _write_atomically(path, json.dumps(new, indent=2, sort_keys=True) + '\n')


def _write_atomically(path: pathlib.Path, text: str) -> None:
  """Replaces ``path`` in one rename: the other processes of a multi-process run read it while
  process 0 rewrites it, and must never see it empty or half written."""
  tmp = path.with_name(f'.{path.name}.{os.getpid()}.tmp')
  tmp.write_text(text)
  os.replace(tmp, path)


def has_checkpoint(workdir) -> bool:
  """Whether ``workdir`` holds a complete checkpoint; reads only (``manager`` creates the
  checkpoints/ folder). Orbax's unfinished saves carry a suffix after the step number."""
  folder = pathlib.Path(workdir) / CHECKPOINT_DIR
  return folder.is_dir() and any(p.name.isdigit() for p in folder.iterdir())


def write_data_dir(workdir, data_dir) -> None:
  """Records the dataset a workdir trains on (absolute), for a resume without --data."""
  path = pathlib.Path(workdir) / DATA_FILE
  _write_atomically(path, json.dumps(dict(data=str(pathlib.Path(data_dir).absolute()))) + '\n')


def data_dir(workdir) -> str | None:
  """The dataset the run in ``workdir`` last trained on, or None (none recorded)."""
  path = pathlib.Path(workdir) / DATA_FILE
  return json.loads(path.read_text())['data'] if path.is_file() else None


def manager(workdir, *, max_to_keep: int = 3) -> ocp.CheckpointManager:
  options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True,
                                         enable_async_checkpointing=False)
  return ocp.CheckpointManager(pathlib.Path(workdir).absolute() / CHECKPOINT_DIR,
                               options=options)


def save(mgr: ocp.CheckpointManager, step: int, state, data_state=None) -> None:
  items = dict(state=ocp.args.StandardSave(state))
  if data_state is not None:
    items['data'] = ocp.args.JsonSave(data_state)
  mgr.save(int(step), args=ocp.args.Composite(**items), force=True)
  mgr.wait_until_finished()


def restore(mgr: ocp.CheckpointManager, abstract_state, step: int | None = None, *,
            with_data: bool = True):
  """(state, data_state or None) at ``step`` (default: the latest)."""
  step = _check_step(mgr, step)
  items = dict(state=ocp.args.StandardRestore(abstract_state))
  if with_data and (pathlib.Path(mgr.directory) / str(step) / 'data').exists():
    items['data'] = ocp.args.JsonRestore()
  try:
    restored = mgr.restore(step, args=ocp.args.Composite(**items))
  except (ValueError, KeyError, TypeError) as e:
    raise WorkdirError(f'checkpoint {mgr.directory}/{step} does not match this model ({e}). '
                       'Restore it with the config.json it was written with.') from e
  return restored['state'], restored.get('data') if with_data else None


def _check_step(mgr: ocp.CheckpointManager, step: int | None) -> int:
  if step is not None and step not in mgr.all_steps():
    workdir = pathlib.Path(mgr.directory).parent
    raise WorkdirError(f'--step={step}: {workdir} has no checkpoint of step {step} (it has '
                       f'steps: {", ".join(map(str, sorted(mgr.all_steps()))) or "none"}); '
                       'omit --step for the latest.')
  return mgr.latest_step() if step is None else step


def restore_params(mgr: ocp.CheckpointManager, abstract_params, step: int | None = None):
  """(params, step) of checkpoint ``step`` (default: the latest), read into ``abstract_params``
  (ShapeDtypeStructs with shardings); the optimiser state stays on disk."""
  step = _check_step(mgr, step)
  target = dict(params=abstract_params,
                step=jax.ShapeDtypeStruct((), 'int32', sharding=_first_device()))
  path = pathlib.Path(mgr.directory) / str(step) / 'state'
  try:
    restored = ocp.PyTreeCheckpointer().restore(path, args=ocp.args.PyTreeRestore(
        item=target, restore_args=ocp.checkpoint_utils.construct_restore_args(target),
        partial_restore=True))
  except (ValueError, KeyError, TypeError) as e:
    raise WorkdirError(f'checkpoint {mgr.directory}/{step} does not match this model ({e}). '
                       'Restore it with the config.json it was written with.') from e
  return restored['params'], int(restored['step'])


def _first_device():
  return jax.sharding.SingleDeviceSharding(jax.local_devices()[0])


def abstract(state, shardings=None):
  """Shape/dtype/sharding structs for restoring ``state`` onto ``shardings``.

  The target always names its shardings (default: this process's first device), so a
  checkpoint written on N devices restores on any M: Orbax reads each target shard's slice.
  """
  if shardings is None:
    one = _first_device()
    shardings = jax.tree.map(lambda _: one, state)
  return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
                      state, shardings)
