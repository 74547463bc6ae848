"""Every config's ':tiny' model: shapes, sampling, sequence masks and the hierarchical decoder."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax.models import groove_decoder
from musicvae_jax.models import hierarchical
from musicvae_jax.models import vae
from musicvae_jax.training import family
from musicvae_jax.training import optimizer
from musicvae_jax.training import steps

CONFIGS = ('cat-mel_2bar_small', 'cat-mel_2bar_big', 'flat-mel_16bar', 'hierdec-mel_16bar',
           'cat-drums_2bar_small', 'cat-drums_2bar_big', 'flat-trio_16bar',
           'hierdec-trio_16bar')
HIERARCHICAL = ('hierdec-mel_16bar', 'hierdec-trio_16bar')
# GrooVAE: dense [hits | velocities | offsets] steps (test_groove_shapes; Magenta parity in
# test_groove_reference).
GROOVE_CONFIGS = ('groovae_4bar', 'groovae_2bar_humanize', 'groovae_2bar_tap_fixed_velocity',
                  'groovae_2bar_tap_fixed_velocity_note_dropout', 'groovae_2bar_add_closed_hh',
                  'groovae_2bar_hits_control')
# nade-drums: [B, T, D] drum-roll bits (test_nade_shapes; Magenta parity in test_nade_reference).
NADE_CONFIGS = ('nade-drums_2bar_reduced', 'nade-drums_2bar_full')
# Chord-conditioned melody: [B, T, 2] windows, the chord a control (tests/models/test_chords_reference).
CHORD_CONFIGS = ('cat-mel_2bar_med_chords',)
# Multi-instrument performance: [B, 512, 1] tokens (and chords), 8 tracks of 64 events
# (tests/models/test_multiperf_reference, tests/converters/test_multiperf).
MULTIPERF_CONFIGS = ('hier-multiperf_vel_1bar_med', 'hier-multiperf_vel_1bar_big',
                     'hier-multiperf_vel_1bar_med_chords', 'hier-multiperf_vel_1bar_big_chords')
# DSAE / TS-DSAE on dMelodies tokens (test_dsae_shapes; training in tests/training/test_dsae).
DSAE_CONFIGS = ('dsae-dmelodies', 'tsdsae-dmelodies', 'tsdsae-dmelodies_contour',
                'tsdsae-mel_2bar')
# MusiCoder's transformer over piano-roll frames (test_musicoder_shapes; pretraining in
# tests/training/test_musicoder_training).
MUSICODER_CONFIGS = ('musicoder', 'musicoder_cfm', 'musicoder_ccm')
# The joint chord/key model over windows of beats (test_chordkey_shapes; training in
# tests/chordkey/test_chordkey_training).
CHORDKEY_CONFIGS = ('chordkey_vae',)
B = 2


def test_every_config_is_covered():
  """The lists above are the full set of configs (a new config must be added here)."""
  named = (CONFIGS + GROOVE_CONFIGS + NADE_CONFIGS + CHORD_CONFIGS + MULTIPERF_CONFIGS
           + DSAE_CONFIGS + MUSICODER_CONFIGS + CHORDKEY_CONFIGS)
  assert sorted(named) == sorted(
      config_lib.config_names())


@pytest.mark.parametrize('name', DSAE_CONFIGS[:3])
def test_dsae_shapes(name):
  """v [B, V_] and z [B, T, Z] posteriors, z prior [B, T, Z], logits [B, T, 52], prior samples
  [B, T, Z]; only TS-DSAE has the frozen prior copy of v's encoder."""
  from musicvae_jax.converters import dmelodies  # pylint: disable=import-outside-toplevel
  from musicvae_jax.models import dsae  # pylint: disable=import-outside-toplevel
  spec = config_boundary.model_spec(config_lib.get_config(f'{name}:tiny'))
  model = dsae.build(spec)
  tokens = jnp.asarray(dmelodies.generate([0, 1_000_000]).tokens)
  x = model.one_hot(tokens)
  t, z_size, v_size = spec.seq_len, spec.z_size, spec.dsae.v_size
  mu_v, sigma_v = model.encode_v(x)
  mu_z, sigma_z = model.encode_z(x)
  assert (t, spec.output_depth) == (16, 52)
  assert mu_v.shape == sigma_v.shape == (B, v_size) and np.all(np.asarray(sigma_v) > 0)
  assert mu_z.shape == sigma_z.shape == (B, t, z_size)
  assert [a.shape for a in model.z_prior(mu_z)] == [(B, t, z_size)] * 2
  assert model.decode(mu_v, mu_z).shape == (B, t, 52)
  assert model.sample_z(jax.random.PRNGKey(0), B).shape == (B, t, z_size)
  assert (model.v_prior is not None) == name.startswith('tsdsae')


