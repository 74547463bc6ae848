"""GrooVAE's decoder (Magenta's ``GrooveLstmDecoder``): drums with velocity and microtiming.

Shapes: B = batch, T = steps, O = output depth (27 = 3 × 9 drum classes), Z = latent size,
C = control depth (0, or 9 target hits for the hits-control config), H = decoder size, G = 4H.

Each step's output is [hits | velocities | offsets], nine of each. The output projection's 27
values are activated per third: hits sigmoid (a probability), velocities sigmoid (velocity / 127),
offsets tanh (the onset's offset from the grid, in [-1, 1]). The step input is [previous output
(O), z (Z), control of this step (C)], the previous output being the real-valued 27-vector itself
(zeros at t = 0), so the first layer's input projection is one GEMM over all steps plus one
product with z per sequence.

- ``teacher_forced``: known step inputs (the targets shifted right); each layer is one
  ``lax.scan`` with its input GEMM hoisted. With a ``dropout_key`` (training) every layer's input
  is dropped as Magenta's ``DropoutWrapper`` does, z and the controls included, so the first
  layer then projects the whole dropped [previous, z, control] input per step.
- ``decode_loop``: free-running, feeding back what it emits: hits drawn from
  Bernoulli(sigmoid(logit / temperature)) (greedy: logit > 0, which is Magenta's decode at
  temperature → 0), velocities and offsets the deterministic sigmoid / tanh. No dropout.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from musicvae_jax.models import dropout
from musicvae_jax.models import layers
from musicvae_jax.models import lstm


def shift_right(x_BxTxD):
  """Decoder inputs for teacher forcing: the previous step's vector, zeros at t = 0."""
  return jnp.concatenate([jnp.zeros_like(x_BxTxD[:, :1]), x_BxTxD[:, :-1]], axis=1)


def activate(logits_BxO):
  """(hit probabilities, velocities, offsets): sigmoid, sigmoid, tanh of the three thirds."""
  hits, velocities, offsets = jnp.split(logits_BxO, 3, axis=-1)
  return jax.nn.sigmoid(hits), jax.nn.sigmoid(velocities), jnp.tanh(offsets)


#: The smallest hit probability a velocity is divided by (``hit_conditional``).
MIN_HIT_PROBABILITY = 1e-3


def emit(logits_BxO, temperature, *, greedy: bool, logistic_BxN=None,
         hit_conditional: bool = False):
  """One step's output: sampled (or greedy) hits, sigmoid velocities, tanh offsets.

  A Bernoulli(sigmoid(a)) draw is ``a + L > 0`` with L standard logistic noise.

  ``hit_conditional``: the loss (Magenta's) scores velocities and offsets on every step, 0 where
  there is no hit, so the outputs it trains are E[v] = p(hit)·E[v | hit]: a step the model is
  unsure of comes out quieter than it would be played. With this flag a played step gets the
  velocity E[v | hit] = v / p(hit), clipped to [0, 1], and a silent step 0, as the targets are.
  Offsets keep Magenta's readout (zeroed on silent steps): dividing them too was measured worse
  on both the training and the held-out Groove windows (timing MAE 0.1457 vs 0.1447 and 0.1592
  vs 0.1492 steps; an offset is mostly per-hit noise around its class's timing, and a small
  p(hit) amplifies it), while the divided velocity wins on both (22.6 vs 30.7 and 25.5 vs 35.8
  MIDI units). Every ``musicvae-groove`` operation uses it (a deliberate difference from
  Magenta, whose decode is the flag off: the default of ``musicvae-sample`` and of
  ``MusicVAE.sample``). See bench/humanize_quality.py.
  """
  hit_logits = jnp.split(logits_BxO, 3, axis=-1)[0]
  probabilities, velocities, offsets = activate(logits_BxO)
  if greedy:
    hits = hit_logits > 0
  else:
    hits = hit_logits / temperature + logistic_BxN > 0
  hits = hits.astype(logits_BxO.dtype)
  if hit_conditional:
    velocities = jnp.clip(velocities * hits / jnp.maximum(probabilities, MIN_HIT_PROBABILITY),
                          0.0, 1.0)
    offsets = offsets * hits
  return jnp.concatenate([hits, velocities, offsets], axis=-1)


