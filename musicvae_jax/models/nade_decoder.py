"""The nade-drums decoder (Magenta's ``MultiLabelRnnNadeDecoder``): an LSTM whose every step
parameterises a NADE over the step's drum roll.

Shapes: B = batch, T = steps, D = drum classes (bits a step: 9 or 61), N = rows (B·T or B),
Z = latent size, H = the NADE's hidden units (``nade_num_hidden``, 128), O = H + D.

The LSTM's step input is [previous roll (D bits, zeros at t = 0), z]; its output projection has
H + D units, split per step into the NADE's encoder bias ``b_enc`` [H] and decoder bias ``b_dec``
[D]. The NADE's own weights are ``w_enc`` [D, 1, H] and ``w_dec_t`` [D, H, 1] (Magenta's layout,
truncated normal with stddev 1/√D). For dimension d, with a_0 = b_enc:

  p_d = sigmoid(b_dec_d + sigmoid(a_d) · w_dec_t[d]),   a_{d+1} = a_d + x_d · w_enc[d]

- ``conditional_logits``: the logits of every p_d given the true bits x_<d (teacher forcing); the
  a_d are an exclusive cumulative sum over d, so all D are computed at once.
- ``Nade.sample``: one ``lax.scan`` over d, each bit drawn before the next is conditioned on it:
  Bernoulli(sigmoid(logit / temperature)), ``greedy`` logit > 0 (Magenta's temperature → 0), or
  ``threshold`` p_d ≥ 0.5 (Magenta's temperature None, which scheduled sampling feeds back).
- ``NadeLstmDecoder.teacher_forced``: the projections [B, T, O] for known step inputs (one
  ``lax.scan`` per LSTM layer, input GEMM hoisted); ``decode_loop``: step by step, each step's
  sampled roll the next step's input (sampling, and scheduled sampling's choice of inputs).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from musicvae_jax.models import layers


def logistic_from_gumbel(gumbel):
  """Standard logistic noise from standard Gumbel noise of the same shape (u = exp(-exp(-g)) is
  uniform; the logistic is log u - log(1 - u))."""
  e = jnp.exp(-gumbel)
  return -e - jnp.log(-jnp.expm1(-e))


class Nade(nnx.Module):
  """A NADE with external biases (Magenta's ``Nade(internal_bias=False)``)."""

  def __init__(self, num_dims: int, num_hidden: int, *, rngs: nnx.Rngs):
    std = 1.0 / math.sqrt(num_dims)
    normal = jax.nn.initializers.truncated_normal(stddev=std)
    self.num_dims, self.num_hidden = num_dims, num_hidden
    self.w_enc = nnx.Param(normal(rngs.params(), (num_dims, 1, num_hidden)))
    self.w_dec_t = nnx.Param(normal(rngs.params(), (num_dims, num_hidden, 1)))

  def conditional_logits(self, b_enc_NxH, b_dec_NxD, x_NxD):
    """[N, D]: the logit of p(x_d = 1 | x_<d) along the given bits, for every d at once."""
    w_enc = self.w_enc[...][:, 0, :]      # [D, H]
    w_dec = self.w_dec_t[...][:, :, 0]    # [D, H]
    x = x_NxD.astype(w_enc.dtype)
    added = x[..., :-1, None] * w_enc[:-1]                       # x_d · w_enc[d], d < D - 1
    before = jnp.cumsum(added, axis=-2)                           # Σ_{i <= d} for a_{d + 1}
    a = b_enc_NxH[..., None, :] + jnp.concatenate(
        [jnp.zeros_like(before[..., :1, :]), before], axis=-2)   # [N, D, H]: a_0 .. a_{D-1}
    return b_dec_NxD + jnp.einsum('...dh,dh->...d', jax.nn.sigmoid(a), w_dec)

  def sample(self, b_enc_NxH, b_dec_NxD, *, temperature=1.0, greedy: bool = False,
             threshold: bool = False, logistic_NxD=None, key=None):
    """(bits [N, D] float, conditional logits [N, D]): one bit per dimension, in order.

    ``threshold``: p_d ≥ 0.5; ``greedy``: logit > 0; else logit / temperature + logistic noise
    > 0 (``logistic_NxD``, or drawn from ``key``).
    """
    w_enc = self.w_enc[...][:, 0, :]
    w_dec = self.w_dec_t[...][:, :, 0]
    drawn = not (threshold or greedy)
    if drawn and logistic_NxD is None:
      logistic_NxD = jax.random.logistic(key, b_dec_NxD.shape, b_dec_NxD.dtype)
    xs = dict(w_enc=w_enc, w_dec=w_dec, b_dec=jnp.swapaxes(b_dec_NxD, 0, -1))
    if drawn:
      xs['noise'] = jnp.swapaxes(logistic_NxD, 0, -1)

    def step(a_NxH, x):
      logit = x['b_dec'] + jax.nn.sigmoid(a_NxH) @ x['w_dec']
      if threshold:
        bit = jax.nn.sigmoid(logit) >= 0.5
      elif greedy:
        bit = logit > 0
      else:
        bit = logit / temperature + x['noise'] > 0
      bit = bit.astype(a_NxH.dtype)
      return a_NxH + bit[:, None] * x['w_enc'], (bit, logit)

    _, (bits, logits) = jax.lax.scan(step, b_enc_NxH, xs)
    return jnp.swapaxes(bits, 0, -1), jnp.swapaxes(logits, 0, -1)


class NadeLstmDecoder(nnx.Module):

  def __init__(self, num_dims: int, z_size: int, sizes, nade_hidden: int, *, rngs: nnx.Rngs):
    self.num_dims, self.z_size, self.nade_hidden = num_dims, z_size, nade_hidden
    self.stack = layers.LSTMStack(num_dims + z_size, sizes, rngs=rngs)
    self.z_to_initial_state = layers.Dense(z_size, self.stack.state_size, stddev=1e-3,
                                           rngs=rngs)
    self.output_projection = layers.Dense(self.stack.sizes[-1], nade_hidden + num_dims,
                                          rngs=rngs)
    self.nade = Nade(num_dims, nade_hidden, rngs=rngs)

  def initial_state(self, z_BxZ) -> layers.State:
    return self.stack.split_state(jnp.tanh(self.z_to_initial_state(z_BxZ)))

  def split(self, projections_xO):
    """(b_enc [..., H], b_dec [..., D]) of output projections."""
    return projections_xO[..., :self.nade_hidden], projections_xO[..., self.nade_hidden:]

  def conditional_logits(self, projections_BxTxO, targets_BxTxD):
    """[B, T, D]: each bit's NADE logit given the target's earlier bits of its step."""
    b_enc, b_dec = self.split(projections_BxTxO)
    return self.nade.conditional_logits(b_enc, b_dec, targets_BxTxD)

  def teacher_forced(self, z_BxZ, inputs_BxTxD):
    """Output projections [B, T, O] for known step inputs (the previous rolls)."""
    first = self.stack.layers[0]
    w0 = first.kernel[...]
    d = self.num_dims
    prev = jnp.swapaxes(inputs_BxTxD, 0, 1).astype(w0.dtype)
    xw = (first.bias[...] + (z_BxZ @ w0[d:d + self.z_size])[None]
          + jnp.einsum('tbd,dg->tbg', prev, w0[:d]))
    h_TxBxH, _ = self.stack.run(xw, self.initial_state(z_BxZ))
    proj = self.output_projection
    return jnp.einsum('tbh,ho->bto', h_TxBxH, proj.kernel[...]) + proj.bias[...]

  def decode_loop(self, z_BxZ, steps: int, key, temperature=1.0, *, greedy: bool = False,
                  threshold: bool = False, targets_BxTxD=None, sample_mask_BxT=None,
                  gumbel_BxTxD=None):
    """Decodes ``steps`` steps, each step's roll the next one's input.

    With ``targets_BxTxD`` (scheduled sampling) the input at step t + 1 is the sampled roll only
    where ``sample_mask_BxT[:, t + 1]`` is set, the target of step t elsewhere. ``gumbel_BxTxD``:
    standard Gumbel noise drawn by the caller (one per bit, made logistic here); without it the
    noise comes from ``key``. Returns ``inputs`` and ``samples`` [B, T, D] (int32),
    ``logits`` (the projections) [B, T, O] and ``conditional_logits`` [B, T, D].
    """
    batch, d = z_BxZ.shape[0], self.num_dims
    first = self.stack.layers[0]
    w0 = first.kernel[...]
    w_prev = w0[:d]
    const_BxG = first.bias[...] + z_BxZ @ w0[d:d + self.z_size]
    proj = self.output_projection
    w_out, b_out = proj.kernel[...], proj.bias[...]
    guided = targets_BxTxD is not None
    xs = dict(t=jnp.arange(steps))
    if guided:
      mask_next = jnp.concatenate(
          [sample_mask_BxT[:, 1:], jnp.zeros_like(sample_mask_BxT[:, :1])], axis=1)
      xs.update(target=jnp.swapaxes(targets_BxTxD, 0, 1).astype(w0.dtype),
                mask=jnp.swapaxes(mask_next, 0, 1))
    drawn = not (greedy or threshold)
    if drawn and gumbel_BxTxD is not None:
      xs['logistic'] = logistic_from_gumbel(jnp.swapaxes(gumbel_BxTxD, 0, 1).astype(w0.dtype))

    def step(carry, x):
      state, prev_BxD = carry
      h, state = self.stack.step(const_BxG + prev_BxD @ w_prev, state)
      out = h @ w_out + b_out
      b_enc, b_dec = self.split(out)
      noise = x.get('logistic')
      if drawn and noise is None:
        noise = jax.random.logistic(jax.random.fold_in(key, x['t']), (batch, d), out.dtype)
      bits, cond = self.nade.sample(b_enc, b_dec, temperature=temperature, greedy=greedy,
                                    threshold=threshold, logistic_NxD=noise)
      nxt = bits
      if guided:
        nxt = jnp.where(x['mask'][:, None] > 0, bits, x['target'])
      return (state, nxt), (prev_BxD, bits, out, cond)

    first_in = jnp.zeros((batch, d), w0.dtype)
    _, (ins, samples, logits, cond) = jax.lax.scan(
        step, (self.initial_state(z_BxZ), first_in), xs)
    ins, samples, logits, cond = (jnp.swapaxes(a, 0, 1) for a in (ins, samples, logits, cond))
    return dict(inputs=ins.astype(jnp.int32), samples=samples.astype(jnp.int32), logits=logits,
                conditional_logits=cond)
