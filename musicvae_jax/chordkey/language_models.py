"""Chord language models: p(chord_t | the chords before, the key), for the chord/key model.

Chords are modelled relative to the key of their beat (the chord moved down by the key's tonic,
so C:maj in C major and D:maj in D major are one event), with the key's mode as a condition; the
model's probability of an absolute chord is that of its key-relative class. Two models:

* ``Transition``: first order, p(c_t | c_{t-1}, mode) from counts with add-alpha smoothing and a
  start row;
* ``Recurrent``: an LSTM over the key-relative chord sequence (previous chord and mode as one-hot
  rows of the layer's kernel, the project's ``lstm.lstm_scan``), a softmax over the next chord;
  trained on random crops of the training songs with one jitted, donated step.

``unigram`` is the reference they must beat. Sequences come at two grains: one chord per beat
(what a per-beat generative model emits, dominated by repeats) and one per chord change
(``changes``: repeats collapsed, which is where harmony is predicted). ``perplexity`` scores any
of them on held-out songs. Shapes: T steps, B batch, C = 181 chord classes.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from musicvae_jax.chordkey import classifier, vocabulary
from musicvae_jax.models import layers, lstm

C = vocabulary.NUM_CHORDS
START = C  # the previous-chord input of the first step


@dataclasses.dataclass(frozen=True)
class Sequence:
  """A song's key-relative chords [T] and its mode per step [T] (0 major, 1 minor)."""
  chords: np.ndarray
  modes: np.ndarray


def relative(chords_b, keys_b) -> Sequence:
  """Each beat's chord moved down by its key's tonic; its key's mode."""
  chords_b, keys_b = np.asarray(chords_b), np.asarray(keys_b)
  moved = np.stack([classifier.transpose_chords(chords_b, -k) for k in range(12)])
  return Sequence(moved[keys_b % 12, np.arange(len(chords_b))].astype(np.int32),
                  (keys_b >= 12).astype(np.int32))


def changes(seq: Sequence) -> Sequence:
  """The sequence with repeated chords collapsed (one step per chord change)."""
  keep = np.ones(len(seq.chords), bool)
  keep[1:] = (seq.chords[1:] != seq.chords[:-1]) | (seq.modes[1:] != seq.modes[:-1])
  return Sequence(seq.chords[keep], seq.modes[keep])


def unigram(train: list[Sequence], alpha: float = 0.5) -> np.ndarray:
  """[C] log-probabilities of each key-relative chord, whatever came before."""
  counts = np.bincount(np.concatenate([s.chords for s in train]), minlength=C) + alpha
  return np.log(counts / counts.sum())


@dataclasses.dataclass(frozen=True)
class Transition:
  """log p(c_t | c_{t-1}, mode): ``log_p`` [2, C + 1, C], row C the start of a song."""
  log_p: np.ndarray

  @classmethod
  def fit(cls, train: list[Sequence], alpha: float = 0.1) -> Transition:
    seen = np.concatenate([s.chords for s in train]) if train else np.zeros(0, int)
    if seen.size and (seen.min() < 0 or seen.max() >= C):
      raise ValueError(f'chord classes run from 0 to {C - 1}; got {seen.min()}..{seen.max()}')
    counts = np.full((2, C + 1, C), alpha)
    for s in train:
      prev = np.concatenate([[START], s.chords[:-1]])
      np.add.at(counts, (s.modes, prev, s.chords), 1.0)
    return cls(np.log(counts / counts.sum(axis=-1, keepdims=True)))

  def step_log_probs(self, seq: Sequence) -> np.ndarray:
    """[T] log p of each step given the one before."""
    prev = np.concatenate([[START], seq.chords[:-1]])
    return self.log_p[seq.modes, prev, seq.chords]


# --- the recurrent model -------------------------------------------------------------------------

class Recurrent(nnx.Module):
  """One-hot (previous chord, mode) -> LSTM -> logits over the next chord."""

  def __init__(self, hidden_size: int = 128, *, rngs: nnx.Rngs):
    self.lstm = layers.LSTMLayer(C + 1 + 2, hidden_size, rngs=rngs)
    self.head = layers.Dense(hidden_size, C, rngs=rngs)

  def __call__(self, chords_BxT, modes_BxT):
    """Logits [B, T, C] of step t given chords before t (and the modes)."""
    batch = chords_BxT.shape[0]
    prev_BxT = jnp.concatenate([jnp.full((batch, 1), START, chords_BxT.dtype),
                                chords_BxT[:, :-1]], axis=1)
    rows_BxTx2 = jnp.stack([prev_BxT, C + 1 + modes_BxT], axis=-1)
    xw_TxBxG = layers.project_steps(self.lstm.w_x, self.lstm.bias[...], rows_BxTxP=rows_BxTx2)
    zeros = jnp.zeros((batch, self.lstm.hidden_size), xw_TxBxG.dtype)
    h_TxBxH, _, _ = lstm.lstm_scan(xw_TxBxG, self.lstm.w_h, zeros, zeros)
    return self.head(jnp.swapaxes(h_TxBxH, 0, 1))


