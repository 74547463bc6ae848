"""Melody identification note by note over a whole song: a BiLSTM over the song's notes.

Shapes: n = notes of a song (in onset order, highest pitch first within an onset), F = note
features, E = the frozen encoder's width (0 without one), B = batch, L = notes in a chunk.

The window models of ``finetune`` see four bars; whether a line is the sung melody or the
instrumental BRIDGE that answers it is often only clear from the song around it. Here every
note of a song is one step of a 2-layer BiLSTM, so a chunk of ``L`` notes (512: about a third
of a POP909 song) is read at once in training and the whole song at test time. A note is one
key press: copies of a pitch struck at one frame on several tracks are merged (``song_notes``).
Each note's input is its pitch and place in the bar (embedded), ``NOTE_FEATURES`` (duration,
velocity, height against the highest and lowest sounding pitch, its rank in its onset, the
gaps to the onsets around it, its place in the song) and, optionally, a frozen MusiCoder
encoder's hidden state at the note's onset frame (``song_notes.encoder_features``: the roll cut
into non-overlapping windows). The head gives three classes (other, BRIDGE, MELODY); a note is
the melody when MELODY is its argmax, or, with ``Settings.line``, when it is on the best single
line through the song (``monophonic.best_line``). Optional: dropout, a self-attention layer
over the whole song, and a start from masked-note pretraining (``note_pretrain``). Training
transposes each chunk by a random k in ±``transpose`` semitones (pitch and the pitch feature
move; encoder features are read at the untransposed pitch). Measured on POP909 (BENCHMARKS.md,
"Whole songs, note by note"): the note features alone do best; the frozen encoder's 128
features a note let a few songs be learnt by heart; the single line and masked-note
pretraining do not help.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from musicvae_jax.models import layers
from musicvae_jax.musicoder import monophonic
from musicvae_jax.musicoder import tasks
# A song's notes, their features and scores live in song_notes; named here too, where the
# tagger's users have always found them.
from musicvae_jax.musicoder.song_notes import NOTE_FEATURES  # noqa: F401
from musicvae_jax.musicoder.song_notes import PITCH_FEATURE
from musicvae_jax.musicoder.song_notes import TRACK_CLASSES
from musicvae_jax.musicoder.song_notes import UNLABELLED
from musicvae_jax.musicoder.song_notes import Song
from musicvae_jax.musicoder.song_notes import encoder_features  # noqa: F401
from musicvae_jax.musicoder.song_notes import note_counts
from musicvae_jax.musicoder.song_notes import note_features
from musicvae_jax.musicoder.song_notes import read_song  # noqa: F401
from musicvae_jax.musicoder.song_notes import read_split
from musicvae_jax.musicoder.song_notes import skyline

class NoteTagger(nnx.Module):
  """Note features -> a stacked BiLSTM over the song's notes (-> optional self-attention over
  the whole song, residual) -> [B, L, 3] class logits. ``key`` turns on dropout (training)."""

  def __init__(self, extra: int = 0, hidden: int = 128, num_layers: int = 2,
               attention_heads: int = 0, dropout: float = 0.0, *, rngs: nnx.Rngs):
    self.dropout = dropout
    self.pitch_embed = nnx.Embed(89, 64, rngs=rngs)   # 88: a note hidden in pretraining
    self.place_embed = nnx.Embed(16, 16, rngs=rngs)
    self.inp = layers.Dense(len(NOTE_FEATURES) + 80 + extra, hidden, rngs=rngs)
    self.bilstms = nnx.List([
        layers.BiLSTMLayer(hidden if k == 0 else 2 * hidden, hidden, rngs=rngs)
        for k in range(num_layers)])
    self.attention = (nnx.MultiHeadAttention(attention_heads, 2 * hidden, decode=False,
                                             rngs=rngs) if attention_heads else None)
    self.norm = nnx.LayerNorm(2 * hidden, rngs=rngs) if attention_heads else None
    self.head = layers.Dense(2 * hidden, 3, rngs=rngs)
    # Masked-note pretraining (``note_pretrain``): a hidden note's pitch and its features.
    self.recon = layers.Dense(2 * hidden, 88 + len(NOTE_FEATURES), rngs=rngs)

  def _drop(self, x, key, k):
    if key is None or not self.dropout:
      return x
    keep = jax.random.bernoulli(jax.random.fold_in(key, k), 1.0 - self.dropout, x.shape)
    return jnp.where(keep, x / (1.0 - self.dropout), 0.0)

  def __call__(self, x_BxLxF, ints_BxLx2, mask_BxL, key=None):
    return self.head(self.hidden(x_BxLxF, ints_BxLx2, mask_BxL, key))

  def hidden(self, x_BxLxF, ints_BxLx2, mask_BxL, key=None):
    """[B, L, 2H]: each note's state in the song, before either head."""
    x = jnp.concatenate([x_BxLxF, self.pitch_embed(ints_BxLx2[..., 0]),
                         self.place_embed(ints_BxLx2[..., 1])], axis=-1)
    h_LxBxD = jnp.swapaxes(self._drop(jnp.tanh(self.inp(x)), key, 0), 0, 1)
    mask_LxB = jnp.swapaxes(mask_BxL, 0, 1)
    for k, bilstm in enumerate(self.bilstms):
      h_LxBxD = self._drop(bilstm(h_LxBxD, mask_LxB), key, k + 1)
    h_BxLxD = jnp.swapaxes(h_LxBxD, 0, 1)
    if self.attention is not None:
      seen_BxHxLxL = nnx.make_attention_mask(mask_BxL, mask_BxL)
      h_BxLxD = self.norm(h_BxLxD + self._drop(self.attention(h_BxLxD, mask=seen_BxHxLxL),
                                              key, 99))
    return h_BxLxD


