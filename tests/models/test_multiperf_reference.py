"""hier-multiperf against Magenta's own checkpoint (shared/reference/magenta_checkpoints/multiperf).

multiperf is Magenta's hier-multiperf_vel_1bar_med (HierarchicalLstmEncoder [64, 8] over a
bidirectional encoder, HierarchicalLstmDecoder [8, 64] over a categorical one, 490 classes)
trained three steps by Magenta's code at widths enc [8], dec [8, 8, 8], z 8; its reference
outputs were computed by Magenta on four windows of 8 track slots of 64 rows, each track
[program, events..., end] followed by all-zero rows (label -1), with per-track lengths. These
tests pin the hierarchical encoder with per-track lengths, the per-segment loss, the greedy
decode and the import, and check the chord-conditioned variant (no Magenta checkpoint exists
for it) for shapes and for the chords reaching encoder and decoder.
"""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from conftest import magenta_checkpoint
from musicvae_jax import specs
from musicvae_jax.magenta import importer
from musicvae_jax.magenta import tf_checkpoint
from musicvae_jax.models import hierarchical_encoder
from musicvae_jax.models import magenta_names
from musicvae_jax.models import vae
from musicvae_jax.training import losses
from musicvae_jax.training import musicvae_family

ATOL = 1e-5
CONFIG = 'hier-multiperf_vel_1bar_med'
TRACKS, EVENTS = 8, 64


def multiperf_spec(enc=(8,), dec=(8, 8, 8), z=8, chords=False) -> specs.ModelSpec:
  """The ModelSpec the config boundary builds for hier-multiperf_vel_1bar_* (at given widths)."""
  return specs.ModelSpec(
      heads=(specs.Head('categorical', 490),), input=specs.StepInput('one_hot', 490),
      encoder=specs.EncoderSpec('hierarchical_lstm', tuple(enc), level_lengths=(EVENTS, TRACKS)),
      decoder=specs.DecoderSpec('hierarchical', tuple(dec), (TRACKS, EVENTS)),
      z_size=z, seq_len=TRACKS * EVENTS,
      controls=(specs.Control('chords', 49),) if chords else ())


class Multiperf:
  """The fixture's arrays and hparams, and our model with its weights."""

  def __init__(self):
    self.folder = magenta_checkpoint('multiperf')
    with np.load(self.folder / 'reference.npz') as npz:
      self.ref = {k: npz[k] for k in npz.files}
    self.meta = json.loads((self.folder / 'reference.json').read_text())
    self.hparams = self.meta['hparams']
    self.variables = {k[len('var/'):]: v for k, v in self.ref.items() if k.startswith('var/')}
    hp = self.hparams
    self.spec = multiperf_spec(hp['enc_rnn_size'], hp['dec_rnn_size'], hp['z_size'])
    self.model = vae.build_model(self.spec)
    magenta_names.assign(self.model, self.variables)
    self.labels = jnp.asarray(self.ref['target_classes'], jnp.int32)
    self.lengths = jnp.full((len(self.labels),), self.spec.seq_len, jnp.int32)
    self.valid = np.asarray(self.labels[..., 0] >= 0)
    self.z = jnp.asarray(self.ref['z'])


@pytest.fixture(scope='module')
def mp() -> Multiperf:
  return Multiperf()


# ---- the structure and the import -----------------------------------------------------------


def test_fixture_is_magentas_multiperf_model(mp):
  """Magenta's structure; kernel shapes: level-0 encoder [490 + 8, 32], level 1 [2·8 + 8, 32],
  conductor layer 0 [1 + 8, 32] (a zero scalar input), core layer 0 [490 + 8 + 8, 32]."""
  s = mp.meta['structure']
  assert mp.meta['magenta_config'] == CONFIG
  assert (s['encoder'], s['encoder_level_lengths'], s['level_lengths'], s['length_shape']) == (
      'HierarchicalLstmEncoder', [EVENTS, TRACKS], [TRACKS, EVENTS], [TRACKS])
  v = mp.variables
  enc = 'encoder/hierarchical_level_{}/cell_0/bidirectional_rnn/fw/multi_rnn_cell/cell_0/' \
        'lstm_cell/kernel'
  assert v[enc.format(0)].shape == (490 + 8, 32) and v[enc.format(1)].shape == (16 + 8, 32)
  assert v['decoder/hierarchical_level_0/cell_0/lstm_cell/kernel'].shape == (1 + 8, 32)
  assert v['core_decoder/decoder/multi_rnn_cell/cell_0/lstm_cell/kernel'].shape == (506, 32)
  # Labels are -1 exactly on the all-zero rows, and the valid rows open each track slot.
  np.testing.assert_array_equal(mp.ref['input_sequence'].sum(-1) == 0, ~mp.valid)
  rows = np.arange(EVENTS)[None, None]
  want = rows < mp.ref['sequence_length'][..., None]
  np.testing.assert_array_equal(mp.valid.reshape(-1, TRACKS, EVENTS), want)


