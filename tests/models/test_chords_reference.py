"""The chord-conditioned melody model against Magenta's own checkpoint
(shared/reference/magenta_checkpoints/mel2chords).

mel2chords is Magenta's cat-mel_2bar_med_chords trained three steps by Magenta's code at small
LSTM widths; its reference outputs were computed by Magenta on four melodies with a triad chord
a step (see that folder's README). The chord's one-hot is concatenated to the encoder input and
to every decoder step input [previous output, z, chord]. These tests pin the import, the
posterior, the teacher-forced logits and losses, the greedy decode, and that the training pass
reads the chord column of the stored [T, 2] windows.
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
from musicvae_jax import errors
from musicvae_jax import specs
from musicvae_jax.generation.trained_model import TrainedModel
from musicvae_jax.magenta import importer
from musicvae_jax.models import magenta_names
from musicvae_jax.models import vae
from musicvae_jax.training import losses
from musicvae_jax.training import musicvae_family

ATOL = 1e-5
CONFIG = 'cat-mel_2bar_med_chords'


def chord_spec(hp) -> specs.ModelSpec:
  return specs.ModelSpec(
      heads=(specs.Head('categorical', 90),), input=specs.StepInput('one_hot', 90),
      encoder=specs.EncoderSpec('bidirectional_lstm', tuple(hp['enc_rnn_size'])),
      decoder=specs.DecoderSpec('lstm', tuple(hp['dec_rnn_size'])),
      z_size=hp['z_size'], seq_len=32, controls=(specs.Control('chords', 49),))


class Chords:
  """The fixture's arrays and hparams, and our model with its weights."""

  def __init__(self):
    self.folder = magenta_checkpoint('mel2chords')
    with np.load(self.folder / 'reference.npz') as npz:
      self.ref = {k: npz[k] for k in npz.files}
    self.meta = json.loads((self.folder / 'reference.json').read_text())
    self.hparams = self.meta['hparams']
    self.variables = {k[len('var/'):]: v for k, v in self.ref.items() if k.startswith('var/')}
    self.spec = chord_spec(self.hparams)
    self.model = vae.build_model(self.spec)
    magenta_names.assign(self.model, self.variables)
    self.melody = jnp.asarray(self.ref['target_classes'][..., :1])
    self.chords = jnp.asarray(self.ref['control_sequence'].argmax(-1))
    self.lengths = jnp.asarray(self.ref['sequence_length'])
    self.z = jnp.asarray(self.ref['z'])


@pytest.fixture(scope='module')
def chords() -> Chords:
  return Chords()


def test_fixture_is_magentas_chord_model(chords):
  """Encoder kernel rows [melody 90 + chord 49 + H]; decoder layer 0 [melody 90 + z + chord 49
  + H]; the windows' second column is the control's class."""
  v, h = chords.variables, chords.hparams
  assert chords.meta['magenta_config'] == CONFIG
  assert chords.meta['structure']['control_depth'] == 49
  enc = v['encoder/cell_0/bidirectional_rnn/fw/multi_rnn_cell/cell_0/lstm_cell/kernel']
  assert enc.shape[0] == 90 + 49 + h['enc_rnn_size'][0]
  dec = v['decoder/multi_rnn_cell/cell_0/lstm_cell/kernel']
  assert dec.shape[0] == 90 + h['z_size'] + 49 + h['dec_rnn_size'][0]
  np.testing.assert_array_equal(chords.ref['target_classes'][..., 1], chords.chords)
  np.testing.assert_array_equal(chords.ref['input_sequence'], chords.ref['output_sequence'])


def test_name_map_covers_exactly_the_checkpoint_variables(chords):
  listed = {v['name'] for v in chords.meta['checkpoint']['variables']}
  model_vars = {n for n in listed if not magenta_names.TRAINING_ONLY.search(n)}
  assert set(magenta_names.name_map(chords.spec)) == model_vars


