"""Importing Magenta's TF checkpoints (shared/reference/magenta_checkpoints) into workdirs.

Each fixture is imported once from its TensorFlow files (.index + .data, never reference.npz)
into a fresh workdir; the workdir is then read back the way every musicvae-* command reads it
(``TrainedModel.from_workdir``) and its outputs are compared with the ones Magenta computed.
Tolerances follow tests/models/test_magenta_reference.py: TF and XLA float32 agree to ~1e-6 on
values below ~0.3, so 1e-5 absolute; greedy tokens must be equal.
"""

import json
import shutil
import subprocess
import sys
import tarfile

import jax
import numpy as np
import pytest

from conftest import SHARED
from conftest import magenta_checkpoint
from musicvae_jax import config_lib
from musicvae_jax.generation.trained_model import TrainedModel
from musicvae_jax.magenta import importer
from musicvae_jax.magenta import tf_checkpoint
from musicvae_jax.models import magenta_names
from musicvae_jax.models import vae

CHECKPOINTS = SHARED / 'reference' / 'magenta_checkpoints'
FIXTURES = ('mel2', 'hier16', 'drums2', 'trio16')
HIERARCHICAL = ('hier16', 'trio16')
FILES = ('checkpoint', 'model.ckpt-3.index', 'model.ckpt-3.data-00000-of-00001')
PROG = 'musicvae-import-magenta'


class Imported:
  """One fixture imported into a workdir, with its reference arrays and the loaded model."""

  def __init__(self, name, workdir):
    folder = magenta_checkpoint(name)
    self.name, self.folder, self.workdir = name, folder, workdir
    self.meta = json.loads((folder / 'reference.json').read_text())
    with np.load(folder / 'reference.npz') as npz:
      self.ref = {k: npz[k] for k in npz.files}
    self.messages = []
    self.record = importer.import_checkpoint(folder, self.meta['magenta_config'], workdir,
                                             log=self.messages.append)
    self.model = TrainedModel.from_workdir(workdir)


@pytest.fixture(scope='module')
def imported(tmp_path_factory):
  cache = {}

  def get(name) -> Imported:
    if name not in cache:
      cache[name] = Imported(name, tmp_path_factory.mktemp(name) / 'workdir')
    return cache[name]

  return get


def _param(params, path):
  node = params
  for key in path:
    node = node[key]
  return np.asarray(node)


def _cli(module, prog, *args):
  code = f'import sys; sys.argv[0] = {prog!r}; from musicvae_jax.cli.{module} import run; run()'
  return subprocess.run([sys.executable, '-c', code, *args], capture_output=True, text=True,
                        check=False)


@pytest.mark.parametrize('name', FIXTURES)
def test_workdir_has_config_checkpoint_and_record(imported, name):
  case = imported(name)
  hp = case.meta['hparams']
  config = json.loads((case.workdir / 'config.json').read_text())
  assert config['name'] == case.meta['magenta_config']
  sizes = dict(enc_rnn_size=hp['enc_rnn_size'], dec_rnn_size=hp['dec_rnn_size'],
               z_size=hp['z_size'])
  assert {k: config['model'][k] for k in sizes} == sizes
  assert case.model.step == 3
  assert (case.workdir / 'checkpoints' / '3').is_dir()

  record = json.loads((case.workdir / importer.RECORD_FILE).read_text())
  assert record == case.record
  assert record['config'] == case.meta['magenta_config']
  assert record['global_step'] == 3
  assert record['sizes'] == sizes
  assert record['source'] == str(case.folder)
  assert record['variables'] == len(magenta_names.name_map(case.model.spec))
  # Every fixture is narrower than its config's defaults, and the import says so.
  default = config_lib.get_config(case.meta['magenta_config']).model
  assert list(default.enc_rnn_size) != hp['enc_rnn_size']
  assert record['sizes_differ_from_config']['enc_rnn_size'] == [list(default.enc_rnn_size),
                                                               hp['enc_rnn_size']]
  assert len(case.messages) == 1 and 'enc_rnn_size' in case.messages[0]


@pytest.mark.parametrize('name', FIXTURES)
def test_every_parameter_equals_the_checkpoint_bit_for_bit(imported, name):
  case = imported(name)
  names = magenta_names.name_map(case.model.spec)
  in_reference = {k[len('var/'):] for k in case.ref if k.startswith('var/')} - {'global_step'}
  assert set(names) == in_reference
  count = len(jax.tree.leaves(case.model.params))
  assert count == len(names)  # nothing in the model is left out of the import
  for magenta_name, path in names.items():
    got, want = _param(case.model.params, path), case.ref[f'var/{magenta_name}']
    assert (got.dtype, got.shape) == (want.dtype, want.shape), magenta_name
    assert got.tobytes() == want.tobytes(), magenta_name


