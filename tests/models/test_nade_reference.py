"""The NADE drums decoder against Magenta's own checkpoint (shared/reference/magenta_checkpoints/nade2).

nade2 is Magenta's nade-drums_2bar_reduced trained three steps by Magenta's code, at small LSTM
widths (NADE hidden 128, as the config); its reference outputs were computed by Magenta on a
fixed batch of four drum rolls (see that folder's README). These tests pin the decoder's maths
(projections, NADE conditionals, loss), its greedy decode, the checkpoint import through the
TF files, and the sampling and scheduled-sampling paths the reference graph does not cover
against the teacher-forced ones.
"""

import dataclasses
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
from musicvae_jax.generation.trained_model import TrainedModel
from musicvae_jax.magenta import importer
from musicvae_jax.magenta import tf_checkpoint
from musicvae_jax.models import magenta_names
from musicvae_jax.models import nade_decoder
from musicvae_jax.models import vae
from musicvae_jax.training import losses
from musicvae_jax.training import musicvae_family
from musicvae_jax.training import nade_family

ATOL = 1e-5


def nade_spec(hp, structure) -> specs.ModelSpec:
  return specs.ModelSpec(
      heads=(specs.Head('multi_label', structure['output_depth']),),
      input=specs.StepInput('drum_roll', structure['input_depth']),
      encoder=specs.EncoderSpec('bidirectional_lstm', tuple(hp['enc_rnn_size'])),
      decoder=specs.DecoderSpec('nade_lstm', tuple(hp['dec_rnn_size']),
                                nade_hidden=hp['nade_num_hidden']),
      z_size=hp['z_size'], seq_len=structure['max_seq_len'])


class Nade:
  """The fixture's arrays and hparams, and our model with its weights."""

  def __init__(self):
    self.folder = magenta_checkpoint('nade2')
    with np.load(self.folder / 'reference.npz') as npz:
      self.ref = {k: npz[k] for k in npz.files}
    self.meta = json.loads((self.folder / 'reference.json').read_text())
    self.hparams = self.meta['hparams']
    self.structure = self.meta['structure']
    self.variables = {k[len('var/'):]: v for k, v in self.ref.items() if k.startswith('var/')}
    self.spec = nade_spec(self.hparams, self.structure)
    self.model = vae.build_model(self.spec)
    magenta_names.assign(self.model, self.variables)
    self.rolls = jnp.asarray(self.ref['output_sequence']).astype(jnp.int32)
    self.lengths = jnp.asarray(self.ref['sequence_length'])
    self.z = jnp.asarray(self.ref['z'])


@pytest.fixture(scope='module')
def nade() -> Nade:
  return Nade()


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def _nade_np(b_enc, b_dec, x, w_enc, w_dec_t):
  """Float64 NADE conditionals, dimension by dimension as Magenta's loop: [N, D]."""
  a = np.asarray(b_enc, np.float64)
  out = []
  for d in range(x.shape[-1]):
    out.append(b_dec[:, d] + _sigmoid(a) @ w_dec_t[d, :, 0])
    a = a + x[:, d:d + 1] * w_enc[d]
  return np.stack(out, -1)


# ---- the structure and the import -----------------------------------------------------------


def test_fixture_is_magentas_nade_decoder(nade):
  """MultiLabelRnnNadeDecoder over 9 bits: the LSTM reads [previous roll 9, z] + h, the output
  projection has 128 + 9 units, the NADE weights are [9, 1, 128] and [9, 128, 1]."""
  assert nade.meta['magenta_config'] == 'nade-drums_2bar_reduced'
  assert nade.structure['decoder'] == 'MultiLabelRnnNadeDecoder'
  assert (nade.structure['input_depth'], nade.structure['output_depth']) == (10, 9)
  v, h = nade.variables, nade.hparams['nade_num_hidden']
  assert v['decoder/multi_rnn_cell/cell_0/lstm_cell/kernel'].shape[0] == (
      9 + nade.spec.z_size + nade.spec.dec_rnn_size[0])
  assert v['decoder/output_projection/kernel'].shape[1] == h + 9
  assert v['decoder/nade/w_enc'].shape == (9, 1, h)
  assert v['decoder/nade/w_dec_t'].shape == (9, h, 1)
  # The encoder reads the roll and its NOR bit.
  roll, nor = nade.ref['input_sequence'][..., :9], nade.ref['input_sequence'][..., 9]
  np.testing.assert_array_equal(roll, nade.ref['output_sequence'])
  np.testing.assert_array_equal(nor, roll.sum(-1) == 0)


