"""Accuracy and loss over a whole split: the MusicVAE paper's table for one checkpoint.

``teacher_forced_accuracy``: argmax of the decoder's output equals the target, with the decoder
fed the true previous step. ``sampled_accuracy``: the same with the decoder fed its own samples
at every step (Magenta's evaluation under a sampling schedule); in the hierarchical decoder each
bar still starts from the true last step of the bar before, as in Magenta's evaluation graph.
Both are means over valid steps (and parts; per-part values are listed as well).
"""

from __future__ import annotations

import math
from typing import Iterable

import jax
import numpy as np

EVAL_KEY_SALT = 0x5EED


def run(eval_step, params, batches: Iterable[dict], *, key, step, put=lambda b: b,
        max_batches: int = 0, progress=None) -> dict:
  """Sums ``eval_step`` over ``batches`` (at most ``max_batches`` if > 0); returns the metrics."""
  totals = None
  for i, batch in enumerate(batches):
    if max_batches and i >= max_batches:
      break
    # Host values (not committed device arrays), so that the step runs on any mesh,
    # including one spanning several processes.
    batch_key = np.asarray(jax.random.fold_in(key, i))
    sums = eval_step(params, put(batch), batch_key, np.int32(step))
    sums = jax.device_get(sums)
    totals = sums if totals is None else jax.tree.map(np.add, totals, sums)
    if progress is not None:
      progress.update(1)
  if totals is None:
    raise ValueError('no batches to evaluate')
  return summarize(totals)


def summarize(totals: dict) -> dict:
  n = max(float(totals['examples']), 1.0)
  steps = max(float(totals['steps']), 1.0)
  tf_parts = np.asarray(totals['teacher_forced_hits'], np.float64) / steps
  sampled_parts = np.asarray(totals['sampled_hits'], np.float64) / steps
  out = dict(
      examples=int(totals['examples']),
      teacher_forced_accuracy=float(tf_parts.mean()),
      sampled_accuracy=float(sampled_parts.mean()),
      loss=float(totals['loss']) / n, r_loss=float(totals['r_loss']) / n,
      sampled_r_loss=float(totals['sampled_r_loss']) / n,
      kl_loss=float(totals['kl_loss']) / n, kl_bits=float(totals['kl']) / n / math.log(2.0))
  if tf_parts.size > 1:
    out['teacher_forced_accuracy_per_part'] = [float(x) for x in tf_parts]
    out['sampled_accuracy_per_part'] = [float(x) for x in sampled_parts]
  return out


def format_table(rows: dict[str, dict], part_names=None) -> str:
  """A plain-text table: one line per split."""
  head = f'{"split":<8}{"examples":>10}{"teacher-forced acc":>20}{"sampled acc":>14}' \
         f'{"r_loss":>10}{"KL bits":>10}'
  lines = [head]
  for split, m in rows.items():
    lines.append(f'{split:<8}{m["examples"]:>10}{m["teacher_forced_accuracy"]:>20.4f}'
                 f'{m["sampled_accuracy"]:>14.4f}{m["r_loss"]:>10.2f}{m["kl_bits"]:>10.1f}')
    if 'teacher_forced_accuracy_per_part' in m:
      names = part_names or [f'part {i}' for i in range(len(m['sampled_accuracy_per_part']))]
      for name, a, b in zip(names, m['teacher_forced_accuracy_per_part'],
                            m['sampled_accuracy_per_part']):
        lines.append(f'{"  " + name:<18}{a:>20.4f}{b:>14.4f}')
  return '\n'.join(lines)