def test_name_map_covers_exactly_the_checkpoint_variables(mp):
  listed = {v['name'] for v in mp.meta['checkpoint']['variables']}
  model_vars = {n for n in listed if not magenta_names.TRAINING_ONLY.search(n)} - {'global_step'}
  assert set(magenta_names.name_map(mp.spec)) == model_vars


def test_import_reads_the_tf_checkpoint_into_the_model(mp):
  """The importer's path: sizes from the checkpoint's shapes (the hierarchical encoder's level
  0 gives enc_rnn_size), variables by name, bit for bit."""
  with tf_checkpoint.open_checkpoint(mp.folder) as ckpt:
    names = [n for n in ckpt.keys() if not magenta_names.TRAINING_ONLY.search(n)]
    sizes = importer.infer_sizes({n: ckpt.shape(n) for n in names})
    variables = ckpt.read_all(lambda n: not magenta_names.TRAINING_ONLY.search(n))
  hp = mp.hparams
  assert sizes == dict(enc_rnn_size=hp['enc_rnn_size'], dec_rnn_size=hp['dec_rnn_size'],
                       z_size=hp['z_size'])
  model = vae.build_model(multiperf_spec(sizes['enc_rnn_size'], sizes['dec_rnn_size'],
                                         sizes['z_size']), seed=7)
  magenta_names.assign(model, variables)
  flat = dict(nnx.to_flat_state(nnx.state(model, nnx.Param)))
  for name, path in magenta_names.name_map(model.spec).items():
    np.testing.assert_array_equal(flat[path][...], mp.variables[name], err_msg=name)


def test_import_magenta_writes_a_workdir_that_decodes_as_magenta(mp, tmp_path):
  """musicvae-import-magenta's library call under the config's name: the workdir's model is
  this spec with Magenta's weights, and a TrainedModel from it encodes and greedily decodes
  as Magenta did."""
  from musicvae_jax import checkpointing  # pylint: disable=import-outside-toplevel
  from musicvae_jax import config_lib  # pylint: disable=import-outside-toplevel
  from musicvae_jax.generation import trained_model  # pylint: disable=import-outside-toplevel
  config_lib.get_config(CONFIG)  # the config the import names
  workdir = tmp_path / 'multiperf'
  record = importer.import_checkpoint(mp.folder, CONFIG, workdir, log=lambda _: None)
  assert record['global_step'] == 3 and record['config'] == CONFIG
  spec = checkpointing.load_run_spec(workdir).model
  assert spec == mp.spec
  trained = trained_model.TrainedModel.from_workdir(workdir)
  _, mu, sigma = trained.encode_labels(mp.ref['target_classes'].astype(np.int16))
  np.testing.assert_allclose(mu, mp.ref['mu'], rtol=1e-5, atol=ATOL)
  np.testing.assert_allclose(sigma, mp.ref['sigma'], rtol=1e-5, atol=ATOL)
  greedy = trained.decode_labels(mp.ref['z'], key=jax.random.key(0), temperature=0)
  np.testing.assert_array_equal(greedy, mp.ref['greedy_tokens'])


# ---- Magenta's numbers ----------------------------------------------------------------------


def test_segment_lengths_are_the_converters(mp):
  """Counted from the labels: Magenta's per-track sequence_length [B, 8]."""
  got = hierarchical_encoder.segment_lengths(mp.labels, mp.lengths, EVENTS)
  np.testing.assert_array_equal(got, mp.ref['sequence_length'])
  # A padding example (length 0) has empty segments.
  none = hierarchical_encoder.segment_lengths(mp.labels, jnp.zeros_like(mp.lengths), EVENTS)
  np.testing.assert_array_equal(none, 0)


