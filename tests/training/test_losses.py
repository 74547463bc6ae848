"""Loss terms, schedules, gradient clipping and the jitted train step, against hand values."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax import specs
from musicvae_jax.training import family
from musicvae_jax.training import losses
from musicvae_jax.training import optimizer
from musicvae_jax.training import schedules
from musicvae_jax.training import steps

LN2 = math.log(2.0)


# ---- KL, free bits, beta ---------------------------------------------------------------------

def test_kl_divergence_closed_form():
  """KL(N(mu, sigma²) ‖ N(0, I)) = ½ Σ (sigma² + mu² − 1 − ln sigma²), per example."""
  rng = np.random.default_rng(0)
  mu = rng.normal(size=(3, 5))
  sigma = rng.uniform(0.1, 2.0, size=(3, 5))
  want = 0.5 * np.sum(sigma ** 2 + mu ** 2 - 1.0 - np.log(sigma ** 2), axis=-1)
  got = losses.kl_divergence(jnp.asarray(mu, jnp.float32), jnp.asarray(sigma, jnp.float32))
  assert got.shape == (3,)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_kl_divergence_hand_values():
  """The prior itself has KL 0; mu = (1, 0), sigma = (1, e) gives ½ + ½(e² − 1) − 1."""
  zero = losses.kl_divergence(jnp.zeros((1, 4)), jnp.ones((1, 4)))
  np.testing.assert_allclose(zero, [0.0], atol=1e-7)
  e = math.e
  got = losses.kl_divergence(jnp.array([[1.0, 0.0]]), jnp.array([[1.0, e]]))
  np.testing.assert_allclose(got, [0.5 + 0.5 * (e * e - 1.0) - 1.0], rtol=1e-6)


def test_kl_cost_subtracts_free_bits_from_the_total():
  """free_bits = 48: 48·ln 2 nats come off the summed KL, clamped at 0."""
  free = 48 * LN2  # 33.27 nats
  kl = jnp.array([40.0, free, 20.0, 0.0, 1000.0])
  got = losses.kl_cost(kl, 48)
  np.testing.assert_allclose(got, [40.0 - free, 0.0, 0.0, 0.0, 1000.0 - free], rtol=1e-6,
                             atol=1e-5)
  np.testing.assert_array_equal(losses.kl_cost(kl, 0), kl)


@pytest.mark.parametrize('step,max_beta,rate,want', [
    (0, 0.2, 0.0, 0.0),        # 0^0 = 1: no KL weight at the very first step
    (1, 0.2, 0.0, 0.2),        # then max_beta at once
    (3, 0.2, 0.0, 0.2),
    (3, 1.0, 0.5, 1.0 - 0.5 ** 3),
    (0, 0.2, 0.5, 0.0),
    (2, 0.4, 0.25, (1.0 - 0.25 ** 2) * 0.4),
])
def test_beta(step, max_beta, rate, want):
  """beta(step) = (1 − rate^step)·max_beta."""
  np.testing.assert_allclose(losses.beta(step, max_beta, rate), want, rtol=1e-6, atol=1e-9)
  np.testing.assert_allclose(losses.beta(jnp.int32(step), max_beta, rate), want, rtol=1e-6,
                             atol=1e-9)


def test_weighted_mean():
  """Mean over weighted (real) examples; an all-padding batch gives 0, not NaN."""
  x = jnp.array([1.0, 2.0, 3.0])
  np.testing.assert_allclose(losses.weighted_mean(x, jnp.array([1.0, 1.0, 0.0])), 1.5)
  np.testing.assert_allclose(losses.weighted_mean(x, jnp.zeros(3)), 0.0)


# ---- reconstruction ----------------------------------------------------------------------

def test_reconstruction_sums_valid_steps_and_parts():
  """r_loss = Σ over valid steps and over parts of −log softmax(part logits)[label]."""
  parts = (3, 2)
  b, t = 3, 4
  rng = np.random.default_rng(1)
  logits = rng.normal(size=(b, t, sum(parts)))
  labels = np.stack([rng.integers(0, d, (b, t)) for d in parts], axis=-1)
  lengths = np.array([4, 2, 0])
  mask = (np.arange(t)[None] < lengths[:, None]).astype(np.float32)
  # Padded steps get huge logits for a wrong class: they must not count.
  logits[1, 2:, 0] = 1e3
  labels[1, 2:, 0] = 1

  want = np.zeros(b)
  want_correct = np.zeros((b, t, len(parts)), bool)
  for i in range(b):
    for s in range(t):
      start = 0
      for p, depth in enumerate(parts):
        part = logits[i, s, start:start + depth]
        log_softmax = part - part.max() - np.log(np.sum(np.exp(part - part.max())))
        if s < lengths[i]:
          want[i] -= log_softmax[labels[i, s, p]]
        want_correct[i, s, p] = np.argmax(part) == labels[i, s, p]
        start += depth

  r_loss, correct = losses.reconstruction(jnp.asarray(logits, jnp.float32),
                                          jnp.asarray(labels, jnp.int32), jnp.asarray(mask),
                                          parts)
  assert r_loss.shape == (b,)
  np.testing.assert_allclose(r_loss, want, rtol=1e-5)
  assert float(r_loss[2]) == 0.0
  np.testing.assert_array_equal(correct, want_correct)


# ---- schedules ---------------------------------------------------------------------------

LR = dict(learning_rate=1e-3, decay_rate=0.9999, min_learning_rate=1e-5)


@pytest.mark.parametrize('step', [0, 1, 100, 10_000, 1_000_000])
def test_learning_rate_decay(step):
  """lr(step) = (lr₀ − min)·decay^step + min, computed in float32 as Magenta's TF does.

  0.9999 rounds to float32 with an error of 1.7e-8, which 10⁴ steps amplify to 1.7e-4 relative
  in decay^step, hence rtol 2.5e-4.
  """
  want = (1e-3 - 1e-5) * 0.9999 ** step + 1e-5
  np.testing.assert_allclose(schedules.learning_rate(step, **LR), want, rtol=2.5e-4)
  # The optimiser's own schedule, as the train step applies and logs it.
  tx = optimizer.make(specs.TrainSpec(**LR))
  state = optimizer.init(tx, {'w': jnp.zeros(2)}, step)
  _, state = tx.update({'w': jnp.ones(2)}, state)
  np.testing.assert_allclose(optimizer.learning_rate(state), want, rtol=2.5e-4)


def test_learning_rate_hand_values():
  """The start value, the value at 10k steps and the floor far out."""
  np.testing.assert_allclose(schedules.learning_rate(0, **LR), 1e-3, rtol=1e-6)
  np.testing.assert_allclose(schedules.learning_rate(10_000, **LR),
                             9.9e-4 * math.exp(10_000 * math.log(0.9999)) + 1e-5, rtol=2.5e-4)
  np.testing.assert_allclose(schedules.learning_rate(10_000_000, **LR), 1e-5, rtol=1e-6)


def test_inverse_sigmoid_sampling_probability():
  """p(step) = 1 − k/(k + exp(step/k)): 1/1001 at step 0, ½ at step k·ln k ≈ 6907.8 (k = 1000)."""
  p = lambda step: schedules.sampling_probability(step, schedule='inverse_sigmoid', rate=1000)
  np.testing.assert_allclose(p(0), 1.0 / 1001.0, atol=1e-6)
  np.testing.assert_allclose(p(1000 * math.log(1000)), 0.5, atol=1e-5)
  # Near the midpoint p rises by 1/(4k) per step: 6908 is 0.245 steps past it.
  np.testing.assert_allclose(p(6908), 0.5 + 0.245 / 4000, atol=1e-5)
  assert float(p(100_000)) > 0.999


def test_other_sampling_schedules():
  """constant: the rate itself; exponential: 1 − rate^step; anything else: ValueError."""
  np.testing.assert_allclose(
      schedules.sampling_probability(123, schedule='constant', rate=0.25), 0.25)
  np.testing.assert_allclose(
      schedules.sampling_probability(2, schedule='exponential', rate=0.5), 0.75)
  with pytest.raises(ValueError, match='linear'):
    schedules.sampling_probability(0, schedule='linear', rate=1.0)


@pytest.mark.parametrize('schedule,rate,want', [
    ('constant', 0.0, False), ('constant', 0, False), ('constant', 0.5, True),
    ('inverse_sigmoid', 1000, True), ('exponential', 0.99, True), ('exponential', 0.0, True),
])
def test_uses_scheduled_sampling(schedule, rate, want):
  """Only the constant-0 schedule turns the sampling pass off."""
  assert schedules.uses_scheduled_sampling(schedule, rate) is want


# ---- gradient clipping -------------------------------------------------------------------

def _clip(grads, clip=1.0):
  """(gradients after the clip-or-zero transformation, global norm before it)."""
  tx = optimizer.clip_or_zero(grad_clip=clip, grad_norm_clip_to_zero=1e4)
  out, _ = tx.update(grads, tx.init(grads))
  return out, optimizer.global_norm(grads)


def test_clip_below_threshold_unchanged():
  """Global norm 5 ≤ clip 10: gradients pass unchanged; the norm is reported."""
  grads = {'a': jnp.array([3.0, 0.0]), 'b': jnp.array([[4.0]])}
  out, norm = _clip(grads, clip=10.0)
  np.testing.assert_allclose(norm, 5.0, rtol=1e-6)
  np.testing.assert_allclose(out['a'], [3.0, 0.0], rtol=1e-6)
  np.testing.assert_allclose(out['b'], [[4.0]], rtol=1e-6)


def test_clip_above_threshold_scales_to_clip_norm():
  """Global norm 5 > clip 1: every leaf scaled by 1/5, so the new global norm is 1."""
  grads = {'a': jnp.array([3.0, 0.0]), 'b': jnp.array([[4.0]])}
  out, norm = _clip(grads, clip=1.0)
  np.testing.assert_allclose(norm, 5.0, rtol=1e-6)
  np.testing.assert_allclose(out['a'], [0.6, 0.0], rtol=1e-6)
  np.testing.assert_allclose(out['b'], [[0.8]], rtol=1e-6)


def test_clip_to_zero_at_and_above_threshold():
  """Norm ≥ grad_norm_clip_to_zero (1e4) zeros the whole step; just below it still clips."""
  out, norm = _clip({'a': jnp.array([6000.0, 8000.0]), 'b': jnp.ones(3)})
  assert float(norm) >= 1e4
  np.testing.assert_array_equal(out['a'], 0.0)
  np.testing.assert_array_equal(out['b'], 0.0)
  out, norm = _clip({'a': jnp.array([5999.0, 8000.0])})
  assert float(norm) < 1e4
  np.testing.assert_allclose(jnp.linalg.norm(out['a']), 1.0, rtol=1e-6)


@pytest.mark.parametrize('bad', [np.nan, np.inf])
def test_clip_non_finite_zeros(bad):
  """A NaN or infinite gradient anywhere zeros every gradient (no NaN reaches Adam)."""
  out, norm = _clip({'a': jnp.array([1.0, bad]), 'b': jnp.ones(2)})
  assert not np.isfinite(float(norm))
  np.testing.assert_array_equal(out['a'], 0.0)
  np.testing.assert_array_equal(out['b'], 0.0)


# ---- the train step ----------------------------------------------------------------------

def test_train_step_metrics_step_count_and_single_compile():
  """One jitted step: all metrics present with the schedule values of step 0, step increments,
  the parameters move, and a second batch of the same shapes reuses the compiled step."""
  config = config_lib.get_config('cat-mel_2bar_small:tiny')
  run = config_boundary.run_spec(config)
  spec = run.model
  # inverse_sigmoid, rate 1000: the sampling pass runs
  assert schedules.uses_scheduled_sampling(run.loss.sampling_schedule, run.loss.sampling_rate)
  fam = family.for_spec(run)
  tx = optimizer.make(run.train)
  graphdef = steps.graph_of(fam)
  state = jax.jit(steps.make_init(fam, tx, run.train.seed))()
  traces = []

  def counted(state, batch, key):
    traces.append(1)  # runs only while tracing
    return steps.make_train_step(graphdef, fam, tx)(state, batch, key)

  train_step = jax.jit(counted)
  b, t = 4, spec.max_seq_len
  rng = np.random.default_rng(0)

  def batch():
    return dict(labels=jnp.asarray(rng.integers(0, 90, (b, t, 1)), jnp.int32),
                lengths=jnp.full((b,), t, jnp.int32), mask=jnp.ones((b, t), jnp.float32))

  params0 = state['params']
  state1, metrics = train_step(state, batch(), jax.random.PRNGKey(0))
  expected_keys = {'loss', 'r_loss', 'kl_loss', 'kl_bits', 'beta', 'learning_rate',
                   'global_norm', 'sampling_probability', 'accuracy'}
  assert expected_keys <= set(metrics)
  for k, v in metrics.items():
    assert np.all(np.isfinite(v)), k
  assert int(state1['step']) == 1
  np.testing.assert_allclose(metrics['learning_rate'], 1e-3, rtol=1e-6)
  np.testing.assert_allclose(metrics['sampling_probability'], 1.0 / 1001.0, atol=1e-6)
  np.testing.assert_allclose(metrics['beta'], 0.0, atol=1e-12)  # (1 − 0.99999⁰)·0.2
  np.testing.assert_allclose(metrics['loss'], metrics['r_loss'], rtol=1e-6)  # beta is 0
  np.testing.assert_allclose(metrics['kl_bits'] * LN2, metrics['kl_loss'], rtol=1e-5)  # 0 bits
  moved = [np.abs(np.asarray(a) - np.asarray(p)).max()
           for a, p in zip(jax.tree.leaves(state1['params']), jax.tree.leaves(params0))]
  assert max(moved) > 0

  state2, metrics2 = train_step(state1, batch(), jax.random.PRNGKey(1))
  assert int(state2['step']) == 2
  np.testing.assert_allclose(metrics2['learning_rate'], (1e-3 - 1e-5) * 0.9999 + 1e-5,
                             rtol=1e-6)
  assert len(traces) == 1, 'the second call retraced the train step'
  if hasattr(train_step, '_cache_size'):
    assert train_step._cache_size() == 1