def test_fresh_nade_weights_follow_magentas_initialiser(nade):
  """Truncated normal, stddev 1/sqrt(D), in Magenta's shapes (full config: D = 61)."""
  model = vae.build_model(dataclasses.replace(nade.spec, heads=(specs.Head('multi_label', 61),),
                                             input=specs.StepInput('drum_roll', 62)), seed=4)
  for w, shape in ((model.decoder.nade.w_enc, (61, 1, 128)),
                   (model.decoder.nade.w_dec_t, (61, 128, 1))):
    w = np.asarray(w[...])
    assert w.shape == shape
    assert np.abs(w).max() <= 2 / np.sqrt(61) + 1e-6
    assert 0.8 / np.sqrt(61) < w.std() < 1.0 / np.sqrt(61)
  assert model.decoder.output_projection.kernel.shape == (16, 128 + 61)


def test_name_map_covers_exactly_the_checkpoint_variables(nade):
  listed = {v['name'] for v in nade.meta['checkpoint']['variables']}
  model_vars = {n for n in listed if not magenta_names.TRAINING_ONLY.search(n)}
  assert set(magenta_names.name_map(nade.spec)) == model_vars


def test_import_reads_the_tf_checkpoint_into_the_model(nade):
  """The importer's path: sizes (nade_num_hidden included) from the checkpoint's shapes,
  variables by name, bit for bit."""
  with tf_checkpoint.open_checkpoint(nade.folder) as ckpt:
    names = [n for n in ckpt.keys() if not magenta_names.TRAINING_ONLY.search(n)]
    sizes = importer.infer_sizes({n: ckpt.shape(n) for n in names})
    variables = ckpt.read_all(lambda n: not magenta_names.TRAINING_ONLY.search(n))
  hp = nade.hparams
  assert sizes == dict(enc_rnn_size=hp['enc_rnn_size'], dec_rnn_size=hp['dec_rnn_size'],
                       z_size=hp['z_size'], nade_num_hidden=hp['nade_num_hidden'])
  model = vae.build_model(nade_spec(dict(hp, **sizes), nade.structure), seed=7)
  magenta_names.assign(model, variables)
  flat = dict(nnx.to_flat_state(nnx.state(model, nnx.Param)))
  for name, path in magenta_names.name_map(model.spec).items():
    np.testing.assert_array_equal(flat[path][...], nade.variables[name], err_msg=name)


def test_project_configs_select_this_model(nade):
  """nade-drums_2bar_reduced at the fixture's sizes is this spec, with Magenta's loss and
  schedule hparams; nade-drums_2bar_full is the same over 61 bits (62 encoder inputs)."""
  config = config_lib.get_config('nade-drums_2bar_reduced')
  for key in nade.meta['hparams_overridden']:
    if key in config.model:
      config.model[key] = nade.hparams[key]
  assert config_boundary.model_spec(config) == nade.spec
  loss = config_boundary.loss_spec(config)
  hp = nade.hparams
  assert (loss.free_bits, loss.max_beta, loss.beta_rate, loss.sampling_schedule,
          loss.sampling_rate) == (hp['free_bits'], hp['max_beta'], hp['beta_rate'],
                                  hp['sampling_schedule'], hp['sampling_rate'])
  full = config_boundary.model_spec(config_lib.get_config('nade-drums_2bar_full'))
  assert full.heads == (specs.Head('multi_label', 61),) and full.input_depth == 62
  assert (full.enc_rnn_size, full.dec_rnn_size, full.z_size, full.decoder.nade_hidden) == (
      (1024,), (512, 512), 256, 128)
  model = config_lib.get_config('nade-drums_2bar_full').model
  assert (model.free_bits, model.max_beta, model.sampling_schedule, model.sampling_rate) == (
      48, 0.2, 'inverse_sigmoid', 1000)


