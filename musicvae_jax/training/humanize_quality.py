"""How well a humanize model plays held-out performances, against two baselines.

A held-out window is the real performance (``target``: hits | velocities | offsets). It is
quantised and stripped of its feel exactly as GrooVAE's humanize input is (hits only), then each
player puts velocity and timing back on the *real* hits:

* ``quantised``: leave it on the grid (offset 0), every hit at one velocity, the mean velocity of
  the training hits (the best single velocity there is, so the baseline is not a straw man);
* ``class means``: each drum class's mean training velocity and offset;
* ``position table``: each drum class's median velocity and offset at each place in the bar
  (``PositionTable``), a stronger table than the issue's two baselines;
* ``model``: the GrooVAE humanize model, z the posterior mean of the hits-only input (or drawn
  from the posterior, as ``musicvae-groove --mode=humanize`` does), decoded with the real hits
  fixed inside the decode loop, so only velocities and offsets are the model's.

Errors are over the real hits only: velocity MAE in MIDI units (0-127), timing MAE in 16th-note
steps and in milliseconds at each window's tempo (offset = 2 × (grid − onset) / step, so
|Δoffset| / 2 steps).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np


def _split(windows_NxTxD):
  w = np.asarray(windows_NxTxD, np.float32)
  n = w.shape[-1] // 3
  return w[..., :n], w[..., n:2 * n], w[..., 2 * n:]


@dataclasses.dataclass(frozen=True)
class ClassMeans:
  """Mean velocity and offset per drum class over the training hits, and over all of them."""
  velocity_C: np.ndarray
  offset_C: np.ndarray
  velocity_all: float
  offset_all: float

  @classmethod
  def of(cls, train_NxTxD) -> ClassMeans:
    hits, vel, off = _split(train_NxTxD)
    on = hits > 0.5
    count = on.sum(axis=(0, 1))
    if not count.sum():
      raise ValueError('the training windows hold no hits to take means from')
    safe = np.maximum(count, 1)
    vel_c = np.where(count > 0, (vel * on).sum(axis=(0, 1)) / safe, vel[on].mean())
    off_c = np.where(count > 0, (off * on).sum(axis=(0, 1)) / safe, off[on].mean())
    return cls(vel_c, off_c, float(vel[on].mean()), float(off[on].mean()))


def quantised(targets_NxTxD, means: ClassMeans) -> np.ndarray:
  hits, _, _ = _split(targets_NxTxD)
  return np.concatenate([hits, hits * means.velocity_all, np.zeros_like(hits)], axis=-1)


def class_means(targets_NxTxD, means: ClassMeans) -> np.ndarray:
  hits, _, _ = _split(targets_NxTxD)
  return np.concatenate([hits, hits * means.velocity_C, hits * means.offset_C], axis=-1)


@dataclasses.dataclass(frozen=True)
class PositionTable:
  """Velocity and offset per drum class and place in the bar (step mod ``period``) over the
  training hits, as ``statistic`` (median: the best constant for an absolute error) of each cell;
  a cell with no training hit falls back to its class's mean. The strongest lookup table there is
  without knowing the drummer: swing, pushed backbeats and accented downbeats are all in it."""
  velocity_PxC: np.ndarray
  offset_PxC: np.ndarray
  period: int

  @classmethod
  def of(cls, train_NxTxD, period: int, statistic=np.median) -> PositionTable:
    hits, vel, off = _split(train_NxTxD)
    means = ClassMeans.of(train_NxTxD)
    place = np.arange(hits.shape[1]) % period
    velocity = np.tile(means.velocity_C, (period, 1))
    offset = np.tile(means.offset_C, (period, 1))
    for p in range(period):
      on = hits[:, place == p] > 0.5
      for c in range(hits.shape[-1]):
        if on[..., c].any():
          velocity[p, c] = statistic(vel[:, place == p, c][on[..., c]])
          offset[p, c] = statistic(off[:, place == p, c][on[..., c]])
    return cls(velocity.astype(np.float32), offset.astype(np.float32), period)


def position_table(targets_NxTxD, table: PositionTable) -> np.ndarray:
  hits, _, _ = _split(targets_NxTxD)
  place = np.arange(hits.shape[1]) % table.period
  return np.concatenate([hits, hits * table.velocity_PxC[place], hits * table.offset_PxC[place]],
                        axis=-1)


def model_outputs(model, targets_NxTxD, *, key, posterior_sample: bool = False) -> np.ndarray:
  """The model's humanize of every window: hits-only input, its real hits fixed in the decode."""
  converter = model.converter
  if not converter.humanize:
    raise ValueError(f'{model.name} is not a humanize model (groovae_2bar_humanize)')
  targets = np.asarray(targets_NxTxD, np.float32)
  inputs = np.stack([converter.input_from_target(t, np.random.default_rng(0),
                                                 dropout_probability=0.0) for t in targets])
  z, mu, _ = model.encode_labels(inputs, key=key if posterior_sample else None)
  hits, _, _ = _split(targets)
  return model.decode_labels(z if posterior_sample else mu, key=jax.random.fold_in(key, 1),
                             temperature=0.0, hits_NxTxH=hits)


