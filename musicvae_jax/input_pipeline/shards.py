"""Writes one split's records into ArrayRecord shards of bounded size, one shard open at a time.

An open ``ArrayRecordWriter`` keeps an index entry for every record in memory until it closes
(about 120 bytes a record with ``group_size:1``), so a writer per shard held open for a whole
corpus grows without bound. Shards are instead filled one after another up to
``records_per_shard`` records, which keeps the memory of a 100k-file job flat. The number of
shards is known only at the end, so each shard is written as ``<split>-SSSSS.partial`` and
renamed ``<split>-SSSSS-of-NNNNN.array_record`` when the split is closed, after its bytes are
flushed to disk (``sync``): a shard under its final name is always whole.
"""

from __future__ import annotations

import os
import pathlib

from array_record.python.array_record_module import ArrayRecordWriter

WRITER_OPTIONS = 'group_size:1'  # one record per chunk: O(1) random access for grain
PARTIAL_GLOB = '*-?????.partial'


def shard_name(split: str, index: int, count: int) -> str:
  return f'{split}-{index:05d}-of-{count:05d}.array_record'


def shard_records(num_records: int, records_per_shard: int) -> list[int]:
  """Records in each shard of a split of ``num_records``: full shards, then the rest."""
  full, rest = divmod(num_records, records_per_shard)
  return [records_per_shard] * full + ([rest] if rest else [])


def sync(path: str | pathlib.Path) -> None:
  """Flushes a file's bytes (or a folder's entries) to disk, so a rename after it is durable."""
  fd = os.open(path, os.O_RDONLY)
  try:
    os.fsync(fd)
  finally:
    os.close(fd)


class SplitWriter:
  """Sequential, size-capped shard writer for one split."""

  def __init__(self, out_dir: str | pathlib.Path, split: str, records_per_shard: int):
    if records_per_shard < 1:
      raise ValueError(f'records_per_shard must be at least 1, got {records_per_shard}.')
    self._dir = pathlib.Path(out_dir)
    self._split = split
    self._cap = records_per_shard
    self._partials: list[pathlib.Path] = []
    self._writer = None
    self._in_shard = 0
    self.count = 0

  def write(self, record: bytes) -> None:
    if self._writer is None or self._in_shard == self._cap:
      self._close_current()
      path = self._dir / f'{self._split}-{len(self._partials):05d}.partial'
      self._partials.append(path)
      self._writer = ArrayRecordWriter(str(path), WRITER_OPTIONS)
      self._in_shard = 0
    self._writer.write(record)
    self._in_shard += 1
    self.count += 1

  def _close_current(self) -> None:
    if self._writer is not None:
      self._writer.close()
      self._writer = None

  def close(self) -> list[str]:
    """Closes the last shard and gives every shard its final name; returns the names."""
    self._close_current()
    names = []
    for i, partial in enumerate(self._partials):
      name = shard_name(self._split, i, len(self._partials))
      sync(partial)
      os.replace(partial, self._dir / name)
      names.append(name)
    self._partials = []
    return names
