"""Real Magenta checkpoints (shared/reference/magenta_checkpoints): same weights, same maths.

Each fixture is a small model trained three steps by Magenta's own code, with reference outputs
computed by Magenta on a fixed batch (see that folder's README). The model is built from this
package's config of the same Magenta name, with only the sizes Magenta's fixture changed.
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from conftest import magenta_checkpoint
from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax.models import magenta_names
from musicvae_jax.models import vae
from musicvae_jax.training import losses
from musicvae_jax.training import musicvae_family

FIXTURES = ('mel2', 'hier16', 'drums2', 'trio16')
HIERARCHICAL = ('hier16', 'trio16')
# Magenta's structure names -> this package's decoder names.
DECODER = {('CategoricalLstmDecoder', None): 'categorical_lstm',
           ('HierarchicalLstmDecoder', 'CategoricalLstmDecoder'): 'hierarchical',
           ('HierarchicalLstmDecoder', 'SplitMultiOutLstmDecoder'): 'hierarchical_split'}
# Hyperparameters the fixtures keep from Magenta's config, with this package's config group
# (max_seq_len is derived from the data section; the structure test checks it).
KEPT = {'free_bits': 'model', 'max_beta': 'model', 'beta_rate': 'model',
        'sampling_schedule': 'model', 'sampling_rate': 'model', 'dropout_keep_prob': 'model',
        'learning_rate': 'train', 'decay_rate': 'train', 'min_learning_rate': 'train',
        'grad_clip': 'train', 'grad_norm_clip_to_zero': 'train'}


class Case:
  """One fixture: reference arrays, hparams, and our model with the fixture's weights."""

  def __init__(self, name):
    folder = magenta_checkpoint(name)
    with np.load(folder / 'reference.npz') as npz:
      self.ref = {k: npz[k] for k in npz.files}
    self.meta = json.loads((folder / 'reference.json').read_text())
    self.hparams = self.meta['hparams']
    self.variables = {k[len('var/'):]: v for k, v in self.ref.items() if k.startswith('var/')}
    self.config = config_lib.get_config(self.meta['magenta_config'])
    for key in self.meta['hparams_overridden']:
      if key in self.config.model:
        self.config.model[key] = self.hparams[key]
    self.spec = config_boundary.model_spec(self.config)
    self.model = vae.build_model(self.spec)
    magenta_names.assign(self.model, self.variables)
    self.labels = jnp.asarray(self.ref['target_classes'])
    self.lengths = jnp.asarray(self.ref['sequence_length'])
    self.z = jnp.asarray(self.ref['z'])


_CASES = {}


def _case(name) -> Case:
  if name not in _CASES:
    _CASES[name] = Case(name)
  return _CASES[name]


@pytest.fixture(scope='module', params=FIXTURES)
def case(request) -> Case:
  return _case(request.param)


def test_config_matches_magenta_hparams(case):
  """Our config of the same name has Magenta's structure and every hparam the fixture kept."""
  structure = case.meta['structure']
  spec = case.spec
  decoder = DECODER[structure['decoder'], structure['core_decoder']]
  assert case.config.model.decoder == decoder
  assert (spec.decoder.kind, spec.decoder.split_parts) == config_boundary.DECODERS[decoder]
  assert list(spec.part_depths) == structure['output_splits']
  assert spec.input_depth == structure['input_depth']
  assert spec.max_seq_len == structure['max_seq_len']
  assert (list(spec.level_lengths) if spec.level_lengths else None) == structure['level_lengths']
  assert list(spec.enc_rnn_size) == case.hparams['enc_rnn_size']
  assert list(spec.dec_rnn_size) == case.hparams['dec_rnn_size']
  assert spec.z_size == case.hparams['z_size']
  for key, group in KEPT.items():
    assert case.config[group][key] == case.hparams[key], key


def test_name_map_covers_exactly_the_model_variables(case):
  """name_map(spec) names every non-training checkpoint variable and nothing else."""
  assert case.meta['checkpoint']['prefix'] == 'model.ckpt-3'
  model_vars = set(case.variables) - {'global_step'}
  assert set(magenta_names.name_map(case.spec)) == model_vars
  listed = {v['name'] for v in case.meta['checkpoint']['variables']}
  assert model_vars == {n for n in listed if not magenta_names.TRAINING_ONLY.search(n)}


