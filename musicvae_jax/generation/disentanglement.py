"""Linear-probe disentanglement scores, for dMelodies-style evaluation (numpy only, no jax).

How well a latent code holds a factor is read by fitting a linear classifier on the codes of
labelled items and scoring its predictions on held-out items by macro-F1, as in the
disentanglement evaluations around dMelodies (Pati et al., ISMIR 2020) and TS-DSAE (Luo et al.).
This module holds the two pieces:

* ``LDA``: linear discriminant analysis, one Gaussian per class with a shared (pooled
  within-class) covariance, ridge-shrunk slightly so that singular features do not break it;
* ``macro_f1``: the mean over classes of per-class F1.

    lda = LDA().fit(z_train, factors_train[:, 0])
    score = macro_f1(factors_test[:, 0], lda.predict(z_test))
"""

from __future__ import annotations

import numpy as np

RIDGE = 1e-6  # added to the covariance's diagonal, times its mean variance


class LDA:
  """Linear discriminant analysis. Classes are the labels present in ``y`` at ``fit``; class k
  scores x·Σ⁻¹μ_k − ½μ_kᵀΣ⁻¹μ_k + log π_k, Σ the pooled within-class covariance (divided by
  N − K) plus ``ridge`` × trace(Σ)/D on its diagonal, π_k the class's share of the items."""

  def __init__(self, ridge: float = RIDGE):
    self.ridge = ridge

  def fit(self, x_NxD: np.ndarray, y_N: np.ndarray) -> LDA:
    """Fits class means, the shared covariance and class priors; returns ``self``."""
    x = np.asarray(x_NxD, np.float64)
    y = np.asarray(y_N)
    if x.ndim != 2 or y.shape != (len(x),) or not len(x):
      raise ValueError(f'LDA.fit wants x [N, D] and y [N], N > 0; got {x.shape} and {y.shape}')
    self.classes_, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    num_classes, dim = len(self.classes_), x.shape[1]
    means = np.zeros((num_classes, dim))
    np.add.at(means, inverse, x)
    means /= counts[:, None]
    centred = x - means[inverse]
    cov = centred.T @ centred / max(len(x) - num_classes, 1)
    scale = np.trace(cov) / dim
    cov[np.diag_indices(dim)] += self.ridge * (scale if scale > 0 else 1.0)
    coef = np.linalg.solve(cov, means.T)  # [D, K]: Σ⁻¹μ_k
    self.means_ = means
    self.priors_ = counts / len(x)
    self.coef_ = coef
    self.intercept_ = -0.5 * np.einsum('kd,dk->k', means, coef) + np.log(self.priors_)
    return self

  def decision_function(self, x_MxD: np.ndarray) -> np.ndarray:
    """[M, K] discriminant of each class (in the order of ``classes_``)."""
    return np.asarray(x_MxD, np.float64) @ self.coef_ + self.intercept_

  def predict(self, x_MxD: np.ndarray) -> np.ndarray:
    """[M] the label of the class with the highest discriminant."""
    return self.classes_[np.argmax(self.decision_function(x_MxD), axis=1)]


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int | None = None) -> float:
  """Mean per-class F1 = 2·TP / (2·TP + FP + FN) over the classes present in ``y_true`` (or
  0..num_classes-1); a class with no true positive scores 0."""
  y_true, y_pred = np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)
  if y_true.shape != y_pred.shape:
    raise ValueError(f'macro_f1 wants as many predictions as labels; got {y_pred.shape} and '
                     f'{y_true.shape}')
  classes = np.unique(y_true) if num_classes is None else np.arange(num_classes)
  if not len(classes):
    raise ValueError('macro_f1 wants at least one class')
  hit = y_true == y_pred
  tp = np.array([np.sum(hit & (y_true == c)) for c in classes])
  fp = np.array([np.sum(~hit & (y_pred == c)) for c in classes])
  fn = np.array([np.sum(~hit & (y_true == c)) for c in classes])
  f1 = np.where(tp > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
  return float(f1.mean())
