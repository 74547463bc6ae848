"""DSAE and TS-DSAE train through the toolkit's loop on real dMelodies items: TS-DSAE's two
stages (local parameters untouched in stage 1), the frozen copy of v's encoder taken when stage
1 ends, the swap terms entering only then, and an exact resume across the switch."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax.converters import dmelodies
from musicvae_jax.input_pipeline import dmelodies_dataset
from musicvae_jax.training import dsae_family
from musicvae_jax.training import family
from musicvae_jax.training import loop

LOCAL = ('z_rnn', 'z_head', 'prior_rnn', 'prior_head')


@pytest.fixture(scope='module')
def dm_data(tmp_path_factory):
  out = tmp_path_factory.mktemp('dmelodies') / 'data'
  dmelodies_dataset.write(out, train_items=512, eval_items=64)
  return out


def _config(name, **train):
  config = config_lib.get_config(f'{name}:tiny')
  config.train.update(train)
  return config


def _params(workdir, step):
  _, params, at = loop.restore_params(workdir, step=step)
  assert at == step
  return jax.device_get(params)


def _equal(a, b):
  return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.fixture(scope='module')
def ts_run(dm_data, tmp_path_factory):
  """tsdsae-dmelodies:tiny for 20 steps (stage 1: steps 0-9), checkpoints at 10 and 20."""
  workdir = tmp_path_factory.mktemp('ts') / 'run'
  loop.train_and_evaluate(_config('tsdsae-dmelodies'), dm_data, workdir, progress=False,
                          log=lambda *a: None)
  return workdir


def test_stage_one_trains_v_and_the_decoder_only_then_copies_v_into_the_prior(ts_run):
  config = _config('tsdsae-dmelodies')
  run = config_boundary.run_spec(config)
  assert run.model.dsae.stage1_steps == 10
  _, state = loop.new_session(run)  # the parameters a run starts from
  init = jax.device_get(state['params'])
  at10, at20 = _params(ts_run, 10), _params(ts_run, 20)
  for name in LOCAL:  # exactly zero gradient through stage 1
    assert _equal(at10[name], init[name]), name
    assert not _equal(at20[name], init[name]), name
  assert not _equal(at10['v_encoder'], init['v_encoder'])
  assert _equal(at10['v_prior'], at10['v_encoder'])        # copied when stage 1 ended
  assert _equal(at20['v_prior'], at10['v_encoder'])        # and frozen since
  assert not _equal(at20['v_encoder'], at10['v_encoder'])  # while v's encoder trains on


def test_swap_terms_enter_with_stage_two(ts_run):
  rows = [json.loads(line) for line in (ts_run / 'metrics.jsonl').read_text().splitlines()]
  train = [r for r in rows if r.get('split') == 'train']
  assert [r['stage'] for r in train] == [1.0, 1.0, 2.0, 2.0]  # logged at steps 5, 10, 15, 20
  for r in train:
    terms = [r[name] for name in dsae_family.SWAP_TERMS]
    assert all(t == 0 for t in terms) if r['stage'] == 1 else all(t > 0 for t in terms), r
    assert (r['kl_z_bits'] == 0) == (r['stage'] == 1)


def test_a_run_stopped_in_stage_one_resumes_to_the_same_parameters(ts_run, dm_data, tmp_path):
  workdir = tmp_path / 'resumed'
  loop.train_and_evaluate(_config('tsdsae-dmelodies', num_steps=7), dm_data, workdir,
                          progress=False, log=lambda *a: None)
  loop.train_and_evaluate(_config('tsdsae-dmelodies'), dm_data, workdir, progress=False,
                          log=lambda *a: None)
  assert _equal(_params(workdir, 20), _params(ts_run, 20))


def test_vanilla_dsae_has_no_prior_copy_and_no_swap_terms(dm_data, tmp_path):
  result = loop.train_and_evaluate(_config('dsae-dmelodies', num_steps=10), dm_data,
                                   tmp_path / 'dsae', progress=False, log=lambda *a: None)
  params = _params(tmp_path / 'dsae', 10)
  assert 'v_prior' not in params and set(LOCAL) <= set(params)
  rows = [json.loads(line) for line in (tmp_path / 'dsae' / 'metrics.jsonl').read_text()
          .splitlines()]
  train = [r for r in rows if r.get('split') == 'train']
  assert train and all(r['kl_z_bits'] > 0 and 'v_global_swap' not in r for r in train)
  assert 0.0 <= result['eval_eval']['accuracy'] <= 1.0


def test_v_beta_weighs_only_vs_kl_term(dm_data):
  """model.v_beta scales KL(q(v) || p(v)) in the loss and nothing else (same draws)."""
  items = dmelodies_dataset.items(dm_data, 'train')[:16]
  tokens = jnp.asarray(dmelodies.generate(items).tokens)
  batch = dict(labels=tokens[..., None], lengths=jnp.full((16,), tokens.shape[1]),
               mask=jnp.ones(tokens.shape, jnp.float32))
  losses, kls = [], []
  for v_beta in (1.0, 0.25):
    config = _config('dsae-dmelodies')
    config.model.v_beta = v_beta
    fam = family.for_spec(config_boundary.run_spec(config))
    loss, metrics = fam.loss(fam.build(0), batch, jax.random.key(3), 5)
    losses.append(float(loss))
    kls.append(float(metrics['kl_v_bits']) * np.log(2.0))
  assert kls[0] == pytest.approx(kls[1]) and kls[0] > 0.01
  assert losses[0] - losses[1] == pytest.approx(0.75 * kls[0], rel=1e-3, abs=1e-4)
  bad = _config('dsae-dmelodies')
  bad.model.v_beta = 0.0
  with pytest.raises(config_boundary.ModelConfigError, match='v_beta'):
    config_boundary.run_spec(bad)


def _swap_setup(dm_data, **options):
  items = dmelodies_dataset.items(dm_data, 'train')[:16]
  tokens = jnp.asarray(dmelodies.generate(items).tokens)
  config = _config('tsdsae-dmelodies')
  config.model.update(options)
  model = family.for_spec(config_boundary.run_spec(config)).build(0)
  return model, dsae_family.forward(model, tokens, jax.random.key(1), 10_000)


def test_straight_through_swaps_re_encode_the_greedy_decode(dm_data):
  """The global swap's v term is KL(q(v | argmax decode(v_j, z_i)) || q(v_j)), and its
  gradient still reaches the decoder through the softmax."""
  model, out = _swap_setup(dm_data, straight_through_swaps=True)
  key = jax.random.key(2)
  j = jax.random.permutation(key, 16)
  greedy = jnp.argmax(model.decode(out['v'][j], out['z']), axis=-1)
  mu, sigma = model.encode_v(model.one_hot(greedy))
  expected = dsae_family.losses.gaussian_kl(mu, sigma, out['mu_v'][j], out['sigma_v'][j],
                                            min_sigma=dsae_family.SWAP_MIN_SIGMA)
  terms = dsae_family.swap_terms(model, out, key)
  np.testing.assert_allclose(terms['v_global_swap'], expected, rtol=1e-4, atol=1e-5)
  soft = dsae_family.swap_terms(_swap_setup(dm_data)[0], out, key)
  assert not np.allclose(soft['v_global_swap'], expected, rtol=1e-3)
  grads = nnx.grad(lambda m: jnp.sum(dsae_family.swap_terms(m, out, key)['v_global_swap']))(
      model)
  assert float(jnp.abs(grads['out']['kernel'][...]).sum()) > 0


def test_z_swap_targets_pass_gradient_only_when_asked(dm_data):
  """With swap_z_targets_train the z terms' targets q(z_t,i) carry gradient: the terms' gradient
  through the targets alone (the decode and re-encode held fixed) is zero without it."""
  for train in (False, True):
    model, out = _swap_setup(dm_data, swap_z_targets_train=train)
    grads = jax.grad(lambda mu: jnp.sum(dsae_family.swap_terms(
        model, dict(out, mu_z=mu), jax.random.key(2))['z_global_swap']))(out['mu_z'])
    assert (float(jnp.abs(grads).sum()) > 0) == train
