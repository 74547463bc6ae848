"""Hierarchical decoder (Magenta's ``HierarchicalLstmDecoder`` with ``disable_autoregression``).

Shapes: B = batch, L = bars (level_lengths[0]), S = steps per bar (level_lengths[1]), T = L·S,
P = output parts, O = Σ part depths, Z = latent size, H = decoder size.

A conductor LSTM, started from tanh(Dense(z)) and fed a constant zero scalar, emits one
embedding e_i per bar (its top layer's h). A bar decoder (``LstmDecoder``) decodes bar i with e_i
in place of z: its state is re-initialised from e_i at every bar and e_i is part of every step's
input. The trio variant (``split``) has one bar decoder per part, each seeing only its own
previous token.

Under teacher forcing bar i's inputs are known (the global targets shifted right, so bar i > 0
starts from the last target of bar i - 1), and nothing carries from bar to bar, so all bars run
as one batch of B·L sequences of S steps (Magenta decodes them one after another; the tests
check that both orders give the same logits).

Segments of their own lengths (hier-multiperf: 8 tracks of up to 64 events, the rest of each
track's 64 rows -1, Magenta's all-zero padding): every bar still runs all S steps, and the loss
counts only the valid rows (``musicvae_family.valid_steps``). That is Magenta's per-segment
``sequence_length`` masking, since a step's logits do not depend on the steps after it; the
logits past a segment's length are computed but mean nothing (Magenta's depend on the batch).
A chord model's bar decoders read each step's chord class as the last part of the step input,
[previous output, e_i, chord], the control sequence cut into bars as Magenta cuts ``c_input``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from musicvae_jax.models import decoders
from musicvae_jax.models import layers


class HierarchicalDecoder(nnx.Module):

  def __init__(self, part_depths, z_size: int, sizes, level_lengths, *, split: bool,
               control_depth: int = 0, rngs: nnx.Rngs):
    self.part_depths = tuple(int(d) for d in part_depths)
    self.num_bars, self.bar_steps = (int(n) for n in level_lengths)
    self.conductor = layers.LSTMStack(1, sizes, rngs=rngs)
    self.conductor_initial_state = layers.Dense(z_size, self.conductor.state_size,
                                                stddev=1e-3, rngs=rngs)
    embedding = self.conductor.sizes[-1]
    groups = [(d,) for d in self.part_depths] if split else [self.part_depths]
    self.control_depth = int(control_depth)
    self.cores = nnx.List([decoders.LstmDecoder(g, embedding, sizes,
                                                control_depth=self.control_depth, rngs=rngs)
                           for g in groups])

  @property
  def output_depth(self) -> int:
    return sum(self.part_depths)

  def part_slices(self):
    """The parts each bar decoder (core) emits, as slices of the part axis."""
    start = 0
    for core in self.cores:
      yield slice(start, start + len(core.part_depths))
      start += len(core.part_depths)

  def embeddings(self, z_BxZ):
    """The conductor's top-layer h for every bar, [B, L, H]."""
    state = self.conductor.split_state(jnp.tanh(self.conductor_initial_state(z_BxZ)))
    first = self.conductor.layers[0]
    # The input is a single zero, so the first layer's input projection is its bias alone.
    xw0 = jnp.broadcast_to(first.bias[...], (self.num_bars, z_BxZ.shape[0], first.bias.shape[0]))
    h_LxBxH, _ = self.conductor.run(xw0, state)
    return jnp.swapaxes(h_LxBxH, 0, 1)

  def _bars(self, x_BxTx_):
    """[B, T, ...] -> [B·L, S, ...]."""
    b = x_BxTx_.shape[0]
    return x_BxTx_.reshape((b * self.num_bars, self.bar_steps) + x_BxTx_.shape[2:])

  def _unbars(self, x, batch):
    return x.reshape((batch, self.num_bars * self.bar_steps) + x.shape[2:])

  def _bar_controls(self, controls_BxT):
    if not self.control_depth:
      return None
    if controls_BxT is None:
      raise ValueError(f'this decoder reads {self.control_depth} control classes per step '
                       '(controls_BxT).')
    return self._bars(controls_BxT)

  def teacher_forced(self, z_BxZ, inputs_BxTxP, controls_BxT=None):
    """Logits [B, T, O] for known step inputs, every bar of every sequence in one batch."""
    e_BxLxH = self.embeddings(z_BxZ)
    batch = z_BxZ.shape[0]
    e_flat = e_BxLxH.reshape((-1, e_BxLxH.shape[-1]))
    inputs = self._bars(inputs_BxTxP)
    controls = self._bar_controls(controls_BxT)
    logits = [core.teacher_forced(e_flat, inputs[..., parts], controls)
              for core, parts in zip(self.cores, self.part_slices())]
    return self._unbars(jnp.concatenate(logits, axis=-1), batch)

  def scheduled_inputs(self, z_BxZ, targets_BxTxP, inputs_BxTxP, sample_mask_BxT, key,
                       controls_BxT=None):
    """Inputs of a scheduled-sampling pass; each bar starts from its teacher-forced input."""
    batch = z_BxZ.shape[0]
    e_flat = self.embeddings(z_BxZ).reshape((batch * self.num_bars, -1))
    targets, inputs, mask = (self._bars(a) for a in (targets_BxTxP, inputs_BxTxP,
                                                     sample_mask_BxT))
    controls = self._bar_controls(controls_BxT)
    chosen = []
    for c, (core, parts) in enumerate(zip(self.cores, self.part_slices())):
      out = core.decode_loop(e_flat, inputs[:, 0, parts], self.bar_steps,
                             jax.random.fold_in(key, c), targets_BxTxP=targets[..., parts],
                             sample_mask_BxT=mask, controls_BxT=controls)
      chosen.append(out['inputs'])
    return self._unbars(jnp.concatenate(chosen, axis=-1), batch)

  def sample(self, z_BxZ, key, temperature=1.0, *, greedy: bool = False, first_BxP=None,
             gumbel_BxTxO=None, controls_BxT=None):
    """Free-running decode of all bars; bar i starts from bar i - 1's last sample.

    Every bar decodes all its S steps (no end-token stop, as Magenta's ``TrainedModel``).
    ``gumbel_BxTxO``: sampling noise drawn beforehand (``decoders.sample_parts``);
    ``controls_BxT``: the control class of every step (a chord model). Returns
    ``samples`` [B, T, P], ``logits`` [B, T, O], ``embeddings`` [B, L, H].
    """
    batch = z_BxZ.shape[0]
    e_BxLxH = self.embeddings(z_BxZ)
    if first_BxP is None:
      first_BxP = -jnp.ones((batch, len(self.part_depths)), jnp.int32)
    bounds = np.cumsum([0] + [core.output_depth for core in self.cores])

    def bar(last_BxP, x):
      samples, logits = [], []
      for c, (core, parts) in enumerate(zip(self.cores, self.part_slices())):
        noise = None if 'gumbel' not in x else x['gumbel'][..., bounds[c]:bounds[c + 1]]
        out = core.decode_loop(x['e'], last_BxP[:, parts], self.bar_steps,
                               jax.random.fold_in(jax.random.fold_in(key, x['i']), c),
                               temperature, greedy=greedy, gumbel_BxTxO=noise,
                               controls_BxT=x.get('control'))
        samples.append(out['samples'])
        logits.append(out['logits'])
      samples = jnp.concatenate(samples, axis=-1)
      return samples[:, -1], (samples, jnp.concatenate(logits, axis=-1))

    xs = dict(i=jnp.arange(self.num_bars), e=jnp.swapaxes(e_BxLxH, 0, 1))
    if self.control_depth:
      xs['control'] = jnp.swapaxes(
          self._bar_controls(controls_BxT).reshape(batch, self.num_bars, self.bar_steps), 0, 1)
    if gumbel_BxTxO is not None and not greedy:
      xs['gumbel'] = jnp.swapaxes(gumbel_BxTxO.reshape(
          (batch, self.num_bars, self.bar_steps, -1)), 0, 1)
    _, (samples, logits) = jax.lax.scan(bar, first_BxP.astype(jnp.int32), xs)
    samples = jnp.swapaxes(samples, 0, 1).reshape((batch, -1, len(self.part_depths)))
    logits = jnp.swapaxes(logits, 0, 1).reshape((batch, -1, self.output_depth))
    return dict(samples=samples, logits=logits, embeddings=e_BxLxH)
