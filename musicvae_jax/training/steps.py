"""The pure steps: ``make_init``, ``train_step(state, batch, key) -> (state, metrics)``, eval.

The model is split once (``nnx.split``) into a static graph and a parameter pytree; the steps are
plain functions of pytrees, jitted by the caller with ``jax.jit`` (the state donated), so nothing
walks the object graph per call and nothing recompiles after the first step. What is computed
comes from the model family (``family.Family``: loss, metrics, eval sums); the optimiser is
``optimizer.make``'s one optax chain.

Mixed precision (``compute_dtype='bfloat16'``): the float32 parameters stay the master copy
that Adam updates; each step runs the model on a bfloat16 copy, and the family computes its
losses in float32, so softmax, KL and the gradients' sums stay in float32.

Under FSDP the state arrives split over devices; ``compute_sharding`` (replicated) gathers the
parameters once at the start of the step, and the step's ``out_shardings`` split the new
state again, so XLA's SPMD partitioner turns the gradient sum into a reduce-scatter.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from musicvae_jax.training import family as family_lib
from musicvae_jax.training import optimizer


def graph_of(fam: family_lib.Family) -> nnx.GraphDef:
  """The model's static graph, from shapes alone (no parameter is initialised)."""
  graphdef, _ = nnx.split(nnx.eval_shape(lambda: fam.build(0)), nnx.Param)
  return graphdef


def make_init(fam: family_lib.Family, tx: optax.GradientTransformation, seed: int):
  """``init() -> state {params, opt_state, step}``: jit it with ``out_shardings`` so each
  device computes only its own shards of the state."""

  def init():
    params = nnx.to_pure_dict(nnx.state(fam.build(seed), nnx.Param))
    return dict(params=params, opt_state=tx.init(params), step=jnp.zeros((), jnp.int32))

  return init


def compute_params(params, dtype=None, sharding=None):
  """The copy of the parameters a step computes with: gathered and cast as asked."""
  if sharding is not None:
    params = jax.lax.with_sharding_constraint(params, jax.tree.map(lambda _: sharding, params))
  if dtype is None or jnp.dtype(dtype) == jnp.float32:
    return params
  return jax.tree.map(
      lambda w: w.astype(dtype) if jnp.issubdtype(w.dtype, jnp.floating) else w, params)


def make_train_step(graphdef, fam: family_lib.Family, tx: optax.GradientTransformation, *,
                    compute_dtype=None, compute_sharding=None):
  """Returns the pure ``train_step(state, batch, key) -> (state, metrics)`` (not yet jitted)."""

  def train_step(state, batch, key):
    step = state['step']

    def loss_fn(params):
      params = compute_params(params, compute_dtype, compute_sharding)
      model = nnx.merge(graphdef, nnx.State(params))
      return fam.loss(model, batch, key, step)

    grads, metrics = jax.grad(loss_fn, has_aux=True)(state['params'])
    updates, opt_state = tx.update(grads, state['opt_state'], state['params'])
    params = fam.after_update(optax.apply_updates(state['params'], updates), step + 1)
    metrics = dict(metrics, global_norm=optimizer.global_norm(grads),
                   learning_rate=optimizer.learning_rate(opt_state))
    return dict(params=params, opt_state=opt_state, step=step + 1), metrics

  return train_step


def make_eval_step(graphdef, fam: family_lib.Family, *, compute_dtype=None,
                   compute_sharding=None):
  """``eval_step(params, batch, key, step) -> sums`` of the family's evaluation."""

  def eval_step(params, batch, key, step):
    params = compute_params(params, compute_dtype, compute_sharding)
    return fam.eval_sums(nnx.merge(graphdef, nnx.State(params)), batch, key, step)

  return eval_step
