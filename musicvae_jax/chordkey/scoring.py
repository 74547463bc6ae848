"""mir_eval scores for per-beat chord and key estimates.

Chords: mir_eval.chord.evaluate on intervals built from the beat grid (the reference is the
song's chord_midi.txt segments as written, the estimate its per-beat labels with runs merged),
giving root, majmin, mirex, thirds, sevenths and seg (segmentation: min of over/under
segmentation). Songs are pooled weighted by duration, as MIREX does.

Keys: mir_eval.key.weighted_score (1 same key, 0.5 fifth, 0.3 relative, 0.2 parallel). Global:
one estimate per song against the main key. Per region: the per-beat estimate against each
beat's region key, weighted by beat duration (only meaningful where a song changes key).
"""

import numpy as np
import mir_eval

from musicvae_jax.chordkey import vocabulary

CHORD_METRICS = ('root', 'majmin', 'mirex', 'thirds', 'sevenths', 'seg')


def beat_intervals(beat_times_b1: np.ndarray, labels_b):
  """Merge runs of equal per-beat labels: (intervals [S, 2], labels [S])."""
  starts, out = [0], [labels_b[0]]
  for i in range(1, len(labels_b)):
    if labels_b[i] != labels_b[i - 1]:
      starts.append(i)
      out.append(labels_b[i])
  ends = starts[1:] + [len(labels_b)]
  return np.column_stack([beat_times_b1[starts], beat_times_b1[ends]]), out


def chord_scores(ref_intervals_s2, ref_labels, beat_times_b1, est_labels_b) -> dict:
  est_intervals_s2, est_labels = beat_intervals(beat_times_b1, list(est_labels_b))
  scores = mir_eval.chord.evaluate(np.asarray(ref_intervals_s2), list(ref_labels),
                                   est_intervals_s2, est_labels)
  return {m: float(scores[m]) for m in CHORD_METRICS}


def song_chord_scores(song, est_labels_b) -> dict:
  ref = np.array([[s.start_s, s.end_s] for s in song.chord_segments])
  return chord_scores(ref, [s.label for s in song.chord_segments], song.beat_times_b1,
                      est_labels_b)


def key_score(ref_label: str, est_label: str) -> float:
  return float(mir_eval.key.weighted_score(vocabulary.mir_eval_key(ref_label),
                                           vocabulary.mir_eval_key(est_label)))


def region_key_score(song, est_keys_b) -> float:
  """Beat-duration-weighted key score of per-beat estimates against per-beat region keys."""
  dur_b = np.diff(song.beat_times_b1)
  ref_b = song.key_labels_b()
  s_b = np.array([key_score(r, e) for r, e in zip(ref_b, est_keys_b)])
  return float((s_b * dur_b).sum() / dur_b.sum())


def pool(per_song: list, weights) -> dict:
  """Weighted mean of each metric over songs."""
  w = np.asarray(weights, dtype=float)
  return {m: float(np.dot([s[m] for s in per_song], w) / w.sum()) for m in per_song[0]}


def evaluate(songs, estimates) -> dict:
  """Scores of per-beat estimates [(chord labels [B], key labels [B], global key)], one per song:
  chord metrics pooled by duration, 'key_global' (mean over songs), 'key_region' (mean over
  the songs with a key change; nan if none) and 'region_songs'."""
  per_song, glob, region = [], [], []
  for song, (chords_b, keys_b, global_key) in zip(songs, estimates):
    per_song.append(song_chord_scores(song, chords_b))
    glob.append(key_score(song.main_key(), global_key))
    if len(song.key_segments) > 1:
      region.append(region_key_score(song, keys_b))
  out = pool(per_song, [s.beat_times_b1[-1] - s.beat_times_b1[0] for s in songs])
  out.update(key_global=float(np.mean(glob)),
             key_region=float(np.mean(region)) if region else float('nan'),
             region_songs=len(region))
  return out
