"""Reconstruction: a piece's windows encoded and decoded again, and how many steps came back.

Shapes: R = reconstructions, N = windows, T = steps, P = parts.

One path serves ``TrainedModel.reconstruct``, ``TrainedModel.reconstruct_windows`` and the
musicvae-reconstruct command, so a seed gives the same music from Python as from the command.
Keys, for one input under ``key``:

* the posterior sample z = mu + sigma·ε (``use_mean=False``) draws ε from ``fold_in(key, 1)``;
* the R × N codes (every window's code, repeated R times) decode in one batch, so reconstruction
  r of window j draws on ``fold_in(key, r·N + j)``: the first one is what a single reconstruction
  gives, and the repeats differ only by the decoder's sampling (and not at all when greedy).

Several inputs (``reconstruct_inputs``) take ``fold_in(key, i)`` as input i's key, so adding an
input leaves the others' reconstructions as they were.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np


@dataclasses.dataclass(frozen=True)
class Reconstruction:
  inputs: np.ndarray  # [N, T, P] the windows as the model read them
  labels: np.ndarray  # [R, N, T, P] the reconstructions
  agreement: tuple[float, ...]  # [R] share of the steps (of every part) equal to the input's


def reconstruct(model, labels_NxTxP, *, key, num_outputs: int = 1, temperature: float = 1.0,
                use_mean: bool = True, chords_NxT=None) -> Reconstruction:
  """``num_outputs`` reconstructions of one input's windows, from mu or a posterior sample.

  A chord model decodes under the input's own chords, or under ``chords_NxT`` (a new
  harmony for the same melody); the agreement counts the melody's steps only."""
  if num_outputs < 1:
    raise ValueError(f'num_outputs={num_outputs}: ask for at least one.')
  labels = np.asarray(labels_NxTxP, np.int32)
  z, mu, _ = model.encode_labels(labels, key=None if use_mean else jax.random.fold_in(key, 1))
  codes = np.concatenate([mu if use_mean else z] * num_outputs)
  chords = model.window_chords(labels, chords_NxT)
  out = model.decode_labels(codes, key=key, temperature=temperature,
                            chords_NxT=None if chords is None else np.tile(chords,
                                                                           (num_outputs, 1)))
  out = out.reshape((num_outputs,) + labels.shape)
  parts = len(model.spec.part_depths)
  agreement = tuple(float(np.mean(mine[..., :parts] == labels[..., :parts])) for mine in out)
  return Reconstruction(labels, out, agreement)


def reconstruct_inputs(model, inputs, *, key, chords=None, **kwargs) -> list[Reconstruction]:
  """``reconstruct`` of each input's windows [N_i, T, P], input i under ``fold_in(key, i)``;
  ``chords``: each input's ``chords_NxT`` (or None for its own)."""
  chords = [None] * len(inputs) if chords is None else chords
  return [reconstruct(model, labels, key=jax.random.fold_in(key, i), chords_NxT=c, **kwargs)
          for i, (labels, c) in enumerate(zip(inputs, chords))]
