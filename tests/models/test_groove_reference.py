"""GrooVAE against Magenta's own checkpoint (shared/reference/magenta_checkpoints/groove2).

groove2 is Magenta's groovae_2bar_humanize trained three steps by Magenta's code, at small
widths; its reference outputs were computed by Magenta on a fixed batch (see that folder's
README). The model spec is built from the fixture's hparams (structure and sizes), so these
tests pin the decoder's maths, its loss and the checkpoint import. Input dropout, which the
reference graph turns off, is checked against a float64 numpy LSTM fed the model's own masks.
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from conftest import magenta_checkpoint
from musicvae_jax import checkpointing
from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax import specs
from musicvae_jax.magenta import importer
from musicvae_jax.magenta import tf_checkpoint
from musicvae_jax.models import dropout
from musicvae_jax.models import groove_decoder
from musicvae_jax.models import magenta_names
from musicvae_jax.models import vae
from musicvae_jax.training import losses
from musicvae_jax.training import musicvae_family


def groove_spec(hp, *, structure, controls=0, keep_prob=None) -> specs.ModelSpec:
  return specs.ModelSpec(
      heads=specs.groove_heads(structure['output_depth']),
      input=specs.StepInput('dense', structure['input_depth']),
      encoder=specs.EncoderSpec('bidirectional_lstm', tuple(hp['enc_rnn_size'])),
      decoder=specs.DecoderSpec('groove_lstm', tuple(hp['dec_rnn_size'])),
      z_size=hp['z_size'], seq_len=structure['max_seq_len'],
      controls=(specs.Control('hits', controls),) if controls else (),
      dropout_keep_prob=hp['dropout_keep_prob'] if keep_prob is None else keep_prob)


class Groove:
  """The fixture's arrays and hparams, and our model with its weights."""

  def __init__(self):
    self.folder = magenta_checkpoint('groove2')
    with np.load(self.folder / 'reference.npz') as npz:
      self.ref = {k: npz[k] for k in npz.files}
    self.meta = json.loads((self.folder / 'reference.json').read_text())
    self.hparams = self.meta['hparams']
    self.structure = self.meta['structure']
    self.variables = {k[len('var/'):]: v for k, v in self.ref.items() if k.startswith('var/')}
    self.spec = groove_spec(self.hparams, structure=self.structure)
    self.model = vae.build_model(self.spec)
    magenta_names.assign(self.model, self.variables)
    self.inputs = jnp.asarray(self.ref['input_sequence'])
    self.targets = jnp.asarray(self.ref['output_sequence'])
    self.lengths = jnp.asarray(self.ref['sequence_length'])
    self.z = jnp.asarray(self.ref['z'])


@pytest.fixture(scope='module')
def groove() -> Groove:
  return Groove()


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def _lstm_np(x_BxTxD, kernel, bias, c, h, reverse=False):
  """Float64 LSTMBlockCell over time (gates i, j, f, o; forget bias 1). Returns h per step."""
  out = np.zeros(x_BxTxD.shape[:2] + (h.shape[-1],))
  order = range(x_BxTxD.shape[1])
  for t in (reversed(order) if reverse else order):
    i, j, f, o = np.split(np.concatenate([x_BxTxD[:, t], h], -1) @ kernel + bias, 4, axis=-1)
    c = _sigmoid(i) * np.tanh(j) + _sigmoid(f + 1.0) * c
    h = _sigmoid(o) * np.tanh(c)
    out[:, t] = h
  return out


def _params(model):
  return {k: np.asarray(v[...], np.float64)
          for k, v in nnx.to_flat_state(nnx.state(model, nnx.Param))}


# ---- the structure and the import -----------------------------------------------------------


def test_fixture_is_magentas_groove_decoder(groove):
  """The fixture is the structure these tests build: GrooveLstmDecoder, 27 = 3 x 9, keep 0.3."""
  assert groove.meta['magenta_config'] == 'groovae_2bar_humanize'
  assert groove.structure['decoder'] == 'GrooveLstmDecoder'
  assert groove.structure['output_splits'] == [27] and groove.spec.part_depths == (9, 9, 9)
  assert groove.structure['control_depth'] == 0
  assert groove.hparams['dropout_keep_prob'] == 0.3
  # Layer 0 reads [previous 27-vector, z, (controls)] + h: the shape the checkpoint holds.
  kernel = groove.variables['decoder/multi_rnn_cell/cell_0/lstm_cell/kernel']
  assert kernel.shape[0] == 27 + groove.spec.z_size + groove.spec.dec_rnn_size[0]


