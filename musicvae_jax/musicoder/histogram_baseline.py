"""The composer-classification baseline: pitch-class and interval histograms, logistic regression.

Each excerpt is one piano-roll window, labels [T=64 frames, P=88 pitches] (``composer_corpus``'s
``PianoRollConverter(slice_bars=4, min_notes=4)``); only its onsets (label >= 2) are read.
``excerpt_features`` turns it into 49 numbers, three histograms each normalised to sum 1 (or all
zero where the window has nothing to count):

* [0:12] pitch classes of the onsets (C = 0);
* [12:37] melodic intervals -12..12 semitones: the highest onset pitch of each frame that has
  onsets, minus that of the previous such frame (frames without onsets are passed over), clipped
  to [-12, 12];
* [37:49] vertical intervals mod 12: every pair of onsets in the same frame, upper minus lower.

Transposing a window by k semitones rolls the first histogram by k and leaves the others as they
are. ``fit_and_score`` trains scikit-learn's LogisticRegression (standardised features, balanced
class weights) on the windows of a ``tasks.Split`` and scores a test Split with
``tasks.composer_scores``: macro-F1 over every test window and over every test piece (the argmax
of its windows' mean probabilities). ``evaluate`` does so per fraction of training pieces
(``tasks.subsample_groups``) and seed, on the splits ``tasks.load('composer', ...)`` reads.
"""

from __future__ import annotations

import numpy as np
from sklearn import linear_model, pipeline, preprocessing

from musicvae_jax.converters import pianoroll
from musicvae_jax.musicoder import tasks

MAX_INTERVAL = 12
NUM_FEATURES = 12 + (2 * MAX_INTERVAL + 1) + 12
MAX_ITER = 5000  # logistic regression's lbfgs steps; not converging in these is an error


def _normalised(counts: np.ndarray) -> np.ndarray:
  total = counts.sum()
  return counts / total if total else counts.astype(np.float64)


def excerpt_features(window_TxP: np.ndarray, min_pitch: int = 21) -> np.ndarray:
  """[49] float64: the three histograms of the module docstring, of one window [T, P]."""
  frame, channel = np.nonzero(np.asarray(window_TxP) >= pianoroll.FIRST_ONSET)  # frame-sorted
  pitch = channel + min_pitch
  pitch_class = np.bincount(pitch % 12, minlength=12)
  melodic = np.zeros(2 * MAX_INTERVAL + 1, np.int64)
  vertical = np.zeros(12, np.int64)
  frames = np.unique(frame)
  if len(frames):
    top = np.array([pitch[frame == f].max() for f in frames])
    steps = np.clip(np.diff(top), -MAX_INTERVAL, MAX_INTERVAL) + MAX_INTERVAL
    melodic += np.bincount(steps, minlength=len(melodic))
  for f in frames:
    chord = pitch[frame == f]
    upper, lower = np.triu_indices(len(chord), k=1)
    vertical += np.bincount(np.abs(chord[upper] - chord[lower]) % 12, minlength=12)
  return np.concatenate([_normalised(pitch_class), _normalised(melodic), _normalised(vertical)])


def features_of(windows_NxTxP: np.ndarray) -> np.ndarray:
  """[N, 49] features of a stack of windows."""
  return np.stack([excerpt_features(w) for w in windows_NxTxP]).reshape(-1, NUM_FEATURES)


def _model():
  return pipeline.make_pipeline(
      preprocessing.StandardScaler(),
      linear_model.LogisticRegression(max_iter=MAX_ITER, class_weight='balanced'))


def fit_and_score(train: tasks.Split, test: tasks.Split, train_x=None, test_x=None) -> dict:
  """``tasks.composer_scores`` (macro-F1 over windows and over pieces) of a standardised,
  class-balanced logistic regression fitted on ``train``'s windows and applied to ``test``'s.

  ``train_x``/``test_x``: the splits' ``features_of``, when the caller already has them.
  Probabilities are laid out over every class of ``test.classes``; a class missing from
  ``train`` (a subsample) gets probability 0.
  """
  train_x = features_of(train.windows) if train_x is None else np.asarray(train_x)
  test_x = features_of(test.windows) if test_x is None else np.asarray(test_x)
  for name, split, x in (('train', train, train_x), ('test', test, test_x)):
    if x.shape != (len(split), NUM_FEATURES):
      raise ValueError(f'{name}_x: {x.shape} features for {len(split)} windows '
                       f'(expected [{len(split)}, {NUM_FEATURES}])')
  model = _model().fit(train_x, train.labels)
  if model[-1].n_iter_.max() >= MAX_ITER:
    raise RuntimeError(f'logistic regression did not converge in {MAX_ITER} iterations')
  probs = np.zeros((len(test), len(test.classes)))
  probs[:, model.classes_] = model.predict_proba(test_x)
  return tasks.composer_scores(probs, test)


def evaluate(split_csv, fractions=(1.0, 0.1), seeds=(0, 1, 2), data=None) -> list[dict]:
  """One row per fraction of training pieces (``tasks.subsample_groups``, per seed).

  Each row: 'fraction', 'seeds', per-seed macro-F1 over test windows 'f1' and over test pieces
  'piece_f1', their 'mean'/'std' and 'piece_mean'/'piece_std' (ddof 0), the train piece and
  window counts (mean over seeds) and the test ones. ``data``: ``tasks.load('composer',
  split_csv)``'s result, when the caller already has it.
  """
  data = data or tasks.load('composer', split_csv)
  train, test = data['train'], data['test']
  train_x, test_x = features_of(train.windows), features_of(test.windows)
  rows = []
  for fraction in fractions:
    scores, train_pieces, train_windows = [], [], []
    for seed in seeds:
      kept = tasks.subsample_groups(train, fraction, seed)
      keep = np.isin(train.groups, np.unique(kept.groups))  # ``take`` keeps the order
      scores.append(fit_and_score(kept, test, train_x=train_x[keep], test_x=test_x))
      train_pieces.append(len(np.unique(kept.groups)))
      train_windows.append(len(kept))
    f1 = [s['macro_f1'] for s in scores]
    piece_f1 = [s['piece_macro_f1'] for s in scores]
    rows.append({'fraction': fraction, 'seeds': list(seeds), 'f1': f1, 'piece_f1': piece_f1,
                 'mean': float(np.mean(f1)), 'std': float(np.std(f1)),
                 'piece_mean': float(np.mean(piece_f1)), 'piece_std': float(np.std(piece_f1)),
                 'train_pieces': float(np.mean(train_pieces)),
                 'train_windows': float(np.mean(train_windows)),
                 'test_pieces': scores[0]['pieces'], 'test_windows': scores[0]['windows']})
  return rows