def test_project_config_selects_this_model(chords):
  """cat-mel_2bar_med_chords at the fixture's sizes is this spec, with Magenta's loss hparams;
  at its own sizes the reference table's: [1024] / [512, 512, 512], z 256."""
  config = config_lib.get_config(CONFIG)
  for key in chords.meta['hparams_overridden']:
    if key in config.model:
      config.model[key] = chords.hparams[key]
  assert config_boundary.model_spec(config) == chords.spec
  loss = config_boundary.loss_spec(config)
  hp = chords.hparams
  assert (loss.free_bits, loss.max_beta, loss.beta_rate, loss.sampling_schedule,
          loss.sampling_rate) == (hp['free_bits'], hp['max_beta'], hp['beta_rate'],
                                  hp['sampling_schedule'], hp['sampling_rate'])
  full = config_boundary.run_spec(config_lib.get_config(CONFIG))
  assert (full.model.enc_rnn_size, full.model.dec_rnn_size, full.model.z_size) == (
      (1024,), (512, 512, 512), 256)
  assert full.data.transpose_range == (-3, 3) and full.train.batch_size == 512
  assert dict(full.data.converter_options)['valid_programs'] is None


def test_import_magenta_writes_a_workdir_with_magentas_weights(chords, tmp_path):
  """musicvae-import-magenta's library call on the TF files under the config's name: the
  workdir's model is this one, its weights Magenta's bit for bit, and it encodes as Magenta."""
  workdir = tmp_path / 'mel2chords'
  record = importer.import_checkpoint(chords.folder, CONFIG, workdir, log=lambda _: None)
  assert record['global_step'] == 3 and record['config'] == CONFIG
  spec = checkpointing.load_run_spec(workdir).model
  assert spec == chords.spec
  module = TrainedModel.from_workdir(workdir).module()
  flat = dict(nnx.to_flat_state(nnx.state(module, nnx.Param)))
  for name, path in magenta_names.name_map(spec).items():
    np.testing.assert_array_equal(flat[path][...], chords.variables[name], err_msg=name)
  mu, _ = module.encode(chords.melody, chords.lengths, controls_BxT=chords.chords)
  np.testing.assert_allclose(mu, chords.ref['mu'], rtol=1e-5, atol=ATOL)


def test_posterior(chords):
  mu, sigma = jax.jit(lambda x, n, c: chords.model.encode(x, n, controls_BxT=c))(
      chords.melody, chords.lengths, chords.chords)
  np.testing.assert_allclose(mu, chords.ref['mu'], rtol=1e-5, atol=ATOL)
  np.testing.assert_allclose(sigma, chords.ref['sigma'], rtol=1e-5, atol=ATOL)


def test_teacher_forced_logits_and_losses(chords):
  """Logits from the stored z along the targets shifted right, each step with its chord;
  r_loss, KL, KL cost, beta and the loss: Magenta's."""
  logits = jax.jit(lambda z, x, c: chords.model.teacher_forced_logits(z, x, controls_BxT=c))(
      chords.z, vae.shift_right(chords.melody), chords.chords)
  np.testing.assert_allclose(logits, chords.ref['logits'], rtol=0, atol=ATOL)
  mask = jnp.ones(chords.melody.shape[:2], jnp.float32)
  r_loss, _ = losses.reconstruction(logits, chords.melody, mask, chords.spec.part_depths)
  np.testing.assert_allclose(r_loss, chords.ref['r_loss'], rtol=1e-6)
  kl = losses.kl_divergence(jnp.asarray(chords.ref['mu']), jnp.asarray(chords.ref['sigma']))
  np.testing.assert_allclose(kl, chords.ref['kl'], rtol=0, atol=ATOL)
  hp = chords.hparams
  kl_cost = losses.kl_cost(kl, hp['free_bits'])
  np.testing.assert_allclose(kl_cost, chords.ref['kl_cost'], rtol=0, atol=ATOL)
  loss_spec = specs.LossSpec(free_bits=hp['free_bits'], max_beta=hp['max_beta'],
                             beta_rate=hp['beta_rate'])
  batch = dict(lengths=chords.lengths, mask=mask)
  terms = musicvae_family.loss_terms(dict(r_loss=r_loss, kl=kl), batch, loss_spec,
                                     int(chords.ref['var/global_step']))
  np.testing.assert_allclose(terms['beta'], chords.ref['beta'], rtol=1e-6)
  np.testing.assert_allclose(terms['loss'], chords.ref['loss'], rtol=1e-6)


