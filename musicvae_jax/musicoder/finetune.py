"""Fine-tuning and probing MusiCoder's encoder on a labelled task.

Shapes: B = batch, T = frames, P = pitch channels, D = width, C = classes.

``TaskModel`` is the encoder (``models.musicoder.MusiCoder``, pretrained or freshly initialised)
with a task head: ``composer`` a class per window from the frames' mean, trained with
class-balanced cross-entropy (each class weighs as much, as macro-F1 scores them); ``melody``
a logit per onset cell from the frame's hidden vector, the pitch and the cell's neighbourhood
(``models.musicoder.CellHead``). A melody is one line, so by default (``melody_loss='frame'``)
each frame that holds a note is one choice, among its onset cells and 'none', trained with
cross-entropy and read back as at most one note a frame; ``'cells'`` scores every onset cell on
its own (binary cross-entropy). ``transpose`` shifts each training window by a random number of
semitones (up to that many, up or down): melody and accompaniment move together, so the labels
stay true, and a few dozen songs are no longer learnt in the keys they happen to be in.

``mode='probe'`` trains the head alone on the frozen encoder (a linear probe);
``mode='finetune'`` trains both, the encoder at ``encoder_lr``. One jitted step with donated
state; batches are drawn from ``seed``, so a run is reproducible.

Early stopping stays inside the labels budget: ``valid_fraction`` of the labelled train files
(whole files, per class for classification, at least one) are held out, scored every
``eval_every`` steps (window macro-F1 or note F1), and the parameters of the best check are the
ones kept and tested. A transformer fitted to a few dozen songs otherwise learns them by heart
(without transposition: train loss 0.06, best held-out check at step 100 of 400).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from musicvae_jax import checkpointing
from musicvae_jax import errors
from musicvae_jax.converters import pianoroll
from musicvae_jax.models import musicoder
from musicvae_jax.musicoder import tasks
from musicvae_jax.training import loop

MODES = ('probe', 'finetune')
HEAD = nnx.All(nnx.Param, nnx.PathContains('head'))


class NotAMusiCoderError(errors.UserError, ValueError):
  """A --pretrained workdir that holds another model, or no checkpoint."""


def load_encoder(workdir, step=None) -> musicoder.MusiCoder:
  """The pretrained MusiCoder of a ``musicvae-pretrain`` workdir (latest or ``step``)."""
  run = checkpointing.load_run_spec(workdir)
  if run.model.family != 'musicoder':
    raise NotAMusiCoderError(f'{workdir} holds a {run.name} model; --pretrained needs a '
                             'musicvae-pretrain workdir (--config=musicoder*).')
  session, params, _ = loop.restore_params(workdir, step=step)
  if params is None:
    raise NotAMusiCoderError(f'{workdir} has no checkpoint yet; pretrain it first.')
  return nnx.merge(session.graphdef, nnx.State(params))


class TaskModel(nnx.Module):
  """The encoder with a composer or melody head."""

  def __init__(self, encoder: musicoder.MusiCoder, task: str, num_classes: int, *,
               rngs: nnx.Rngs):
    self.encoder = encoder
    self.task = task
    if task == 'composer':
      self.head = musicoder.ClassifierHead(encoder.width, num_classes, rngs=rngs)
    else:
      self.head = musicoder.CellHead(encoder.width, encoder.num_pitches, rngs=rngs)

  def __call__(self, windows_BxTxP):
    hidden = self.encoder.encode(windows_BxTxP)
    return self.head(hidden) if self.task == 'composer' else self.head(hidden, windows_BxTxP)


@dataclasses.dataclass(frozen=True)
class Settings:
  mode: str = 'finetune'
  steps: int = 600
  batch_size: int = 32
  head_lr: float = 1e-3
  encoder_lr: float = 1e-3
  seed: int = 0
  eval_every: int = 50
  valid_fraction: float = 0.2
  transpose: int = 0  # each training window shifted by up to this many semitones, up or down
  melody_loss: str = 'frame'  # 'frame': one choice a frame; 'cells': each note on its own


def transposed(windows_BxTxP, labels, shifts_B):
  """Windows (and melody targets [B, T, P]) moved by ``shifts_B`` semitones; what leaves the
  88 keys is dropped, never wrapped round. Class labels ([B]) are left as they are."""
  P = windows_BxTxP.shape[-1]
  source = np.arange(P)[None, :] - np.asarray(shifts_B)[:, None]          # [B, P]
  inside = (source >= 0) & (source < P)
  index = np.clip(source, 0, P - 1)[:, None, :]

  def take(x):
    moved = np.take_along_axis(x, np.broadcast_to(index, x.shape), axis=-1)
    return np.where(inside[:, None, :], moved, 0).astype(x.dtype)

  return take(windows_BxTxP), (take(labels) if labels.ndim == 3 else labels)


MELODY_LOSSES = ('frame', 'cells')
_NOT_A_NOTE = -1e9


def frame_choice_logits(logits_BxTxP, windows_BxTxP):
  """[B, T, 1 + P]: per frame, the logits of 'no melody note here' (fixed at 0) and of each of
  the frame's onset cells (cells that are not an onset cannot be chosen)."""
  notes = windows_BxTxP >= pianoroll.FIRST_ONSET
  cells = jnp.where(notes, logits_BxTxP, _NOT_A_NOTE)
  return jnp.concatenate([jnp.zeros(cells.shape[:-1] + (1,), cells.dtype), cells], axis=-1)