@pytest.mark.parametrize('name', FIXTURES)
def test_posterior_matches_magenta(imported, name):
  case = imported(name)
  z, mu, sigma = case.model.encode_labels(case.ref['target_classes'])
  np.testing.assert_allclose(mu, case.ref['mu'], rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(sigma, case.ref['sigma'], rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(z, mu)  # no key: z is the mean


@pytest.mark.parametrize('name', FIXTURES)
def test_teacher_forced_logits_match_magenta(imported, name):
  case = imported(name)
  module = case.model.module()
  labels = case.ref['target_classes']
  logits = jax.jit(module.teacher_forced_logits)(case.ref['z'], vae.shift_right(labels))
  assert logits.shape == case.ref['logits'].shape
  np.testing.assert_allclose(logits, case.ref['logits'], rtol=0, atol=1e-5)


@pytest.mark.parametrize('name', HIERARCHICAL)
def test_conductor_embeddings_match_magenta(imported, name):
  case = imported(name)
  embeddings = jax.jit(case.model.module().decoder.embeddings)(case.ref['z'])
  np.testing.assert_allclose(embeddings, case.ref['conductor_embeddings'], rtol=0, atol=1e-5)


@pytest.mark.parametrize('name', FIXTURES)
def test_greedy_decoding_matches_magenta(imported, name):
  case = imported(name)
  tokens = case.model.decode_labels(case.ref['z'], key=jax.random.key(0), temperature=0)
  np.testing.assert_array_equal(tokens, case.ref['greedy_tokens'])


@pytest.mark.parametrize('suffix,mode', [('.tar', 'w'), ('.tar.gz', 'w:gz')])
def test_import_from_a_tar_bundle(imported, tmp_path, suffix, mode):
  """A bundle with its files in a subfolder, as Magenta publishes them: the same parameters."""
  direct = imported('mel2')
  archive = tmp_path / f'mel2_small{suffix}'
  with tarfile.open(archive, mode) as tar:
    for name in FILES:
      tar.add(direct.folder / name, arcname=f'mel2_small/{name}')
  workdir = tmp_path / 'workdir'
  record = importer.import_checkpoint(archive, 'cat-mel_2bar_small', workdir, log=lambda m: None)
  assert record['source'] == str(archive) and record['global_step'] == 3
  assert record['sizes'] == direct.record['sizes']
  model = TrainedModel.from_workdir(workdir)
  assert model.step == 3
  want, want_tree = jax.tree.flatten(direct.model.params)
  got, got_tree = jax.tree.flatten(model.params)
  assert got_tree == want_tree
  for a, b in zip(got, want):
    assert np.asarray(a).tobytes() == np.asarray(b).tobytes()


@pytest.mark.parametrize('config', ['hierdec-mel_16bar', 'cat-drums_2bar_small'])
def test_checkpoint_of_another_layout_is_refused(tmp_path, config):
  """mel2 (flat decoder, 90-wide input) under a hierarchical or a drum config."""
  checkpoint = magenta_checkpoint('mel2')
  workdir = tmp_path / 'workdir'
  with pytest.raises(importer.ImportMismatchError) as err:
    importer.import_checkpoint(checkpoint, config, workdir, log=lambda m: None)
  message = str(err.value)
  assert str(checkpoint) in message and config in message
  assert not workdir.exists()  # nothing written for a refused checkpoint


def test_unknown_config_name_is_refused(tmp_path):
  with pytest.raises(config_lib.UnknownConfigError, match='cat-mel_2bar_huge'):
    importer.import_checkpoint(magenta_checkpoint('mel2'), 'cat-mel_2bar_huge', tmp_path / 'w')
  assert not (tmp_path / 'w').exists()


def test_workdir_holding_a_run_is_refused(imported):
  case = imported('mel2')
  before = (case.workdir / 'config.json').read_text()
  with pytest.raises(importer.ImportMismatchError, match='already holds a run'):
    importer.import_checkpoint(magenta_checkpoint('hier16'), 'hierdec-mel_16bar', case.workdir)
  assert (case.workdir / 'config.json').read_text() == before
  assert TrainedModel.from_workdir(case.workdir).spec == case.model.spec


def _write_index(path, items):
  """A tensor-bundle index (one-block LevelDB table) holding ``items`` [(key, value)]."""
  crc = tf_checkpoint._crc32c  # pylint: disable=protected-access
  masked = tf_checkpoint._masked  # pylint: disable=protected-access

  def varint(n):
    out = bytearray()
    while n >= 0x80:
      out.append(n & 0x7F | 0x80)
      n >>= 7
    return bytes(out + bytes([n]))

  def block(entries):
    body = b''.join(varint(0) + varint(len(k)) + varint(len(v)) + k + v for k, v in entries)
    return body + (0).to_bytes(4, 'little') + (1).to_bytes(4, 'little')

  out = bytearray()

  def put(contents):
    handle = varint(len(out)) + varint(len(contents))
    out.extend(contents + b'\0' + masked(crc(contents + b'\0')).to_bytes(4, 'little'))
    return handle

  data = put(block(sorted(items)))
  meta = put(block([]))
  index = put(block([(max(k for k, _ in items) + b'\xff', data)]))
  magic = tf_checkpoint._MAGIC.to_bytes(8, 'little')  # pylint: disable=protected-access
  path.write_bytes(bytes(out) + (meta + index).ljust(40, b'\0') + magic)


def test_checkpoint_that_is_not_a_music_vae_is_refused(tmp_path):
  """mel2's tensors under other names (no MusicVAE encoder): a readable TF checkpoint."""
  source = magenta_checkpoint('mel2')
  folder = tmp_path / 'lm'
  folder.mkdir()
  for name in (FILES[0], FILES[2]):  # the state file and the data; a new index below
    shutil.copy(source / name, folder / name)
  table = tf_checkpoint._table_items  # pylint: disable=protected-access
  items = [(k.replace(b'encoder/', b'language_model/'), v)
           for k, v in table((source / FILES[1]).read_bytes())]
  _write_index(folder / FILES[1], items)
  with tf_checkpoint.open_checkpoint(folder) as ckpt:  # the rewritten index is valid
    assert len(ckpt.keys()) == 51
    assert not any(k.startswith('encoder/') for k in ckpt.keys())
    assert int(ckpt.read('global_step')) == 3
  workdir = tmp_path / 'workdir'
  with pytest.raises(importer.ImportMismatchError, match='not a MusicVAE checkpoint') as err:
    importer.import_checkpoint(folder, 'cat-mel_2bar_small', workdir)
  assert str(folder) in str(err.value) and 'cat-mel_2bar_small' in str(err.value)
  assert not workdir.exists()


def test_cli_import_then_sample(tmp_path):
  workdir, output = tmp_path / 'workdir', tmp_path / 'out'
  proc = _cli('import_magenta', PROG, f'--checkpoint={magenta_checkpoint("mel2")}',
              '--config=cat-mel_2bar_small', f'--workdir={workdir}')
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'step 3' in proc.stdout and str(workdir) in proc.stdout
  assert json.loads((workdir / importer.RECORD_FILE).read_text())['global_step'] == 3

  proc = _cli('sample', 'musicvae-sample', f'--workdir={workdir}', f'--output_dir={output}',
              '--num_outputs=2', '--seed=0', '--wav=false')
  assert proc.returncode == 0, proc.stderr[-3000:]
  midis = sorted(output.glob('*.mid'))
  assert len(midis) == 2
  for midi in midis:
    assert midi.name.startswith('cat-mel_2bar_small_sample_')
    assert midi.stat().st_size > 0 and midi.with_suffix('.png').stat().st_size > 0


def test_cli_mismatched_config_is_a_one_line_error(tmp_path):
  workdir = tmp_path / 'workdir'
  proc = _cli('import_magenta', PROG, f'--checkpoint={magenta_checkpoint("mel2")}',
              '--config=hierdec-mel_16bar', f'--workdir={workdir}')
  assert proc.returncode == 2, proc.stderr[-3000:]
  errors = [l for l in proc.stderr.splitlines() if l.startswith(f'{PROG}: error: ')]
  assert len(errors) == 1 and proc.stderr.strip().splitlines()[-1] == errors[0], proc.stderr
  assert 'hierdec-mel_16bar' in errors[0] and str(CHECKPOINTS / 'mel2') in errors[0]
  assert 'Traceback' not in proc.stderr
  assert not workdir.exists()
