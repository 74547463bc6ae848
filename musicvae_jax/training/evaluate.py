"""Scoring a workdir's checkpoint on a prepared dataset (``musicvae-evaluate``).

Parameters only are restored (no optimiser state is built or read); the family of the model
scores each split and formats the table.
"""

from __future__ import annotations

import jax
import numpy as np

from musicvae_jax import checkpointing
from musicvae_jax.training import evaluation
from musicvae_jax.training import family as family_lib
from musicvae_jax.training import loop


def evaluate_workdir(workdir, data_dir, *, split: str = 'eval', step: int | None = None,
                     batch_size: int | None = None, progress: bool = True) -> dict:
  session, params, ckpt_step = loop.restore_params(workdir, step=step)
  run = session.run
  info = loop.check_data(run, data_dir)
  if params is None:
    raise checkpointing.WorkdirError(f'{workdir} has no checkpoint yet; train first '
                                     '(musicvae-train ... --workdir=' f'{workdir}).')
  splits = ('train', 'eval') if split == 'all' else (split,)
  n_dev = session.mesh.devices.size
  batch = batch_size or run.train.batch_size
  batch = max(n_dev, batch - batch % n_dev)
  key = jax.random.fold_in(jax.random.PRNGKey(run.train.seed), evaluation.EVAL_KEY_SALT)
  per_split = {}
  for s in splits:
    if info['splits'].get(s, {}).get('windows', 0) == 0:
      raise checkpointing.WorkdirError(f'{data_dir} has no windows in its {s} split.')
    per_split.update(loop.evaluate_splits(session, params, data_dir, (s,), key=key,
                                          step=ckpt_step, batch_size=batch, progress=progress))
  if len(per_split) == 1:
    top = dict(next(iter(per_split.values())))
  else:
    top = _combine(per_split.values())
  return dict(top, config=run.name, step=ckpt_step, data=str(data_dir), split=split,
              workdir=str(workdir), splits=per_split)


def _combine(rows) -> dict:
  rows = list(rows)
  n = sum(r['examples'] for r in rows)
  out = {'examples': n}
  for k, v in rows[0].items():
    if k == 'examples':
      continue
    vals = [np.asarray(r[k], np.float64) * r['examples'] for r in rows]
    mean = sum(vals) / max(n, 1)
    out[k] = mean.tolist() if np.ndim(mean) else float(mean)
  return out


def report(result: dict) -> str:
  """The header and the model family's table of every split (and 'all')."""
  table = family_lib.for_spec(checkpointing.load_run_spec(result['workdir'])).format_table
  header = f'{result["config"]} at step {result["step"]} on {result["data"]}'
  rows = dict(result['splits'])
  if len(rows) > 1:
    rows['all'] = {k: v for k, v in result.items() if k != 'splits'}
  return header + '\n' + table(rows)