def task_loss(task: str, outputs, labels, windows, class_weights, melody_loss='frame'):
  """Composer: class-balanced cross-entropy. Melody, 'cells': binary cross-entropy over the
  onset cells, each on its own; 'frame': a melody is one line, so each frame with a note is one
  choice among its onset cells and 'none' (cross-entropy of that choice; the rare frame where
  the melody starts two notes at once scores the mean over them)."""
  if task == 'composer':
    ce = optax.softmax_cross_entropy_with_integer_labels(outputs, labels)
    w = class_weights[labels]
    return jnp.sum(ce * w) / jnp.maximum(jnp.sum(w), 1e-6)
  notes = windows >= pianoroll.FIRST_ONSET
  if melody_loss == 'cells':
    bce = optax.sigmoid_binary_cross_entropy(outputs, labels.astype(jnp.float32))
    return jnp.sum(bce * notes) / jnp.maximum(jnp.sum(notes), 1.0)
  choice = jax.nn.log_softmax(frame_choice_logits(outputs, windows), axis=-1)
  melody = (labels & notes).astype(choice.dtype)
  count = jnp.sum(melody, axis=-1)
  chosen = jnp.where(count > 0, jnp.sum(choice[..., 1:] * melody, -1) / jnp.maximum(count, 1.0),
                     choice[..., 0])
  frames = jnp.any(notes, axis=-1).astype(choice.dtype)
  return -jnp.sum(chosen * frames) / jnp.maximum(jnp.sum(frames), 1.0)


def melody_cells(logits_NxTxP, windows_NxTxP, decode='frame') -> np.ndarray:
  """[N, T, P] bool: 'cells', every onset cell with a positive logit; 'frame', at most one a
  frame: its best onset cell, where that beats 'none' (logit 0)."""
  logits, windows = np.asarray(logits_NxTxP), np.asarray(windows_NxTxP)
  notes = windows >= pianoroll.FIRST_ONSET
  if decode == 'cells':
    return notes & (logits > 0.0)
  cells = np.where(notes, logits, _NOT_A_NOTE)
  best = np.argmax(cells, axis=-1)
  return (np.arange(cells.shape[-1]) == best[..., None]) & (cells > 0.0)