def test_greedy_decoding(chords):
  """Argmax decoding from z, each example under its own chords: Magenta's tokens exactly and
  its logits along the way."""
  out = jax.jit(lambda z, c: chords.model.sample(z, jax.random.key(0), greedy=True,
                                                 controls_BxT=c))(chords.z, chords.chords)
  np.testing.assert_array_equal(out['samples'], chords.ref['greedy_tokens'])
  np.testing.assert_allclose(out['logits'], chords.ref['greedy_logits'], rtol=0, atol=ATOL)


def test_training_pass_reads_the_chord_column(chords):
  """The family's pass over stored [B, T, 2] windows: the encoder sees the chords (mu is
  Magenta's), the loss targets only the melody, and other chords change the logits."""
  labels = jnp.asarray(chords.ref['target_classes'], jnp.int32)
  batch = dict(labels=labels, lengths=chords.lengths,
               mask=jnp.ones(labels.shape[:2], jnp.float32))
  out = musicvae_family.forward(chords.model, batch, jax.random.key(0), sampling_probability=None)
  np.testing.assert_allclose(out['mu'], chords.ref['mu'], rtol=1e-5, atol=ATOL)
  assert out['logits'].shape == (4, 32, 90) and out['correct'].shape == (4, 32, 1)
  moved = labels.at[..., 1].set((labels[..., 1] + 5) % 49)
  other = musicvae_family.forward(chords.model, dict(batch, labels=moved), jax.random.key(0),
                                  sampling_probability=None)
  assert not np.allclose(other['mu'], out['mu'], atol=1e-7)
  assert not np.allclose(other['logits'], out['logits'], atol=1e-6)
  sampled = musicvae_family.forward(chords.model, batch, jax.random.key(0),
                                    sampling_probability=jnp.float32(1.0))
  assert np.isfinite(np.asarray(sampled['r_loss'])).all()


# ---- generation: TrainedModel and musicvae-sample --chords ----------------------------------


@pytest.fixture(scope='module')
def workdir(chords, tmp_path_factory):
  """The fixture imported as a workdir (musicvae-import-magenta's library call)."""
  path = tmp_path_factory.mktemp('chords') / 'mel2chords'
  importer.import_checkpoint(chords.folder, CONFIG, path, log=lambda _: None)
  return path


def test_trained_model_encodes_and_decodes_under_chords(chords, workdir):
  """Stored [N, T, 2] windows encode to Magenta's mu; greedy decoding under each example's
  chords gives Magenta's tokens, with the chords kept as the windows' second column."""
  trained = TrainedModel.from_workdir(workdir)
  _, mu, sigma = trained.encode_labels(chords.ref['target_classes'])
  np.testing.assert_allclose(mu, chords.ref['mu'], rtol=1e-5, atol=ATOL)
  np.testing.assert_allclose(sigma, chords.ref['sigma'], rtol=1e-5, atol=ATOL)
  greedy = trained.decode_labels(chords.ref['z'], key=jax.random.key(0), temperature=0,
                                 chords_NxT=np.asarray(chords.chords))
  np.testing.assert_array_equal(greedy[..., :1], chords.ref['greedy_tokens'])
  np.testing.assert_array_equal(greedy[..., 1], chords.chords)
  with pytest.raises(errors.UserError, match='give chords'):
    trained.decode_labels(chords.ref['z'], key=jax.random.key(0), temperature=0)


def test_sampling_a_progression_longer_than_the_model(workdir):
  """'C G Am F' on the 2-bar model: each output is two windows from one z, joined, 4 bars at
  120 qpm, with the progression's chord symbols one a bar."""
  from musicvae_jax.converters import chords as chords_lib  # pylint: disable=import-outside-toplevel
  trained = TrainedModel.from_workdir(workdir)
  progression = chords_lib.progression_classes('C G Am F', bars=2, steps_per_bar=16)
  assert progression.shape == (2, 32)
  outputs = trained.sample(3, key=jax.random.key(1), temperature=0.5, chords_WxT=progression)
  assert len(outputs) == 3
  for ns in outputs:
    assert ns.total_time == pytest.approx(8.0)
    texts = sorted((round(ta.time, 3), ta.text) for ta in ns.text_annotations
                   if ta.annotation_type == chords_lib.CHORD_SYMBOL)
    assert texts == [(0.0, 'C'), (2.0, 'G'), (4.0, 'Am'), (6.0, 'F')]
    assert ns.notes
  # The chords steer the decoder: other chords, other melodies from the same codes.
  other = trained.sample(3, key=jax.random.key(1), temperature=0.5,
                         chords_WxT=chords_lib.progression_classes('Ebdim', bars=2,
                                                                   steps_per_bar=16))
  assert [list(n.notes) for n in other] != [list(n.notes) for n in outputs]


