"""The joint chord and key classifier trained alone: a bidirectional LSTM over a song's beats.

Shapes: B = batch (chunks), T = beats, F = input features, H = hidden size per direction,
C = 181 chord classes, K = 24 keys.

This is the row of Wu & Yoshii (2022) labelled "classifier without the generative model and
language model": per-beat features -> 2-layer BiLSTM -> a chord head and a key head, trained
by summed per-beat cross-entropies (padding masked). It differs from the paper in its input
(symbolic per-beat chroma from the MIDI, not a CQT of audio: PIANO chroma, PIANO bass chroma,
MELODY+BRIDGE chroma, each normalised by its per-beat maximum, plus a silence flag), its
vocabulary (vocabulary.py's 181 chords, 24 keys), and its decoding (per-beat argmax, no HMM or
CRF smoothing; the global key is the argmax of the song's summed key log-probabilities).

Training samples fixed-length chunks of beats from songs with a seeded numpy RNG and transposes
each chunk by a random k in 0..11 (chroma rolled by k, chord roots and key tonics moved by k).
The LSTM layers are ``models.layers.BiLSTMLayer`` (``LSTMLayer`` pairs run by ``lstm_scan``, a
``lax.scan`` with a hand-written gradient); the backward direction runs on the time-reversed
chunk with the reversed mask, so padding at the end is skipped by both directions.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from musicvae_jax.chordkey import vocabulary
# The features and labels live in features.py (numpy only); named here as before.
from musicvae_jax.chordkey.features import (  # noqa: F401
    NUM_BLOCKS, NUM_FEATURES, Example, example, song_features, song_labels, transpose_chords,
    transpose_features, transpose_keys)
from musicvae_jax.models import layers


# --- batches ----------------------------------------------------------------------------------

def sample_batch(examples, rng: np.random.Generator, batch_size: int, length: int,
                 transpose=True) -> dict:
  """A batch of random chunks: x [B, T, F], chords/keys [B, T], mask [B, T] (1 on real beats)."""
  x = np.zeros((batch_size, length, NUM_FEATURES), np.float32)
  chords = np.zeros((batch_size, length), np.int32)
  keys = np.zeros((batch_size, length), np.int32)
  mask = np.zeros((batch_size, length), np.float32)
  for i in range(batch_size):
    ex = examples[rng.integers(len(examples))]
    n = len(ex.chords_b)
    start = int(rng.integers(max(n - length, 0) + 1))
    sl = slice(start, start + length)
    k = int(rng.integers(12)) if transpose else 0
    m = len(ex.chords_b[sl])
    x[i, :m] = transpose_features(ex.x_bf[sl], k)
    chords[i, :m] = transpose_chords(ex.chords_b[sl], k)
    keys[i, :m] = transpose_keys(ex.keys_b[sl], k)
    mask[i, :m] = 1.0
  return {'x': x, 'chords': chords, 'keys': keys, 'mask': mask}


# --- model ------------------------------------------------------------------------------------

class ChordKeyClassifier(nnx.Module):
  """Per-beat features -> stacked BiLSTM -> chord logits [B, T, C] and key logits [B, T, K]."""

  def __init__(self, hidden_size: int = 128, num_layers: int = 2, *, rngs: nnx.Rngs):
    ins = [NUM_FEATURES] + [2 * hidden_size] * (num_layers - 1)
    self.bilstms = nnx.List([layers.BiLSTMLayer(d, hidden_size, rngs=rngs) for d in ins])
    self.chord_head = layers.Dense(2 * hidden_size, vocabulary.NUM_CHORDS, rngs=rngs)
    self.key_head = layers.Dense(2 * hidden_size, vocabulary.NUM_KEYS, rngs=rngs)

  def __call__(self, x_BxTxF, mask_BxT):
    h_TxBxD = jnp.swapaxes(x_BxTxF, 0, 1)
    mask_TxB = jnp.swapaxes(mask_BxT, 0, 1)
    for bilstm in self.bilstms:
      h_TxBxD = bilstm(h_TxBxD, mask_TxB)
    h_BxTxD = jnp.swapaxes(h_TxBxD, 0, 1)
    return self.chord_head(h_BxTxD), self.key_head(h_BxTxD)


def loss_fn(model: ChordKeyClassifier, batch: dict):
  """Summed masked-mean cross-entropies of the two heads; returns (loss, metrics)."""
  chord_BxTxC, key_BxTxK = model(batch['x'], batch['mask'])
  mask_BxT = batch['mask']
  denom = jnp.maximum(mask_BxT.sum(), 1.0)
  ce_chord = (optax.softmax_cross_entropy_with_integer_labels(chord_BxTxC, batch['chords'])
              * mask_BxT).sum() / denom
  ce_key = (optax.softmax_cross_entropy_with_integer_labels(key_BxTxK, batch['keys'])
            * mask_BxT).sum() / denom
  acc = ((jnp.argmax(chord_BxTxC, -1) == batch['chords']) * mask_BxT).sum() / denom
  return ce_chord + ce_key, {'ce_chord': ce_chord, 'ce_key': ce_key, 'chord_acc': acc}


# --- training ---------------------------------------------------------------------------------

@dataclasses.dataclass
class Trainer:
  """The model's graph, its jitted train step (state donated) and its jitted forward pass."""
  graphdef: object
  tx: optax.GradientTransformation
  train_step: object   # (state, batch) -> (state, metrics)
  predict: object      # (params, x [B, T, F], mask [B, T]) -> (chord, key) log-probabilities
  traces: dict         # how many times each jitted function was traced


