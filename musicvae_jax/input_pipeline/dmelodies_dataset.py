"""dMelodies as a prepared dataset: the ArrayRecord shards and dataset.json the pipeline reads.

The train split holds ``train_items`` items drawn (seeded) from dMelodies' train split, the
eval split ``eval_items`` from its test split (``converters.dmelodies``: a fixed 70/20/10 cut
of the full set). Each record is an item's 16 tokens as a [16, 1] window; its ``source`` field
is the item's index in the full set, so its nine factors are ``dmelodies.factors_of(source)``
and ``items(data_dir, split)`` gives them back. The result trains with any config whose data
section is ``config_lib.dmelodies_data()`` (dsae-dmelodies, tsdsae-dmelodies).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import numpy as np

from musicvae_jax import errors
from musicvae_jax import specs
from musicvae_jax.converters import dmelodies
from musicvae_jax.input_pipeline import records
from musicvae_jax.input_pipeline import shards

SPLITS = {'train': 0, 'eval': 2}  # prepared split -> dMelodies split (0 train, 2 test)


class DMelodiesDatasetError(errors.UserError, ValueError):
  """A dMelodies dataset request that cannot be met, with the fix."""


def pool_size(split: str) -> int:
  """Items of dMelodies' split that a prepared ``split`` draws from."""
  train, valid = (int(f * dmelodies.NUM_ITEMS) for f in dmelodies.SPLIT_FRACTIONS)
  return train if split == 'train' else dmelodies.NUM_ITEMS - train - valid


def check_counts(train_items: int, eval_items: int) -> None:
  """Refuses counts larger than their pools, before anything is written."""
  for split, count in (('train', train_items), ('eval', eval_items)):
    if count > pool_size(split):
      raise DMelodiesDatasetError(f'--{split}_items={count}: dMelodies\' {split} pool has '
                                  f'{pool_size(split)} items.')


def choose(split: str, count: int, seed: int) -> np.ndarray:
  """``count`` item indices of dMelodies' split for ``split``, drawn without replacement,
  sorted (so a larger count keeps the smaller count's items only by chance, not by design)."""
  pool = np.flatnonzero(dmelodies.generate().split == SPLITS[split])
  assert len(pool) == pool_size(split)
  rng = np.random.default_rng([seed, SPLITS[split]])
  return np.sort(rng.choice(pool, size=count, replace=False))


def write(out_dir, *, train_items: int, eval_items: int, seed: int = 0,
          records_per_shard: int = 65_536) -> dict:
  """Writes the shards and dataset.json into ``out_dir`` (created; must not hold a dataset)."""
  check_counts(train_items, eval_items)
  out = pathlib.Path(out_dir)
  if (out / 'dataset.json').exists():
    raise DMelodiesDatasetError(f'{out} already holds a dataset; choose another --dataset.')
  out.mkdir(parents=True, exist_ok=True)
  data = specs.DataSpec(converter='dmelodies', slice_bars=2, steps_per_quarter=2)
  splits = {}
  for split, count in (('train', train_items), ('eval', eval_items)):
    index = choose(split, count, seed)
    tokens = dmelodies.generate(index).tokens
    writer = shards.SplitWriter(out, split, records_per_shard)
    for i, row in zip(index, tokens):
      writer.write(records.encode(row[:, None], int(i), 0))
    names = writer.close()
    splits[split] = {'files': 0, 'windows': int(count), 'shards': names,
                     'shard_records': shards.shard_records(count, records_per_shard),
                     'shard_bytes': [(out / n).stat().st_size for n in names],
                     'dmelodies_split': dmelodies.SPLIT_NAMES[SPLITS[split]]}
  vocabulary = dmelodies.generate(range(1)).vocabulary
  info = {
      'config_name': 'dmelodies', 'config': {'name': 'dmelodies',
                                             'data': dataclasses.asdict(data)},
      'converter': 'dmelodies', 'T': dmelodies.SLOTS, 'P': 1,
      'part_depths': [len(vocabulary)], 'input_depth': len(vocabulary),
      'output_depth': len(vocabulary), 'window': {'dtype': 'int16', 'shape': [dmelodies.SLOTS, 1]},
      'record_format': f'{records.MAGIC.decode()} (musicvae_jax.input_pipeline.records); '
                       'source = the item\'s dMelodies index',
      'writer_options': shards.WRITER_OPTIONS, 'splits': splits,
      'split': {'kind': 'dmelodies', 'seed': seed, 'train_items': train_items,
                'eval_items': eval_items},
      'counts': {'files_found': 0, 'files_read': 0, 'windows': train_items + eval_items},
      'skipped_files': {}, 'dropped': {}, 'records_per_shard': records_per_shard,
  }
  (out / 'dataset.json').write_text(json.dumps(info, indent=1) + '\n', encoding='utf-8')
  return info


def items(data_dir, split: str) -> np.ndarray:
  """The dMelodies indices of a prepared split's records, in record order."""
  from musicvae_jax.input_pipeline import pipeline  # pylint: disable=g-import-not-at-top
  import grain  # pylint: disable=g-import-not-at-top
  source = grain.sources.ArrayRecordDataSource(pipeline.shard_paths(data_dir, split))
  return np.array([records.decode(source[i])['source'] for i in range(len(source))], np.int64)