def test_name_map_covers_exactly_the_checkpoint_variables(groove):
  listed = {v['name'] for v in groove.meta['checkpoint']['variables']}
  model_vars = {n for n in listed if not magenta_names.TRAINING_ONLY.search(n)}
  assert set(magenta_names.name_map(groove.spec)) == model_vars


def test_import_reads_the_tf_checkpoint_into_the_model(groove):
  """The importer's path: sizes from the checkpoint's shapes, variables by name, bit for bit."""
  with tf_checkpoint.open_checkpoint(groove.folder) as ckpt:
    names = [n for n in ckpt.keys() if not magenta_names.TRAINING_ONLY.search(n)]
    sizes = importer.infer_sizes({n: ckpt.shape(n) for n in names})
    variables = ckpt.read_all(lambda n: not magenta_names.TRAINING_ONLY.search(n))
  hp = groove.hparams
  assert sizes == dict(enc_rnn_size=hp['enc_rnn_size'], dec_rnn_size=hp['dec_rnn_size'],
                       z_size=hp['z_size'])
  model = vae.build_model(groove_spec(dict(hp, **sizes), structure=groove.structure), seed=7)
  magenta_names.assign(model, variables)
  flat = dict(nnx.to_flat_state(nnx.state(model, nnx.Param)))
  for name, path in magenta_names.name_map(model.spec).items():
    np.testing.assert_array_equal(flat[path][...], groove.variables[name], err_msg=name)


def test_project_configs_select_this_model(groove):
  """groovae_2bar_humanize at the fixture's sizes is this spec; the hits-control config adds
  9-d hits controls; both keep Magenta's 0.3 input keep probability and its loss hparams."""
  config = config_lib.get_config('groovae_2bar_humanize')
  for key in groove.meta['hparams_overridden']:
    if key in config.model:
      config.model[key] = groove.hparams[key]
  assert config_boundary.model_spec(config) == groove.spec
  loss = config_boundary.loss_spec(config)
  assert (loss.free_bits, loss.max_beta, loss.beta_rate) == tuple(
      groove.hparams[k] for k in ('free_bits', 'max_beta', 'beta_rate'))
  hits = config_boundary.model_spec(config_lib.get_config('groovae_2bar_hits_control'))
  assert hits.controls == (specs.Control('hits', 9),) and hits.dropout_keep_prob == 0.3
  assert hits.decoder.kind == 'groove_lstm'


def test_import_magenta_writes_a_workdir_with_the_checkpoint_weights(groove, tmp_path):
  """musicvae-import-magenta's library call on the TF files: the workdir's config gives this
  model, and its parameters are Magenta's, bit for bit."""
  workdir = tmp_path / 'groove2'
  record = importer.import_checkpoint(groove.folder, 'groovae_2bar_humanize', workdir,
                                      log=lambda _: None)
  assert record['global_step'] == 3 and record['config'] == 'groovae_2bar_humanize'
  spec = checkpointing.load_run_spec(workdir).model
  assert spec == groove.spec
  model = vae.build_model(spec, seed=3)
  abstract = checkpointing.abstract(nnx.to_pure_dict(nnx.state(model, nnx.Param)))
  mgr = checkpointing.manager(workdir)
  params, step = checkpointing.restore_params(mgr, abstract)
  mgr.close()
  assert step == 3
  for name, path in magenta_names.name_map(spec).items():
    node = params
    for key in path:
      node = node[key]
    np.testing.assert_array_equal(np.asarray(node), groove.variables[name], err_msg=name)


# ---- Magenta's numbers ----------------------------------------------------------------------