def test_posterior(mp):
  """mu and sigma of the reference windows, lengths counted from the labels or given."""
  mu, sigma = jax.jit(mp.model.encode)(mp.labels, mp.lengths)
  np.testing.assert_allclose(mu, mp.ref['mu'], rtol=1e-5, atol=ATOL)
  np.testing.assert_allclose(sigma, mp.ref['sigma'], rtol=1e-5, atol=ATOL)
  mu2, sigma2 = mp.model.encode(mp.labels, jnp.asarray(mp.ref['sequence_length']))
  np.testing.assert_allclose(mu2, mu, rtol=0, atol=1e-7)
  np.testing.assert_allclose(sigma2, sigma, rtol=0, atol=1e-7)


def test_encoder_reads_each_track_only_up_to_its_length(mp):
  """Tokens written into the padding rows change nothing when the track lengths are given."""
  noise = jax.random.randint(jax.random.key(0), mp.labels.shape, 0, 490)
  filled = jnp.where(mp.labels >= 0, mp.labels, noise)
  lengths = jnp.asarray(mp.ref['sequence_length'])
  mu, sigma = mp.model.encode(filled, lengths)
  np.testing.assert_allclose(mu, mp.ref['mu'], rtol=1e-5, atol=ATOL)
  np.testing.assert_allclose(sigma, mp.ref['sigma'], rtol=1e-5, atol=ATOL)


def test_conductor_embeddings(mp):
  embeddings = jax.jit(mp.model.decoder.embeddings)(mp.z)
  np.testing.assert_allclose(embeddings, mp.ref['conductor_embeddings'], rtol=0, atol=ATOL)


def test_teacher_forced_logits_and_losses(mp):
  """Logits from the stored z on every valid row (segment k > 0 starts from row 64k - 1 of the
  shifted targets, a padding row: zeros); r_loss = Σ segments of the CE summed over each
  segment's first sequence_length[k] rows; KL, beta and the loss, as Magenta's."""
  inputs = vae.shift_right(mp.labels)
  assert int(inputs[0, EVENTS, 0]) == -1  # row 63 of track 0 is padding in the fixture
  logits = np.asarray(jax.jit(mp.model.teacher_forced_logits)(mp.z, inputs))
  np.testing.assert_allclose(np.where(mp.valid[..., None], logits, 0.0), mp.ref['logits'],
                             rtol=0, atol=ATOL)

  mask = musicvae_family.valid_steps(mp.labels, jnp.ones(mp.labels.shape[:2], jnp.float32))
  np.testing.assert_array_equal(mask, mp.valid)
  r_loss, correct = losses.reconstruction(jnp.asarray(logits), mp.labels, mask, (490,))
  assert np.isfinite(np.asarray(r_loss)).all()
  # r_loss ~220-300 in float32 (spacing 3e-5): compared relatively, as the other fixtures.
  np.testing.assert_allclose(r_loss, mp.ref['r_loss'], rtol=1e-6)
  # The same sum written as Magenta's: per segment, over its first length[k] rows.
  ce = np.asarray(jax.nn.logsumexp(logits, -1)) - np.take_along_axis(
      logits, np.maximum(mp.ref['target_classes'], 0), -1)[..., 0]
  ce = ce.reshape(-1, TRACKS, EVENTS)
  by_segment = [sum(ce[b, k, :n].sum() for k, n in enumerate(mp.ref['sequence_length'][b]))
                for b in range(len(ce))]
  np.testing.assert_allclose(by_segment, mp.ref['r_loss'], rtol=1e-5)
  # Accuracy only over valid rows: padding rows are never counted as hits or misses.
  acc = musicvae_family.accuracy(correct, mask)
  want = np.mean((np.argmax(logits, -1) == mp.ref['target_classes'][..., 0])[mp.valid])
  np.testing.assert_allclose(acc, want, rtol=1e-6)

  kl = losses.kl_divergence(jnp.asarray(mp.ref['mu']), jnp.asarray(mp.ref['sigma']))
  np.testing.assert_allclose(kl, mp.ref['kl'], rtol=1e-5, atol=ATOL)
  hp = mp.hparams
  np.testing.assert_allclose(losses.kl_cost(kl, hp['free_bits']), mp.ref['kl_cost'], rtol=1e-5,
                             atol=ATOL)
  step = int(mp.ref['var/global_step'])
  loss_spec = specs.LossSpec(free_bits=hp['free_bits'], max_beta=hp['max_beta'],
                             beta_rate=hp['beta_rate'])
  batch = dict(lengths=mp.lengths, mask=mask)
  terms = musicvae_family.loss_terms(dict(r_loss=r_loss, kl=kl), batch, loss_spec, step)
  np.testing.assert_allclose(terms['beta'], mp.ref['beta'], rtol=1e-6)
  np.testing.assert_allclose(terms['loss'], mp.ref['loss'], rtol=1e-6)


