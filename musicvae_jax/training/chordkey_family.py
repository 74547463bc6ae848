"""The joint chord/key model as a model family: its batches, loss and mir_eval-style scores.

Shapes: B = batch, T = beats, F = 37 features, C = 181 chords, K = 24 keys.

Each stored window (``chordkey.windows``: float32 [T, 42]) becomes ``x`` [T, F],
``chords`` / ``keys`` int32 [T], ``mask`` [T] (real beats), ``seconds`` [T] (beat lengths),
``has_labels`` (the song came with labels) and ``labelled`` (its labels are used in training:
with ``model.labelled_fraction`` < 1 a fixed share of the songs, chosen by a hash of each
song's line in sources.txt, is read unlabelled; with ``model.vae=False`` those windows pass
through without training anything: the classifier alone at that fraction, the baseline the
semi-supervised VAE is measured against).

The loss is ``chordkey.joint.loss``. Evaluation scores the classifier's per-beat argmax against
the labelled beats as mir_eval does, each beat weighted by its length in seconds:
root / majmin / mirex / thirds / sevenths (mir_eval.chord's comparisons, read from [C, C]
tables of every pair of classes; beats whose reference a rule leaves out, such as a dim chord
under majmin, are left out of that score), ``seg`` (mir_eval's segmentation score, min of over-
and under-segmentation, within each window; windows pooled by length), ``key`` (mir_eval's
weighted key score of each beat's key against the beat's region key) and ``chord_accuracy``
(the exact 181-class label).
"""

from __future__ import annotations

import functools
import hashlib

import jax
import jax.numpy as jnp
import numpy as np
import optax

from musicvae_jax.chordkey import joint, vocabulary
from musicvae_jax.chordkey import windows
from musicvae_jax.input_pipeline import pipeline
from musicvae_jax.training import family

CHORD_RULES = ('root', 'majmin', 'mirex', 'thirds', 'sevenths')
F = windows.CHORD


@functools.lru_cache(maxsize=1)
def chord_tables() -> np.ndarray:
  """[5, C, C] float32: mir_eval.chord's score of estimate e against reference r for each rule
  of ``CHORD_RULES`` (-1 where the rule leaves the reference out)."""
  import mir_eval  # pylint: disable=g-import-not-at-top
  labels = [vocabulary.chord_label(i) for i in range(vocabulary.NUM_CHORDS)]
  ref = [r for r in labels for _ in labels]
  est = [e for _ in labels for e in labels]
  shape = (len(labels), len(labels))
  return np.stack([np.asarray(getattr(mir_eval.chord, rule)(ref, est), np.float32).reshape(shape)
                   for rule in CHORD_RULES])


@functools.lru_cache(maxsize=1)
def key_table() -> np.ndarray:
  """[K, K] float32: mir_eval's weighted key score of estimate e against reference r."""
  import mir_eval  # pylint: disable=g-import-not-at-top
  names = [vocabulary.mir_eval_key(vocabulary.key_label(i)) for i in range(vocabulary.NUM_KEYS)]
  return np.array([[mir_eval.key.weighted_score(r, e) for e in names] for r in names],
                  np.float32)


def keeps_labels(source: int, fraction: float) -> bool:
  """Whether the song on line ``source`` of sources.txt keeps its labels (a stable hash)."""
  if fraction >= 1.0:
    return True
  digest = hashlib.sha256(f'labelled:{int(source)}'.encode()).digest()
  return int.from_bytes(digest[:8], 'big') / 2.0**64 < fraction


class ChordKeyExamples:
  """A grain random map: a stored window -> the arrays of a batch (see the module docstring)."""

  def __init__(self, labelled_fraction: float):
    self.labelled_fraction = labelled_fraction

  def __call__(self, example: dict, rng: np.random.Generator) -> dict:
    del rng
    w = example['labels']
    out = {k: v for k, v in example.items() if k != 'labels'}
    mask = w[:, windows.REAL].astype(np.float32)
    has = np.float32(w[:, windows.HAS_LABELS].max(initial=0.0) > 0)
    keep = keeps_labels(example['source'], self.labelled_fraction)
    out.update(x=w[:, :F].astype(np.float32), chords=w[:, windows.CHORD].astype(np.int32),
               keys=w[:, windows.KEY].astype(np.int32), mask=mask,
               seconds=w[:, windows.SECONDS].astype(np.float32), has_labels=has,
               labelled=np.float32(has * keep), lengths=np.int32(mask.sum()))
    return out


def _segment_ids(labels_BxT):
  change = jnp.concatenate([jnp.ones_like(labels_BxT[:, :1], bool),
                            labels_BxT[:, 1:] != labels_BxT[:, :-1]], axis=1)
  return jnp.cumsum(change, axis=1) - 1, change