@pytest.mark.parametrize('name', CHORDKEY_CONFIGS)
def test_chordkey_shapes(name):
  """128-beat windows of 37 features; chord logits [B, T, 181] and key logits [B, T, 24]; the
  language models' tables [2, 182, 181] and [25, 24] log-normalised."""
  from musicvae_jax.training import family  # pylint: disable=import-outside-toplevel
  run = config_boundary.run_spec(config_lib.get_config(name))
  assert (run.model.seq_len, run.model.input_depth, run.model.part_depths) == (128, 37, (181, 24))
  tiny = config_boundary.run_spec(config_lib.get_config(f'{name}:tiny'))
  model = family.for_spec(tiny).build(0)
  t = tiny.model.seq_len
  chords, keys = model(jnp.zeros((B, t, 37)), jnp.ones((B, t)))
  assert chords.shape == (B, t, 181) and keys.shape == (B, t, 24)
  assert model.chord_log_p().shape == (2, 182, 181) and model.key_log_p().shape == (25, 24)
  np.testing.assert_allclose(np.exp(np.asarray(model.chord_log_p())).sum(-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize('name', MUSICODER_CONFIGS)
def test_musicoder_shapes(name):
  """Frames [B, 64, 88] -> hidden [B, 64, D] -> cell logits [B, 64, 88, 10]; the fine-tuning
  heads give [B, C] and [B, 64, 88]; a shorter window uses the first positions."""
  from musicvae_jax.models import musicoder  # pylint: disable=import-outside-toplevel
  from flax import nnx  # pylint: disable=import-outside-toplevel
  config = config_lib.get_config(name)
  spec = config_boundary.model_spec(config)
  assert spec.musicoder.objectives == {'musicoder': ('cfm', 'ccm'), 'musicoder_cfm': ('cfm',),
                                       'musicoder_ccm': ('ccm',)}[name]
  assert spec.musicoder.width == 128 and spec.musicoder.num_layers == 4
  tiny = config_boundary.model_spec(config_lib.get_config(f'{name}:tiny'))
  model = musicoder.build(tiny)
  frames = jnp.asarray(np.random.default_rng(0).integers(0, 10, (B, 64, 88)), jnp.int16)
  hidden = model.encode(frames)
  assert hidden.shape == (B, 64, tiny.musicoder.width)
  assert model.reconstruct(hidden).shape == (B, 64, 88, 10)
  assert model.encode(frames[:, :16]).shape == (B, 16, tiny.musicoder.width)
  rngs = nnx.Rngs(0)
  assert musicoder.ClassifierHead(tiny.musicoder.width, 5, rngs=rngs)(hidden).shape == (B, 5)
  cells = musicoder.CellHead(tiny.musicoder.width, 88, rngs=rngs)(hidden, frames)
  assert cells.shape == (B, 64, 88)


@pytest.mark.parametrize('name,depth', [(NADE_CONFIGS[0], 9), (NADE_CONFIGS[1], 61)])
def test_nade_shapes(name, depth):
  """encode -> [B, Z]; teacher-forced projections [B, T, H + D] and NADE logits [B, T, D];
  samples [B, T, D] of 0/1 bits."""
  spec = config_boundary.model_spec(config_lib.get_config(f'{name}:tiny'))
  model = vae.build_model(spec)
  t, h = spec.max_seq_len, spec.decoder.nade_hidden
  assert (spec.input_depth, spec.output_depth) == (depth + 1, depth)
  rolls = jnp.asarray(np.random.default_rng(0).integers(0, 2, (B, t, depth)), jnp.int32)
  mu, sigma = model.encode(rolls, jnp.full((B,), t, jnp.int32))
  assert mu.shape == sigma.shape == (B, spec.z_size) and np.all(np.asarray(sigma) > 0)
  inputs = jnp.concatenate([jnp.zeros_like(rolls[:, :1]), rolls[:, :-1]], axis=1)
  logits = model.teacher_forced_logits(mu, inputs)
  assert logits.shape == (B, t, h + depth) and np.all(np.isfinite(logits))
  assert model.decoder.conditional_logits(logits, rolls).shape == (B, t, depth)
  samples = np.asarray(model.sample(mu, jax.random.PRNGKey(0))['samples'])
  assert samples.shape == (B, t, depth) and set(np.unique(samples)) <= {0, 1}


@pytest.mark.parametrize('name', GROOVE_CONFIGS)
def test_groove_shapes(name):
  """encode -> [B, Z]; teacher-forced logits [B, T, 27]; samples [B, T, 27] with 0/1 hits,
  velocities in [0, 1] and offsets in [-1, 1]; controls read where the config has them."""
  spec = config_boundary.model_spec(config_lib.get_config(f'{name}:tiny'))
  model = vae.build_model(spec)
  t, c = spec.max_seq_len, spec.control_depth
  assert spec.output_depth == spec.input_depth == 27 and c == (9 if 'hits' in name else 0)
  rng = np.random.default_rng(0)
  targets = np.concatenate([rng.integers(0, 2, (B, t, 9)), rng.uniform(0, 1, (B, t, 9)),
                            rng.uniform(-1, 1, (B, t, 9))], axis=-1).astype(np.float32)
  controls = jnp.asarray(targets[..., :9]) if c else None
  lengths = jnp.full((B,), t, jnp.int32)
  mu, sigma = model.encode(jnp.asarray(targets), lengths, controls_BxTxC=controls)
  assert mu.shape == sigma.shape == (B, spec.z_size) and np.all(np.asarray(sigma) > 0)
  logits = model.teacher_forced_logits(mu, groove_decoder.shift_right(jnp.asarray(targets)),
                                       controls_BxTxC=controls)
  assert logits.shape == (B, t, 27) and np.all(np.isfinite(logits))
  samples = np.asarray(model.sample(mu, jax.random.PRNGKey(0), controls_BxTxC=controls)['samples'])
  assert samples.shape == (B, t, 27)
  assert set(np.unique(samples[..., :9])) <= {0.0, 1.0}
  assert samples[..., 9:18].min() >= 0 and samples[..., 9:18].max() <= 1
  assert np.abs(samples[..., 18:]).max() <= 1


def sequential_teacher_forced(decoder, z_BxZ, inputs_BxTxP):
  """Magenta's order: the bars of a hierarchical decoder decoded one after another (a scan
  over bars), from the decoder's own conductor embeddings and bar decoders."""
  e_BxLxH = decoder.embeddings(z_BxZ)
  batch = e_BxLxH.shape[0]
  inputs_LxBxSxP = jnp.swapaxes(
      inputs_BxTxP.reshape((batch, decoder.num_bars, decoder.bar_steps, -1)), 0, 1)

  def bar(_, x):
    e_BxH, inputs_BxSxP = x
    return None, jnp.concatenate(
        [core.teacher_forced(e_BxH, inputs_BxSxP[..., parts])
         for core, parts in zip(decoder.cores, decoder.part_slices())], axis=-1)

  _, logits_LxBxSxO = jax.lax.scan(bar, None, (jnp.swapaxes(e_BxLxH, 0, 1), inputs_LxBxSxP))
  return jnp.swapaxes(logits_LxBxSxO, 0, 1).reshape((batch, -1, decoder.output_depth))


def _random_labels(spec, rng, batch=B):
  """Valid class labels [B, T, P], each part uniform over its own depth."""
  return np.stack([rng.integers(0, d, (batch, spec.max_seq_len)) for d in spec.part_depths],
                  axis=-1).astype(np.int32)


class Tiny:
  """One tiny model and its jitted entry points (compiled once, reused by every test)."""

  def __init__(self, name):
    self.config = config_lib.get_config(f'{name}:tiny')
    self.spec = config_boundary.model_spec(self.config)
    self.model = vae.build_model(self.spec)
    graphdef, self.params = nnx.split(self.model)

    def run(params, labels, lengths, inputs, key):
      """Encodes, then decodes from mu: teacher-forced logits and a free-running sample."""
      model = nnx.merge(graphdef, params)
      mu, sigma = model.encode(labels, lengths)
      logits = model.teacher_forced_logits(mu, inputs)
      samples = model.sample(mu, key)['samples']
      return mu, sigma, logits, samples

    def sequential(params, z, inputs):
      return sequential_teacher_forced(nnx.merge(graphdef, params).decoder, z, inputs)

    self._run = jax.jit(run)
    self._sequential = jax.jit(sequential)

  def run(self, labels, lengths=None, inputs=None, key=0):
    labels = jnp.asarray(labels)
    if lengths is None:
      lengths = np.full((labels.shape[0],), self.spec.max_seq_len, np.int32)
    if inputs is None:
      inputs = vae.shift_right(labels)
    return self._run(self.params, labels, jnp.asarray(lengths, jnp.int32), jnp.asarray(inputs),
                     jax.random.PRNGKey(key))

  def sequential(self, z, inputs):
    return self._sequential(self.params, z, jnp.asarray(inputs))


_TINY = {}


def _tiny(name) -> Tiny:
  if name not in _TINY:
    _TINY[name] = Tiny(name)
  return _TINY[name]


@pytest.fixture(scope='module', params=CONFIGS)
def tiny(request) -> Tiny:
  return _tiny(request.param)


def test_shapes_and_sampling(tiny):
  """encode -> [B, Z] with sigma > 0; logits [B, T, O]; samples [B, T, P] in range, seeded."""
  spec = tiny.spec
  labels = _random_labels(spec, np.random.default_rng(0))
  mu, sigma, logits, samples = tiny.run(labels, key=0)
  assert mu.shape == sigma.shape == (B, spec.z_size)
  assert np.all(np.asarray(sigma) > 0)
  assert np.all(np.isfinite(mu))
  assert logits.shape == (B, spec.max_seq_len, sum(spec.part_depths))
  assert np.all(np.isfinite(logits))
  assert samples.shape == (B, spec.max_seq_len, len(spec.part_depths))
  assert jnp.issubdtype(samples.dtype, jnp.integer)
  for p, depth in enumerate(spec.part_depths):
    assert samples[..., p].min() >= 0 and samples[..., p].max() < depth, f'part {p}'
  _, _, _, again = tiny.run(labels, key=0)
  np.testing.assert_array_equal(again, samples)
  _, _, _, other = tiny.run(labels, key=1)
  assert np.any(np.asarray(other) != np.asarray(samples)), 'a different key gave the same sample'


@pytest.mark.parametrize('name', ['cat-mel_2bar_small', 'cat-drums_2bar_small',
                                  'flat-mel_16bar'])
def test_encoding_ignores_steps_past_length(name):
  """mu and sigma depend only on the valid steps (1-layer one-hot and drum-roll, 2-layer)."""
  tiny = _tiny(name)
  spec = tiny.spec
  assert len(spec.enc_rnn_size) == (2 if name == 'flat-mel_16bar' else 1)
  t = spec.max_seq_len
  lengths = np.array([t, t // 2 - 3], np.int32)
  rng = np.random.default_rng(1)
  labels = _random_labels(spec, rng)
  mu, sigma, _, _ = tiny.run(labels, lengths)
  other = labels.copy()
  other[1, lengths[1]:] = _random_labels(spec, rng)[1, lengths[1]:]
  assert np.any(other != labels)
  mu2, sigma2, _, _ = tiny.run(other, lengths)
  np.testing.assert_allclose(mu2, mu, rtol=1e-6, atol=1e-9)
  np.testing.assert_allclose(sigma2, sigma, rtol=1e-6, atol=1e-9)
  # The same change inside the valid steps does change the encoding.
  inside = labels.copy()
  inside[1, :lengths[1]] = _random_labels(spec, rng)[1, :lengths[1]]
  mu3, _, _, _ = tiny.run(inside, lengths)
  assert np.abs(np.asarray(mu3[1]) - np.asarray(mu[1])).max() > 1e-7
  np.testing.assert_allclose(mu3[0], mu[0], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize('name', HIERARCHICAL)
def test_hierarchical_sequential_equals_parallel(name):
  """Bars decoded one after another give the logits of all bars decoded as one batch."""
  tiny = _tiny(name)
  labels = _random_labels(tiny.spec, np.random.default_rng(2))
  inputs = vae.shift_right(jnp.asarray(labels))
  mu, _, parallel, _ = tiny.run(labels, inputs=inputs)
  sequential = tiny.sequential(mu, inputs)
  assert sequential.shape == parallel.shape
  np.testing.assert_allclose(sequential, parallel, rtol=0, atol=1e-5)


@pytest.mark.parametrize('name', HIERARCHICAL)
def test_hierarchical_bars_are_independent(name):
  """Under teacher forcing, changing bar i's inputs changes bar i's logits and no other's."""
  tiny = _tiny(name)
  spec = tiny.spec
  bars, steps_per_bar = spec.level_lengths
  rng = np.random.default_rng(3)
  labels = _random_labels(spec, rng)
  inputs = np.asarray(vae.shift_right(jnp.asarray(labels)))
  _, _, logits, _ = tiny.run(labels, inputs=inputs)
  logits = np.asarray(logits).reshape(B, bars, steps_per_bar, -1)
  for bar in (0, 5, bars - 1):
    changed = inputs.copy()
    s = slice(bar * steps_per_bar, (bar + 1) * steps_per_bar)
    changed[:, s] = _random_labels(spec, rng)[:, s]
    _, _, got, _ = tiny.run(labels, inputs=changed)
    got = np.asarray(got).reshape(B, bars, steps_per_bar, -1)
    others = [i for i in range(bars) if i != bar]
    np.testing.assert_array_equal(got[:, others], logits[:, others], err_msg=f'bar {bar}')
    assert np.abs(got[:, bar] - logits[:, bar]).max() > 1e-6, f'bar {bar} did not change'


@pytest.mark.parametrize('name', HIERARCHICAL)
def test_train_step_sequential_bars_equals_parallel(name, monkeypatch):
  """make_train_step gives the same loss, gradient norm and gradients for both bar orders.

  The gradients are read from Adam's first moment after one step from a zero state, which is
  (1 - b1) times the clipped gradient.
  """
  tiny = _tiny(name)
  run = config_boundary.run_spec(tiny.config)
  fam = family.for_spec(run)
  tx = optimizer.make(run.train)
  graphdef = steps.graph_of(fam)
  state = jax.jit(steps.make_init(fam, tx, seed=1))()
  assert run.loss.sampling_schedule == 'constant' and run.loss.sampling_rate == 0
  labels = _random_labels(tiny.spec, np.random.default_rng(4))
  t = tiny.spec.max_seq_len
  lengths = np.array([t, t], np.int32)
  batch = dict(labels=jnp.asarray(labels), lengths=jnp.asarray(lengths),
               mask=jnp.ones((B, t), jnp.float32))
  key = jax.random.PRNGKey(5)
  out = {}
  for sequential in (False, True):
    if sequential:  # traced with the bars in Magenta's order
      monkeypatch.setattr(hierarchical.HierarchicalDecoder, 'teacher_forced',
                          sequential_teacher_forced)
    step = jax.jit(steps.make_train_step(graphdef, fam, tx))
    out[sequential] = step(state, batch, key)
  (s_par, m_par), (s_seq, m_seq) = out[False], out[True]
  for k in ('loss', 'r_loss', 'kl_loss', 'global_norm', 'accuracy'):
    np.testing.assert_allclose(m_seq[k], m_par[k], rtol=1e-5, err_msg=k)
  adam_mu = lambda s: s['opt_state'][1].inner_state[0].mu
  g_par = jax.tree.leaves(adam_mu(s_par))
  g_seq = jax.tree.leaves(adam_mu(s_seq))
  assert len(g_par) == len(g_seq) == len(jax.tree.leaves(state['params']))
  scale = max(float(np.abs(g).max()) for g in g_par)
  assert scale > 0
  for a, b in zip(g_seq, g_par):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * scale)


def test_spec_rejects_unknown_decoder():
  """A decoder name outside config_boundary.DECODERS is a ModelConfigError naming the value."""
  config = config_lib.get_config('cat-mel_2bar_small:tiny')
  config.model.decoder = 'nade_lstm'
  with pytest.raises(config_boundary.ModelConfigError, match='nade_lstm'):
    config_boundary.model_spec(config)


@pytest.mark.parametrize('levels', [[16, 8], [256], [8, 8, 4], [8, 32]])
def test_spec_rejects_level_lengths_not_matching_length(levels):
  """level_lengths are derived (bars, steps per bar); a config.json stating others is refused."""
  config = config_lib.get_config('hierdec-mel_16bar:tiny')
  config.model.level_lengths = levels
  with pytest.raises(config_boundary.ModelConfigError, match='level_lengths'):
    config_boundary.model_spec(config)
  config.model.level_lengths = [16, 16]  # what older workdirs state: accepted
  assert config_boundary.model_spec(config).level_lengths == (16, 16)