class GrooveLstmDecoder(nnx.Module):

  def __init__(self, output_depth: int, z_size: int, sizes, *, control_depth: int = 0,
               keep_prob: float = 1.0, rngs: nnx.Rngs):
    if output_depth % 3:
      raise ValueError(f'GrooVAE outputs are [hits | velocities | offsets]; {output_depth} is '
                       'not a multiple of 3.')
    self.output_depth = output_depth
    self.z_size = z_size
    self.control_depth = control_depth
    self.keep_prob = float(keep_prob)
    self.stack = layers.LSTMStack(output_depth + z_size + control_depth, sizes, rngs=rngs)
    self.z_to_initial_state = layers.Dense(z_size, self.stack.state_size, stddev=1e-3,
                                           rngs=rngs)
    self.output_projection = layers.Dense(self.stack.sizes[-1], output_depth, rngs=rngs)

  @property
  def input_size(self) -> int:
    """Layer 0's step input: [previous output, z, control]."""
    return self.output_depth + self.z_size + self.control_depth

  def initial_state(self, z_BxZ) -> layers.State:
    return self.stack.split_state(jnp.tanh(self.z_to_initial_state(z_BxZ)))

  def _weights(self):
    """Layer 0's input rows split as (previous output, z, control)."""
    w0 = self.stack.layers[0].kernel[...]
    o, z = self.output_depth, self.z_size
    return w0[:o], w0[o:o + z], w0[o + z:self.input_size]

  def dropout_scales(self, key, batch: int, steps: int, dtype=jnp.float32):
    """Per layer, the factors [T, B, input size] its step inputs are multiplied by."""
    sizes = [self.input_size] + self.stack.sizes[:-1]
    return [dropout.scales(jax.random.fold_in(key, k), self.keep_prob, (steps, batch, d), dtype)
            for k, d in enumerate(sizes)]

  def _controls_TxBxC(self, controls_BxTxC, dtype):
    if not self.control_depth:
      return None
    if controls_BxTxC is None or controls_BxTxC.shape[-1] != self.control_depth:
      raise ValueError(f'this decoder reads {self.control_depth} controls per step '
                       '(controls_BxTxC).')
    return jnp.swapaxes(controls_BxTxC, 0, 1).astype(dtype)

  def teacher_forced(self, z_BxZ, inputs_BxTxO, controls_BxTxC=None, *, dropout_key=None):
    """Output projections (pre-activation) [B, T, O] for known step inputs."""
    batch, steps = inputs_BxTxO.shape[:2]
    first = self.stack.layers[0]
    w_prev, w_z, w_c = self._weights()
    prev_TxBxO = jnp.swapaxes(inputs_BxTxO, 0, 1).astype(w_prev.dtype)
    ctrl_TxBxC = self._controls_TxBxC(controls_BxTxC, w_prev.dtype)
    drop = dropout.active(dropout_key, self.keep_prob)
    scales = self.dropout_scales(dropout_key, batch, steps, w_prev.dtype) if drop else None
    if drop:
      z_TxBxZ = jnp.broadcast_to(z_BxZ[None].astype(w_prev.dtype), (steps,) + z_BxZ.shape)
      parts = [prev_TxBxO, z_TxBxZ]
      parts += [] if ctrl_TxBxC is None else [ctrl_TxBxC]
      x0 = jnp.concatenate(parts, axis=-1) * scales[0]
      xw = jnp.einsum('tbd,dg->tbg', x0, first.w_x) + first.bias[...]
    else:
      xw = (first.bias[...] + (z_BxZ @ w_z)[None]
            + jnp.einsum('tbo,og->tbg', prev_TxBxO, w_prev))
      if ctrl_TxBxC is not None:
        xw = xw + jnp.einsum('tbc,cg->tbg', ctrl_TxBxC, w_c)
    state = self.initial_state(z_BxZ)
    h_TxBxH = None
    for k, layer in enumerate(self.stack.layers):
      if k > 0:
        x = h_TxBxH * scales[k] if drop else h_TxBxH
        xw = jnp.einsum('tbd,dg->tbg', x, layer.w_x) + layer.bias[...]
      c0, h0 = state[k]
      h_TxBxH, _, _ = lstm.lstm_scan(xw, layer.w_h, c0, h0)
    proj = self.output_projection
    return jnp.einsum('tbh,ho->bto', h_TxBxH, proj.kernel[...]) + proj.bias[...]

  def decode_loop(self, z_BxZ, steps: int, key, temperature=1.0, *, greedy: bool = False,
                  controls_BxTxC=None, gumbel_BxTxO=None, hit_conditional: bool = False):
    """Free-running decode of ``steps`` steps from z. Returns ``samples`` (the emitted
    27-vectors, each the next step's input), ``inputs`` and ``logits``, all [B, T, O].

    ``gumbel_BxTxO``: standard Gumbel noise drawn by the caller (one key per sequence); the hit
    draws use the difference of its first two thirds, which is standard logistic. Without it the
    noise comes from ``key``. ``hit_conditional``: see ``emit``.
    """
    batch = z_BxZ.shape[0]
    first = self.stack.layers[0]
    w_prev, w_z, w_c = self._weights()
    const_BxG = first.bias[...] + z_BxZ @ w_z
    proj = self.output_projection
    w_out, b_out = proj.kernel[...], proj.bias[...]
    hits = self.output_depth // 3
    xs = dict(t=jnp.arange(steps))
    if self.control_depth:
      xs['control'] = self._controls_TxBxC(controls_BxTxC, w_prev.dtype)
    if gumbel_BxTxO is not None and not greedy:
      g = jnp.swapaxes(gumbel_BxTxO, 0, 1)
      xs['logistic'] = g[..., :hits] - g[..., hits:2 * hits]

    def step(carry, x):
      state, prev_BxO = carry
      xw = const_BxG + prev_BxO @ w_prev
      if 'control' in x:
        xw = xw + x['control'] @ w_c
      h, state = self.stack.step(xw, state)
      logits = h @ w_out + b_out
      noise = None
      if not greedy:
        noise = x['logistic'] if 'logistic' in x else jax.random.logistic(
            jax.random.fold_in(key, x['t']), (batch, hits), logits.dtype)
      out = emit(logits, temperature, greedy=greedy, logistic_BxN=noise,
                 hit_conditional=hit_conditional)
      return (state, out), (prev_BxO, out, logits)

    first_in = jnp.zeros((batch, self.output_depth), w_prev.dtype)
    _, (ins, samples, logits) = jax.lax.scan(step, (self.initial_state(z_BxZ), first_in), xs)
    ins, samples, logits = (jnp.swapaxes(a, 0, 1) for a in (ins, samples, logits))
    return dict(inputs=ins, samples=samples, logits=logits)