class Trainer:
  """Trains a TaskModel's head (probe) or head and encoder (finetune) on a Split."""

  def __init__(self, model: TaskModel, settings: Settings):
    if settings.mode not in MODES:
      raise ValueError(f'mode={settings.mode!r}: one of {", ".join(MODES)}.')
    if settings.melody_loss not in MELODY_LOSSES:
      raise ValueError(f'melody_loss={settings.melody_loss!r}: one of '
                       f'{", ".join(MELODY_LOSSES)}.')
    self.settings = settings
    self.task = model.task
    self.graphdef, head, encoder, self.rest = nnx.split(model, HEAD, nnx.Param, ...)
    self.trainable = {'head': head}
    self.frozen = {'encoder': encoder}
    rates = {'head': settings.head_lr}
    if settings.mode == 'finetune':
      self.trainable['encoder'] = self.frozen.pop('encoder')
      rates['encoder'] = settings.encoder_lr
    self.tx = optax.multi_transform(
        {k: optax.adam(r) for k, r in rates.items()},
        lambda params: {k: jax.tree.map(lambda _, k=k: k, v) for k, v in params.items()})
    # The step donates what it trains: copies, so the encoder given stays usable elsewhere.
    self.trainable = jax.tree.map(lambda x: jnp.array(x, copy=True), self.trainable)
    self.opt_state = self.tx.init(self.trainable)

  def _model(self, trainable, frozen):
    parts = {**trainable, **frozen}
    return nnx.merge(self.graphdef, parts['head'], parts['encoder'], self.rest)

  @functools.cached_property
  def _step(self):
    def step(trainable, opt_state, frozen, windows, labels, class_weights):
      def loss_fn(t):
        return task_loss(self.task, self._model(t, frozen)(windows), labels, windows,
                         class_weights, self.settings.melody_loss)
      loss, grads = jax.value_and_grad(loss_fn)(trainable)
      updates, opt_state = self.tx.update(grads, opt_state, trainable)
      return optax.apply_updates(trainable, updates), opt_state, loss
    return jax.jit(step, donate_argnums=(0, 1))

  @functools.cached_property
  def _predict(self):
    return jax.jit(lambda trainable, frozen, windows: self._model(trainable, frozen)(windows))

  def fit(self, train: tasks.Split, valid: tasks.Split | None = None,
          progress=None) -> list[float]:
    """Trains for ``settings.steps`` batches drawn from ``train``; the losses. With ``valid``,
    keeps the parameters that scored best on it (``best_step``, ``best_valid``)."""
    s = self.settings
    rng = np.random.default_rng(s.seed)
    if self.task == 'composer':
      counts = np.bincount(train.labels, minlength=len(train.classes)).astype(np.float32)
      weights = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / len(counts), 0.0)
    else:
      weights = np.ones(1, np.float32)
    weights = jnp.asarray(weights, jnp.float32)
    order = np.zeros(0, int)
    losses = []
    self.best_step, self.best_valid, best = 0, -1.0, None
    steps = range(s.steps) if progress is None else progress(range(s.steps))
    for step in steps:
      if len(order) < s.batch_size:
        order = np.concatenate([order, rng.permutation(len(train))])
      pick, order = order[:s.batch_size], order[s.batch_size:]
      windows, labels = train.windows[pick], train.labels[pick]
      if s.transpose:
        windows, labels = transposed(windows, labels,
                                     rng.integers(-s.transpose, s.transpose + 1, len(pick)))
      self.trainable, self.opt_state, loss = self._step(
          self.trainable, self.opt_state, self.frozen, jnp.asarray(windows),
          jnp.asarray(labels), weights)
      losses.append(loss)
      if valid is not None and ((step + 1) % s.eval_every == 0 or step + 1 == s.steps):
        figure = headline(self.task, score(self.task, self.predict(valid.windows), valid))
        if figure > self.best_valid:
          self.best_step, self.best_valid = step + 1, figure
          best = jax.tree.map(lambda x: jnp.array(x, copy=True), self.trainable)
    if best is not None:
      self.trainable = best
    return [float(x) for x in losses]

  def predict(self, windows_NxTxP, batch: int = 256, decode=None) -> np.ndarray:
    """Composer: class probabilities [N, C]; melody: melody cells [N, T, P] bool, read as the
    loss trained them (``decode``: 'frame' or 'cells', ``melody_cells``)."""
    out = []
    for lo in range(0, len(windows_NxTxP), batch):
      chunk = windows_NxTxP[lo:lo + batch]
      pad = batch - len(chunk)
      padded = np.concatenate([chunk, np.zeros((pad,) + chunk.shape[1:], chunk.dtype)])
      logits = np.asarray(self._predict(self.trainable, self.frozen, jnp.asarray(padded)))
      logits = logits[:len(chunk)]
      out.append(np.asarray(jax.nn.softmax(logits, -1)) if self.task == 'composer'
                 else melody_cells(logits, chunk, decode or self.settings.melody_loss))
    return np.concatenate(out)


def headline(task: str, scores: dict) -> float:
  """The figure a task is judged by: window macro-F1 (composer) or note F1 (melody)."""
  return scores['macro_f1' if task == 'composer' else 'note_f1']


def score(task: str, predicted, split: tasks.Split) -> dict:
  """Composer: macro-F1 over windows and over pieces; melody: note F1, precision, recall."""
  if task == 'composer':
    return tasks.composer_scores(predicted, split)
  counts = tasks.note_counts(predicted, split.labels, split.windows)
  return dict(note_f1=tasks.note_f1(counts),
              precision=counts['tp'] / max(counts['tp'] + counts['fp'], 1),
              recall=counts['tp'] / max(counts['tp'] + counts['fn'], 1),
              notes=counts['notes'], windows=len(split))


def run(task: str, data: dict, *, encoder: musicoder.MusiCoder, settings: Settings,
        labels_fraction: float = 1.0, progress=None) -> dict:
  """Subsamples the train files, trains, scores the test split: the result as a dict."""
  missing = [name for name in ('train', 'test') if name not in data]
  if missing:
    raise tasks.SplitFileError(f'the split file has no {" and no ".join(missing)} rows; '
                               'fine-tuning trains on the train rows and scores the test rows.')
  labelled = tasks.subsample_groups(data['train'], labels_fraction, settings.seed)
  train, valid = tasks.hold_out(labelled, settings.valid_fraction, settings.seed)
  num_classes = len(data['train'].classes) or 1
  model = TaskModel(encoder, task, num_classes, rngs=nnx.Rngs(settings.seed + 1))
  trainer = Trainer(model, settings)
  losses = trainer.fit(train, valid, progress=progress)
  result = dict(task=task, mode=settings.mode, seed=settings.seed,
                labels_fraction=labels_fraction, train_files=len(np.unique(labelled.groups)),
                valid_files=len(np.unique(valid.groups)) if valid is not None else 0,
                train_windows=len(labelled), steps=settings.steps, final_loss=losses[-1],
                best_step=trainer.best_step, best_valid=trainer.best_valid,
                **score(task, trainer.predict(data['test'].windows), data['test']))
  if task == 'melody':  # the other decode of the same logits, for comparison
    other = 'cells' if settings.melody_loss == 'frame' else 'frame'
    result[f'note_f1_{other}_decode'] = score(
        task, trainer.predict(data['test'].windows, decode=other), data['test'])['note_f1']
  return result
