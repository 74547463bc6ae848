"""The byte layout of one window in an ArrayRecord shard.

A record is a 16-byte little-endian header followed by the labels:

  magic b'MVW1' | T uint16 | P uint16 | source uint32 | window uint32 | labels int16[T * P]

``source`` indexes the line of ``sources.txt`` (the MIDI file's path relative to the input
folder) and ``window`` is the window's position among that file's windows, so every training
example can be traced back to its bar in its file. The layout is fixed and numpy-only, so shards
are byte-identical across runs, machines and worker counts.
"""

from __future__ import annotations

import struct

import numpy as np

MAGIC = b'MVW1'
_HEADER = struct.Struct('<4sHHII')


def encode(labels_TxP: np.ndarray, source: int, window: int) -> bytes:
  labels_TxP = np.asarray(labels_TxP)
  if labels_TxP.ndim != 2:
    raise ValueError(f'labels must be [T, P], got shape {labels_TxP.shape}')
  t, p = labels_TxP.shape
  return _HEADER.pack(MAGIC, t, p, source, window) + labels_TxP.astype('<i2').tobytes()


def decode(record: bytes) -> dict[str, np.ndarray]:
  """{'labels': int16 [T, P], 'length': int32, 'source': int64, 'window': int64}."""
  magic, t, p, source, window = _HEADER.unpack_from(record)
  if magic != MAGIC:
    raise ValueError(f'Not a musicvae_jax window record (magic {magic!r}); was this shard '
                     'written by musicvae-prepare?')
  labels = np.frombuffer(record, dtype='<i2', offset=_HEADER.size, count=t * p).reshape(t, p)
  return {'labels': labels.astype(np.int16), 'length': np.int32(t),
          'source': np.int64(source), 'window': np.int64(window)}
