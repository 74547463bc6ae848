"""Scoring a training workdir's checkpoint on a prepared dataset (``musicvae-evaluate``)."""

from __future__ import annotations

import jax
import numpy as np

from musicvae_jax.training import checkpointing
from musicvae_jax.training import evaluation
from musicvae_jax.training import loop

PART_NAMES = {1: None, 3: ['melody', 'bass', 'drums']}


def evaluate_workdir(workdir, data_dir, *, split: str = 'eval', step: int | None = None,
                     batch_size: int | None = None, progress: bool = True) -> dict:
  config = checkpointing.load_config(workdir)
  session, restored, _ = loop.restore_workdir(workdir, step=step)
  info = loop.check_data(session.spec, data_dir)
  if restored is None:
    raise checkpointing.WorkdirError(f'{workdir} has no checkpoint yet; train first '
                                     '(musicvae-train ... --workdir=' f'{workdir}).')
  splits = ('train', 'eval') if split == 'all' else (split,)
  ckpt_step = int(jax.device_get(restored['step']))
  n_dev = session.mesh.devices.size
  batch = batch_size or int(config.train.batch_size)
  batch = max(n_dev, batch - batch % n_dev)
  key = jax.random.fold_in(jax.random.PRNGKey(int(config.train.seed)), evaluation.EVAL_KEY_SALT)
  per_split = {}
  for s in splits:
    if info['splits'].get(s, {}).get('windows', 0) == 0:
      raise ValueError(f'{data_dir} has no windows in its {s} split.')
    per_split.update(loop.evaluate_splits(session, restored['params'], data_dir, (s,), key=key,
                                          step=ckpt_step, batch_size=batch, progress=progress))
  if len(per_split) == 1:
    top = dict(next(iter(per_split.values())))
  else:
    top = _combine(per_split.values())
  return dict(top, config=config.name, step=ckpt_step, data=str(data_dir), split=split,
              splits=per_split)


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
  parts = result['splits'][next(iter(result['splits']))].get('teacher_forced_accuracy_per_part')
  names = PART_NAMES.get(len(parts)) if parts else None
  header = f'{result["config"]} at step {result["step"]} on {result["data"]}'
  rows = dict(result['splits'])
  if len(rows) > 1:
    rows['all'] = {k: v for k, v in result.items() if k not in ('splits',)}
  return header + '\n' + evaluation.format_table(rows, names)
