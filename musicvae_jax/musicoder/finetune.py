"""Fine-tuning and probing MusiCoder's encoder on a labelled task.

Shapes: B = batch, T = frames, P = pitch channels, D = width, C = classes.

``TaskModel`` is the encoder (``models.musicoder.MusiCoder``, pretrained or freshly initialised)
with a task head: ``composer`` a class per window from the frames' mean, trained with
class-balanced cross-entropy (each class weighs as much, as macro-F1 scores them); ``melody``
a logit per onset cell from the frame's hidden vector, the pitch and the cell's neighbourhood
(``models.musicoder.CellHead``), trained with binary cross-entropy over the window's onset cells.

``mode='probe'`` trains the head alone on the frozen encoder (a linear probe);
``mode='finetune'`` trains both, the encoder at ``encoder_lr``. One jitted step with donated
state; batches are drawn from ``seed``, so a run is reproducible.

Early stopping stays inside the labels budget: ``valid_fraction`` of the labelled train files
(whole files, per class for classification, at least one) are held out, scored every
``eval_every`` steps (window macro-F1 or note F1), and the parameters of the best check are the
ones kept and tested. A transformer fitted to a few dozen songs otherwise learns them by heart
(train loss 0.06, test note F1 0.50 on POP909 melody identification).
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


def task_loss(task: str, outputs, labels, windows, class_weights):
  if task == 'composer':
    ce = optax.softmax_cross_entropy_with_integer_labels(outputs, labels)
    w = class_weights[labels]
    return jnp.sum(ce * w) / jnp.maximum(jnp.sum(w), 1e-6)
  notes = (windows >= pianoroll.FIRST_ONSET).astype(jnp.float32)
  bce = optax.sigmoid_binary_cross_entropy(outputs, labels.astype(jnp.float32))
  return jnp.sum(bce * notes) / jnp.maximum(jnp.sum(notes), 1.0)


class Trainer:
  """Trains a TaskModel's head (probe) or head and encoder (finetune) on a Split."""

  def __init__(self, model: TaskModel, settings: Settings):
    if settings.mode not in MODES:
      raise ValueError(f'mode={settings.mode!r}: one of {", ".join(MODES)}.')
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
                         class_weights)
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
      self.trainable, self.opt_state, loss = self._step(
          self.trainable, self.opt_state, self.frozen, jnp.asarray(train.windows[pick]),
          jnp.asarray(train.labels[pick]), weights)
      losses.append(loss)
      if valid is not None and ((step + 1) % s.eval_every == 0 or step + 1 == s.steps):
        figure = headline(self.task, score(self.task, self.predict(valid.windows), valid))
        if figure > self.best_valid:
          self.best_step, self.best_valid = step + 1, figure
          best = jax.tree.map(lambda x: jnp.array(x, copy=True), self.trainable)
    if best is not None:
      self.trainable = best
    return [float(x) for x in losses]

  def predict(self, windows_NxTxP, batch: int = 256) -> np.ndarray:
    """Composer: class probabilities [N, C]; melody: melody cells [N, T, P] bool."""
    out = []
    for lo in range(0, len(windows_NxTxP), batch):
      chunk = windows_NxTxP[lo:lo + batch]
      pad = batch - len(chunk)
      padded = np.concatenate([chunk, np.zeros((pad,) + chunk.shape[1:], chunk.dtype)])
      logits = np.asarray(self._predict(self.trainable, self.frozen, jnp.asarray(padded)))
      logits = logits[:len(chunk)]
      out.append(np.asarray(jax.nn.softmax(logits, -1)) if self.task == 'composer'
                 else logits > 0.0)
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
  return result
