"""A trained DSAE / TS-DSAE from its workdir: encode, decode and swap, as jitted batch functions.

Shapes: N = sequences, T = steps, V_ = size of v, Z = size of z_t.

``swap(a, b)`` is the model's generating use: decode(v_a, z_b) keeps what is global to ``a``
(for a melody: its key, register, scale) and takes the step-by-step line of ``b`` (its rhythm
and contour), and decode(v_b, z_a) the other way round.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from musicvae_jax import checkpointing
from musicvae_jax import converters
from musicvae_jax import errors
from musicvae_jax.training import loop


class NotADsaeError(errors.UserError, ValueError):
  """A workdir that holds another kind of model, or none yet."""


class DsaeModel:
  """A DSAE workdir's latest (or ``step``) checkpoint, with its converter."""

  def __init__(self, workdir, step=None):
    run = checkpointing.load_run_spec(workdir)  # refused before any parameter is read
    if run.model.family != 'dsae':
      raise NotADsaeError(f'{workdir} holds a {run.name} model; swaps need a DSAE or TS-DSAE '
                          'workdir (trained with --config=dsae-* or tsdsae-*).')
    session, params, self.step = loop.restore_params(workdir, step=step)
    if params is None:
      raise NotADsaeError(f'{workdir} has no checkpoint yet; train it first.')
    self.model = nnx.merge(session.graphdef, nnx.State(params))
    self.run = session.run
    self.spec = session.spec
    self.converter = converters.get_converter(session.run.data)

  @functools.cached_property
  def _encode(self):
    return jax.jit(lambda x: (self.model.encode_v(x)[0], self.model.encode_z(x)[0]))

  @functools.cached_property
  def _decode(self):
    return jax.jit(lambda v, z: jnp.argmax(self.model.decode(v, z), axis=-1))

  def encode(self, tokens_NxT, batch: int = 4096):
    """Posterior means (v [N, V_], z [N, T, Z]) of token rows (or of distributions [N, T, V])."""
    vs, zs = [], []
    for lo in range(0, len(tokens_NxT), batch):
      x = np.asarray(tokens_NxT[lo:lo + batch])
      x = jax.nn.one_hot(x, self.model.vocab) if x.ndim == 2 else x
      v, z = self._encode(x)
      vs.append(np.asarray(v))
      zs.append(np.asarray(z))
    return np.concatenate(vs), np.concatenate(zs)

  def decode(self, v_NxV, z_NxTxZ, batch: int = 4096):
    """Greedy tokens [N, T] of p(x_t | v, z_t)."""
    return np.concatenate([np.asarray(self._decode(v_NxV[lo:lo + batch], z_NxTxZ[lo:lo + batch]))
                           for lo in range(0, len(v_NxV), batch)])

  def swap(self, tokens_a_NxT, tokens_b_NxT) -> dict[str, np.ndarray]:
    """Token rows [N, T]: each input reconstructed, and both swaps."""
    v_a, z_a = self.encode(tokens_a_NxT)
    v_b, z_b = self.encode(tokens_b_NxT)
    return {'a': self.decode(v_a, z_a), 'b': self.decode(v_b, z_b),
            'global_a_local_b': self.decode(v_a, z_b), 'global_b_local_a': self.decode(v_b, z_a)}