def errors(pred_NxTxD, targets_NxTxD, ms_per_step_N=None) -> dict:
  """Velocity MAE (MIDI units) and timing MAE (steps, and ms with ``ms_per_step_N``) on the real
  hits; ``hit_agreement``: the fraction of the real hits the prediction also plays."""
  hits, vel, off = _split(targets_NxTxD)
  p_hits, p_vel, p_off = _split(pred_NxTxD)
  on = hits > 0.5
  if not on.any():
    raise ValueError('the held-out windows hold no hits')
  out = {'hits': int(on.sum()),
         'velocity_mae': float(np.abs(p_vel - vel)[on].mean() * 127.0),
         'timing_mae_steps': float(np.abs(p_off - off)[on].mean() / 2.0),
         'hit_agreement': float((p_hits > 0.5)[on].mean())}
  if ms_per_step_N is not None:
    ms = np.broadcast_to(np.asarray(ms_per_step_N, np.float64)[:, None, None], on.shape)
    out['timing_mae_ms'] = float((np.abs(p_off - off) / 2.0 * ms)[on].mean())
  return out


def paired_gain(base_NxTxD, pred_NxTxD, targets_NxTxD, groups_N, *, draws: int = 2000,
                seed: int = 0) -> dict:
  """How much ``pred`` beats ``base`` (base error − pred error, so > 0 is better), with a 95%
  interval from a paired bootstrap that resamples whole groups (performances), not windows:
  windows of one performance share its drummer and feel, so they are not independent.

  Returns {'velocity': (low, mid, high) in MIDI units, 'timing': (low, mid, high) in steps}."""
  hits, vel, off = _split(targets_NxTxD)
  on = (hits > 0.5).astype(np.float64)
  _, b_vel, b_off = _split(base_NxTxD)
  _, p_vel, p_off = _split(pred_NxTxD)
  per_window = {  # summed |error| gain and hit count per window
      'velocity': ((np.abs(b_vel - vel) - np.abs(p_vel - vel)) * on).sum(axis=(1, 2)) * 127.0,
      'timing': ((np.abs(b_off - off) - np.abs(p_off - off)) * on).sum(axis=(1, 2)) / 2.0}
  count = on.sum(axis=(1, 2))
  groups = np.asarray(groups_N)
  names, group_of = np.unique(groups, return_inverse=True)
  rng = np.random.default_rng(seed)
  out = {}
  for what, gain in per_window.items():
    gain_G = np.bincount(group_of, gain, len(names))
    count_G = np.bincount(group_of, count, len(names))
    picks = rng.integers(0, len(names), (draws, len(names)))
    ratios = gain_G[picks].sum(axis=1) / np.maximum(count_G[picks].sum(axis=1), 1)
    low, high = np.percentile(ratios, [2.5, 97.5])
    out[what] = (float(low), float(gain_G.sum() / max(count_G.sum(), 1)), float(high))
  return out


def table(rows: dict[str, dict]) -> str:
  """A markdown table of ``errors`` dicts by player name."""
  lines = ['| player | hits | velocity MAE (0-127) | timing MAE (16th steps) | timing MAE (ms) |',
           '| --- | ---: | ---: | ---: | ---: |']
  for name, e in rows.items():
    ms = f"{e['timing_mae_ms']:.1f}" if 'timing_mae_ms' in e else '-'
    lines.append(f"| {name} | {e['hits']} | {e['velocity_mae']:.2f} | "
                 f"{e['timing_mae_steps']:.4f} | {ms} |")
  return '\n'.join(lines)
