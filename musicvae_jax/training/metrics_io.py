"""Where training metrics go: TensorBoard event files and a JSON-lines file in the workdir.

  <workdir>/metrics.jsonl        one object per line: {"step": N, "split": "train", ...}
  <workdir>/tensorboard/<split>/ event files (tensorboardX; no TensorFlow needed)

Only process 0 writes; on other processes the writer does nothing. A resumed run appends; lines
for steps past the resume point (written after the checkpoint the run resumed from) are dropped
first, so the file reads as one uninterrupted run.
"""

from __future__ import annotations

import json
import math
import pathlib
from typing import Mapping

import numpy as np

METRICS_FILE = 'metrics.jsonl'


def _scalar(v):
  v = np.asarray(v)
  return float(v) if v.ndim == 0 else [float(x) for x in v.reshape(-1)]


def read_metrics(workdir) -> list[dict]:
  path = pathlib.Path(workdir) / METRICS_FILE
  if not path.exists():
    return []
  return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class MetricsWriter:

  def __init__(self, workdir, *, enabled: bool = True, resume_step: int = 0):
    self.enabled = enabled
    self._dir = pathlib.Path(workdir)
    self._writers = {}
    if not enabled:
      return
    path = self._dir / METRICS_FILE
    kept = [r for r in read_metrics(workdir) if r.get('step', 0) <= resume_step]
    path.write_text(''.join(json.dumps(r) + '\n' for r in kept))
    self._file = path.open('a')

  def _tb(self, split: str):
    if split not in self._writers:
      from tensorboardX import SummaryWriter  # imported lazily: only process 0 needs it
      self._writers[split] = SummaryWriter(str(self._dir / 'tensorboard' / split))
    return self._writers[split]

  def write(self, step: int, split: str, metrics: Mapping[str, object]) -> dict:
    row = {'step': int(step), 'split': split}
    row.update({k: _scalar(v) for k, v in metrics.items()})
    if not self.enabled:
      return row
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
             for k, v in row.items()}
    self._file.write(json.dumps(clean) + '\n')
    self._file.flush()
    tb = self._tb(split)
    for k, v in row.items():
      if k in ('step', 'split'):
        continue
      if isinstance(v, list):
        for i, x in enumerate(v):
          tb.add_scalar(f'{k}/{i}', x, step)
      else:
        tb.add_scalar(k, v, step)
    tb.flush()
    return row

  def close(self) -> None:
    if not self.enabled:
      return
    self._file.close()
    for w in self._writers.values():
      w.close()