def test_sample_cli_chords(workdir, tmp_path):
  """musicvae-sample --chords writes the outputs; a chord with no triad, or no --chords, is
  refused in one line naming the problem, before anything is written."""
  import subprocess  # pylint: disable=import-outside-toplevel
  from tests import cli_process  # pylint: disable=import-outside-toplevel

  def sample(*chord_args):
    args = cli_process.argv('musicvae-sample', f'--workdir={workdir}', '--num_outputs=2',
                            '--seed=3', '--wav=false', f'--output_dir={tmp_path}', *chord_args)
    return subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)

  for chord_args, message in (
      (('--chords=C Csus4',), "--chords: chord 'Csus4' is not a major, minor, augmented or "
                              'diminished triad'),
      ((), 'decodes under a chord a step: give chords')):
    proc = sample(*chord_args)
    assert proc.returncode != 0
    lines = [l for l in proc.stderr.splitlines() if 'error:' in l]
    assert len(lines) == 1 and message in lines[0], proc.stderr[-2000:]
    assert not list(tmp_path.glob('*.mid'))
  ok = sample('--chords=C G Am F')
  assert ok.returncode == 0, ok.stderr[-2000:]
  assert len(list(tmp_path.glob('*.mid'))) == 2


def _windows(chords):
  """The fixture's four windows as stored: melody and chord class a step, [4, 32, 2]."""
  return np.stack([np.asarray(chords.melody[..., 0]), np.asarray(chords.chords)], -1).astype(
      np.int32)


def test_reconstruct_decodes_under_the_inputs_chords_or_new_ones(chords, workdir):
  """Greedy reconstruction of stored windows is the greedy decode of their mu under their own
  chords; given another progression, the same codes follow it and the melody changes."""
  trained = TrainedModel.from_workdir(workdir)
  windows = _windows(chords)
  _, mu, _ = trained.encode_labels(windows)
  own = trained.reconstruct_windows(windows, key=jax.random.key(0), temperature=0)
  want = trained.decode_labels(mu, key=jax.random.key(0), temperature=0,
                               chords_NxT=windows[..., 1])
  np.testing.assert_array_equal(own.labels[0], want)
  np.testing.assert_array_equal(own.labels[0][..., 1], windows[..., 1])
  # agreement counts the melody only: the chord column always agrees with itself
  assert own.agreement[0] == pytest.approx(np.mean(want[..., 0] == windows[..., 0]))
  new = trained.progression('Ebdim', windows=len(windows))
  other = trained.reconstruct_windows(windows, key=jax.random.key(0), temperature=0,
                                      chords_NxT=new)
  np.testing.assert_array_equal(other.labels[0][..., 1], new)
  assert not np.array_equal(other.labels[0][..., 0], own.labels[0][..., 0])


def test_interpolate_decodes_every_step_under_one_progression(chords, workdir):
  """Interpolation of a chord model: every step's windows under the first input's chords, or
  under --chords; the ends are the reconstructions of the inputs under those chords."""
  from musicvae_jax.converters import chords as chords_lib  # pylint: disable=import-outside-toplevel
  trained = TrainedModel.from_workdir(workdir)
  windows = _windows(chords)
  a, b = windows[:2], windows[2:]
  pieces = trained.interpolate_windows(a, b, 3, key=jax.random.key(0), temperature=0)
  progression = trained.progression('C G Am F', windows=2)
  assert progression.shape == (2, 32)
  steered = trained.interpolate_windows(a, b, 3, key=jax.random.key(0), temperature=0,
                                        chords_WxT=progression)
  assert len(pieces) == len(steered) == 3

  def symbols(ns):
    return [ta.text for ta in sorted(ns.text_annotations, key=lambda t: t.time)
            if ta.annotation_type == chords_lib.CHORD_SYMBOL]

  for ns in steered:
    assert symbols(ns) == ['C', 'G', 'Am', 'F']
  first = [chords_lib.chord_symbol(c) for c in a[..., 1].reshape(-1)]
  want = [s for i, s in enumerate(first) if i == 0 or s != first[i - 1]]  # one symbol per change
  for ns in pieces:
    assert symbols(ns) == want
  _, mu_a, _ = trained.encode_labels(a)
  end = trained.decode_labels(mu_a, key=jax.random.key(0), temperature=0,
                              chords_NxT=progression)
  assert steered[0] == trained.to_piece(end, qpm=120.0)