def segmentation_sums(ref_BxT, est_BxT, w_BxT):
  """(sum over windows of length x mir_eval's seg score, sum of window lengths)."""
  T = ref_BxT.shape[1]
  ref_id, ref_change = _segment_ids(ref_BxT)
  est_id, est_change = _segment_ids(est_BxT)
  piece_id = jnp.cumsum(ref_change | est_change, axis=1) - 1

  def one(ref_id_T, est_id_T, piece_T, w_T):
    pieces = jax.ops.segment_sum(w_T, piece_T, num_segments=T)
    # Every piece lies in one reference segment and one estimated one: its first beat's.
    ref_of = jax.ops.segment_max(ref_id_T, piece_T, num_segments=T)
    est_of = jax.ops.segment_max(est_id_T, piece_T, num_segments=T)
    best_in_ref = jax.ops.segment_max(pieces, ref_of, num_segments=T)
    best_in_est = jax.ops.segment_max(pieces, est_of, num_segments=T)
    total = w_T.sum()
    kept = lambda best: jnp.where(jnp.isfinite(best), jnp.maximum(best, 0.0), 0.0).sum()
    over, under = kept(best_in_ref), kept(best_in_est)   # 1 - directional Hamming, x total
    return jnp.minimum(over, under), total

  seg, total = jax.vmap(one)(ref_id, est_id, piece_id, w_BxT)
  return seg.sum(), total.sum()


class ChordKeyFamily(family.Family):
  """Per-beat chords and keys: the classifier, with the VAE and language models around it."""

  batch_keys = ('x', 'chords', 'keys', 'mask', 'seconds', 'has_labels', 'labelled', 'lengths')
  progress_metric = 'chord_acc'

  def build(self, seed: int = 0):
    from flax import nnx  # pylint: disable=g-import-not-at-top
    return joint.ChordKeyJoint(self.run.model.chordkey, rngs=nnx.Rngs(seed))

  def check_dataset(self, data_dir) -> dict:
    model = self.run.model
    return pipeline.check_fits(data_dir, seq_len=model.seq_len, part_depths=model.part_depths,
                               window_dtype='float32', window_columns=windows.COLUMNS)

  def example_transform(self):
    return ChordKeyExamples(self.run.model.chordkey.labelled_fraction)

  def loss(self, model, batch, key, step):
    del step
    return joint.loss(model, batch, key)

  def eval_sums(self, model, batch, key, step):
    del key, step
    chord_BxTxC, key_BxTxK = model(batch['x'], batch['mask'])
    chord_BxTxC, key_BxTxK = chord_BxTxC.astype(jnp.float32), key_BxTxK.astype(jnp.float32)
    est_c, est_k = jnp.argmax(chord_BxTxC, -1), jnp.argmax(key_BxTxK, -1)
    ref_c, ref_k = batch['chords'], batch['keys']
    beats = batch['mask'] * batch['has_labels'][:, None]
    w = batch['seconds'] * beats
    out = dict(examples=jnp.sum(batch['lengths'] > 0).astype(jnp.float32),
               beats=beats.sum(), seconds=w.sum())
    scores = jnp.asarray(chord_tables())[:, ref_c, est_c]   # [5, B, T]
    for rule, s in zip(CHORD_RULES, scores):
      out[f'{rule}_num'] = (w * jnp.maximum(s, 0.0)).sum()
      out[f'{rule}_den'] = (w * (s >= 0)).sum()
    out['key_num'] = (w * jnp.asarray(key_table())[ref_k, est_k]).sum()
    out['seg_num'], out['seg_den'] = segmentation_sums(ref_c, est_c, w)
    out['chord_hits'] = (beats * (est_c == ref_c)).sum()
    out['chord_ce'] = (beats * optax.softmax_cross_entropy_with_integer_labels(
        chord_BxTxC, ref_c)).sum()
    out['key_ce'] = (beats * optax.softmax_cross_entropy_with_integer_labels(
        key_BxTxK, ref_k)).sum()
    return out

  def summarize(self, totals: dict) -> dict:
    t = {k: float(v) for k, v in totals.items()}
    ratio = lambda a, b: a / b if b > 0 else float('nan')
    out = dict(examples=int(t['examples']), beats=int(t['beats']), seconds=t['seconds'])
    for rule in CHORD_RULES + ('seg',):
      out[rule] = ratio(t[f'{rule}_num'], t[f'{rule}_den'])
    out.update(key=ratio(t['key_num'], t['seconds']),
               chord_accuracy=ratio(t['chord_hits'], t['beats']),
               loss=ratio(t['chord_ce'] + t['key_ce'], t['beats']))
    return out

  def format_table(self, rows: dict[str, dict]) -> str:
    cols = CHORD_RULES + ('seg', 'key', 'chord_accuracy')
    lines = [f'{"split":<8}{"beats":>9}' + ''.join(f'{c:>10}' for c in cols[:-1])
             + f'{"accuracy":>10}{"loss":>9}']
    for split, m in rows.items():
      lines.append(f'{split:<8}{m["beats"]:>9}' + ''.join(f'{m[c]:>10.3f}' for c in cols)
                   + f'{m["loss"]:>9.3f}')
    return '\n'.join(lines)

  def headline(self, metrics: dict) -> str:
    return (f'chords majmin {metrics["majmin"]:.3f}, sevenths {metrics["sevenths"]:.3f}, '
            f'segmentation {metrics["seg"]:.3f}; keys {metrics["key"]:.3f} (mir_eval weighted, '
            f'per beat) over {metrics["beats"]} labelled beats')