@dataclasses.dataclass
class RecurrentTrainer:
  graphdef: object
  train_step: object  # (state, batch) -> (state, loss)
  log_probs: object   # (params, chords [B, T], modes [B, T]) -> [B, T] log p of each chord
  traces: dict


def make_recurrent(hidden_size: int = 128, learning_rate: float = 3e-3, seed: int = 0):
  """(RecurrentTrainer, initial state {'params', 'opt'})."""
  graphdef, params = nnx.split(Recurrent(hidden_size, rngs=nnx.Rngs(seed)), nnx.Param)
  tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(learning_rate))
  traces = {'train_step': 0, 'log_probs': 0}

  def log_probs(params, chords_BxT, modes_BxT):
    traces['log_probs'] += 1
    logits = nnx.merge(graphdef, params)(chords_BxT, modes_BxT)
    return jnp.take_along_axis(jax.nn.log_softmax(logits), chords_BxT[..., None], -1)[..., 0]

  def train_step(state, batch):
    traces['train_step'] += 1

    def loss_of(params):
      lp = log_probs(params, batch['chords'], batch['modes'])
      return -(lp * batch['mask']).sum() / jnp.maximum(batch['mask'].sum(), 1.0)

    loss, grads = jax.value_and_grad(loss_of)(state['params'])
    updates, opt = tx.update(grads, state['opt'], state['params'])
    return {'params': optax.apply_updates(state['params'], updates), 'opt': opt}, loss

  trainer = RecurrentTrainer(graphdef, jax.jit(train_step, donate_argnums=0),
                             jax.jit(log_probs), traces)
  return trainer, {'params': params, 'opt': tx.init(params)}


def crops(train: list[Sequence], rng: np.random.Generator, batch_size: int, length: int) -> dict:
  """Random windows of the training sequences (each from its song's start or later)."""
  chords = np.zeros((batch_size, length), np.int32)
  modes = np.zeros((batch_size, length), np.int32)
  mask = np.zeros((batch_size, length), np.float32)
  for i in range(batch_size):
    s = train[rng.integers(len(train))]
    start = int(rng.integers(max(len(s.chords) - length, 0) + 1))
    m = len(s.chords[start:start + length])
    chords[i, :m], modes[i, :m] = s.chords[start:start + m], s.modes[start:start + m]
    mask[i, :m] = 1.0
  return {'chords': chords, 'modes': modes, 'mask': mask}


def train_recurrent(trainer: RecurrentTrainer, state, train: list[Sequence], steps: int,
                    batch_size: int = 32, length: int = 128, seed: int = 0):
  """``steps`` train steps on random crops; returns (state, losses)."""
  rng = np.random.default_rng(seed)
  losses = []
  for _ in range(steps):
    state, loss = trainer.train_step(state, crops(train, rng, batch_size, length))
    losses.append(float(loss))
  return state, losses


