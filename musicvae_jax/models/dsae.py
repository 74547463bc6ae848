"""The disentangled sequential autoencoder (DSAE; TS-DSAE's network) over token sequences.

Shapes: B = batch, T = steps, V = token classes, H = encoder size per direction, V_ = size of
the global latent v, Z = size of each local latent z_t, D = decoder width, R = local prior size.

A sequence x_1:T has one global latent v (what holds for the whole sequence: a melody's tonic,
octave, scale) and one local latent z_t per step (what changes step by step: rhythm, contour):

  q(v | x_1:T)       a bidirectional LSTM's final states -> Gaussian
  q(z_t | x_1:T)     another bidirectional LSTM's step-t outputs -> Gaussian, per step
  p(v)               N(0, I); TS-DSAE's second stage: a frozen copy of q(v | x) (``v_prior``)
  p(z_t | z_<t)      an LSTM over z_1..z_{t-1} -> Gaussian (a learnt start for t = 1)
  p(x_t | v, z_t)    a two-layer MLP of [v, z_t] -> logits, each step on its own

The decoder sees nothing of x: all it knows comes through v and z_t, which is what makes a swap
(v of one sequence with the z_1:T of another) meaningful. Encoders take one-hot rows or any
distribution over the V classes (``probs_BxTxV``), so a decoded sequence's softmax re-encodes
differentiably, as TS-DSAE's swap-consistency terms need.

Where this differs from the TS-DSAE authors' code, by choice: z_t's posterior reads the whole
sequence through a bidirectional LSTM rather than an autoregressive one conditioned on v (no
Python-side loop; the swap terms do the disentangling), and outputs are categorical (their
audio model's are Gaussian). An option the authors do not have, ``z_input='contour'``: z_t's
encoder reads the melody's contour (``contour``: rest, hold, and whether each pitch goes up,
down, stays or comes first) instead of its tokens, so no key can reach z by construction; with
the tokens, z learns a key-dependent code for each note and a swap scrambles the line
(BENCHMARKS.md, "DSAE and TS-DSAE on dMelodies").
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

import numpy as np

from musicvae_jax import specs
from musicvae_jax.models import encoders
from musicvae_jax.models import layers
from musicvae_jax.models import lstm


CONTOUR_FEATURES = 6   # rest, hold, up, down, same, first pitch


def contour(probs_BxTxV, token_pitches):
  """Per step [B, T, 6]: p(token 0), p(token 1) (rest / hold), and the probability that the step
  is a pitch above, below or equal to the last pitch before it, or the first pitch at all.

  ``token_pitches`` [V]: each token's MIDI pitch, -1 for the two non-pitch tokens. Soft rows (a
  decoder's softmax) give expected features, so re-encoding a decode stays differentiable: the
  last pitch is carried as a distribution over tokens through non-pitch steps."""
  pitches = np.asarray(token_pitches)
  pitched = pitches >= 0
  if pitches.shape[0] != probs_BxTxV.shape[-1] or pitched[:2].any() or not pitched[2:].all():
    raise ValueError(f'token_pitches needs one pitch per token from token 2 on and -1 for tokens '
                     f'0 and 1; got {pitches.shape[0]} values for {probs_BxTxV.shape[-1]} tokens.')
  both = pitched[:, None] & pitched[None, :]
  above = jnp.asarray(both & (pitches[None, :] > pitches[:, None]), jnp.float32)  # [last, now]
  below = jnp.asarray(both & (pitches[None, :] < pitches[:, None]), jnp.float32)
  note_TxBxV = jnp.swapaxes(probs_BxTxV * jnp.asarray(pitched, probs_BxTxV.dtype), 0, 1)
  keep_TxB = 1.0 - jnp.sum(note_TxBxV, -1)   # the step starts no pitch: the last one stands

  def step(last_BxV, inputs):
    note, keep = inputs
    up = jnp.sum((last_BxV @ above) * note, -1)
    down = jnp.sum((last_BxV @ below) * note, -1)
    same = jnp.sum(last_BxV * note, -1)
    first = jnp.sum(note, -1) * (1.0 - jnp.sum(last_BxV, -1))
    return note + keep[:, None] * last_BxV, jnp.stack([up, down, same, first], -1)

  _, moves_TxBx4 = jax.lax.scan(step, jnp.zeros_like(note_TxBxV[0]), (note_TxBxV, keep_TxB))
  return jnp.concatenate([probs_BxTxV[..., :2], jnp.swapaxes(moves_TxBx4, 0, 1)], -1)


class SequenceBiLSTM(nnx.Module):
  """One bidirectional LSTM layer over fixed-length inputs; per-step and final outputs."""

  def __init__(self, input_size: int, hidden: int, *, rngs: nnx.Rngs):
    self.fw = layers.LSTMLayer(input_size, hidden, rngs=rngs)
    self.bw = layers.LSTMLayer(input_size, hidden, rngs=rngs)

  def __call__(self, x_BxTxV):
    """Returns (per-step [B, T, 2H], final [B, 2H])."""
    outs, finals = [], []
    for layer, reverse in ((self.fw, False), (self.bw, True)):
      xw = layers.project_steps(layer.kernel[...], layer.bias[...], dense_BxTxD=x_BxTxV)
      if reverse:
        xw = xw[::-1]
      zeros = jnp.zeros((xw.shape[1], layer.hidden_size), xw.dtype)
      h_TxBxH, _, h_final = lstm.lstm_scan(xw, layer.w_h, zeros, zeros)
      outs.append(h_TxBxH[::-1] if reverse else h_TxBxH)
      finals.append(h_final)
    return jnp.swapaxes(jnp.concatenate(outs, -1), 0, 1), jnp.concatenate(finals, -1)


class GlobalEncoder(nnx.Module):
  """q(v | x): mean and standard deviation [B, V_]."""

  def __init__(self, vocab: int, hidden: int, v_size: int, *, rngs: nnx.Rngs):
    self.rnn = SequenceBiLSTM(vocab, hidden, rngs=rngs)
    self.head = encoders.GaussianHead(2 * hidden, v_size, rngs=rngs)

  def __call__(self, probs_BxTxV):
    return self.head(self.rnn(probs_BxTxV)[1])


class DSAE(nnx.Module):
  """Encoders, priors and decoder of DSAE / TS-DSAE (see the module docstring)."""

  def __init__(self, spec: specs.ModelSpec, *, rngs: nnx.Rngs):
    self.spec = spec
    d = spec.dsae
    vocab, hidden = spec.output_depth, spec.enc_rnn_size[0]
    self.v_encoder = GlobalEncoder(vocab, hidden, d.v_size, rngs=rngs)
    # TS-DSAE's informed prior: set to v_encoder's parameters when stage 1 ends, never trained.
    self.v_prior = GlobalEncoder(vocab, hidden, d.v_size, rngs=rngs) if d.two_stage else None
    if d.z_input not in ('tokens', 'contour'):
      raise ValueError(f"dsae z_input={d.z_input!r}: 'tokens' or 'contour'.")
    z_in = CONTOUR_FEATURES if d.z_input == 'contour' else vocab
    self.z_rnn = SequenceBiLSTM(z_in, hidden, rngs=rngs)
    self.z_head = encoders.GaussianHead(2 * hidden, spec.z_size, rngs=rngs)
    self.prior_rnn = layers.LSTMLayer(spec.z_size, d.prior_rnn_size, rngs=rngs)
    self.prior_head = encoders.GaussianHead(d.prior_rnn_size, spec.z_size, rngs=rngs)
    widths = [d.v_size + spec.z_size, *spec.dec_rnn_size]
    self.decoder = nnx.List([layers.Dense(a, b, rngs=rngs) for a, b in zip(widths, widths[1:])])
    self.out = layers.Dense(widths[-1], vocab, rngs=rngs)

  @property
  def vocab(self) -> int:
    return self.spec.output_depth

  def one_hot(self, tokens_BxT):
    return jax.nn.one_hot(tokens_BxT, self.vocab, dtype=jnp.float32)

  def encode_v(self, probs_BxTxV):
    return self.v_encoder(probs_BxTxV)

  def informed_prior(self, probs_BxTxV):
    """TS-DSAE's p(v | x): the frozen stage-1 encoder (no gradient reaches it)."""
    mu, sigma = self.v_prior(probs_BxTxV)
    return jax.lax.stop_gradient(mu), jax.lax.stop_gradient(sigma)

  def encode_z(self, probs_BxTxV):
    """q(z_t | x): mean and standard deviation [B, T, Z] (of x's contour with z_input
    'contour')."""
    d = self.spec.dsae
    if d.z_input == 'contour':
      probs_BxTxV = contour(probs_BxTxV, d.token_pitches)
    return self.z_head(self.z_rnn(probs_BxTxV)[0])

  def z_prior(self, z_BxTxZ):
    """p(z_t | z_<t) for every t at once (teacher-forced on the given z): [B, T, Z] twice."""
    shifted = jnp.concatenate([jnp.zeros_like(z_BxTxZ[:, :1]), z_BxTxZ[:, :-1]], axis=1)
    layer = self.prior_rnn
    xw = layers.project_steps(layer.kernel[...], layer.bias[...], dense_BxTxD=shifted)
    zeros = jnp.zeros((xw.shape[1], layer.hidden_size), xw.dtype)
    h_TxBxR, _, _ = lstm.lstm_scan(xw, layer.w_h, zeros, zeros)
    return self.prior_head(jnp.swapaxes(h_TxBxR, 0, 1))

  def decode(self, v_BxV, z_BxTxZ):
    """Logits [B, T, V] of p(x_t | v, z_t)."""
    v = jnp.broadcast_to(v_BxV[:, None], z_BxTxZ.shape[:2] + v_BxV.shape[-1:])
    h = jnp.concatenate([v, z_BxTxZ], axis=-1)
    for dense in self.decoder:
      h = jax.nn.relu(dense(h))
    return self.out(h)

  def sample_z(self, key, batch: int, temperature: float = 1.0):
    """z_1:T drawn from the local prior, step by step under ``lax.scan``: [B, T, Z]."""
    layer, steps = self.prior_rnn, self.spec.seq_len
    zeros_h = jnp.zeros((batch, layer.hidden_size))

    def step(carry, k):
      c, h, z_prev = carry
      c, h = lstm.cell(z_prev @ layer.w_x + layer.bias[...], layer.w_h, c, h)
      mu, sigma = self.prior_head(h)
      z = mu + temperature * sigma * jax.random.normal(k, mu.shape)
      return (c, h, z), z

    _, z_TxBxZ = jax.lax.scan(step, (zeros_h, zeros_h, jnp.zeros((batch, self.spec.z_size))),
                              jax.random.split(key, steps))
    return jnp.swapaxes(z_TxBxZ, 0, 1)


def build(spec: specs.ModelSpec, seed: int = 0) -> DSAE:
  return DSAE(spec, rngs=nnx.Rngs(seed))
