"""DSAE and TS-DSAE as a model family: their loss, stages, swap terms and metrics.

Shapes: B = batch, T = steps, V = token classes, Z = size of z_t, V_ = size of v.

One training pass (``models.dsae`` has the network): v ~ q(v | x), z_t ~ q(z_t | x), logits of
p(x_t | v, z_t); loss = mean over the batch of

  Σ_t CE(x_t) + β·β_v·KL(q(v) ‖ p(v))
  + β·max(Σ_t KL(q(z_t) ‖ p(z_t | z_<t)) - free bits, 0) + swap terms,

the z prior held fixed in that KL and trained by its own term, Σ_t KL(q(z_t) ‖ p(z_t | z_<t))
with q held fixed (so it learns whether or not the posterior is under its free bits); β_v is
``spec.dsae.v_beta`` where p(v) = N(0, I) and 1 against TS-DSAE's informed prior.

TS-DSAE (``spec.dsae.stage1_steps`` = S > 0) trains in two stages inside the one jitted step:

* steps < S: z_t is multiplied by 0 before the decoder and the z terms by 0, so the local
  encoder and prior receive exactly zero gradient (Adam leaves them where they are) and v must
  carry what it can: a sequence-level VAE.
* at step S, ``after_update`` copies v's encoder into ``v_prior`` (a frozen copy: the loss
  never reaches it). From then on p(v) = that copy's q(v | x) instead of N(0, I), and the four
  swap-consistency terms enter. With a seeded permutation j of the batch:
  global swap x̃ = decode(v_j, z_i): KL(q(v | x̃) ‖ q(v_j)) (v shows up) and
  mean_t KL(q(z_t | x̃) ‖ q(z_t,i)) (z stays); local swap x̃ = decode(v_i, z_j):
  KL(q(v | x̃) ‖ q(v_i)) (v stays) and mean_t KL(q(z_t | x̃) ‖ q(z_t,j)) (z shows up), x̃
  being the decoder's softmax, so the terms are differentiable end to end.

Three choices of this project's, each from a failed run on dMelodies (BENCHMARKS.md): the
swap weights rise from 0 over ``swap_warmup_steps`` of stage 2 (at full weight at once the z
terms keep z_1:T empty); the targets q(v_j), q(z_t,i), ... are held fixed, the z terms are
means over t (the authors' are sums), and standard deviations in them are floored at
``SWAP_MIN_SIGMA`` (a sharp posterior otherwise turns small misses into thousands of nats).
Two options (``spec.dsae``): ``swap_z_targets_train`` lets the z terms' targets pass gradient
(z's code on the data then moves towards one a swap keeps), ``straight_through_swaps``
re-encodes the greedy decode rather than the softmax (which can carry two keys at once and
so satisfy both v terms with a melody whose argmax is neither).

With S = 0 and zero swap weights this is the vanilla DSAE: p(v) = N(0, I), one stage.

Metrics: ``accuracy`` (argmax = token over steps), ``kl_v_bits``, ``kl_z_bits`` and the swap
terms in nats. Evaluation sums the same over an eval split; the disentanglement scores
(LDA on v, F1 after swaps) are ``training/dsae_eval.py``'s.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from flax import nnx

from musicvae_jax.input_pipeline import pipeline
from musicvae_jax.models import dsae
from musicvae_jax.training import family
from musicvae_jax.training import losses

# Standard deviations below this count as this in the swap KLs: a posterior that has grown
# sharp (sigma ~ 1e-3) would otherwise turn a small miss into thousands of nats and the terms
# into the whole gradient (measured on dMelodies: accuracy fell as they rose past 900 nats).
SWAP_MIN_SIGMA = 0.1
SWAP_TERMS = ('v_global_swap', 'z_global_swap', 'v_local_swap', 'z_local_swap')


def in_stage2(spec, step):
  """1.0 from step ``stage1_steps`` on (always, for a one-stage DSAE), else 0.0."""
  return (jnp.asarray(step) >= spec.dsae.stage1_steps).astype(jnp.float32)


def forward(model: dsae.DSAE, tokens_BxT, key, step):
  """Encodings, samples and logits of one pass; z is masked to zero in TS-DSAE's stage 1."""
  spec = model.spec
  x = model.one_hot(tokens_BxT)
  k_v, k_z = jax.random.split(key)
  mu_v, sigma_v = model.encode_v(x)
  mu_z, sigma_z = model.encode_z(x)
  v = mu_v + sigma_v * jax.random.normal(k_v, mu_v.shape)
  z = mu_z + sigma_z * jax.random.normal(k_z, mu_z.shape)
  stage2 = in_stage2(spec, step)
  logits = model.decode(v, z * stage2)
  if spec.dsae.two_stage:
    p_mu, p_sigma = model.informed_prior(x)
    p_mu, p_sigma = p_mu * stage2, p_sigma * stage2 + (1.0 - stage2)  # N(0, I) in stage 1
  else:
    p_mu, p_sigma = jnp.zeros_like(mu_v), jnp.ones_like(sigma_v)
  zp_mu, zp_sigma = model.z_prior(jax.lax.stop_gradient(z))
  sg = jax.lax.stop_gradient
  kl_z = lambda *a: jnp.sum(losses.gaussian_kl(*a), axis=-1) * stage2
  return dict(x=x, mu_v=mu_v, sigma_v=sigma_v, mu_z=mu_z, sigma_z=sigma_z, v=v, z=z,
              logits=logits.astype(jnp.float32), stage2=stage2,
              kl_v=losses.gaussian_kl(mu_v, sigma_v, p_mu, p_sigma),
              # The posterior's KL (free bits apply) against the prior held fixed, and the
              # prior's fit to the posterior held fixed: the prior learns even below free bits.
              kl_z=kl_z(mu_z, sigma_z, sg(zp_mu), sg(zp_sigma)),
              prior_fit=kl_z(sg(mu_z), sg(sigma_z), zp_mu, zp_sigma))