def test_training_pass_masks_the_padding_rows(mp):
  """The family's pass over the stored windows: Magenta's mu, a finite loss, the valid rows as
  its mask, and the padding rows' logits out of the loss and the gradients."""
  batch = dict(labels=mp.labels, lengths=mp.lengths,
               mask=jnp.ones(mp.labels.shape[:2], jnp.float32))
  out = musicvae_family.forward(mp.model, batch, jax.random.key(0), sampling_probability=None)
  np.testing.assert_allclose(out['mu'], mp.ref['mu'], rtol=1e-5, atol=ATOL)
  np.testing.assert_array_equal(out['mask'], mp.valid)
  assert np.isfinite(np.asarray(out['r_loss'])).all()

  def r_loss_of(logits):
    return losses.reconstruction(logits, mp.labels, out['mask'], (490,))[0].sum()

  grad = np.asarray(jax.grad(r_loss_of)(out['logits']))
  assert np.isfinite(grad).all()
  np.testing.assert_array_equal(grad[~mp.valid], 0.0)
  assert np.abs(grad[mp.valid]).min() > 0
  # Evaluation counts the valid rows as its steps, teacher-forced and free-running alike.
  sums = musicvae_family.MusicVAEFamily(_run(mp.spec)).eval_sums(mp.model, batch,
                                                                 jax.random.key(0), 3)
  assert float(sums['steps']) == mp.ref['sequence_length'].sum()
  assert 0 <= float(sums['sampled_hits'][0]) <= float(sums['steps'])
  assert np.isfinite(float(sums['sampled_r_loss']))


def _run(spec):
  return specs.RunSpec(name='multiperf', data=specs.DataSpec(converter='multiperf', slice_bars=1),
                       model=spec, loss=specs.LossSpec(), train=specs.TrainSpec(batch_size=4))


def test_greedy_decoding(mp):
  """Argmax decoding from z: Magenta's tokens exactly. Every segment decodes its 64 steps and
  segment k > 0 starts from the last token of segment k - 1, so teacher forcing on the greedy
  tokens shifted right gives the loop's logits."""
  sample = jax.jit(lambda z, key: mp.model.sample(z, key, greedy=True))
  out = sample(mp.z, jax.random.key(0))
  np.testing.assert_array_equal(out['samples'], mp.ref['greedy_tokens'])
  tf_logits = mp.model.teacher_forced_logits(mp.z, vae.shift_right(out['samples']))
  np.testing.assert_allclose(tf_logits, out['logits'], rtol=0, atol=ATOL)
  again = sample(mp.z, jax.random.key(1))
  np.testing.assert_array_equal(again['samples'], out['samples'])


# ---- the chord-conditioned variant (hier-multiperf_vel_1bar_*_chords) ------------------------


@pytest.fixture(scope='module')
def chords_model():
  return vae.build_model(multiperf_spec(chords=True), seed=3)


def _chord_windows(mp, seed=0):
  """The fixture's windows with a chord class a row, -1 on padding rows as the converter
  writes them: [B, 512, 2]."""
  chords = jax.random.randint(jax.random.key(seed), mp.labels.shape[:2], 0, 49)
  chords = jnp.where(mp.labels[..., 0] >= 0, chords, -1)
  return jnp.concatenate([mp.labels, chords[..., None]], -1)


def test_chord_model_shapes_and_names(chords_model):
  """Magenta's concatenations: the encoder reads [tokens 490, chord 49]; every core step
  [previous token 490, embedding H, chord 49]; the conductor sees no chords."""
  m = chords_model
  level0 = m.encoder.levels[0].fw[0]
  assert level0.kernel.shape == (490 + 49 + 8, 32)
  assert m.encoder.levels[1].fw[0].kernel.shape == (16 + 8, 32)
  assert m.decoder.cores[0].stack.layers[0].kernel.shape == (490 + 8 + 49 + 8, 32)
  assert m.decoder.conductor.layers[0].kernel.shape == (1 + 8, 32)
  names = magenta_names.name_map(m.spec)
  assert 'encoder/hierarchical_level_1/cell_0/bidirectional_rnn/bw/multi_rnn_cell/cell_0/' \
         'lstm_cell/kernel' in names