def test_import_magenta_writes_a_workdir_that_decodes_as_magenta(nade, tmp_path):
  """musicvae-import-magenta's library call on the TF files under the config's name: the
  workdir's model is this one, its weights Magenta's bit for bit, and a TrainedModel read from
  it encodes the reference rolls and decodes greedily as Magenta did."""
  workdir = tmp_path / 'nade2'
  record = importer.import_checkpoint(nade.folder, 'nade-drums_2bar_reduced', workdir,
                                      log=lambda _: None)
  assert record['global_step'] == 3 and record['config'] == 'nade-drums_2bar_reduced'
  assert record['sizes']['nade_num_hidden'] == 128
  spec = checkpointing.load_run_spec(workdir).model
  assert spec == nade.spec
  trained = TrainedModel.from_workdir(workdir)
  flat = dict(nnx.to_flat_state(nnx.state(trained.module(), nnx.Param)))
  for name, path in magenta_names.name_map(spec).items():
    np.testing.assert_array_equal(flat[path][...], nade.variables[name], err_msg=name)
  _, mu, sigma = trained.encode_labels(nade.ref['output_sequence'].astype(np.int16))
  np.testing.assert_allclose(mu, nade.ref['mu'], rtol=1e-5, atol=ATOL)
  np.testing.assert_allclose(sigma, nade.ref['sigma'], rtol=1e-5, atol=ATOL)
  greedy = trained.decode_labels(nade.ref['z'], key=jax.random.key(0), temperature=0)
  np.testing.assert_array_equal(greedy, nade.ref['greedy_tokens'])


# ---- Magenta's numbers ----------------------------------------------------------------------


def test_posterior(nade):
  """mu and sigma of the reference rolls (the model adds the NOR bit itself)."""
  mu, sigma = jax.jit(nade.model.encode)(nade.rolls, nade.lengths)
  np.testing.assert_allclose(mu, nade.ref['mu'], rtol=1e-5, atol=ATOL)
  np.testing.assert_allclose(sigma, nade.ref['sigma'], rtol=1e-5, atol=ATOL)


def test_teacher_forced_outputs_conditionals_and_losses(nade):
  """Projections from the stored z, the NADE conditionals along the targets, r_loss, KL cost,
  beta and the loss: Magenta's."""
  inputs = nade_family.shift_right(nade.rolls)
  np.testing.assert_array_equal(inputs[:, 0], 0)
  logits = jax.jit(nade.model.teacher_forced_logits)(nade.z, inputs)
  np.testing.assert_allclose(logits, nade.ref['logits'], rtol=0, atol=ATOL)
  cond = nade.model.decoder.conditional_logits(logits, nade.rolls)
  np.testing.assert_allclose(jax.nn.sigmoid(cond), nade.ref['nade_cond_probs'], rtol=0,
                             atol=ATOL)

  mask = jnp.ones(nade.rolls.shape[:2], jnp.float32)
  r_loss, correct, predicted = losses.nade_reconstruction(cond, nade.rolls, mask)
  # r_loss is ~250 in float32 (spacing 3e-5 there): compared relatively, as the other fixtures.
  np.testing.assert_allclose(r_loss, nade.ref['r_loss'], rtol=1e-6)
  # Accuracy: a step is right when all 9 bits (p >= 0.5) are, Magenta's metrics/accuracy.
  want = np.all((nade.ref['nade_cond_probs'] >= 0.5) == (nade.ref['output_sequence'] > 0.5), -1)
  np.testing.assert_array_equal(correct, want)
  np.testing.assert_array_equal(predicted, nade.ref['nade_cond_probs'] >= 0.5)

  kl = losses.kl_divergence(jnp.asarray(nade.ref['mu']), jnp.asarray(nade.ref['sigma']))
  np.testing.assert_allclose(kl, nade.ref['kl'], rtol=0, atol=ATOL)
  hp = nade.hparams
  kl_cost = losses.kl_cost(kl, hp['free_bits'])
  np.testing.assert_allclose(kl_cost, nade.ref['kl_cost'], rtol=0, atol=ATOL)
  step = int(nade.ref['var/global_step'])
  loss_spec = specs.LossSpec(free_bits=hp['free_bits'], max_beta=hp['max_beta'],
                             beta_rate=hp['beta_rate'])
  batch = dict(lengths=nade.lengths, mask=mask)
  terms = musicvae_family.loss_terms(dict(r_loss=r_loss, kl=kl), batch, loss_spec, step)
  np.testing.assert_allclose(terms['beta'], nade.ref['beta'], rtol=1e-6)
  np.testing.assert_allclose(terms['loss'], nade.ref['loss'], rtol=1e-6)