def swap_terms(model: dsae.DSAE, out: dict, key) -> dict:
  """The four swap-consistency KLs [B] (nats), each decoded pair re-encoded from its softmax
  (``straight_through_swaps``: from its greedy decode)."""
  perm = jax.random.permutation(key, out['v'].shape[0])
  d = model.spec.dsae
  terms = {}
  for name, v, z, v_target, z_target in (
      ('global', out['v'][perm], out['z'], perm, None),
      ('local', out['v'], out['z'][perm], None, perm)):
    probs = jax.nn.softmax(model.decode(v, z).astype(jnp.float32), axis=-1)
    if d.straight_through_swaps:
      # Re-encode the greedy decode (what a user gets), the softmax's gradient passed through.
      probs = probs + jax.lax.stop_gradient(
          jax.nn.one_hot(jnp.argmax(probs, -1), probs.shape[-1]) - probs)
    mu_v, sigma_v = model.encode_v(probs)
    mu_z, sigma_z = model.encode_z(probs)
    # The targets are the originals' posteriors, v's held fixed: the terms train the decoder
    # and the encoders on decoded input, not v's reading of the data; z's pass gradient to z's
    # encoder with ``swap_z_targets_train`` (its code on the data moves towards one a swap keeps).
    pick = lambda a, p: jax.lax.stop_gradient(a if p is None else a[p])
    zpick = (lambda a, p: a if p is None else a[p]) if d.swap_z_targets_train else pick
    kl = functools.partial(losses.gaussian_kl, min_sigma=SWAP_MIN_SIGMA)
    terms[f'v_{name}_swap'] = kl(mu_v, sigma_v, pick(out['mu_v'], v_target),
                                 pick(out['sigma_v'], v_target))
    terms[f'z_{name}_swap'] = jnp.mean(kl(mu_z, sigma_z, zpick(out['mu_z'], z_target),
                                          zpick(out['sigma_z'], z_target)), axis=-1)
  return terms


def reconstruction(logits_BxTxV, tokens_BxT, mask_BxT):
  """Summed cross-entropy [B] and argmax hits [B, T] over valid steps."""
  logp = jax.nn.log_softmax(logits_BxTxV, axis=-1)
  nll = -jnp.take_along_axis(logp, tokens_BxT[..., None], axis=-1)[..., 0]
  correct = (jnp.argmax(logits_BxTxV, axis=-1) == tokens_BxT).astype(jnp.float32)
  return jnp.sum(nll * mask_BxT, axis=-1), correct * mask_BxT


