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

    path, vectors, meta = from_dataset(model, 'data/reels')      # encode a prepared split
    vector = vector_for(model, 'note_density')                   # the model's own file
    result = apply(model, windows.labels, 'note_density', vector, [-1, 0, 1], key=key)
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import numpy as np

from musicvae_jax import errors
from musicvae_jax import progress as progress_bars
from musicvae_jax.generation import attribute_metrics
from musicvae_jax.input_pipeline import pipeline

FILE = 'attribute_vectors.npz'
_TIE_SEED = 20180305  # fixed, so the same windows give the same vectors
MIN_GROUP = 32


class VectorsError(errors.UserError, ValueError):
  """Vectors that cannot be made or used: too few windows, another model's, no such attribute."""


class VectorsNotFound(errors.UserError, FileNotFoundError):
  """No attribute-vector file where one was looked for."""


def compute(mu_NxZ, labels_NxTxP, kind: str) -> tuple[dict, dict]:
  """(vectors {attribute: [Z]}, statistics {attribute: {...}}) from codes and their windows."""
  mu = np.asarray(mu_NxZ, np.float64)
  values = attribute_metrics.compute(labels_NxTxP, kind)
  n = len(mu)
  quarter = n // 4
  if quarter < 1:
    raise VectorsError(f'{n} windows: attribute vectors need at least 4 (hundreds in practice).')
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
    raise VectorsNotFound(f'{path}: no attribute vectors there; make them with '
                            '`musicvae-attributes compute --data=<prepared dir> --output=...`.')
  with np.load(path) as npz:
    meta = json.loads(str(npz['meta']))
    vectors = {k[len('vector/'):]: npz[k] for k in npz.files if k.startswith('vector/')}
  return vectors, meta


def check_fits(path, meta: dict, model) -> None:
  """Vectors are directions in one model's z: refuse those of another model."""
  if meta.get('z_size') != model.spec.z_size or meta.get('config') != model.name:
    raise VectorsError(
        f'{path} holds vectors of {meta.get("config")} (z size {meta.get("z_size")}, from '
        f'{meta.get("workdir")}), not of this {model.name} model (z size {model.spec.z_size}). '
        'Compute vectors with the same --workdir you apply them with.')


# ---- with a trained model ----------------------------------------------------------------------
def own_file(model) -> pathlib.Path:
  """Where a model keeps its vectors: beside its parameters (the bundled models ship theirs)."""
  return pathlib.Path(model.info.get('workdir', '.')) / FILE


def from_dataset(model, data_dir, *, split: str = 'train', max_windows: int = 20000,
                 output=None, progress: bool = True) -> tuple[pathlib.Path, dict, dict]:
  """(path written, vectors, meta): the vectors of the first ``max_windows`` of a prepared split.

  The windows are read in order and encoded (mu) batch by batch. ``output`` defaults to
  ``own_file(model)``, except for a bundled model, whose folder is part of the installed package:
  its vectors go to ./attribute_vectors.npz instead.
  """
  # Refused before the dataset is read, as compute would refuse them after encoding it all.
  attribute_metrics.attribute_names(model.converter.kind)  # a kind attributes are defined on
  if max_windows < 4:
    raise VectorsError(f'max_windows={max_windows}: attribute vectors need at least 4 windows '
                       '(hundreds in practice).')
  pipeline.check_fits(data_dir, seq_len=model.spec.seq_len, part_depths=model.spec.part_depths)
  ds = pipeline.eval_dataset(data_dir, batch_size=model.max_batch_size, split=split)
  labels, mus = [], []
  total = min(len(ds), -(-max_windows // model.max_batch_size))
  batches = progress_bars.bar(ds, total=total, desc='encode', unit='batch', enabled=progress)
  for i, batch in enumerate(batches):
    if i >= total:
      break
    real = batch['lengths'] > 0  # the last batch is padded with empty windows
    labels.append(batch['labels'][real])
    mus.append(model.encode_labels(batch['labels'][real])[1])
  labels = np.concatenate(labels)[:max_windows]
  mu = np.concatenate(mus)[:max_windows]
  vectors, stats = compute(mu, labels, model.converter.kind)
  default = pathlib.Path(FILE) if model.info.get('bundled') else own_file(model)
  meta = dict(config=model.name, z_size=model.spec.z_size, step=model.step,
              workdir=model.info.get('workdir'), data=str(data_dir), split=split,
              windows=len(labels), statistics=stats)
  return save(output or default, vectors, meta), vectors, meta


def table(statistics: dict) -> list[str]:
  """The statistics of ``compute`` (or a file's ``meta['statistics']``) as lines of a table."""
  lines = [f'{"attribute":<18} {"bottom group":>19} {"top group":>19} {"|vector|":>9}']
  for name, s in statistics.items():
    flag = '  (degenerate: the groups do not differ)' if s['degenerate'] else ''
    bottom = f'{s["bottom_mean"]:.3f} ({s["bottom_count"]})'
    top = f'{s["top_mean"]:.3f} ({s["top_count"]})'
    lines.append(f'{name:<18} {bottom:>19} {top:>19} {s["norm"]:>9.2f}{flag}')
  return lines


def vector_for(model, attribute: str, path=None) -> np.ndarray:
  """[Z]: the ``attribute`` vector of ``path`` (default ``own_file(model)``), checked to fit."""
  path = pathlib.Path(path) if path else own_file(model)
  vectors = model.attribute_vectors(path)
  if attribute not in vectors:
    raise VectorsError(f'--attribute={attribute}: {path} has {", ".join(sorted(vectors))}.')
  return vectors[attribute]


@dataclasses.dataclass(frozen=True)
class Steered:
  """An input steered by several amounts of one attribute vector, one piece per amount."""
  attribute: str
  amounts: tuple[float, ...]
  values: tuple[float, ...]  # the attribute measured on each result, mean over its windows
  labels: np.ndarray  # [A, N, T, P]
  pieces: list  # A NoteSequences, each result's windows joined


def apply(model, labels_NxTxP, attribute: str, vector_Z, amounts, *, key,
          temperature: float = 1.0) -> Steered:
  """Each window decoded from mu + amount × vector for every amount (``model.steer``), measured.

  ``amounts`` are numbers, or strings that read as numbers (as a command's flag holds them).
  """
  amounts = tuple(float(k) for k in amounts)
  labels = model.steer(labels_NxTxP, vector_Z, amounts, key=key, temperature=temperature)
  kind = model.converter.kind
  values = tuple(float(np.mean(attribute_metrics.compute(mine, kind)[attribute]))
                 for mine in labels)
  return Steered(attribute, amounts, values, labels, [model.to_piece(mine) for mine in labels])