def test_reconstruct_and_interpolate_cli_chords(workdir, tmp_path):
  """musicvae-reconstruct and -interpolate take --chords on a chord model (real tunes in, the
  chords in the output MIDI); on a model without chords it is one line, nothing written."""
  import subprocess  # pylint: disable=import-outside-toplevel
  import note_seq  # pylint: disable=import-outside-toplevel
  import pretty_midi  # pylint: disable=import-outside-toplevel
  from tests import cli_process  # pylint: disable=import-outside-toplevel
  from conftest import REPO  # pylint: disable=import-outside-toplevel
  tunes = sorted((REPO / 'data' / 'midi' / 'melody').glob('*.mid'))[:2]  # 4/4 folk tunes

  def run(prog, *args, workdir_arg=f'--workdir={workdir}', out=tmp_path / 'out'):
    argv = cli_process.argv(prog, workdir_arg, '--seed=3', '--wav=false', f'--output_dir={out}',
                            *args)
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)

  rec = run('musicvae-reconstruct', f'--input_midi={tunes[0]}', '--chords=Am F C G',
            '--play_chords')
  assert rec.returncode == 0, rec.stderr[-2000:]
  outputs = sorted((tmp_path / 'out').glob('*-001-of-001.mid'))
  assert len(outputs) == 1
  pm = pretty_midi.PrettyMIDI(str(outputs[0]))  # chords as text events, one a bar at 2 s
  assert [t.text for t in pm.text_events][:5] == ['Am', 'F', 'C', 'G', 'Am']
  assert [round(t.time, 3) for t in pm.text_events][:2] == [0.0, round(
      240 / note_seq.midi_file_to_note_sequence(str(outputs[0])).tempos[0].qpm, 3)]
  melody, pad = pm.instruments  # --play_chords: the triads and their bass, Magenta's pad
  assert pad.program == 88 and {n.pitch % 12 for n in pad.notes if n.start < 1e-6} == {9, 0, 4}
  inter = run('musicvae-interpolate', f'--input_midi_1={tunes[0]}', f'--input_midi_2={tunes[1]}',
              '--num_outputs=3', '--chords=C G', out=tmp_path / 'inter')
  assert inter.returncode == 0, inter.stderr[-2000:]
  assert len(list((tmp_path / 'inter').glob('*.mid'))) == 3
  refused = run('musicvae-reconstruct', f'--input_midi={tunes[0]}', '--chords=C G',
                workdir_arg='--workdir=bundled:cat-mel_2bar_small', out=tmp_path / 'refused')
  assert refused.returncode != 0
  lines = [l for l in refused.stderr.splitlines() if 'error:' in l]
  assert len(lines) == 1 and 'is not chord-conditioned' in lines[0], refused.stderr[-2000:]
  assert not (tmp_path / 'refused').exists() or not list((tmp_path / 'refused').glob('*.mid'))


def test_a_generated_file_read_back_keeps_its_chords(workdir, tmp_path):
  """The chords written as text events come back as the windows' chord column, not inferred."""
  from musicvae_jax.generation import outputs  # pylint: disable=import-outside-toplevel
  trained = TrainedModel.from_workdir(workdir)
  progression = trained.progression('Am Dm E Am F G C E')  # 4 windows, one chord a bar
  ns = trained.sample(1, key=jax.random.key(2), temperature=0.5, chords_WxT=progression)[0]
  path = tmp_path / 'song.mid'
  outputs.write_midi(ns, path)
  read = trained.read_windows(path)
  np.testing.assert_array_equal(read.labels[..., 1], progression[:len(read.labels)])
  assert len(read.labels) == 4