class DsaeFamily(family.Family):
  """DSAE / TS-DSAE over one part of token classes [B, T, 1]."""

  batch_keys = ('labels', 'lengths', 'mask')

  def build(self, seed: int = 0):
    return dsae.build(self.run.model, seed)

  def check_dataset(self, data_dir) -> dict:
    model = self.run.model
    return pipeline.check_fits(data_dir, seq_len=model.seq_len, part_depths=model.part_depths)

  def after_update(self, params: dict, step):
    """At the end of stage 1, v's prior becomes a copy of v's encoder (then stays frozen)."""
    if not self.run.model.dsae.two_stage:
      return params
    switch = jnp.asarray(step) == self.run.model.dsae.stage1_steps
    prior = jax.tree.map(lambda enc, old: jnp.where(switch, enc, old), params['v_encoder'],
                         params['v_prior'])
    return dict(params, v_prior=prior)

  def _terms(self, model, batch, key, step, *, swaps: bool):
    tokens, mask = batch['labels'][..., 0], batch['mask']
    k_pass, k_swap = jax.random.split(key)
    out = forward(model, tokens, k_pass, step)
    r_loss, hits = reconstruction(out['logits'], tokens, mask)
    beta = losses.beta(step, self.run.loss.max_beta, self.run.loss.beta_rate)
    # Free bits on z_1:T as MusicVAE's on z: below them the local latents cost nothing, so a
    # decoder that stage 1 trained on z = 0 does not learn to shut them out before they carry
    # anything (v keeps its full KL: TS-DSAE's informed prior or N(0, I)).
    # v_beta weighs v's KL where its prior is N(0, I): the vanilla DSAE, TS-DSAE's stage 1.
    d = self.run.model.dsae
    v_beta = d.v_beta + (1.0 - d.v_beta) * out['stage2'] if d.two_stage else d.v_beta
    kl_v = v_beta * out['kl_v']
    total = r_loss + beta * (kl_v + losses.kl_cost(out['kl_z'], self.run.loss.free_bits)
                             + out['prior_fit'])
    terms = dict(r_loss=r_loss, kl_v=out['kl_v'], kl_z=out['kl_z'])
    weights = self.run.model.dsae.swap_weights
    if swaps and any(weights):
      # Stage 1 skips the swap passes altogether (they would be multiplied by 0).
      zeros = {name: jnp.zeros_like(r_loss) for name in SWAP_TERMS}
      graphdef, state = nnx.split(model)
      swapped = jax.lax.cond(
          out['stage2'] > 0,
          lambda st, o, k: swap_terms(nnx.merge(graphdef, st), o, k),
          lambda st, o, k: zeros, state, out, k_swap)
      ramp = jnp.clip((jnp.asarray(step, jnp.float32) - d.stage1_steps + 1.0)
                      / max(d.swap_warmup_steps, 1), 0.0, 1.0)
      for name, w in zip(SWAP_TERMS, weights):
        terms[name] = swapped[name]
        total = total + w * ramp * terms[name]
    return dict(terms, loss=total), hits, out

  def loss(self, model, batch, key, step):
    terms, hits, out = self._terms(model, batch, key, step, swaps=True)
    weights = (batch['lengths'] > 0).astype(jnp.float32)
    mean = {k: losses.weighted_mean(v, weights) for k, v in terms.items()}
    metrics = {k: v for k, v in mean.items() if k not in ('kl_v', 'kl_z')}
    metrics.update(kl_v_bits=mean['kl_v'] / math.log(2.0), kl_z_bits=mean['kl_z'] / math.log(2.0),
                   stage=1.0 + out['stage2'],
                   accuracy=jnp.sum(hits) / jnp.maximum(jnp.sum(batch['mask']), 1.0))
    return mean['loss'], metrics

  def eval_sums(self, model, batch, key, step):
    terms, hits, _ = self._terms(model, batch, key, step, swaps=False)
    weights = (batch['lengths'] > 0).astype(jnp.float32)
    return dict(examples=jnp.sum(weights), steps=jnp.sum(batch['mask']), hits=jnp.sum(hits),
                **{k: jnp.sum(v * weights) for k, v in terms.items()})

  def summarize(self, totals: dict) -> dict:
    n = max(float(totals['examples']), 1.0)
    return dict(examples=int(totals['examples']),
                accuracy=float(totals['hits']) / max(float(totals['steps']), 1.0),
                loss=float(totals['loss']) / n, r_loss=float(totals['r_loss']) / n,
                kl_v_bits=float(totals['kl_v']) / n / math.log(2.0),
                kl_z_bits=float(totals['kl_z']) / n / math.log(2.0))

  def format_table(self, rows: dict[str, dict]) -> str:
    lines = [f'{"split":<8}{"examples":>10}{"accuracy":>10}{"r_loss":>10}{"KL v bits":>11}'
             f'{"KL z bits":>11}']
    for split, m in rows.items():
      lines.append(f'{split:<8}{m["examples"]:>10}{m["accuracy"]:>10.4f}{m["r_loss"]:>10.3f}'
                   f'{m["kl_v_bits"]:>11.1f}{m["kl_z_bits"]:>11.1f}')
    return '\n'.join(lines)

  def headline(self, metrics: dict) -> str:
    return (f'accuracy {metrics["accuracy"]:.4f}, KL v {metrics["kl_v_bits"]:.1f} bits, '
            f'KL z {metrics["kl_z_bits"]:.1f} bits')
