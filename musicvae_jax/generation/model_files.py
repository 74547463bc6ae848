"""Where a trained model's parameters come from: a training workdir, an exported model, the bundle.

Two layouts are read, both with the run's ``config.json``:

  <workdir>/checkpoints/<step>/...     a musicvae-train (or musicvae-import-magenta) workdir: the
                                       parameters of the latest (or a given) Orbax checkpoint
  <dir>/params.npz + model.json        an exported model: parameters only, stored in float16 or
                                       float32, named by their path ('encoder/fw/0/kernel'), and a
                                       description (step, data, accuracies). The bundled model is
                                       one, so it ships in a few MB.
"""

from __future__ import annotations

import difflib
import json
import pathlib
import shutil

import jax
import numpy as np
from flax import nnx

from musicvae_jax import bundled_data
from musicvae_jax import checkpointing
from musicvae_jax import specs
from musicvae_jax.models import vae

PARAMS_FILE = 'params.npz'
INFO_FILE = 'model.json'
DEFAULT_BUNDLED = 'cat-mel_2bar_small'


BUNDLED_PREFIX = 'bundled:'


def bundled_names() -> list[str]:
  try:
    models = bundled_data.data_dir() / 'models'
  except FileNotFoundError:
    return []
  return sorted(p.name for p in models.glob('*') if (p / PARAMS_FILE).exists())


def bundled_model_dir(name: str = DEFAULT_BUNDLED) -> pathlib.Path:
  path = bundled_data.data_dir() / 'models' / name
  if (path / PARAMS_FILE).exists():
    return path
  names = bundled_names()
  if not names:  # the install lost its data folder
    raise checkpointing.WorkdirError(
        f'no bundled models are installed (looked in {path.parent}). Reinstall with '
        '`pip install -e .` from the repository, or pass --workdir=<a training workdir>.')
  close = difflib.get_close_matches(name, names, n=1)
  hint = f'Did you mean {BUNDLED_PREFIX}{close[0]}? ' if close else ''
  raise checkpointing.WorkdirError(
      f'no bundled model is called {name!r}. {hint}Bundled: '
      f'{", ".join(BUNDLED_PREFIX + n for n in names)}; or pass --workdir=<a training workdir>.')


def resolve(workdir) -> tuple[pathlib.Path, bool]:
  """(folder, is_bundled) for None (the default bundled model), 'bundled:<name>' or a path."""
  if workdir is None:
    return bundled_model_dir(), True
  if str(workdir).startswith(BUNDLED_PREFIX):
    return bundled_model_dir(str(workdir)[len(BUNDLED_PREFIX):]), True
  return pathlib.Path(workdir), False


def is_exported(folder) -> bool:
  """Whether ``folder`` holds an exported model (``params.npz``) rather than checkpoints."""
  return (pathlib.Path(folder) / PARAMS_FILE).exists()


def _flat(tree, prefix=()):
  if isinstance(tree, dict):
    for k, v in tree.items():
      yield from _flat(v, prefix + (str(k),))
  else:
    yield '/'.join(prefix), tree


def _unflat(template, arrays: dict, prefix=()):
  if isinstance(template, dict):
    return {k: _unflat(v, arrays, prefix + (str(k),)) for k, v in template.items()}
  name = '/'.join(prefix)
  if name not in arrays:
    raise checkpointing.WorkdirError(f'{PARAMS_FILE} lacks {name}: it was exported from a '
                                     'different model than its config.json describes.')
  value = np.asarray(arrays[name])
  if value.shape != template.shape:
    raise checkpointing.WorkdirError(f'{PARAMS_FILE}: {name} has shape {value.shape}, the '
                                     f'config expects {template.shape}.')
  return value.astype(template.dtype)


def param_template(spec: specs.ModelSpec) -> dict:
  """Shapes and dtypes of the parameters (a pure dict of ShapeDtypeStructs), without allocating."""
  def params_only():
    return nnx.to_pure_dict(nnx.state(vae.build_model(spec), nnx.Param))
  return jax.eval_shape(params_only)


def load_params(workdir, spec: specs.ModelSpec, *, step: int | None = None
                ) -> tuple[dict, int, dict]:
  """(params as numpy arrays, step, description) from either layout.

  From a checkpoint only the parameters are read (Orbax partial restore): the optimiser
  state, twice the parameters' size, is neither built nor read.
  """
  workdir = pathlib.Path(workdir)
  if is_exported(workdir):
    info_path = workdir / INFO_FILE
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    with np.load(workdir / PARAMS_FILE) as arrays:
      params = _unflat(param_template(spec), dict(arrays))
    return params, int(info.get('step', 0)), info
  # Checked before opening a manager, which would create an empty checkpoints/ folder.
  if not checkpointing.has_checkpoint(workdir):
    raise checkpointing.WorkdirError(
        f'{workdir} has no checkpoint and no {PARAMS_FILE}; train first (musicvae-train '
        f'--workdir={workdir}), or pass a workdir that has one.')
  mgr = checkpointing.manager(workdir)
  try:
    params, at_step = checkpointing.restore_params(
        mgr, checkpointing.abstract(param_template(spec)), step)
  finally:
    mgr.close()
  return jax.tree.map(np.asarray, params), at_step, dict(source=str(workdir))


def export(workdir, output_dir, *, step: int | None = None, dtype: str = 'float16',
           info: dict | None = None) -> pathlib.Path:
  """Writes ``config.json`` + ``params.npz`` (+ ``model.json``) for the workdir's checkpoint."""
  run = checkpointing.load_run_spec(workdir)
  params, at_step, _ = load_params(workdir, run.model, step=step)
  out = pathlib.Path(output_dir)
  out.mkdir(parents=True, exist_ok=True)
  shutil.copyfile(checkpointing.config_path(workdir), out / checkpointing.CONFIG_FILE)
  np.savez_compressed(out / PARAMS_FILE,
                      **{k: np.asarray(v).astype(dtype) for k, v in _flat(params)})
  description = dict(config=run.name, step=at_step, dtype=dtype, **(info or {}))
  (out / INFO_FILE).write_text(json.dumps(description, indent=2, sort_keys=True) + '\n')
  return out