def recurrent_step_log_probs(trainer: RecurrentTrainer, params, seq: Sequence,
                             bucket: int = 256) -> np.ndarray:
  """[T] log p of each step of a whole sequence (padded to a multiple of ``bucket``)."""
  n = len(seq.chords)
  t = -(-n // bucket) * bucket
  chords, modes = np.zeros((1, t), np.int32), np.zeros((1, t), np.int32)
  chords[0, :n], modes[0, :n] = seq.chords, seq.modes
  return np.asarray(trainer.log_probs(params, chords, modes))[0, :n]


def perplexity(step_log_probs: list[np.ndarray]) -> float:
  """exp of the mean negative log-probability over every step of every sequence."""
  return float(np.exp(-np.concatenate(step_log_probs).mean()))


# --- expectations under per-beat distributions (the VAE's prior term) ------------------------
#
# The chord/key VAE needs E_q[log p(chords, keys)] where q is the classifier's per-beat
# distribution, factorised over beats and over chord and key. The key model is a first-order
# transition over the 24 keys, and its expectation is exact. The chord models are key-relative,
# and an exact expectation sums over every key of every beat; instead the chord distribution is
# moved into key-relative classes by the beat's expected tonic (``relative_distribution``) and the
# mode enters as its probability: a mean-field approximation, exact when q is one-hot.

def transposition_table() -> np.ndarray:
  """[12, C] int: the absolute class of key-relative chord r in a key with tonic t."""
  return np.stack([classifier.transpose_chords(np.arange(C), t) for t in range(12)])


def relative_distribution(chord_p_BxTxC, key_p_BxTxK):
  """(key-relative chord distribution [B, T, C], mode distribution [B, T, 2])."""
  tonic_BxTx12 = key_p_BxTxK[..., :12] + key_p_BxTxK[..., 12:]
  moved_BxTx12xC = chord_p_BxTxC[..., jnp.asarray(transposition_table())]
  rel_BxTxC = jnp.einsum('btk,btkc->btc', tonic_BxTx12, moved_BxTx12xC)
  mode_BxTx2 = jnp.stack([key_p_BxTxK[..., :12].sum(-1), key_p_BxTxK[..., 12:].sum(-1)], -1)
  return rel_BxTxC, mode_BxTx2


def transition_expectation(log_p_2xC1xC, rel_BxTxC, mode_BxTx2):
  """[B, T] expected log p(c_t | c_{t-1}, mode_t) (step 0: from the start row)."""
  prev_BxTxC1 = jnp.concatenate([
      jnp.concatenate([jnp.zeros_like(rel_BxTxC[:, :1]), rel_BxTxC[:, :-1]], axis=1),
      jnp.zeros_like(rel_BxTxC[..., :1])], axis=-1)
  prev_BxTxC1 = prev_BxTxC1.at[:, 0, C].set(1.0)
  scores_BxTx2xC = jnp.einsum('btp,mpc->btmc', prev_BxTxC1, log_p_2xC1xC)
  return jnp.einsum('btm,btmc,btc->bt', mode_BxTx2, scores_BxTx2xC, rel_BxTxC)


def recurrent_expectation(model: Recurrent, rel_BxTxC, mode_BxTx2):
  """[B, T] expected log p(c_t | c_<t, mode_t) with the LSTM fed the previous beat's
  distribution (its one-hot input rows weighted by the probabilities)."""
  batch = rel_BxTxC.shape[0]
  start_BxTxS = jnp.zeros(rel_BxTxC.shape[:2] + (1,), rel_BxTxC.dtype).at[:, 0].set(1.0)
  prev_BxTxC = jnp.concatenate([jnp.zeros_like(rel_BxTxC[:, :1]), rel_BxTxC[:, :-1]], axis=1)
  inputs_BxTxD = jnp.concatenate([prev_BxTxC, start_BxTxS, mode_BxTx2], axis=-1)
  xw_TxBxG = jnp.einsum('btd,dg->tbg', inputs_BxTxD, model.lstm.w_x) + model.lstm.bias[...]
  zeros = jnp.zeros((batch, model.lstm.hidden_size), xw_TxBxG.dtype)
  h_TxBxH, _, _ = lstm.lstm_scan(xw_TxBxG, model.lstm.w_h, zeros, zeros)
  log_p_BxTxC = jax.nn.log_softmax(model.head(jnp.swapaxes(h_TxBxH, 0, 1)))
  return (log_p_BxTxC * rel_BxTxC).sum(-1)


@dataclasses.dataclass(frozen=True)
class KeyTransition:
  """log p(k_t | k_{t-1}) over the 24 keys: ``log_p`` [K + 1, K], row K the start."""
  log_p: np.ndarray

  @classmethod
  def fit(cls, keys: list[np.ndarray], alpha: float = 0.5) -> KeyTransition:
    k = vocabulary.NUM_KEYS
    counts = np.full((k + 1, k), alpha)
    for seq in keys:
      seq = np.asarray(seq)
      np.add.at(counts, (np.concatenate([[k], seq[:-1]]), seq), 1.0)
    return cls(np.log(counts / counts.sum(axis=-1, keepdims=True)))

  def expectation(self, key_p_BxTxK):
    """[B, T] expected log p(k_t | k_{t-1}) (step 0 from the start row)."""
    log_p = jnp.asarray(self.log_p)
    first_BxK = key_p_BxTxK[:, 0] @ log_p[-1][:, None]
    rest_BxT1 = jnp.einsum('btp,pk,btk->bt', key_p_BxTxK[:, :-1], log_p[:-1],
                           key_p_BxTxK[:, 1:])
    return jnp.concatenate([first_BxK, rest_BxT1], axis=1)