def make_trainer(hidden_size=128, num_layers=2, learning_rate=1e-3, seed=0, decay_steps=0):
  """(Trainer, initial state {'params', 'opt', 'step'}); ``decay_steps`` > 0: cosine decay."""
  model = ChordKeyClassifier(hidden_size, num_layers, rngs=nnx.Rngs(seed))
  graphdef, params = nnx.split(model, nnx.Param)
  lr = (optax.cosine_decay_schedule(learning_rate, decay_steps, alpha=0.05) if decay_steps
        else learning_rate)
  tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(lr))
  state = {'params': params, 'opt': tx.init(params), 'step': jnp.zeros((), jnp.int32)}
  traces = {'train_step': 0, 'predict': 0}

  def train_step(state, batch):
    traces['train_step'] += 1

    def loss_of(params):
      return loss_fn(nnx.merge(graphdef, params), batch)

    (loss, metrics), grads = jax.value_and_grad(loss_of, has_aux=True)(state['params'])
    updates, opt = tx.update(grads, state['opt'], state['params'])
    params = optax.apply_updates(state['params'], updates)
    return ({'params': params, 'opt': opt, 'step': state['step'] + 1},
            dict(metrics, loss=loss))

  def predict(params, x_BxTxF, mask_BxT):
    traces['predict'] += 1
    chord_BxTxC, key_BxTxK = nnx.merge(graphdef, params)(x_BxTxF, mask_BxT)
    return jax.nn.log_softmax(chord_BxTxC), jax.nn.log_softmax(key_BxTxK)

  trainer = Trainer(graphdef, tx, jax.jit(train_step, donate_argnums=0), jax.jit(predict),
                    traces)
  return trainer, state


def train(trainer: Trainer, state, examples, steps: int, batch_size=16, length=128, seed=0,
          log_every=0, log=print):
  """Runs ``steps`` train steps on random transposed chunks; returns (state, losses)."""
  rng = np.random.default_rng(seed)
  losses = []
  for i in range(steps):
    state, metrics = trainer.train_step(state, sample_batch(examples, rng, batch_size, length))
    losses.append(float(metrics['loss']))
    if log_every and (i + 1) % log_every == 0:
      log(f'step {i + 1}: loss {np.mean(losses[-log_every:]):.3f} '
          f'chord acc {float(metrics["chord_acc"]):.3f}')
  return state, losses


# --- decoding ---------------------------------------------------------------------------------

def predict_song(trainer: Trainer, params, ex: Example, bucket=128):
  """Per-beat log-probabilities of a whole song: (chords [B, C], keys [B, K]).

  The song is padded to a multiple of ``bucket`` beats so few lengths are compiled.
  """
  n = len(ex.chords_b)
  t = -(-n // bucket) * bucket
  x = np.zeros((1, t, NUM_FEATURES), np.float32)
  x[0, :n] = ex.x_bf
  mask = np.zeros((1, t), np.float32)
  mask[0, :n] = 1.0
  chord_lp, key_lp = trainer.predict(params, x, mask)
  return np.asarray(chord_lp[0, :n]), np.asarray(key_lp[0, :n])


def decode(chord_lp_BxC, key_lp_BxK):
  """(per-beat chord labels, per-beat key labels, global key label) by argmax."""
  chords = [vocabulary.chord_label(int(c)) for c in np.argmax(chord_lp_BxC, axis=1)]
  keys = [vocabulary.key_label(int(k)) for k in np.argmax(key_lp_BxK, axis=1)]
  global_key = vocabulary.key_label(int(np.argmax(key_lp_BxK.sum(axis=0))))
  return chords, keys, global_key
