"""The TF checkpoint reader against real Magenta checkpoints (shared/reference/magenta_checkpoints).

reference.npz holds every model variable as written by TensorFlow, so a bit-for-bit match shows
the index parsing, dtypes, shapes and byte offsets are right without needing TensorFlow here.
"""

import io
import json
import re
import shutil
import tarfile

import numpy as np
import pytest

from conftest import magenta_checkpoint
from musicvae_jax.magenta import tf_checkpoint
from musicvae_jax.magenta.tf_checkpoint import CheckpointFormatError
from musicvae_jax.magenta.tf_checkpoint import open_checkpoint

FIXTURES = ('mel2', 'hier16', 'drums2', 'trio16')
DATA = 'model.ckpt-3.data-00000-of-00001'


@pytest.fixture(scope='module')
def mel2():
  return magenta_checkpoint('mel2')


@pytest.fixture
def mel2_copy(tmp_path, mel2):
  """A writable copy of the mel2 checkpoint, to damage."""
  for name in ('checkpoint', 'model.ckpt-3.index', DATA):
    shutil.copy(mel2 / name, tmp_path / name)
  return tmp_path


def _make_tar(path, folder, files, mode='w'):
  with tarfile.open(path, mode) as tar:
    for name in files:
      tar.add(folder / name, arcname=f'mel2_small/{name}')
  return path


@pytest.mark.parametrize('name', FIXTURES)
def test_every_variable_matches_tensorflow_bit_for_bit(name):
  folder = magenta_checkpoint(name)
  listed = json.loads((folder / 'reference.json').read_text())['checkpoint']['variables']
  with open_checkpoint(folder) as ckpt, np.load(folder / 'reference.npz') as npz:
    assert ckpt.keys() == [v['name'] for v in listed]
    for v in listed:
      assert ckpt.shape(v['name']) == tuple(v['shape']), v['name']
      assert ckpt.dtype(v['name']) == np.dtype(v['dtype']), v['name']
    tensors = ckpt.read_all()  # the Adam slots too: every crc checked
    model_vars = [k for k in npz.files if k.startswith('var/')]
    assert model_vars
    for key in model_vars:
      want, got = npz[key], tensors[key[len('var/'):]]
      assert (got.dtype, got.shape) == (want.dtype, want.shape), key
      assert got.tobytes() == want.tobytes(), key
  assert tensors['global_step'].dtype == np.int64 and tensors['global_step'] == 3


def test_read_all_filter_and_writable_arrays(mel2):
  with open_checkpoint(mel2) as ckpt:
    slots = ckpt.read_all(lambda k: k.endswith('/Adam'))
  assert slots and all(k.endswith('/Adam') for k in slots)
  kernel = next(iter(slots.values()))
  kernel[...] = 0  # a fresh array, not a view of a read-only buffer


@pytest.mark.parametrize('given', ['', 'model.ckpt-3', 'model.ckpt-3.index', DATA])
def test_open_by_directory_prefix_index_or_data_file(mel2, given):
  ckpt = open_checkpoint(mel2 / given if given else mel2)
  assert ckpt.prefix == mel2 / 'model.ckpt-3'
  assert tf_checkpoint.resolve_prefix(str(mel2 / given)) == mel2 / 'model.ckpt-3'
  assert len(ckpt.keys()) == 51


@pytest.mark.parametrize('suffix,mode', [('.tar', 'w'), ('.tar.gz', 'w:gz')])
def test_open_tar_with_a_subfolder(tmp_path, mel2, suffix, mode):
  archive = _make_tar(tmp_path / f'mel2{suffix}', mel2,
                      ['checkpoint', 'model.ckpt-3.index', DATA, 'reference.json'], mode)
  with open_checkpoint(archive) as ckpt:
    extracted = ckpt.prefix.parent
    assert ckpt.prefix.name == 'model.ckpt-3' and extracted.name == 'mel2_small'
    with open_checkpoint(mel2) as plain:
      assert ckpt.keys() == plain.keys()
      name = 'encoder/cell_0/bidirectional_rnn/fw/multi_rnn_cell/cell_0/lstm_cell/kernel'
      np.testing.assert_array_equal(ckpt.read(name), plain.read(name))
    assert not (extracted / 'reference.json').exists()  # only checkpoint files are extracted
  assert not extracted.exists()  # closing removes the temporary copy


