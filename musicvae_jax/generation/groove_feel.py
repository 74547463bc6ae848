"""A drummer's feel, read from a played take: each drum's velocity and timing at each step.

``humanize`` with a played take (``musicvae-groove --mode=humanize --groove_midi=<take>``)
plays each hit of a quantised pattern at the take's median velocity and timing offset for that
drum at that place in the bar. Where the take has fewer than ``MIN_HITS`` hits of a drum at a
place, the place in the beat (4 steps) is read, then that drum's median over the take; a drum
the take never plays keeps the model's velocity and timing. Like a DAW's groove template, but
per drum class.

Why a table and not the model alone: on held-out Groove MIDI takes, the model given only the
quantised hits reaches each drum's average timing and no further, while the other half of the
same take knows how this drummer plays that day (README, "GrooVAE"; ``bench/humanize_quality.py``).

Arrays: S steps, C drum classes; a groove is [S, 3C] (hits | velocities | offsets), a window
batch [N, T, 3C].
"""

from __future__ import annotations

import dataclasses

import numpy as np

MIN_HITS = 3            # hits of a drum at a place before that place's median is trusted
PLACES = (1, 4, 16)     # the drum over the take, its place in the beat, its place in the bar


@dataclasses.dataclass(frozen=True)
class Feel:
  """Median velocity and offset of each drum class at each of the bar's 16 steps, NaN for a
  class the take never plays (``Feel.of``)."""
  velocity_PxC: np.ndarray   # [16, C], velocities in [0, 1]
  offset_PxC: np.ndarray     # [16, C], offsets in [-1, 1] (a step is 2)
  hits_C: np.ndarray         # [C] hits of each class in the take

  @classmethod
  def of(cls, groove: np.ndarray, min_hits: int = MIN_HITS) -> Feel:
    """The feel of a played groove ([S, 3C] or [N, T, 3C]; S or T whole bars of 16 steps)."""
    g = np.asarray(groove, np.float64)
    g = g.reshape(-1, g.shape[-1])
    if len(g) % PLACES[-1]:
      raise ValueError(f'a groove of {len(g)} steps is not whole bars of {PLACES[-1]} steps')
    c = g.shape[-1] // 3
    on = g[:, :c] > 0.5
    step = np.arange(len(g)) % PLACES[-1]
    tables = []
    for column in (1, 2):
      values = g[:, column * c:(column + 1) * c]
      table = np.full((PLACES[-1], c), np.nan)
      for period in PLACES:
        for place in range(period):
          rows = step % period == place
          for k in range(c):
            v = values[rows, k][on[rows, k]]
            if len(v) >= (1 if period == 1 else min_hits):
              table[np.arange(PLACES[-1]) % period == place, k] = np.median(v)
      tables.append(table.astype(np.float32))
    return cls(tables[0], tables[1], on.sum(axis=0))

  def play(self, hits: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """``fallback`` ([..., S, 3C], e.g. the model's humanize of ``hits``) with each hit of
    ``hits`` ([..., S, C], S from a bar's first step) at this feel's velocity and offset; a
    class this feel does not know keeps ``fallback``'s."""
    hits = np.asarray(hits, np.float32) > 0.5
    out = np.array(fallback, np.float32, copy=True)
    c = hits.shape[-1]
    step = np.arange(hits.shape[-2]) % PLACES[-1]
    for column, table in ((1, self.velocity_PxC), (2, self.offset_PxC)):
      cells = np.broadcast_to(table[step], hits.shape)
      use = hits & ~np.isnan(cells)
      part = out[..., column * c:(column + 1) * c]
      out[..., column * c:(column + 1) * c] = np.where(use, cells, part)
    return out
