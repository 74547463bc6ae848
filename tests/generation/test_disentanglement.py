"""Linear-probe disentanglement scores: LDA reads dMelodies factors from real generated items,
macro-F1 matches hand-computed values, and both agree with scikit-learn where it is installed."""

import numpy as np
import pytest

from musicvae_jax.converters import dmelodies
from musicvae_jax.generation.disentanglement import LDA, macro_f1

TRAIN = 20_000


@pytest.fixture(scope='module')
def items():
  """24,000 distinct items at seeded random indices: the first 20,000 to fit, the rest held out."""
  return dmelodies.generate(np.random.default_rng(0).choice(dmelodies.NUM_ITEMS, 24_000, False))


def _heights(items) -> np.ndarray:
  """[N, 16] the pitch of each slot, 0 on rests."""
  return np.maximum(items.pitches(), 0).astype(np.float64)


def _raw(items) -> np.ndarray:
  """[N, 32] pitch heights and the played mask."""
  pitches = items.pitches()
  return np.concatenate([np.maximum(pitches, 0), pitches >= 0], 1).astype(np.float64)


def _pitch_classes(items) -> np.ndarray:
  """[N, 12] how many of an item's notes fall on each pitch class."""
  pitches = items.pitches()
  counts = np.zeros((len(pitches), 12))
  rows, slots = np.nonzero(pitches >= 0)
  np.add.at(counts, (rows, pitches[rows, slots] % 12), 1)
  return counts


def _probe(x, y):
  lda = LDA().fit(x[:TRAIN], y[:TRAIN])
  return macro_f1(y[TRAIN:], lda.predict(x[TRAIN:]))


def test_lda_reads_tonic_from_pitches_and_pitch_classes(items):
  x = np.concatenate([_raw(items), _pitch_classes(items)], 1)
  scores = {name: _probe(x, items.factors[:, i]) for i, name in enumerate(dmelodies.FACTOR_NAMES)}
  assert scores['tonic'] > 0.9, scores  # chance: 1/12
  for name in ('octave', 'scale', 'rhythm_bar1', 'rhythm_bar2'):
    assert scores[name] > 0.99, scores


def test_lda_on_raw_pitches(items):
  x = _raw(items)
  f1 = lambda i: _probe(x, items.factors[:, i])
  # Octave, rhythm and scale are linear in the raw heights and mask (scale along a direction
  # with no within-class variance at all, which the ridge keeps usable) ...
  assert min(f1(1), f1(2), f1(3), f1(4)) > 0.99
  # ... tonic is not: 12 semitones up is the next octave's tonic 0 (about 0.12 here).
  assert 1 / 12 < f1(0) < 0.3


def test_lda_on_a_noisy_one_hot_of_any_labels(items):
  labels = items.factors[:, 0] * 5 - 7  # tonic as arbitrary ints
  x = np.eye(12)[items.factors[:, 0]] + np.random.default_rng(3).normal(0, 0.2, (len(labels), 12))
  lda = LDA().fit(x[:TRAIN], labels[:TRAIN])
  predicted = lda.predict(x[TRAIN:])
  np.testing.assert_array_equal(lda.classes_, np.arange(12) * 5 - 7)
  assert set(predicted) <= set(labels)
  assert macro_f1(labels[TRAIN:], predicted) > 0.99


def test_lda_ignores_a_constant_feature(items):
  x = _heights(items)
  y = items.factors[:, 2]
  padded = np.concatenate([x, np.full((len(x), 1), 3.0)], 1)
  np.testing.assert_array_equal(LDA().fit(x[:TRAIN], y[:TRAIN]).predict(x[TRAIN:]),
                                LDA().fit(padded[:TRAIN], y[:TRAIN]).predict(padded[TRAIN:]))


def test_lda_wants_matching_rows():
  with pytest.raises(ValueError):
    LDA().fit(np.zeros((3, 2)), np.zeros(2))


def test_macro_f1_by_hand():
  assert macro_f1([0, 1, 2, 2], [0, 1, 2, 2]) == 1.0
  assert macro_f1([0, 1, 2, 2], [1, 2, 0, 0]) == 0.0
  # class 0: TP 2, FP 0, FN 1 -> 4/5; class 1: TP 1, FP 1 (item 2), FN 1 (item 4) -> 2/4;
  # class 2: TP 1, FP 1 (item 4), FN 0 -> 2/3; mean (4/5 + 1/2 + 2/3) / 3 = 59/90.
  assert macro_f1([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2]) == pytest.approx(59 / 90, abs=1e-15)
  # A predicted label outside y_true's classes only costs the true class: (1 + 0) / 2.
  assert macro_f1([0, 1], [0, 5]) == 0.5
  # num_classes counts classes absent from y_true, at F1 0: (1 + 0 + 0) / 3.
  assert macro_f1([0, 0], [0, 0], num_classes=3) == pytest.approx(1 / 3)
  with pytest.raises(ValueError):
    macro_f1([0, 1], [0])


def test_matches_sklearn(items):
  pytest.importorskip('sklearn')
  # pylint: disable=g-import-not-at-top
  from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
  from sklearn.metrics import f1_score

  # Grouped by these factors, heights have a full-rank within-class covariance, so lstsq and
  # the ridge agree. (Grouped by scale they do not: some mix of heights is fixed by the scale,
  # a direction sklearn's lstsq cuts off, reading scale at F1 ~0.3; the ridge reads it at 1.)
  x = _heights(items)
  for factor in (0, 1, 3, 5):
    y = items.factors[:, factor]
    ours = LDA().fit(x[:TRAIN], y[:TRAIN]).predict(x[TRAIN:])
    theirs = LinearDiscriminantAnalysis(solver='lsqr').fit(x[:TRAIN], y[:TRAIN]).predict(
        x[TRAIN:])
    assert (ours == theirs).mean() >= 0.99, dmelodies.FACTOR_NAMES[factor]
    assert macro_f1(y[TRAIN:], ours) == pytest.approx(f1_score(y[TRAIN:], ours, average='macro'),
                                                      abs=1e-12)

  rng = np.random.default_rng(4)
  for _ in range(20):
    y_true = rng.integers(0, 5, 50)
    y_pred = np.where(rng.random(50) < 0.5, y_true, rng.integers(0, 5, 50))
    labels = np.unique(y_true)
    assert macro_f1(y_true, y_pred) == pytest.approx(
        f1_score(y_true, y_pred, labels=labels, average='macro', zero_division=0), abs=1e-12)