def test_parallel_conditionals_equal_the_sequential_nade(nade):
  """The cumulative-sum conditionals equal a float64 dimension-by-dimension NADE, on rolls far
  denser than the reference's (every bit pattern of 9 classes would do)."""
  logits = np.asarray(nade.ref['logits'], np.float64).reshape(-1, 137)
  x = (np.random.default_rng(0).random((len(logits), 9)) < 0.5).astype(np.float64)
  got = nade.model.decoder.nade.conditional_logits(jnp.asarray(logits[:, :128], jnp.float32),
                                                   jnp.asarray(logits[:, 128:], jnp.float32),
                                                   jnp.asarray(x, jnp.float32))
  v = nade.variables
  want = _nade_np(logits[:, :128], logits[:, 128:], x, v['decoder/nade/w_enc'],
                  v['decoder/nade/w_dec_t'])
  np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)  # float32 on values up to ~3


def test_reconstruction_counts_only_valid_steps(nade):
  """Steps past a sequence's length add nothing; the loss is a sum over steps, not a mean."""
  cond = nade.model.decoder.conditional_logits(jnp.asarray(nade.ref['logits']), nade.rolls)
  full, _, _ = losses.nade_reconstruction(cond, nade.rolls, jnp.ones((4, 32)))
  mask = (jnp.arange(32)[None] < jnp.array([32, 16, 8, 1])[:, None]).astype(jnp.float32)
  part, _, _ = losses.nade_reconstruction(cond, nade.rolls, mask)
  first16, _, _ = losses.nade_reconstruction(cond[:, :16], nade.rolls[:, :16], jnp.ones((4, 16)))
  np.testing.assert_allclose(part[0], full[0], rtol=1e-6)
  np.testing.assert_allclose(part[1], first16[1], rtol=1e-6)
  assert float(part[3]) < float(part[2]) < float(part[1])


def test_greedy_decoding(nade):
  """Decoding from z at temperature -> 0: Magenta's bits exactly, class by class and step by
  step, and its projections along the way; each step's roll is the next step's input."""
  sample = jax.jit(lambda z, key: nade.model.sample(z, key, greedy=True))
  out = sample(nade.z, jax.random.PRNGKey(0))
  np.testing.assert_array_equal(out['samples'], nade.ref['greedy_tokens'])
  np.testing.assert_allclose(out['logits'], nade.ref['greedy_logits'], rtol=0, atol=ATOL)
  np.testing.assert_array_equal(out['inputs'][:, 1:], out['samples'][:, :-1])
  np.testing.assert_array_equal(out['inputs'][:, 0], 0)
  # The greedy bits are where the conditional logit, given the bits before, is positive.
  np.testing.assert_array_equal(out['samples'], np.asarray(out['conditional_logits']) > 0)
  again = sample(nade.z, jax.random.PRNGKey(1))
  np.testing.assert_array_equal(again['samples'], out['samples'])


# ---- sampling and scheduled sampling --------------------------------------------------------


