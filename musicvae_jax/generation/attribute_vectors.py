"""Attribute vectors (MusicVAE paper, section 5.5): directions in z that move a musical attribute.

For each attribute of ``attribute_metrics``, the windows of a dataset are ranked by it; the
vector is the mean mu of the top quarter minus the mean mu of the bottom quarter. One value can
fill more than a quarter: syncopation is 0 in most folk-tune windows. Then the quarter on that
side would be padded with windows of the tied value and the vector diluted, so the group on the
other side is instead every window strictly beyond the tie (if there are at least
``MIN_GROUP``); the group sizes and their mean attribute values are stored with the vector, and
a vector whose groups do not differ is flagged ``degenerate``. Ranks break remaining ties in a
fixed pseudo-random order. Applying adds ``k × vector`` to an input's mu before decoding.

Saved as one ``.npz``: ``vector/<attribute>`` arrays [Z] plus a JSON ``meta`` entry (model, data,
window count, per-attribute statistics).
"""

from __future__ import annotations

import json
import pathlib

import numpy as np

from musicvae_jax.generation import attribute_metrics

FILE = 'attribute_vectors.npz'
_TIE_SEED = 20180305  # fixed, so the same windows give the same vectors
MIN_GROUP = 32


def kind_of(config) -> str:
  return str(config.data.converter)


def compute(mu_NxZ, labels_NxTxP, kind: str) -> tuple[dict, dict]:
  """(vectors {attribute: [Z]}, statistics {attribute: {...}}) from codes and their windows."""
  mu = np.asarray(mu_NxZ, np.float64)
  values = attribute_metrics.compute(labels_NxTxP, kind)
  n = len(mu)
  quarter = n // 4
  if quarter < 1:
    raise ValueError(f'{n} windows: attribute vectors need at least 4 (hundreds in practice).')
  tiebreak = np.random.default_rng(_TIE_SEED).permutation(n)
  vectors, stats = {}, {}
  for name in attribute_metrics.attribute_names(kind):
    v = np.asarray(values[name], np.float64)
    order = np.lexsort((tiebreak, v))  # ascending by value, ties in the fixed random order
    bottom, top = order[:quarter], order[-quarter:]
    if v[top].min() == v[bottom].max():  # one value spans the boundary of a quarter
      tie = v[top].min()
      above, below = np.flatnonzero(v > tie), np.flatnonzero(v < tie)
      if MIN_GROUP <= len(above) < quarter:
        top = above
      if MIN_GROUP <= len(below) < quarter:
        bottom = below
    vectors[name] = (mu[top].mean(0) - mu[bottom].mean(0)).astype(np.float32)
    top_mean, bottom_mean = float(v[top].mean()), float(v[bottom].mean())
    stats[name] = dict(top_mean=top_mean, bottom_mean=bottom_mean, top_count=len(top),
                       bottom_count=len(bottom), mean=float(v.mean()),
                       std=float(v.std()), nonzero=float(np.mean(v != 0)),
                       norm=float(np.linalg.norm(vectors[name])),
                       degenerate=bool(top_mean <= bottom_mean))
  return vectors, stats


def save(path, vectors: dict, meta: dict) -> pathlib.Path:
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  arrays = {f'vector/{k}': v for k, v in vectors.items()}
  np.savez(path, meta=np.asarray(json.dumps(meta, sort_keys=True)), **arrays)
  return path


def load(path) -> tuple[dict, dict]:
  path = pathlib.Path(path)
  if not path.exists():
    raise FileNotFoundError(f'{path}: no attribute vectors there; make them with '
                            '`musicvae-attributes compute --data=<prepared dir> --output=...`.')
  with np.load(path) as npz:
    meta = json.loads(str(npz['meta']))
    vectors = {k[len('vector/'):]: npz[k] for k in npz.files if k.startswith('vector/')}
  return vectors, meta


def check_fits(path, meta: dict, model) -> None:
  """Vectors are directions in one model's z: refuse those of another model."""
  if meta.get('z_size') != model.spec.z_size or meta.get('config') != model.name:
    raise ValueError(
        f'{path} holds vectors of {meta.get("config")} (z size {meta.get("z_size")}, from '
        f'{meta.get("workdir")}), not of this {model.name} model (z size {model.spec.z_size}). '
        'Compute vectors with the same --workdir you apply them with.')