def test_tar_member_outside_the_archive_is_refused(tmp_path, mel2):
  archive = tmp_path / 'evil.tar'
  with tarfile.open(archive, 'w') as tar:
    tar.add(mel2 / 'model.ckpt-3.index', arcname='model.ckpt-3.index')
    info = tarfile.TarInfo('../escaped.index')
    info.size = 3
    tar.addfile(info, io.BytesIO(b'abc'))
  with pytest.raises(CheckpointFormatError, match='evil.tar.*outside the archive'):
    open_checkpoint(archive)
  assert not (tmp_path.parent / 'escaped.index').exists()


def test_directory_without_state_file_needs_exactly_one_index(tmp_path, mel2_copy):
  (mel2_copy / 'checkpoint').unlink()
  assert open_checkpoint(mel2_copy).prefix == mel2_copy / 'model.ckpt-3'
  shutil.copy(mel2_copy / 'model.ckpt-3.index', mel2_copy / 'model.ckpt-1.index')
  with pytest.raises(CheckpointFormatError, match='model.ckpt-1.index, model.ckpt-3.index'):
    open_checkpoint(mel2_copy)


def test_state_file_with_a_foreign_absolute_path_falls_back_to_the_basename(mel2_copy):
  (mel2_copy / 'checkpoint').write_text('model_checkpoint_path: "/train/run1/model.ckpt-3"\n')
  assert open_checkpoint(mel2_copy).prefix == mel2_copy / 'model.ckpt-3'


def test_missing_index_names_the_file(tmp_path):
  with pytest.raises(CheckpointFormatError, match=r'model\.ckpt-9\.index.*missing'):
    open_checkpoint(tmp_path / 'model.ckpt-9')


def test_truncated_index_names_the_file(mel2_copy):
  index = mel2_copy / 'model.ckpt-3.index'
  index.write_bytes(index.read_bytes()[:-20])
  with pytest.raises(CheckpointFormatError, match=re.escape(f'{index}: ') + '.*truncated'):
    open_checkpoint(mel2_copy)


def test_corrupt_index_block_fails_its_checksum(mel2_copy):
  index = mel2_copy / 'model.ckpt-3.index'
  data = bytearray(index.read_bytes())
  data[20] ^= 0x01  # inside a tensor name in the first data block
  index.write_bytes(bytes(data))
  with pytest.raises(CheckpointFormatError, match=re.escape(f'{index}: checksum mismatch')):
    open_checkpoint(mel2_copy)


def test_missing_data_file_names_the_file(mel2_copy):
  (mel2_copy / DATA).unlink()
  message = re.escape(f'{mel2_copy / DATA}: data file is missing')
  with pytest.raises(CheckpointFormatError, match=message):
    open_checkpoint(mel2_copy)


def test_flipped_data_byte_fails_the_tensor_checksum(mel2_copy):
  name = 'decoder/output_projection/kernel'
  with open_checkpoint(mel2_copy) as ckpt:
    entry = ckpt._entries[name]  # pylint: disable=protected-access
  data = bytearray((mel2_copy / DATA).read_bytes())
  data[entry.offset + entry.size // 2] ^= 0x10
  (mel2_copy / DATA).write_bytes(bytes(data))
  with open_checkpoint(mel2_copy) as ckpt:
    message = re.escape(f'{mel2_copy / DATA}: checksum mismatch')
    with pytest.raises(CheckpointFormatError, match=message):
      ckpt.read(name)
    ckpt.read('global_step')  # other tensors stay readable


def test_truncated_data_file_names_the_file(mel2_copy):
  data = (mel2_copy / DATA).read_bytes()
  (mel2_copy / DATA).write_bytes(data[:len(data) // 2])
  message = re.escape(f'{mel2_copy / DATA}: truncated')
  with open_checkpoint(mel2_copy) as ckpt, pytest.raises(CheckpointFormatError, match=message):
    ckpt.read_all()


def test_unknown_tensor_is_a_key_error(mel2):
  with pytest.raises(KeyError, match='no/such/variable'):
    open_checkpoint(mel2).read('no/such/variable')


@pytest.mark.parametrize('size', [0, 1, 9, 255, 256, 1000, 70_001])
def test_crc32c_matches_a_bytewise_reference(size):
  table = tf_checkpoint._TABLE.tolist()  # pylint: disable=protected-access
  data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
  crc = 0xFFFFFFFF
  for byte in data:
    crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
  assert tf_checkpoint._crc32c(data) == crc ^ 0xFFFFFFFF  # pylint: disable=protected-access
  assert tf_checkpoint._crc32c(b'123456789') == 0xE3069283  # pylint: disable=protected-access
