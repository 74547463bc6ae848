"""TensorFlow checkpoint ("tensor bundle") reader in pure Python + numpy, so that Magenta's
checkpoints import without TensorFlow.

A bundle is ``<prefix>.index`` plus ``<prefix>.data-SSSSS-of-NNNNN``. The index is a LevelDB
table (SSTable): prefix-compressed key/value blocks, each followed by a compression byte and a
masked crc32c, and a 48-byte footer ending in a magic number. Key "" holds a BundleHeaderProto;
every other key is a tensor name mapped to a BundleEntryProto (dtype, shape, shard, offset,
size, and the crc32c of the tensor bytes, masked as well). Tensor bytes are little-endian, C order.
"""

from __future__ import annotations

import dataclasses
import math
import os
import pathlib
import re
import shutil
import tarfile
import tempfile
from collections.abc import Callable

import numpy as np

from musicvae_jax import errors

_MAGIC = 0xdb4775248b80fb57
_DATA_FILE = re.compile(r'\.data-\d{5}-of-\d{5}$')
_TAR_SUFFIXES = ('.tar', '.tar.gz', '.tgz')
# TF DataType enum -> numpy dtype. 14 (bfloat16) is resolved lazily through ml_dtypes.
_DTYPES = {1: '<f4', 2: '<f8', 3: '<i4', 4: 'u1', 5: '<i2', 6: 'i1', 8: '<c8', 9: '<i8', 10: '?',
           17: '<u2', 18: '<c16', 19: '<f2', 22: '<u4', 23: '<u8'}
_DTYPE_NAMES = {7: 'string', 20: 'resource', 21: 'variant'}


class CheckpointFormatError(errors.UserError, ValueError):
  """A checkpoint file is missing, corrupt or uses a feature this reader does not support."""


# crc32c (Castagnoli), reflected polynomial 0x82F63B78. No fast crc32c package is installed, and a
# byte-at-a-time Python loop runs at ~10 MB/s, slow for real checkpoints (hundreds of MB). The crc
# register is GF(2)-linear, so the buffer is cut into 2**k equal lanes stepped together in numpy
# and the lane registers are merged with the "append n zero bytes" map: over 100 MB/s.
_TABLE = np.arange(256, dtype=np.uint32)
for _ in range(8):
  _TABLE = np.where(_TABLE & 1, (_TABLE >> 1) ^ np.uint32(0x82F63B78), _TABLE >> 1)
_BITS = np.arange(32, dtype=np.uint32)


def _apply(op: np.ndarray, values: np.ndarray) -> np.ndarray:
  """Applies the GF(2)-linear map with column images ``op`` (32 uint32) to every value."""
  bits = ((values[..., None] >> _BITS) & 1).astype(bool)
  return np.bitwise_xor.reduce(np.where(bits, op, np.uint32(0)), axis=-1)


def _zero_bytes_op(count: int) -> np.ndarray:
  """The map taking a raw crc register to its value after ``count`` more zero bytes."""
  result, step = 1 << _BITS, _TABLE[(1 << _BITS) & 0xFF] ^ ((1 << _BITS) >> 8)
  while count:
    if count & 1:
      result = _apply(step, result)
    step, count = _apply(step, step), count >> 1
  return result


