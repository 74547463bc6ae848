"""Flat LSTM decoder over one or more categorical output parts (Magenta's ``CategoricalLstmDecoder``
and ``MultiOutCategoricalLstmDecoder``).

Shapes: B = batch, T = steps, P = output parts, O = Σ part depths, C = conditioning size (z, or a
conductor embedding inside the hierarchical decoder), H = decoder size, G = 4H.

Tokens are class indices per part, [B, T, P]; -1 stands for "no previous output" (Magenta's
zero vector at t = 0). The step input is [previous output one-hot (O), cond (C)], so the first
layer's input projection is a row gather plus one per-sequence product with cond. A decoder with
``control_depth`` (cat-mel_2bar_med_chords: 49 chord classes) appends the step's one-hot control,
given as its class ``controls_BxT``: [previous output, cond, control], as Magenta's step input;
a control class of -1 (a hier-multiperf padding row) is the zero vector, as the token's -1.

Two ways to run it:
- ``teacher_forced``: every step's input is known (the targets shifted right, or the inputs a
  scheduled-sampling pass chose), so each layer is one ``lax.scan`` with its input GEMM hoisted.
- ``decode_loop``: step by step, feeding back samples; sampling, free-running evaluation and the
  first pass of scheduled sampling. Its samples carry no gradient (they are discrete), so training
  with scheduled sampling runs ``decode_loop`` to pick the inputs and then ``teacher_forced`` on
  them: the same logits and gradients as Magenta's ``ScheduledOutputTrainingHelper``, with the
  backward pass on the fast path.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from musicvae_jax.models import layers


def sample_parts(key, logits_BxO, part_depths, temperature, greedy: bool, gumbel_BxO=None):
  """One class per part: argmax, or a draw from softmax(logits / temperature).

  With ``gumbel_BxO`` (standard Gumbel noise drawn beforehand) the draw is
  argmax(logits / temperature + noise): the same distribution (the Gumbel-max trick, which
  ``jax.random.categorical`` also uses) without a random-number call inside the decode loop.
  """
  bounds = np.cumsum((0,) + tuple(part_depths))
  tokens = []
  for p in range(len(part_depths)):
    part = logits_BxO[..., bounds[p]:bounds[p + 1]]
    if greedy:
      tokens.append(jnp.argmax(part, axis=-1))
    elif gumbel_BxO is not None:
      tokens.append(jnp.argmax(part / temperature + gumbel_BxO[..., bounds[p]:bounds[p + 1]],
                               axis=-1))
    else:
      tokens.append(jax.random.categorical(jax.random.fold_in(key, p), part / temperature))
  return jnp.stack(tokens, axis=-1).astype(jnp.int32)


class LstmDecoder(nnx.Module):

  def __init__(self, part_depths, cond_size: int, sizes, *, control_depth: int = 0,
               rngs: nnx.Rngs):
    self.part_depths = tuple(int(d) for d in part_depths)
    self.cond_size = cond_size
    self.control_depth = int(control_depth)
    out = sum(self.part_depths)
    self.stack = layers.LSTMStack(out + cond_size + self.control_depth, sizes, rngs=rngs)
    self.z_to_initial_state = layers.Dense(cond_size, self.stack.state_size, stddev=1e-3,
                                           rngs=rngs)
    self.output_projection = layers.Dense(self.stack.sizes[-1], out, rngs=rngs)

  @property
  def output_depth(self) -> int:
    return sum(self.part_depths)

  def _rows(self, tokens, controls=None):
    """Kernel rows of the step inputs [..., P] (and of the control classes [...])."""
    offsets = jnp.asarray(np.cumsum((0,) + self.part_depths[:-1]), jnp.int32)
    rows = jnp.where(tokens >= 0, tokens + offsets, -1)
    if not self.control_depth:
      return rows
    if controls is None:
      raise ValueError(f'this decoder reads {self.control_depth} control classes per step '
                       '(controls_BxT).')
    first = self.output_depth + self.cond_size
    controls = controls.astype(jnp.int32)  # -1 (a padding row): no control input
    return jnp.concatenate([rows, jnp.where(controls >= 0, controls + first, -1)[..., None]],
                           axis=-1)

  def initial_state(self, cond_BxC) -> layers.State:
    return self.stack.split_state(jnp.tanh(self.z_to_initial_state(cond_BxC)))

  def _const_rows(self):
    return slice(self.output_depth, self.output_depth + self.cond_size)

  def teacher_forced(self, cond_BxC, inputs_BxTxP, controls_BxT=None):
    """Logits [B, T, O] for known step inputs (and the control class of every step)."""
    first = self.stack.layers[0]
    xw0 = layers.project_steps(first.kernel[...], first.bias[...],
                               rows_BxTxP=self._rows(inputs_BxTxP, controls_BxT),
                               const_BxC=cond_BxC,
                               const_rows=self._const_rows())
    h_TxBxH, _ = self.stack.run(xw0, self.initial_state(cond_BxC))
    proj = self.output_projection
    return jnp.einsum('tbh,ho->bto', h_TxBxH, proj.kernel[...]) + proj.bias[...]

  def decode_loop(self, cond_BxC, first_BxP, steps: int, key, temperature=1.0, *,
                  greedy: bool = False, targets_BxTxP=None, sample_mask_BxT=None,
                  gumbel_BxTxO=None, controls_BxT=None):
    """Decodes ``steps`` steps feeding back its own output.

    With ``targets_BxTxP`` (scheduled sampling) the input at step t + 1 is the sample only where
    ``sample_mask_BxT[:, t + 1]`` is set and the target of step t elsewhere. ``gumbel_BxTxO``:
    sampling noise drawn beforehand (see ``sample_parts``); ``key`` is then unused. Returns a dict
    with ``inputs`` and ``samples`` [B, T, P] int32 and ``logits`` [B, T, O].
    """
    first = self.stack.layers[0]
    w0 = first.kernel[...]
    const_BxG = first.bias[...] + cond_BxC @ w0[self._const_rows()]
    proj = self.output_projection
    w_out, b_out = proj.kernel[...], proj.bias[...]
    guided = targets_BxTxP is not None
    xs = dict(t=jnp.arange(steps))
    if self.control_depth:
      if controls_BxT is None:
        raise ValueError(f'this decoder reads {self.control_depth} control classes per step '
                         '(controls_BxT).')
      xs.update(control=jnp.swapaxes(controls_BxT, 0, 1))
    if guided:
      mask_next = jnp.concatenate(
          [sample_mask_BxT[:, 1:], jnp.zeros_like(sample_mask_BxT[:, :1])], axis=1)
      xs.update(target=jnp.swapaxes(targets_BxTxP, 0, 1), mask=jnp.swapaxes(mask_next, 0, 1))
    if gumbel_BxTxO is not None and not greedy:
      xs.update(gumbel=jnp.swapaxes(gumbel_BxTxO, 0, 1))

    def step(carry, x):
      state, in_BxP = carry
      xw = const_BxG + layers.gather_rows(w0, self._rows(in_BxP, x.get('control')))
      h, state = self.stack.step(xw, state)
      logits = h @ w_out + b_out
      sampled = sample_parts(jax.random.fold_in(key, x['t']), logits, self.part_depths,
                             temperature, greedy, x.get('gumbel'))
      nxt = sampled
      if guided:
        nxt = jnp.where(x['mask'][:, None] > 0, sampled, x['target'])
      return (state, nxt), (in_BxP, sampled, logits)

    carry = (self.initial_state(cond_BxC), first_BxP.astype(jnp.int32))
    _, (ins, samples, logits) = jax.lax.scan(step, carry, xs)
    ins, samples, logits = (jnp.swapaxes(a, 0, 1) for a in (ins, samples, logits))
    return dict(inputs=ins, samples=samples, logits=logits)