def test_sampling_draws_each_bit_given_the_earlier_ones(nade):
  """Bits ~ Bernoulli(sigmoid(logit / temperature)), dimension after dimension: the loop's
  conditional logits are the teacher-forced NADE's along the sampled roll, the teacher-forced
  pass over the sampled inputs gives the loop's projections, and the bits follow the
  probabilities."""
  model = nade.model
  z = jnp.tile(nade.z, (64, 1))
  out = jax.jit(lambda z, k: model.sample(z, k, 1.0))(z, jax.random.PRNGKey(3))
  samples = np.asarray(out['samples'])
  assert set(np.unique(samples)) == {0, 1}
  tf_logits = model.teacher_forced_logits(z, nade_family.shift_right(out['samples']))
  np.testing.assert_allclose(tf_logits, out['logits'], rtol=0, atol=ATOL)
  cond = model.decoder.conditional_logits(out['logits'], out['samples'])
  np.testing.assert_allclose(cond, out['conditional_logits'], rtol=0, atol=ATOL)
  p = _sigmoid(np.asarray(out['conditional_logits']))
  assert abs(samples.mean() - p.mean()) < 0.02  # 64 x 32 x 9 draws
  # A temperature scales the logits: at 0.25 the bits follow sigmoid(4 logit).
  cold = jax.jit(lambda z, k: model.sample(z, k, 0.25))(z, jax.random.PRNGKey(8))
  p4 = _sigmoid(4 * np.asarray(cold['conditional_logits']))
  assert abs(np.asarray(cold['samples']).mean() - p4.mean()) < 0.02
  # A tiny temperature is greedy; caller-drawn Gumbel noise gives the same draws for the same
  # noise, whatever the key.
  tiny = model.sample(nade.z, jax.random.PRNGKey(4), 1e-6)
  np.testing.assert_array_equal(tiny['samples'], nade.ref['greedy_tokens'])
  gumbel = jax.random.gumbel(jax.random.PRNGKey(5), (4, 32, 9))
  a = model.sample(nade.z, jax.random.PRNGKey(6), 1.0, gumbel_BxTxO=gumbel)
  b = model.sample(nade.z, jax.random.PRNGKey(7), 1.0, gumbel_BxTxO=gumbel)
  np.testing.assert_array_equal(a['samples'], b['samples'])
  # The Gumbel noise is made logistic: bit = logit + logistic > 0.
  logistic = np.asarray(nade_decoder.logistic_from_gumbel(gumbel))
  np.testing.assert_array_equal(a['samples'],
                                np.asarray(a['conditional_logits']) + logistic > 0)
  assert abs(logistic.mean()) < 0.1 and abs(logistic.var() - np.pi ** 2 / 3) < 0.3


def test_scheduled_sampling_feeds_back_the_thresholded_roll(nade):
  """Where the schedule's mask is set the next input is the roll thresholded at p >= 0.5
  (Magenta's NADE sample at temperature None), elsewhere the target's previous step."""
  model = nade.model
  rolls = nade.rolls
  key = jax.random.PRNGKey(0)
  none = model.scheduled_inputs(nade.z, rolls, jnp.zeros((4, 32)), key)
  np.testing.assert_array_equal(none, nade_family.shift_right(rolls))
  every = model.scheduled_inputs(nade.z, rolls, jnp.ones((4, 32)), key)
  free = model.decoder.decode_loop(nade.z, 32, key, threshold=True)
  np.testing.assert_array_equal(every, free['inputs'])
  np.testing.assert_array_equal(
      free['samples'], jax.nn.sigmoid(free['conditional_logits']) >= 0.5)
  mask = jax.random.bernoulli(jax.random.PRNGKey(1), 0.5, (4, 32)).astype(jnp.float32)
  mixed = np.asarray(model.scheduled_inputs(nade.z, rolls, mask, key))
  guided = model.decoder.decode_loop(nade.z, 32, key, threshold=True, targets_BxTxD=rolls,
                                     sample_mask_BxT=mask)
  target_prev = np.asarray(nade_family.shift_right(rolls))
  sampled_prev = np.asarray(nade_family.shift_right(guided['samples']))
  pick = np.asarray(mask)[..., None] > 0
  pick[:, 0] = False  # step 0 reads zeros either way
  np.testing.assert_array_equal(mixed, np.where(pick, sampled_prev, target_prev))
  assert (mixed != target_prev).any()


def test_training_loss_with_scheduled_sampling_has_finite_gradients(nade):
  """The family's training loss (scheduled sampling at p = 0.5) gives finite, non-zero
  gradients on every parameter, the NADE's included."""
  run = specs.RunSpec(name='nade2', data=specs.DataSpec('drums', 2), model=nade.spec,
                      loss=specs.LossSpec(free_bits=0.0, max_beta=0.2,
                                          sampling_schedule='constant', sampling_rate=0.5),
                      train=specs.TrainSpec())
  fam = nade_family.NadeFamily(run)
  batch = dict(labels=nade.rolls, lengths=nade.lengths, mask=jnp.ones((4, 32)))
  graphdef, params = nnx.split(nade.model, nnx.Param)

  def loss(params, key):
    return fam.loss(nnx.merge(graphdef, params), batch, key, 5)

  (value, metrics), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(
      params, jax.random.PRNGKey(0))
  assert np.isfinite(value) and float(metrics['sampling_probability']) == 0.5
  assert 0 <= float(metrics['accuracy']) <= 1
  for path, g in nnx.to_flat_state(grads):
    g = np.asarray(g[...])
    assert np.isfinite(g).all() and np.abs(g).max() > 0, path
