"""GrooVAE's examples from stored windows: encoder inputs, targets and controls per window.

Prepare stores each window's target (float32 [T, 27] = hits | velocities | offsets); the
encoder's input is derived from it when a batch is read, by the training config's converter
(humanize, tapify, fixed velocities, add_instruments, note dropout; see
``converters.groove``), so one prepared Groove dataset serves every GrooVAE config of its
window length. The map runs in the grain pipeline with a numpy Generator per example (seeded by
the run's seed and the example's position in the stream), so note dropout is deterministic and
a resumed run sees the inputs an uninterrupted one would have.

Each example gains ``inputs`` float32 [T, 27], ``targets`` float32 [T, 27] and ``controls``
float32 [T, 9] (hits_as_controls) or [T, 0]; its ``labels`` are dropped.
"""

from __future__ import annotations

import numpy as np


class GrooveExamples:
  """A grain random map: ``(example, rng) -> example`` with inputs, targets and controls."""

  def __init__(self, converter):
    self.converter = converter

  def __call__(self, example: dict, rng: np.random.Generator) -> dict:
    out = {k: v for k, v in example.items() if k != 'labels'}
    inputs, targets, controls = self.converter.window_tensors(example['labels'], rng)
    out.update(inputs=inputs.astype(np.float32), targets=targets.astype(np.float32),
               controls=controls.astype(np.float32))
    return out


def batch_of(converter, windows, rng: np.random.Generator) -> dict:
  """A training batch of real windows [B, T, 27], mapped as the pipeline maps them."""
  make = GrooveExamples(converter)
  examples = []
  for w in windows:
    w = np.asarray(w, np.float32)
    examples.append(make({'labels': w, 'lengths': np.int32(len(w)),
                          'mask': np.ones((len(w),), np.float32)}, rng))
  return {k: np.stack([e[k] for e in examples]) for k in examples[0]}