def _crc32c(data: bytes | bytearray | memoryview) -> int:
  size = len(data)
  lanes = 1 << min(14, max(0, (size // 256).bit_length() - 1))
  width = -(-size // lanes)
  # Leading zero bytes leave a zero register unchanged, so pad in front and start lanes at 0.
  buf = np.zeros(lanes * width, np.uint8)
  buf[lanes * width - size:] = np.frombuffer(data, np.uint8)
  regs = np.zeros(lanes, np.uint32)
  for column in np.ascontiguousarray(buf.reshape(lanes, width).T):
    regs = _TABLE[(regs ^ column) & 0xFF] ^ (regs >> 8)
  op = _zero_bytes_op(width)
  while len(regs) > 1:  # register(a + b) = advance_len(b)(register(a)) ^ register(b)
    regs, op = _apply(op, regs[0::2]) ^ regs[1::2], _apply(op, op)
  init = _apply(_zero_bytes_op(size), np.array([0xFFFFFFFF], np.uint32))[0]  # the initial ~0
  return int(regs[0] ^ init) ^ 0xFFFFFFFF


def _masked(crc: int) -> int:
  """Block trailers and BundleEntryProto.crc32c both hold crcs rotated and offset ("masked")."""
  return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


# Minimal protobuf wire-format and table parsing. Errors are plain ValueErrors; the caller adds
# the file name.
def _varint(buf: bytes, pos: int) -> tuple[int, int]:
  result = shift = 0
  while shift < 70:
    if pos >= len(buf):
      raise ValueError('truncated varint')
    byte = buf[pos]
    result, pos, shift = result | (byte & 0x7F) << shift, pos + 1, shift + 7
    if byte < 0x80:
      return result, pos
  raise ValueError('varint longer than 10 bytes')


def _fields(buf: bytes) -> dict[int, list]:
  """Decodes one message into {field number: [values]}; callers ignore unknown fields."""
  fields, pos = {}, 0
  while pos < len(buf):
    tag, pos = _varint(buf, pos)
    wire = tag & 7
    if wire == 0:
      value, pos = _varint(buf, pos)
    elif wire in (1, 5):
      width = 8 if wire == 1 else 4
      value, pos = int.from_bytes(buf[pos:pos + width], 'little'), pos + width
    elif wire == 2:
      length, pos = _varint(buf, pos)
      value, pos = buf[pos:pos + length], pos + length
    else:
      raise ValueError(f'unsupported protobuf wire type {wire}')
    if pos > len(buf):
      raise ValueError('truncated protobuf message')
    fields.setdefault(tag >> 3, []).append(value)
  return fields


def _block(data: bytes, handle: bytes) -> bytes:
  """The contents of the block a BlockHandle points at, after checking its trailer."""
  offset, pos = _varint(handle, 0)
  size, _ = _varint(handle, pos)
  end = offset + size
  if end + 5 > len(data):
    raise ValueError(f'block at byte {offset} runs past the end of the file (truncated?)')
  if data[end] != 0:
    kind = 'snappy' if data[end] == 1 else f'type {data[end]}'
    raise ValueError(f'block at byte {offset} uses {kind} compression, which is not supported')
  if _masked(_crc32c(data[offset:end + 1])) != int.from_bytes(data[end + 1:end + 5], 'little'):
    raise ValueError(f'checksum mismatch in block at byte {offset} (file corrupted)')
  return data[offset:end]


def _block_items(block: bytes):
  """Yields (key, value) of a block: entries share key prefixes; a restart array ends it."""
  if len(block) < 4:
    raise ValueError('block shorter than its restart count')
  limit = len(block) - 4 * (int.from_bytes(block[-4:], 'little') + 1)
  if limit < 0:
    raise ValueError('block restart array runs past the block start')
  key, pos = b'', 0
  while pos < limit:
    shared, pos = _varint(block, pos)
    unshared, pos = _varint(block, pos)
    length, pos = _varint(block, pos)
    if shared > len(key) or pos + unshared + length > limit:
      raise ValueError('corrupt block entry')
    key, pos = key[:shared] + block[pos:pos + unshared], pos + unshared
    yield key, block[pos:pos + length]
    pos += length


def _table_items(data: bytes):
  if len(data) < 48 or int.from_bytes(data[-8:], 'little') != _MAGIC:
    raise ValueError('no table footer magic number (truncated, or not a checkpoint .index)')
  footer = data[-48:]  # metaindex and index BlockHandles, zero padding, magic
  _, pos = _varint(footer, _varint(footer, 0)[1])  # skip the metaindex handle
  for _, handle in _block_items(_block(data, footer[pos:])):
    yield from _block_items(_block(data, handle))


@dataclasses.dataclass(frozen=True)
class _Entry:
  dtype: int
  shape: tuple[int, ...] | None  # None: unknown rank
  shard: int
  offset: int
  size: int
  crc: int | None
  sliced: bool


def _entry(value: bytes) -> _Entry:
  f = _fields(value)
  shape = _fields(f.get(2, [b''])[-1])
  dims = [_fields(d).get(1, [0])[-1] for d in shape.get(2, [])]
  dims = [d - (1 << 64) if d >= 1 << 63 else d for d in dims]  # int64 on the wire
  return _Entry(f.get(1, [0])[-1], None if shape.get(3, [0])[-1] else tuple(dims),
                f.get(3, [0])[-1], f.get(4, [0])[-1], f.get(5, [0])[-1],
                f.get(6, [None])[-1], bool(f.get(7)))


def resolve_prefix(path: str | os.PathLike) -> pathlib.Path:
  """The checkpoint prefix for a prefix, its .index or .data-* file, or a directory."""
  path = pathlib.Path(path)
  if path.is_dir():
    state = path / 'checkpoint'
    text = state.read_text() if state.is_file() else ''
    named = re.search(r'^model_checkpoint_path:\s*"(.*)"', text, re.MULTILINE)
    if named:
      # State files copied from another machine hold absolute paths: then try the basename.
      for prefix in (path / named.group(1), path / pathlib.PurePath(named.group(1)).name):
        if pathlib.Path(f'{prefix}.index').is_file():
          return prefix
      raise CheckpointFormatError(f'{state}: names checkpoint "{named.group(1)}", but '
                                  f'{prefix}.index is missing; pass a prefix instead')
    indexes = sorted(path.glob('*.index'))
    if len(indexes) != 1:
      found = ', '.join(p.name for p in indexes) or 'none'
      raise CheckpointFormatError(f'{path}: need exactly one *.index file or a "checkpoint" '
                                  f'state file, found {found}; pass a checkpoint prefix')
    return indexes[0].with_suffix('')
  if path.name.endswith('.index'):
    path = path.with_suffix('')
  elif _DATA_FILE.search(path.name):
    path = path.with_name(_DATA_FILE.sub('', path.name))
  if not pathlib.Path(f'{path}.index').is_file():
    raise CheckpointFormatError(
        f'{path}.index: checkpoint index file is missing; pass a checkpoint prefix '
        '(dir/model.ckpt-N), its .index or .data-* file, its directory, or a .tar of it')
  return path


class TfCheckpoint:
  """Random access to one checkpoint's tensors; the index is parsed once, data read on demand."""

  def __init__(self, path: str | os.PathLike,
               tempdir: tempfile.TemporaryDirectory | None = None):
    """``tempdir``, if given, holds the extracted files and is removed by ``close``."""
    self._tempdir = tempdir
    self.prefix = resolve_prefix(path)
    self._index = pathlib.Path(f'{self.prefix}.index')
    self._entries: dict[str, _Entry] = {}
    header = None
    try:
      for key, value in _table_items(self._index.read_bytes()):
        if key:
          self._entries[key.decode('utf-8')] = _entry(value)
        else:
          header = _fields(value)
    except ValueError as e:
      raise CheckpointFormatError(f'{self._index}: {e}') from None
    if header is None:
      raise CheckpointFormatError(f'{self._index}: no bundle header (empty key) in the index')
    if header.get(2, [0])[-1] != 0:
      raise CheckpointFormatError(f'{self._index}: big-endian bundles are not supported')
    self._shards = [pathlib.Path(f'{self.prefix}.data-{i:05d}-of-{n:05d}')
                    for n in [header.get(1, [1])[-1]] for i in range(n)]
    for shard in self._shards:
      if not shard.is_file():
        raise CheckpointFormatError(f'{shard}: data file is missing (named by {self._index})')

  def keys(self) -> list[str]:
    return sorted(self._entries)

  def _get(self, name: str) -> _Entry:
    if name not in self._entries:
      raise KeyError(f'{name!r} is not a tensor of checkpoint {self.prefix}')
    return self._entries[name]

  def shape(self, name: str) -> tuple[int, ...]:
    shape = self._get(name).shape
    if shape is None:
      raise CheckpointFormatError(f'{self._index}: tensor {name!r} has an unknown rank')
    return shape

  def dtype(self, name: str) -> np.dtype:
    code = self._get(name).dtype
    if code == 14:  # bfloat16: numpy has none; ml_dtypes comes with JAX
      import ml_dtypes  # pylint: disable=import-outside-toplevel
      return np.dtype(ml_dtypes.bfloat16)
    if code not in _DTYPES:
      raise CheckpointFormatError(f'{self._index}: tensor {name!r} has dtype '
                                  f'{_DTYPE_NAMES.get(code, code)}, which is not supported')
    return np.dtype(_DTYPES[code])

  def read(self, name: str) -> np.ndarray:
    """The tensor as a fresh writable array, after checking its size and crc32c."""
    entry = self._get(name)
    if entry.sliced:
      raise CheckpointFormatError(f'{self._index}: tensor {name!r} is a partitioned variable '
                                  '(saved as slices), which is not supported')
    dtype, shape = self.dtype(name), self.shape(name)
    if math.prod(shape) * dtype.itemsize != entry.size or entry.shard >= len(self._shards):
      raise CheckpointFormatError(f'{self._index}: entry of {name!r} is inconsistent '
                                  f'({entry.size} bytes in shard {entry.shard} for {shape} '
                                  f'{dtype})')
    shard, raw = self._shards[entry.shard], bytearray(entry.size)
    with open(shard, 'rb') as f:
      f.seek(entry.offset)
      got = f.readinto(raw)
    if got != entry.size:
      raise CheckpointFormatError(f'{shard}: truncated: {name!r} needs bytes [{entry.offset}, '
                                  f'{entry.offset + entry.size}) but the file ends first')
    if entry.crc is not None and _masked(_crc32c(raw)) != entry.crc:
      raise CheckpointFormatError(f'{shard}: checksum mismatch in {name!r} (file corrupted)')
    return np.frombuffer(raw, dtype).reshape(shape)

  # pylint: disable-next=redefined-builtin
  def read_all(self, filter: Callable[[str], bool] | None = None) -> dict[str, np.ndarray]:
    """Every tensor whose name passes ``filter`` (all if None), by name."""
    return {k: self.read(k) for k in self.keys() if filter is None or filter(k)}

  def close(self) -> None:
    if self._tempdir is not None:
      self._tempdir.cleanup()
      self._tempdir = None

  def __enter__(self) -> 'TfCheckpoint':
    return self

  def __exit__(self, *exc) -> None:
    self.close()


def _extract_tar(archive: pathlib.Path, dest: pathlib.Path) -> pathlib.Path:
  """Extracts the checkpoint files of ``archive``; returns the one folder holding an index."""
  wanted = re.compile(r'(\.index|\.data-\d{5}-of-\d{5}|^checkpoint)$')
  try:
    with tarfile.open(archive) as tar:
      for member in tar:
        parts = pathlib.PurePosixPath(member.name).parts
        if member.name.startswith('/') or '..' in parts:
          raise CheckpointFormatError(f'{archive}: member {member.name!r} points outside the '
                                      'archive; refusing to extract it')
        if member.isfile() and parts and wanted.search(parts[-1]):
          target = dest.joinpath(*parts)
          target.parent.mkdir(parents=True, exist_ok=True)
          with tar.extractfile(member) as src, open(target, 'wb') as dst:
            shutil.copyfileobj(src, dst)
  except (tarfile.TarError, EOFError) as e:
    raise CheckpointFormatError(f'{archive}: not a readable tar archive ({e})') from None
  folders = sorted({p.parent for p in dest.rglob('*.index')})
  if len(folders) != 1:
    found = ', '.join(str(f.relative_to(dest)) for f in folders) or 'none'
    raise CheckpointFormatError(f'{archive}: need one folder with *.index files, found {found}')
  return folders[0]


def open_checkpoint(path: str | os.PathLike) -> TfCheckpoint:
  """Opens a checkpoint given as prefix, .index/.data-* file, directory, or .tar(.gz) archive."""
  path = pathlib.Path(path)
  if not (path.is_file() and path.name.endswith(_TAR_SUFFIXES)):
    return TfCheckpoint(path)
  tempdir = tempfile.TemporaryDirectory(prefix='tf_checkpoint_')
  try:
    return TfCheckpoint(_extract_tar(path, pathlib.Path(tempdir.name)), tempdir)
  except BaseException:
    tempdir.cleanup()
    raise