def test_posterior(case):
  """mu and sigma of the reference batch equal Magenta's."""
  mu, sigma = jax.jit(case.model.encode)(case.labels, case.lengths)
  np.testing.assert_allclose(mu, case.ref['mu'], rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(sigma, case.ref['sigma'], rtol=1e-5, atol=1e-5)


def test_kl(case):
  """KL and free-bits cost of Magenta's own mu, sigma (so encoder errors stay out)."""
  kl = losses.kl_divergence(jnp.asarray(case.ref['mu']), jnp.asarray(case.ref['sigma']))
  np.testing.assert_allclose(kl, case.ref['kl'], rtol=0, atol=1e-5)
  kl_cost = losses.kl_cost(kl, case.hparams['free_bits'])
  np.testing.assert_allclose(kl_cost, case.ref['kl_cost'], rtol=0, atol=1e-5)


def _teacher_forced(case):
  return jax.jit(case.model.teacher_forced_logits)(case.z, vae.shift_right(case.labels))


def test_teacher_forced_logits_and_losses(case):
  """Logits from the stored z, then r_loss, KL terms, beta and the total loss, as Magenta's."""
  logits = _teacher_forced(case)
  np.testing.assert_allclose(logits, case.ref['logits'], rtol=0, atol=1e-5)

  mask = jnp.ones(case.labels.shape[:2], jnp.float32)
  r_loss, _ = losses.reconstruction(logits, case.labels, mask, case.spec.part_depths)
  # r_loss and loss are sums of 32-256 cross-entropies, ~140-3900 in float32, whose spacing there
  # is 1e-5 to 2.4e-4: an absolute 1e-5 is below float32 resolution, so these are compared
  # relatively (the fixture's own float64 check differs from TF by up to 1.4e-7 relative).
  np.testing.assert_allclose(r_loss, case.ref['r_loss'], rtol=1e-6)

  step = int(case.ref['var/global_step'])
  assert step == 3
  hp = case.hparams
  beta = losses.beta(step, hp['max_beta'], hp['beta_rate'])
  np.testing.assert_allclose(beta, case.ref['beta'], rtol=1e-6)
  kl = losses.kl_divergence(jnp.asarray(case.ref['mu']), jnp.asarray(case.ref['sigma']))
  kl_cost = losses.kl_cost(kl, hp['free_bits'])
  loss = jnp.mean(r_loss) + case.ref['beta'] * jnp.mean(kl_cost)
  np.testing.assert_allclose(loss, case.ref['loss'], rtol=1e-6)

  # The same loss through the MusicVAE family's loss_terms with the config's LossSpec.
  loss_spec = config_boundary.loss_spec(case.config)
  batch = dict(labels=case.labels, lengths=case.lengths, mask=mask)
  terms = musicvae_family.loss_terms(dict(r_loss=r_loss, kl=kl), batch, loss_spec, step)
  np.testing.assert_allclose(terms['loss'], case.ref['loss'], rtol=1e-6)
  np.testing.assert_allclose(terms['beta'], case.ref['beta'], rtol=1e-6)


@pytest.mark.parametrize('name', HIERARCHICAL)
def test_conductor_embeddings(name):
  """The conductor's per-bar embeddings from the stored z equal Magenta's."""
  case = _case(name)
  embeddings = jax.jit(case.model.decoder.embeddings)(case.z)
  np.testing.assert_allclose(embeddings, case.ref['conductor_embeddings'], rtol=0, atol=1e-5)


def test_greedy_decoding(case):
  """Argmax decoding from z reproduces Magenta's greedy tokens exactly (and its logits)."""
  sample = jax.jit(lambda z, key: case.model.sample(z, key, greedy=True))
  out = sample(case.z, jax.random.PRNGKey(0))
  np.testing.assert_array_equal(out['samples'], case.ref['greedy_tokens'])
  if 'greedy_logits' in case.ref:
    np.testing.assert_allclose(out['logits'], case.ref['greedy_logits'], rtol=0, atol=1e-5)
  # Greedy decoding ignores the key.
  again = sample(case.z, jax.random.PRNGKey(1))
  np.testing.assert_array_equal(again['samples'], out['samples'])


def test_assign_rejects_variables_of_another_model():
  """mel2's variables into a hier16-shaped model: an error listing missing and unexpected names."""
  mel2, hier16 = _case('mel2'), _case('hier16')
  model = vae.build_model(hier16.spec)
  wanted = set(magenta_names.name_map(hier16.spec))
  given = set(mel2.variables) - {'global_step'}
  missing, unexpected = sorted(wanted - given), sorted(given - wanted)
  assert missing and unexpected
  with pytest.raises(magenta_names.VariableMismatchError) as err:
    magenta_names.assign(model, mel2.variables)
  message = str(err.value)
  assert 'missing' in message and 'unexpected' in message
  assert missing[0] in message and unexpected[0] in message


def test_assign_rejects_a_kernel_of_the_wrong_shape():
  """One kernel with an extra column: an error naming the variable and both shapes."""
  mel2 = _case('mel2')
  name = 'decoder/output_projection/kernel'
  variables = dict(mel2.variables)
  good = variables[name]
  variables[name] = np.zeros((good.shape[0], good.shape[1] + 1), good.dtype)
  model = vae.build_model(mel2.spec)
  before = jax.tree.map(np.array, nnx.to_pure_dict(nnx.state(model, nnx.Param)))
  with pytest.raises(magenta_names.VariableMismatchError) as err:
    magenta_names.assign(model, variables)
  message = str(err.value)
  assert name in message
  assert str((good.shape[0], good.shape[1] + 1)) in message and str(good.shape) in message
  # Nothing was written: a refused checkpoint leaves the model as it was.
  after = nnx.to_pure_dict(nnx.state(model, nnx.Param))
  jax.tree.map(np.testing.assert_array_equal, before, after)


def test_assign_loads_every_variable_unchanged(case):
  """After assign, each mapped parameter holds the checkpoint array bit for bit."""
  flat = dict(nnx.to_flat_state(nnx.state(case.model, nnx.Param)))
  for name, path in magenta_names.name_map(case.spec).items():
    np.testing.assert_array_equal(flat[path][...], case.variables[name], err_msg=name)