def test_posterior(groove):
  """mu and sigma of the (humanized) reference inputs equal Magenta's; dropout is off."""
  mu, sigma = jax.jit(groove.model.encode)(groove.inputs, groove.lengths)
  np.testing.assert_allclose(mu, groove.ref['mu'], rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(sigma, groove.ref['sigma'], rtol=1e-5, atol=1e-5)


def test_teacher_forced_outputs_and_losses(groove):
  """Output projections from the stored z, then r_loss, KL cost, beta and the loss."""
  inputs = groove_decoder.shift_right(groove.targets)
  np.testing.assert_array_equal(inputs[:, 0], 0.0)
  logits = jax.jit(groove.model.teacher_forced_logits)(groove.z, inputs)
  np.testing.assert_allclose(logits, groove.ref['logits'], rtol=0, atol=1e-5)

  mask = jnp.ones(groove.targets.shape[:2], jnp.float32)
  r_loss, parts = losses.groove_reconstruction(logits, groove.targets, mask)
  # r_loss is ~280 in float32 (spacing 3e-5 there): compared relatively, as the other fixtures.
  np.testing.assert_allclose(r_loss, groove.ref['r_loss'], rtol=1e-6)
  np.testing.assert_allclose(parts['hits'] + parts['velocities'] + parts['offsets'], r_loss,
                             rtol=1e-6)
  assert parts['hits_correct'].shape == groove.ref['target_classes'].shape

  kl = losses.kl_divergence(jnp.asarray(groove.ref['mu']), jnp.asarray(groove.ref['sigma']))
  np.testing.assert_allclose(kl, groove.ref['kl'], rtol=0, atol=1e-5)
  hp = groove.hparams
  kl_cost = losses.kl_cost(kl, hp['free_bits'])
  np.testing.assert_allclose(kl_cost, groove.ref['kl_cost'], rtol=0, atol=1e-5)
  step = int(groove.ref['var/global_step'])
  loss_spec = specs.LossSpec(free_bits=hp['free_bits'], max_beta=hp['max_beta'],
                             beta_rate=hp['beta_rate'])
  batch = dict(lengths=groove.lengths, mask=mask)
  terms = musicvae_family.loss_terms(dict(r_loss=r_loss, kl=kl), batch, loss_spec, step)
  np.testing.assert_allclose(terms['beta'], groove.ref['beta'], rtol=1e-6)
  np.testing.assert_allclose(terms['loss'], groove.ref['loss'], rtol=1e-6)


def test_reconstruction_counts_only_valid_steps(groove):
  """Steps past a sequence's length add nothing; the loss is a sum over steps, not a mean."""
  logits = groove.ref['logits']
  full, _ = losses.groove_reconstruction(logits, groove.targets, jnp.ones((4, 32)))
  mask = (jnp.arange(32)[None] < jnp.array([32, 16, 8, 1])[:, None]).astype(jnp.float32)
  part, _ = losses.groove_reconstruction(logits, groove.targets, mask)
  first16, _ = losses.groove_reconstruction(logits[:, :16], groove.targets[:, :16],
                                            jnp.ones((4, 16)))
  np.testing.assert_allclose(part[0], full[0], rtol=1e-6)
  np.testing.assert_allclose(part[1], first16[1], rtol=1e-6)
  assert float(part[3]) < float(part[2]) < float(part[1])


def test_greedy_decoding(groove):
  """Decoding from z at temperature -> 0: Magenta's hits exactly, its velocities and offsets."""
  sample = jax.jit(lambda z, key: groove.model.sample(z, key, greedy=True))
  out = sample(groove.z, jax.random.PRNGKey(0))
  want = groove.ref['greedy_outputs']
  np.testing.assert_array_equal(out['samples'][..., :9], want[..., :9])
  np.testing.assert_allclose(out['samples'], want, rtol=0, atol=1e-5)
  np.testing.assert_allclose(out['logits'], groove.ref['greedy_logits'], rtol=0, atol=1e-5)
  # Each step's emitted 27-vector is the next step's input.
  np.testing.assert_array_equal(out['inputs'][:, 1:], out['samples'][:, :-1])
  again = sample(groove.z, jax.random.PRNGKey(1))
  np.testing.assert_array_equal(again['samples'], out['samples'])


# ---- sampling, controls, dropout ------------------------------------------------------------


def test_sampling_draws_hits_and_feeds_back_the_emitted_vector(groove):
  """Hits ~ Bernoulli(sigmoid(logit / temperature)); velocities / offsets sigmoid / tanh; the
  teacher-forced pass over the sampled inputs gives the same outputs as the loop."""
  model = groove.model
  z = jnp.tile(groove.z, (64, 1))
  out = jax.jit(lambda z, k: model.sample(z, k, 1.0))(z, jax.random.PRNGKey(3))
  samples, logits = np.asarray(out['samples']), np.asarray(out['logits'])
  assert set(np.unique(samples[..., :9])) == {0.0, 1.0}
  np.testing.assert_allclose(samples[..., 9:18], _sigmoid(logits[..., 9:18]), atol=1e-6)
  np.testing.assert_allclose(samples[..., 18:], np.tanh(logits[..., 18:]), atol=1e-6)
  tf_logits = model.teacher_forced_logits(z, groove_decoder.shift_right(out['samples']))
  np.testing.assert_allclose(tf_logits, logits, rtol=0, atol=1e-5)
  # The logits are near 0 (weights near their initialisation), so hits come up about half the
  # time at temperature 1 and follow sigmoid(logit): 64 x 32 x 9 draws.
  p = _sigmoid(logits[..., :9])
  assert abs(samples[..., :9].mean() - p.mean()) < 0.02
  # A low temperature is greedy; caller-drawn Gumbel noise gives the same draws for the same
  # noise.
  cold = model.sample(groove.z, jax.random.PRNGKey(4), 1e-6)
  np.testing.assert_array_equal(cold['samples'][..., :9], groove.ref['greedy_outputs'][..., :9])
  gumbel = jax.random.gumbel(jax.random.PRNGKey(5), (4, 32, 27))
  a = model.sample(groove.z, jax.random.PRNGKey(6), 1.0, gumbel_BxTxO=gumbel)
  b = model.sample(groove.z, jax.random.PRNGKey(7), 1.0, gumbel_BxTxO=gumbel)
  np.testing.assert_array_equal(a['samples'], b['samples'])


@pytest.fixture(scope='module')
def controlled(groove):
  """A hits-controlled GrooVAE (groovae_2bar_hits_control's layout) at the fixture's sizes."""
  spec = groove_spec(groove.hparams, structure=groove.structure, controls=9)
  return vae.build_model(spec, seed=1)


def test_controls_are_concatenated_to_encoder_and_decoder_inputs(groove, controlled):
  """Kernel rows as Magenta's (encoder [27 + 9 + H], decoder [27 + z + 9 + H]); the decoder's
  step t reads control t, in teacher forcing and in the free-running loop alike."""
  spec = controlled.spec
  assert controlled.encoder.fw[0].kernel.shape[0] == 27 + 9 + spec.enc_rnn_size[0]
  assert controlled.decoder.stack.layers[0].kernel.shape[0] == (
      27 + spec.z_size + 9 + spec.dec_rnn_size[0])
  hits = groove.targets[..., :9]
  out = controlled.sample(groove.z, jax.random.PRNGKey(0), greedy=True, controls_BxTxC=hits)
  tf_logits = controlled.teacher_forced_logits(groove.z, out['inputs'], controls_BxTxC=hits)
  np.testing.assert_allclose(tf_logits, out['logits'], rtol=0, atol=1e-5)
  # Other controls, other outputs, from the first step on whose control changed.
  moved = controlled.teacher_forced_logits(groove.z, out['inputs'], controls_BxTxC=1.0 - hits)
  assert np.abs(np.asarray(moved - tf_logits))[:, 0].max() > 1e-4
  mu, _ = controlled.encode(groove.inputs, groove.lengths, controls_BxTxC=hits)
  mu2, _ = controlled.encode(groove.inputs, groove.lengths, controls_BxTxC=1.0 - hits)
  assert np.abs(np.asarray(mu - mu2)).max() > 0


def test_decoder_dropout_drops_every_layer_input_per_step(groove, controlled):
  """Training pass = a float64 LSTM whose layer inputs ([prev, z, control], then h) are multiplied
  by the model's dropout factors, drawn per step and element (kept with p = 0.3, scaled 1/0.3)."""
  model, key = controlled, jax.random.PRNGKey(11)
  hits = groove.targets[..., :9]
  inputs = groove_decoder.shift_right(groove.targets)
  got = model.teacher_forced_logits(groove.z, inputs, controls_BxTxC=hits, dropout_key=key)
  scales = [np.asarray(s, np.float64) for s in model.decoder.dropout_scales(key, 4, 32)]
  assert [s.shape for s in scales] == [(32, 4, 27 + 8 + 9), (32, 4, 16)]
  for s in scales:
    assert set(np.unique(s)) == {0.0, np.float32(1 / 0.3)}
    assert abs((s > 0).mean() - 0.3) < 0.03

  p = _params(model)
  z = np.asarray(groove.z, np.float64)
  x = np.concatenate([np.asarray(inputs), np.repeat(z[:, None], 32, 1), np.asarray(hits)], -1)
  init = np.tanh(z @ p[('decoder', 'z_to_initial_state', 'kernel')]
                 + p[('decoder', 'z_to_initial_state', 'bias')])
  h = x
  for k in range(2):
    x_k = h * np.swapaxes(scales[k], 0, 1)
    lp = ('decoder', 'stack', 'layers', k)
    h = _lstm_np(x_k, p[lp + ('kernel',)], p[lp + ('bias',)],
                 init[:, 32 * k:32 * k + 16], init[:, 32 * k + 16:32 * k + 32])
  want = h @ p[('decoder', 'output_projection', 'kernel')] + p[
      ('decoder', 'output_projection', 'bias')]
  np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
  # Without a key (evaluation, sampling) nothing is dropped.
  clean = model.teacher_forced_logits(groove.z, inputs, controls_BxTxC=hits)
  assert np.abs(np.asarray(clean - got)).max() > 1e-3


def test_encoder_dropout_draws_each_direction_on_its_own(groove):
  """The forward and backward LSTMs see the input dropped with two independent masks."""
  model, key = groove.model, jax.random.PRNGKey(12)
  mu, sigma = model.encode(groove.inputs, groove.lengths, dropout_key=key)
  x = np.asarray(groove.inputs, np.float64)
  p = _params(model)
  finals = []
  for d, name in enumerate(('fw', 'bw')):
    s = np.asarray(dropout.scales(jax.random.fold_in(key, d), 0.3, x.shape), np.float64)
    lp = ('encoder', name, 0)
    zeros = np.zeros((4, 32))
    h = _lstm_np(x * s, p[lp + ('kernel',)], p[lp + ('bias',)], zeros, zeros, reverse=d == 1)
    finals.append(h[:, -1] if d == 0 else h[:, 0])
  enc = np.concatenate(finals, -1)
  want_mu = enc @ p[('latent', 'mu', 'kernel')] + p[('latent', 'mu', 'bias')]
  np.testing.assert_allclose(mu, want_mu, rtol=0, atol=1e-6)
  assert np.abs(np.asarray(mu) - groove.ref['mu']).max() > 1e-4
  assert np.isfinite(np.asarray(sigma)).all()


def test_keep_prob_one_drops_nothing(groove):
  """At keep_prob 1 a training key changes nothing (configs without dropout are unchanged)."""
  spec = groove_spec(groove.hparams, structure=groove.structure, keep_prob=1.0)
  model = vae.build_model(spec)
  magenta_names.assign(model, groove.variables)
  key = jax.random.PRNGKey(2)
  logits = model.teacher_forced_logits(groove.z, groove_decoder.shift_right(groove.targets),
                                       dropout_key=key)
  np.testing.assert_allclose(logits, groove.ref['logits'], rtol=0, atol=1e-5)
  mu, _ = model.encode(groove.inputs, groove.lengths, dropout_key=key)
  np.testing.assert_allclose(mu, groove.ref['mu'], rtol=1e-5, atol=1e-5)


def test_training_gradient_through_dropout_is_finite(groove):
  """One GrooVAE training loss with dropout has finite, non-zero gradients on every layer."""
  graphdef, params = nnx.split(groove.model, nnx.Param)

  def loss(params, key):
    model = nnx.merge(graphdef, params)
    k_enc, k_dec, k_eps = jax.random.split(key, 3)
    mu, sigma = model.encode(groove.inputs, groove.lengths, dropout_key=k_enc)
    z = mu + sigma * jax.random.normal(k_eps, mu.shape)
    logits = model.teacher_forced_logits(z, groove_decoder.shift_right(groove.targets),
                                         dropout_key=k_dec)
    r_loss, _ = losses.groove_reconstruction(logits, groove.targets, jnp.ones((4, 32)))
    return jnp.mean(r_loss)

  grads = jax.jit(jax.grad(loss))(params, jax.random.PRNGKey(0))
  for path, g in nnx.to_flat_state(grads):
    g = np.asarray(g[...])
    assert np.isfinite(g).all() and np.abs(g).max() > 0, path


def test_hit_conditional_readout_divides_by_the_hit_probability():
  """Velocity given a hit: v / p(hit) on played steps (clipped), 0 on silent ones; offsets are
  Magenta's own on played steps, 0 on silent ones."""
  rng = np.random.default_rng(0)
  logits = jnp.asarray(rng.normal(0, 2, (64, 27)).astype(np.float32))
  plain = np.asarray(groove_decoder.emit(logits, 1.0, greedy=True))
  cond = np.asarray(groove_decoder.emit(logits, 1.0, greedy=True, hit_conditional=True))
  p = 1 / (1 + np.exp(-np.asarray(logits[:, :9], np.float64)))
  hits = plain[:, :9]
  assert np.array_equal(cond[:, :9], hits) and 0 < hits.mean() < 1
  want_v = hits * np.clip(plain[:, 9:18] / np.maximum(p, 1e-3), 0, 1)
  want_o = hits * plain[:, 18:]
  np.testing.assert_allclose(cond[:, 9:18], want_v, atol=1e-6)
  np.testing.assert_allclose(cond[:, 18:], want_o, atol=1e-6)
  played = hits > 0.5
  assert (cond[:, 9:18][played] >= plain[:, 9:18][played] - 1e-7).all()  # never quieter
