"""The most likely single line through a song's notes: weighted interval scheduling.

A sung melody is one line: in POP909 99.7 % of MELODY notes end no more than one frame after
the next MELODY note starts, and two MELODY notes share an onset 64 times in 26,349. A tagger
that scores each note alone can call a doubled octave, or an answering BRIDGE phrase that
sounds with the melody, melody too. ``best_line`` keeps, of the notes a tagger scores, the set
that never overlaps (beyond ``overlap`` frames) with the largest summed log-odds: the maximum a
posteriori line when the notes are independent given the tagger but the line is one voice.

Measured on POP909's 80 test songs (BENCHMARKS.md, "Whole songs, note by note"), the line does
not beat the tagger's own argmax (note F1 0.799 against 0.806 with all the train songs, 0.635
against 0.654 with a tenth, a doubled key press counted once): what it drops is too often the
true melody note (with all the train songs: recall 0.775, precision 0.825).
``melody_notes.Settings.line`` is off by default; every result scores both.
"""

from __future__ import annotations

import numpy as np


def best_line(start, end, log_odds, overlap: int = 1) -> np.ndarray:
  """[n] bool: the non-overlapping notes of largest summed positive ``log_odds``.

  Two notes clash when they share an onset, or when the earlier one ends more than
  ``overlap`` frames after the later one starts. Notes of log-odds <= 0 are never kept.
  Dynamic programming over the notes ordered by their (shortened) end: O(n log n).
  """
  start = np.asarray(start, np.int64)
  end = np.maximum(np.asarray(end, np.int64) - overlap, start + 1)
  weight = np.asarray(log_odds, np.float64)
  n = len(start)
  keep = np.zeros(n, bool)
  candidates = np.flatnonzero(weight > 0)
  if not len(candidates):
    return keep
  order = candidates[np.argsort(end[candidates], kind='stable')]
  ends = end[order]
  # prev[k]: how many of the first notes (by end) finish by the k-th note's start.
  prev = np.searchsorted(ends, start[order], side='right')
  best = np.zeros(len(order) + 1)
  take = np.zeros(len(order), bool)
  for k in range(len(order)):
    with_it = best[prev[k]] + weight[order[k]]
    take[k] = with_it > best[k]
    best[k + 1] = with_it if take[k] else best[k]
  k = len(order)
  while k > 0:
    if take[k - 1]:
      keep[order[k - 1]] = True
      k = prev[k - 1]
    else:
      k -= 1
  return keep