@dataclasses.dataclass
class Settings:
  steps: int = 1500
  batch_size: int = 16
  length: int = 512
  learning_rate: float = 2e-3
  hidden: int = 128
  transpose: int = 6
  seed: int = 0
  attention_heads: int = 0   # > 0: a self-attention layer over the whole song on the BiLSTM
  dropout: float = 0.0
  line: bool = False         # keep only the most likely single line (``monophonic``)


def song_inputs(song: Song):
  """A song's tagger inputs: ([n, F (+ E)] float features, [n, 2] int pitch and place)."""
  x, ints = note_features(song)
  return (np.concatenate([x, song.extra], axis=-1) if song.extra is not None else x), ints


def sample_batch(prepared, rng: np.random.Generator, settings: Settings) -> dict:
  """Random chunks of ``length`` notes, each transposed by a random k: x, ints, y, mask."""
  B, L = settings.batch_size, settings.length
  width = prepared[0][0].shape[1]
  batch = dict(x=np.zeros((B, L, width), np.float32), ints=np.zeros((B, L, 2), np.int32),
               y=np.zeros((B, L), np.int32), mask=np.zeros((B, L), np.float32),
               seed=np.int32(rng.integers(2**31 - 1)))
  for b in range(B):
    x, ints, y = prepared[rng.integers(len(prepared))]
    lo = int(rng.integers(max(len(y) - L, 0) + 1))
    m = len(y[lo:lo + L])
    k = int(rng.integers(-settings.transpose, settings.transpose + 1))
    batch['x'][b, :m] = x[lo:lo + m]
    batch['x'][b, :m, PITCH_FEATURE] += k / 12.0
    batch['ints'][b, :m] = ints[lo:lo + m]
    batch['ints'][b, :m, 0] = np.clip(ints[lo:lo + m, 0] + k, 0, 87)
    batch['y'][b, :m] = y[lo:lo + m]
    batch['mask'][b, :m] = 1.0
  return batch


def optimizer(learning_rate: float, steps: int) -> optax.GradientTransformation:
  """Adam, gradients clipped to norm 1, the rate decaying to 0 over ``steps`` (a cosine)."""
  return optax.chain(optax.clip_by_global_norm(1.0), optax.adam(
      optax.cosine_decay_schedule(learning_rate, steps)))