def test_chords_reach_encoder_and_decoder(mp, chords_model):
  """Other chords give another mu and other logits (valid rows); the teacher-forced logits
  equal each segment decoded on its own under that segment's chords."""
  m = chords_model
  windows = _chord_windows(mp)
  batch = dict(labels=windows, lengths=mp.lengths,
               mask=jnp.ones(windows.shape[:2], jnp.float32))
  out = musicvae_family.forward(m, batch, jax.random.key(0), sampling_probability=None)
  assert out['logits'].shape == (4, 512, 490) and out['correct'].shape == (4, 512, 1)
  np.testing.assert_array_equal(out['mask'], mp.valid)
  other = musicvae_family.forward(m, dict(batch, labels=_chord_windows(mp, seed=1)),
                                  jax.random.key(0), sampling_probability=None)
  assert not np.allclose(other['mu'], out['mu'], atol=1e-8)
  assert not np.allclose(np.asarray(other['logits'])[mp.valid],
                         np.asarray(out['logits'])[mp.valid], atol=1e-6)

  # The free-running pass (evaluation's sampled accuracy) decodes under the same chords.
  sampled = musicvae_family.forward(m, batch, jax.random.key(0),
                                    sampling_probability=jnp.float32(1.0))
  assert np.isfinite(np.asarray(sampled['r_loss'])).all()

  labels, chords = m.split_controls(windows)
  inputs = vae.shift_right(labels)
  logits = m.teacher_forced_logits(mp.z, inputs, controls_BxT=chords)
  e = m.decoder.embeddings(mp.z)
  k = 5
  seg = slice(k * EVENTS, (k + 1) * EVENTS)
  alone = m.decoder.cores[0].teacher_forced(e[:, k], inputs[:, seg], chords[:, seg])
  np.testing.assert_allclose(logits[:, seg], alone, rtol=0, atol=1e-6)


def test_a_padding_rows_chord_is_no_input(mp, chords_model):
  """Chord -1 (the converter's padding rows) is no input row (Magenta's zero control row),
  not a row of the kernel below the chords; in the encoder those rows lie past each track's
  length, so whatever chord they hold changes nothing."""
  m = chords_model
  windows = _chord_windows(mp)
  labels, chords = m.split_controls(windows)
  core = m.decoder.cores[0]
  first = core.stack.layers[0]
  rows = core._rows(labels[:, :3], chords[:, :3])  # pylint: disable=protected-access
  assert rows.shape[-1] == 2
  np.testing.assert_array_equal(rows[..., 1] >= 0, chords[:, :3] >= 0)
  assert int(first.kernel.shape[0]) == 490 + 8 + 49 + 8
  # Encoder: padding rows sit past each track's length, so their chord cannot matter either.
  mu, _ = m.encode(labels, mp.lengths, controls_BxT=chords)
  mu0, _ = m.encode(labels, mp.lengths, controls_BxT=jnp.where(chords >= 0, chords, 0))
  np.testing.assert_allclose(mu, mu0, rtol=0, atol=1e-7)


def test_chord_model_samples_under_its_chords(mp, chords_model):
  """Greedy decoding under per-example chords: [B, 512, 1] tokens whose logits are the
  teacher-forced ones under the same chords; other chords, other tokens."""
  m = chords_model
  chords = _chord_windows(mp)[..., 1]
  sample = jax.jit(lambda z, c: m.sample(z, jax.random.key(0), greedy=True, controls_BxT=c))
  out = sample(mp.z, chords)
  assert out['samples'].shape == (4, 512, 1)
  tf_logits = m.teacher_forced_logits(mp.z, vae.shift_right(out['samples']),
                                      controls_BxT=chords)
  np.testing.assert_allclose(tf_logits, out['logits'], rtol=0, atol=ATOL)
  other = sample(mp.z, jnp.where(chords >= 0, (chords + 7) % 49, -1))
  assert not np.allclose(other['logits'], out['logits'], atol=1e-6)
  with pytest.raises(ValueError, match='control classes'):
    m.sample(mp.z, jax.random.key(0), greedy=True)


def test_buildable_checks(mp):
  """The hierarchical encoder takes one-hot inputs and levels that multiply to the length."""
  vae.check_buildable(mp.spec)
  vae.check_buildable(multiperf_spec(chords=True))
  bad = dataclasses.replace(mp.spec, encoder=specs.EncoderSpec('hierarchical_lstm', (8,),
                                                                 level_lengths=(64, 4)))
  with pytest.raises(ValueError, match='multiply to the sequence length'):
    vae.check_buildable(bad)
  dense = dataclasses.replace(mp.spec, input=specs.StepInput('dense', 490))
  with pytest.raises(NotImplementedError):
    vae.check_buildable(dense)
