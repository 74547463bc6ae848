"""Evaluation over a whole split: the family's per-batch sums, added up, then summarised.

``eval_step`` returns sums over each batch's real examples (``family.Family.eval_sums``), so
padded batches and batches split over any number of devices or processes combine exactly.
"""

from __future__ import annotations

from typing import Callable, Iterable

import jax
import numpy as np

EVAL_KEY_SALT = 0x5EED


def run(eval_step, params, batches: Iterable[dict], *, key, step,
        summarize: Callable[[dict], dict], put=lambda b: b, max_batches: int = 0,
        progress=None) -> dict:
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