class Tagger:
  """A ``NoteTagger`` with its jitted train step (state donated) and forward pass."""

  def __init__(self, settings: Settings, extra: int = 0, params=None):
    """``params``: a start other than a fresh draw (a ``note_pretrain`` result)."""
    self.settings = settings
    model = NoteTagger(extra, settings.hidden, attention_heads=settings.attention_heads,
                       dropout=settings.dropout, rngs=nnx.Rngs(settings.seed))
    self.graphdef, fresh = nnx.split(model, nnx.Param)
    if params is not None and (jax.tree.structure(params) != jax.tree.structure(fresh) or any(
        a.shape != b.shape for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(fresh)))):
      raise ValueError('the pretrained note model has another shape (hidden size, attention '
                       'heads or encoder features differ); pretrain with these settings.')
    params = fresh if params is None else jax.tree.map(jnp.copy, params)   # steps donate
    self.tx = optimizer(settings.learning_rate, settings.steps)
    self.state = {'params': params, 'opt': self.tx.init(params)}
    self.traces = {'train_step': 0, 'logits': 0}
    self._train_step = jax.jit(self._step, donate_argnums=0)
    self._logits = jax.jit(self._forward)

  def _forward(self, params, x, ints, mask):
    self.traces['logits'] += 1
    return nnx.merge(self.graphdef, params)(x, ints, mask)

  def _step(self, state, batch):
    self.traces['train_step'] += 1

    def loss_of(params):
      logits = nnx.merge(self.graphdef, params)(batch['x'], batch['ints'], batch['mask'],
                                                jax.random.key(batch['seed']))
      ce = optax.softmax_cross_entropy_with_integer_labels(logits, batch['y'])
      return jnp.sum(ce * batch['mask']) / jnp.maximum(jnp.sum(batch['mask']), 1.0)

    loss, grads = jax.value_and_grad(loss_of)(state['params'])
    updates, opt = self.tx.update(grads, state['opt'], state['params'])
    return {'params': optax.apply_updates(state['params'], updates), 'opt': opt}, loss

  def fit(self, songs: list[Song], log_every: int = 0, log=print) -> list[float]:
    prepared = [song_inputs(s) + (s.classes,) for s in songs]
    rng = np.random.default_rng(self.settings.seed)
    losses = []
    for i in range(self.settings.steps):
      self.state, loss = self._train_step(self.state, sample_batch(prepared, rng, self.settings))
      losses.append(float(loss))
      if log_every and (i + 1) % log_every == 0:
        log(f'step {i + 1}: loss {np.mean(losses[-log_every:]):.4f}')
    return losses

  def scores(self, song: Song, bucket: int = 1024) -> np.ndarray:
    """[n, 3] class log-probabilities; the song is padded to a multiple of ``bucket``."""
    x, ints = song_inputs(song)
    n = len(song)
    padded = -(-n // bucket) * bucket
    pad = lambda a: np.concatenate([a, np.zeros((padded - n,) + a.shape[1:], a.dtype)])[None]
    mask = pad(np.ones(n, np.float32))
    logits = self._logits(self.state['params'], pad(x), pad(ints), mask)
    return np.asarray(jax.nn.log_softmax(logits), np.float64)[0, :n]

  def predict(self, song: Song, line: bool | None = None) -> np.ndarray:
    """[n] bool: the notes read as melody: the best single line (``monophonic.best_line``)
    when ``line`` (default ``settings.line``), else every note whose argmax is MELODY."""
    return call(self.scores(song), song, self.settings.line if line is None else line)


def call(scores_Nx3, song: Song, line: bool) -> np.ndarray:
  """[n] bool melody calls from a song's class log-probabilities (see ``Tagger.predict``)."""
  melody = TRACK_CLASSES[tasks.MELODY_TRACK]
  if not line:
    return scores_Nx3.argmax(-1) == melody
  p = np.clip(np.exp(scores_Nx3[:, melody]), 1e-9, 1 - 1e-9)
  return monophonic.best_line(song.start, song.end, np.log(p) - np.log1p(-p))


def subsample(songs: list[Song], fraction: float, seed: int) -> list[Song]:
  """The same songs ``tasks.subsample_groups`` keeps of a melody split at this seed."""
  if fraction >= 1.0:
    return list(songs)
  paths = np.unique([s.path for s in songs])
  chosen = set(np.random.default_rng(seed).permutation(paths)[
      :max(1, round(fraction * len(paths)))])
  return [s for s in songs if s.path in chosen]


def run(songs: dict[str, list[Song]], settings: Settings, labels_fraction: float = 1.0,
        log_every: int = 0, log=print, params=None) -> dict:
  """Trains on ``labels_fraction`` of the train songs (from ``params``, a pretrained note
  model, if given), scores the test songs: a result dict."""
  train = subsample(songs['train'], labels_fraction, settings.seed)
  extra = 0 if train[0].extra is None else train[0].extra.shape[1]
  tagger = Tagger(settings, extra, params)
  losses = tagger.fit(train, log_every=log_every, log=log)
  total = lambda counts: {k: sum(c[k] for c in counts) for k in counts[0]}
  scores = [tagger.scores(s) for s in songs['test']]
  calls = {line: [call(x, s, line) for x, s in zip(scores, songs['test'])]
           for line in (False, True)}
  f1 = {line: tasks.note_f1(total([note_counts(c, s) for c, s in zip(called, songs['test'])]))
        for line, called in calls.items()}
  predicted = calls[settings.line]
  called = total([note_counts(p, s) for p, s in zip(predicted, songs['test'])])
  classes = np.concatenate([s.classes for s in songs['test']])
  predicted = np.concatenate(predicted)
  by_track = {name: float(predicted[classes == code].mean()) if np.any(classes == code) else 0.0
              for name, code in (('other', 0), *TRACK_CLASSES.items())}
  sky = total([note_counts(skyline(s), s) for s in songs['test']])
  # Every note's argmax among the three classes (MELODY, BRIDGE, the rest), the figure note
  # taggers elsewhere report beside the melody's F1.
  accuracy = float(np.mean(np.concatenate([x.argmax(-1) for x in scores]) == classes))
  return dict(task='melody', head='song', seed=settings.seed, labels_fraction=labels_fraction,
              train_files=len(train), test_files=len(songs['test']), steps=settings.steps,
              encoder_features=extra, pretrained_notes=params is not None,
              final_loss=float(np.mean(losses[-100:])),
              note_f1=tasks.note_f1(called), note_f1_argmax=f1[False], note_f1_line=f1[True],
              line=settings.line, attention_heads=settings.attention_heads,
              dropout=settings.dropout,
              precision=called['tp'] / max(called['tp'] + called['fp'], 1),
              recall=called['tp'] / max(called['tp'] + called['fn'], 1),
              skyline_note_f1=tasks.note_f1(sky), notes=called['notes'],
              accuracy_3_classes=accuracy, called_melody_by_track=by_track)


def run_split_file(split_file, encoder, data_spec, settings: Settings,
                   labels_fraction: float = 1.0, pretrain_steps: int = 0,
                   objectives: str = 'both') -> dict:
  """``run`` on a split file's train and test songs, with ``encoder``'s frozen features (None:
  the note features alone); ``data_spec`` names the piano roll (its workdir's or config's
  data). ``pretrain_steps`` > 0: masked-note pretraining (``note_pretrain``, ``objectives``)
  first, on the notes of every train song and every ``unlabelled`` row. Progress bars."""
  from musicvae_jax import converters, progress  # pylint: disable=g-import-not-at-top
  from musicvae_jax.musicoder import embedding  # pylint: disable=g-import-not-at-top
  from musicvae_jax.musicoder import note_pretrain  # pylint: disable=g-import-not-at-top
  pretrain = (note_pretrain.PretrainSettings(pretrain_steps, objectives, tagger=settings)
              if pretrain_steps > 0 else None)
  if pretrain is not None and encoder is not None:
    raise ValueError('masked-note pretraining reads the note features alone; give it without '
                     'a pretrained encoder (--config=musicoder).')
  converter = converters.get_converter(data_spec)
  embedder = embedding.Embedder(encoder, converter) if encoder is not None else None
  skipped = []
  splits = ('train', 'test') + ((UNLABELLED,) if pretrain is not None else ())
  songs = read_split(split_file, converter, embedder, splits,
                     lambda rows, n: progress.bar(rows, total=n, desc='songs', unit='song'),
                     skipped)
  params, extra = None, {}
  if pretrain is not None:
    corpus = songs['train'] + songs.get(UNLABELLED, [])
    wall, cpu = time.time(), time.process_time()
    params, history = note_pretrain.pretrain(corpus, pretrain, progress=lambda steps, n: (
        progress.bar(steps, total=n, desc='pretrain', unit='step')))
    extra = dict(pretrain_songs=len(corpus), pretrain_steps=pretrain.steps,
                 objectives=pretrain.objectives, pretrain_wall_s=round(time.time() - wall),
                 pretrain_cpu_s=round(time.process_time() - cpu),
                 pretrain_pitch_loss=float(np.mean([h['pitch'] for h in history[-100:]])))
  extra['unlabelled_skipped'] = skipped
  result = run(songs, settings, labels_fraction, params=params)
  result.update(extra)
  return result
