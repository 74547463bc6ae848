"""MusiCoder's masked pretraining on a song's notes: the body of ``melody_notes.NoteTagger``
learns from unlabelled songs before it sees a label.

Shapes: B = batch, L = notes in a chunk, F = ``melody_notes.NOTE_FEATURES``.

The piano-roll MusiCoder (``models.musicoder``) hides contiguous frames (CFM) and contiguous
pitch channels (CCM) of a roll and rebuilds them. The same two objectives over a song's notes
in onset order: CFM hides spans of consecutive notes (``span`` notes on average, ``share`` of
the chunk in all); CCM hides every note of the chunk inside one band of ``band`` semitones (a
band of channels across the whole chunk). A hidden note keeps only its place in the bar; its
pitch becomes the mask token and its features zero, and the model rebuilds its pitch (88-way
cross-entropy) and its features (squared error). Context features of the notes left in view
(height against the top sounding note, rank in the onset) are computed with the hidden notes
present, so they still carry a trace of them: the task is to place a note the context implies,
not to guess blind.

Pretraining uses only the notes: the songs' track labels are never read. ``pretrain`` returns
the parameters ``melody_notes.Tagger(params=...)`` starts from.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from musicvae_jax.musicoder import melody_notes

MASK_PITCH = 88
OBJECTIVES = ('cfm', 'ccm', 'both')


@dataclasses.dataclass
class PretrainSettings:
  steps: int = 1500
  objectives: str = 'both'
  share: float = 0.15   # CFM: the share of a chunk's notes hidden, in spans
  span: int = 8         # CFM: mean notes in a span
  band: int = 6         # CCM: semitones of the hidden band
  tagger: melody_notes.Settings = dataclasses.field(default_factory=melody_notes.Settings)


def hide(batch: dict, rng: np.random.Generator, settings: PretrainSettings) -> np.ndarray:
  """[B, L] bool: the notes of each chunk to hide (only where ``batch['mask']`` is set)."""
  if settings.objectives not in OBJECTIVES:
    raise ValueError(f'objectives must be one of {OBJECTIVES}, not {settings.objectives!r}.')
  real = batch['mask'] > 0
  hidden = np.zeros(real.shape, bool)
  for b in range(real.shape[0]):
    m = int(real[b].sum())
    if not m:
      continue
    if settings.objectives in ('cfm', 'both'):
      for _ in range(max(1, round(settings.share * m / settings.span))):
        length = int(rng.integers(1, 2 * settings.span))
        lo = int(rng.integers(max(m - length, 0) + 1))
        hidden[b, lo:lo + length] = True
    if settings.objectives in ('ccm', 'both'):
      pitches = batch['ints'][b, :m, 0]
      lo = int(rng.integers(pitches.min() - settings.band + 1, pitches.max() + 1))
      hidden[b, :m] |= (pitches >= lo) & (pitches < lo + settings.band)
  return hidden & real


class Pretrainer:
  """A ``NoteTagger`` trained to rebuild hidden notes: jitted train step, state donated."""

  def __init__(self, settings: PretrainSettings):
    self.settings = settings
    tagger = settings.tagger
    model = melody_notes.NoteTagger(0, tagger.hidden, attention_heads=tagger.attention_heads,
                                    dropout=tagger.dropout, rngs=nnx.Rngs(tagger.seed))
    self.graphdef, params = nnx.split(model, nnx.Param)
    self.tx = melody_notes.optimizer(tagger.learning_rate, settings.steps)
    self.state = {'params': params, 'opt': self.tx.init(params)}
    self.traces = 0
    self._train_step = jax.jit(self._step, donate_argnums=0)

  def _step(self, state, batch):
    self.traces += 1

    def loss_of(params):
      model = nnx.merge(self.graphdef, params)
      hidden_BxL = batch['hidden']
      x = jnp.where(hidden_BxL[..., None], 0.0, batch['x'])
      ints = batch['ints'].at[..., 0].set(jnp.where(hidden_BxL, MASK_PITCH,
                                                    batch['ints'][..., 0]))
      out = model.recon(model.hidden(x, ints, batch['mask'], jax.random.key(batch['seed'])))
      pitch_ce = optax.softmax_cross_entropy_with_integer_labels(out[..., :88],
                                                                 batch['ints'][..., 0])
      feature_se = jnp.mean(jnp.square(out[..., 88:] - batch['x']), axis=-1)
      weight = hidden_BxL.astype(jnp.float32)
      count = jnp.maximum(jnp.sum(weight), 1.0)
      pitch, features = jnp.sum(pitch_ce * weight) / count, jnp.sum(feature_se * weight) / count
      return pitch + features, (pitch, features)

    (loss, parts), grads = jax.value_and_grad(loss_of, has_aux=True)(state['params'])
    updates, opt = self.tx.update(grads, state['opt'], state['params'])
    return {'params': optax.apply_updates(state['params'], updates), 'opt': opt}, (loss, parts)

  def fit(self, songs: list[melody_notes.Song], log_every: int = 0, log=print,
          progress=None) -> list[dict]:
    """Pretrains on ``songs``' notes (their classes unread); one dict of losses a step.
    ``progress(steps, total)`` wraps the step loop (a bar)."""
    prepared = [melody_notes.song_inputs(s) + (np.zeros(len(s), np.int32),) for s in songs]
    if prepared[0][0].shape[1] != len(melody_notes.NOTE_FEATURES):
      raise ValueError('note pretraining reads the note features alone; these songs carry '
                       'encoder features too.')
    rng = np.random.default_rng(self.settings.tagger.seed)
    history = []
    steps = range(self.settings.steps)
    for i in (progress(steps, len(steps)) if progress else steps):
      batch = melody_notes.sample_batch(prepared, rng, self.settings.tagger)
      batch['hidden'] = hide(batch, rng, self.settings)
      del batch['y']
      self.state, (loss, (pitch, features)) = self._train_step(self.state, batch)
      history.append(dict(loss=float(loss), pitch=float(pitch), features=float(features)))
      if log_every and (i + 1) % log_every == 0:
        recent = history[-log_every:]
        log(f'pretrain step {i + 1}: pitch {np.mean([h["pitch"] for h in recent]):.3f} '
            f'features {np.mean([h["features"] for h in recent]):.4f}')
    return history


def pretrain(songs: list[melody_notes.Song], settings: PretrainSettings, log_every: int = 0,
             log=print, progress=None):
  """(the pretrained parameters, the loss history) of a ``Pretrainer`` fit on ``songs``."""
  pretrainer = Pretrainer(settings)
  history = pretrainer.fit(songs, log_every, log, progress)
  return pretrainer.state['params'], history
