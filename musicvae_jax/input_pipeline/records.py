"""The byte layout of one window in an ArrayRecord shard.

A record is a 16-byte little-endian header followed by the window:

  magic b'MVW1' | T uint16 | P uint16 | source uint32 | window uint32 | labels int16[T * P]
  magic b'MVF1' | T uint16 | D uint16 | source uint32 | window uint32 | values float32[T * D]

Class labels (melody, drums, trio) are stored as int16 under ``MVW1``; real-valued windows
(GrooVAE's hits | velocities | offsets) as float32 under ``MVF1``, bit for bit as the converter
gave them.

``source`` indexes the line of ``sources.txt`` (the MIDI file's path relative to the input
folder) and ``window`` is the window's position among that file's windows, so every training
example can be traced back to its bar in its file. The layout is fixed and numpy-only, so shards
are byte-identical across runs, machines and worker counts.
"""

from __future__ import annotations

import struct

import numpy as np

MAGIC = b'MVW1'
MAGIC_FLOAT = b'MVF1'
_HEADER = struct.Struct('<4sHHII')
# Magic -> (stored dtype, the dtype decode returns).
_LAYOUTS = {MAGIC: ('<i2', np.int16), MAGIC_FLOAT: ('<f4', np.float32)}


def magic_of(dtype) -> bytes:
  """The record magic of windows of ``dtype``: float ones are stored as float32."""
  return MAGIC_FLOAT if np.issubdtype(np.dtype(dtype), np.floating) else MAGIC


def encode(labels_TxP: np.ndarray, source: int, window: int) -> bytes:
  labels_TxP = np.asarray(labels_TxP)
  if labels_TxP.ndim != 2:
    raise ValueError(f'labels must be [T, P], got shape {labels_TxP.shape}')
  t, p = labels_TxP.shape
  magic = magic_of(labels_TxP.dtype)
  stored = _LAYOUTS[magic][0]
  return _HEADER.pack(magic, t, p, source, window) + labels_TxP.astype(stored).tobytes()


def decode(record: bytes) -> dict[str, np.ndarray]:
  """{'labels': int16 [T, P] (or float32 [T, D]), 'length': int32, 'source': int64,
  'window': int64}."""
  magic, t, p, source, window = _HEADER.unpack_from(record)
  if magic not in _LAYOUTS:
    raise ValueError(f'Not a musicvae_jax window record (magic {magic!r}); was this shard '
                     'written by musicvae-prepare?')
  stored, dtype = _LAYOUTS[magic]
  labels = np.frombuffer(record, dtype=stored, offset=_HEADER.size, count=t * p).reshape(t, p)
  return {'labels': labels.astype(dtype), 'length': np.int32(t),
          'source': np.int64(source), 'window': np.int64(window)}
