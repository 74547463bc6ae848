"""grain pipelines over the ArrayRecord shards that ``musicvae-prepare`` writes.

Shapes: B = batch size, T = window length in steps, P = parts (1 melody/drums, 3 trio).

Every batch is a dict of numpy arrays with fixed shapes, so a jitted train step compiles once:

  labels   int32   [B, T, P]  class per step and part (see converters.base)
  lengths  int32   [B]        valid steps (T for real windows, 0 for eval padding)
  mask     float32 [B, T]     1.0 on valid steps
  source   int64   [B]        line of sources.txt the window came from (-1 for padding)
  window   int64   [B]        the window's index within its source file
  transpose int32  [B]        semitones the window was shifted by (training with
                              ``transpose_range``; see ``augment``), else 0

Real-valued windows (GrooVAE) come as ``labels`` float32 [B, T, 27], exactly as stored. A model
family may map each example before batching (``transform(example, rng)``, a grain random map
seeded by ``seed`` and the example's position in the stream, so it resumes exactly); GrooVAE's
turns the stored target into its encoder inputs, targets and controls.

Training reads an endless, seeded, per-epoch reshuffled stream; each process reads only its own
share of the records (``shard_index`` of ``shard_count``, e.g. jax.process_index() of
jax.process_count()). The iterator's position is a small JSON-able state
(``iterator.get_state()`` / ``set_state``) that a checkpoint stores beside the model, so a
resumed run sees exactly the batches an uninterrupted run would have seen.

Evaluation reads each record once, in order, and pads the last batch with zero-length
examples (mask 0) instead of dropping it.

The shards read are the ones ``dataset.json`` names, each checked to be there at the size it
records (``check_shards``), so a damaged folder is refused in one line, not deep in ArrayRecord.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any, Sequence

import grain
import numpy as np

from musicvae_jax import errors
from musicvae_jax.input_pipeline import augment
from musicvae_jax.input_pipeline import records

SPLITS = ('train', 'eval')


class DatasetError(errors.UserError, ValueError):
  """A prepared-dataset folder that is missing, incomplete or of another config."""


def dataset_info(data_dir: str | pathlib.Path) -> dict[str, Any]:
  """The ``dataset.json`` that prepare wrote, with a clear error when it is absent."""
  path = pathlib.Path(data_dir) / 'dataset.json'
  if not path.is_file():
    raise DatasetError(
        f'{path} not found: {data_dir} is not a prepared dataset. Run '
        f'`musicvae-prepare --config=<name> --input=<MIDI folder> --output={data_dir}` first.')
  try:
    return json.loads(path.read_text(encoding='utf-8'))
  except ValueError as e:  # a file cut short, or not ours
    raise DatasetError(f'{path} is not valid JSON ({e}); run musicvae-prepare again.') from e


def check_shards(data_dir: str | pathlib.Path, info: dict[str, Any], splits=SPLITS) -> None:
  """Refuses a dataset whose ``dataset.json`` names a shard that is missing or of another size.

  Datasets prepared before sizes were recorded are checked for shards present and not empty.
  """
  for split in splits:
    entry = info.get('splits', {}).get(split, {})
    names = entry.get('shards', [])
    sizes = entry.get('shard_bytes', [None] * len(names))
    for name, size in zip(names, sizes):
      path = pathlib.Path(data_dir) / name
      found = path.stat().st_size if path.is_file() else 0
      if not found or (size is not None and found != size):
        raise DatasetError(f'{data_dir}: shard {name} is missing or truncated; run '
                           f'musicvae-prepare again (--output={data_dir} --overwrite).')


def window_of(info: dict[str, Any]) -> tuple[str, list[int]]:
  """(dtype, [T, columns]) of a dataset's stored windows; datasets prepared before windows
  were described hold int16 class labels [T, P]."""
  window = info.get('window') or {'dtype': 'int16', 'shape': [info.get('T'), info.get('P')]}
  return window['dtype'], list(window['shape'])


def _own_transposer(info: dict[str, Any]):
  """The converter of a dataset whose windows its converter transposes (hier-multiperf, the
  chord/key windows), or None."""
  if info.get('converter') not in augment.OWN_TRANSPOSE:
    return None
  from musicvae_jax import converters  # pylint: disable=g-import-not-at-top
  from musicvae_jax import specs  # pylint: disable=g-import-not-at-top
  data = dict(info['config']['data'])
  data['converter_options'] = tuple(tuple(o) for o in data.get('converter_options', ()))
  data['transpose_range'] = tuple(data.get('transpose_range', (0, 0)))
  return converters.get_converter(specs.DataSpec(**data))


def chord_column(info: dict[str, Any]) -> int | None:
  """The stored column of per-step chord classes (cat-mel_2bar_med_chords: melody windows
  [T, 2], the chord after the melody), or None."""
  dtype, shape = window_of(info)
  parts = len(info.get('part_depths', ()))
  return parts if dtype == 'int16' and shape[1:] == [parts + 1] else None


def check_fits(data_dir: str | pathlib.Path, *, seq_len: int, part_depths,
               window_dtype: str = 'int16', window_columns: int | None = None
               ) -> dict[str, Any]:
  """The ``dataset.json`` of ``data_dir``, after checking its windows fit a model.

  A model reads windows of ``seq_len`` steps whose parts have ``part_depths`` classes, stored
  as ``window_dtype`` (int16 class labels; float32 [T, ``window_columns``] for GrooVAE); a
  dataset prepared with another config (or not prepared at all) is refused with the fix in one
  line. Training and generation both check here, so the refusal reads the same from every
  command.
  """
  try:
    info = dataset_info(data_dir)
  except (FileNotFoundError, DatasetError) as e:
    raise DatasetError(f'{data_dir}: {e}') from e
  depths = tuple(info.get('part_depths', ()))
  dtype, shape = window_of(info)
  columns = len(part_depths) if window_columns is None else window_columns
  if (info.get('T') != seq_len or depths != tuple(part_depths) or dtype != window_dtype
      or shape[1:] != [columns]):
    if dtype == window_dtype == 'int16':  # class labels on both sides: steps and classes differ
      found = f'windows of {info.get("T")} steps, parts {list(depths)}'
      needed = f'{seq_len} steps and parts {list(part_depths)}'
    else:
      found = f'{dtype} windows of {info.get("T")} steps x {shape[1]}'
      needed = f'{window_dtype} windows of {seq_len} steps x {columns}'
    raise DatasetError(
        f'{data_dir} was prepared with --config={info.get("config_name")} ({found}); this '
        f'model needs {needed}. Prepare the MIDI again with this config.')
  check_shards(data_dir, info)
  return info


def shard_paths(data_dir: str | pathlib.Path, split: str) -> list[str]:
  """The shards of ``split`` that dataset.json names, after ``check_shards``."""
  if split not in SPLITS:
    raise DatasetError(f'Unknown split {split!r}; expected one of {SPLITS}.')
  info = dataset_info(data_dir)
  check_shards(data_dir, info, (split,))
  names = info.get('splits', {}).get(split, {}).get('shards', [])
  paths = [str(pathlib.Path(data_dir) / name) for name in names]
  if not paths:
    raise DatasetError(
        f'No {split} shards in {data_dir} ({split}-*.array_record). The dataset may have no '
        f'{split} windows: check the counts in {pathlib.Path(data_dir) / "dataset.json"}.')
  return paths


def _decode(record: bytes) -> dict[str, np.ndarray]:
  example = records.decode(record)
  t = int(example['length'])
  labels = example['labels']
  return {
      'labels': labels.astype(np.float32 if labels.dtype.kind == 'f' else np.int32),
      'lengths': np.int32(t),
      'mask': np.ones((t,), np.float32),
      'source': example['source'],
      'window': example['window'],
      'transpose': np.int32(0),
  }


def _padding_like(example: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  """An example of zeros (mask 0, length 0) shaped as ``example``; source and window -1."""
  padding = {k: np.zeros_like(v) for k, v in example.items()}
  padding.update(lengths=np.int32(0), source=np.int64(-1), window=np.int64(-1))
  return padding


def _stack(examples: Sequence[dict[str, np.ndarray]], batch_size: int) -> dict[str, np.ndarray]:
  examples = list(examples)
  examples += [_padding_like(examples[0])] * (batch_size - len(examples))
  return {k: np.stack([e[k] for e in examples]) for k in examples[0]}


def _records(data_dir, split: str, shard_index: int, shard_count: int) -> grain.MapDataset:
  if not 0 <= shard_index < shard_count:
    raise ValueError(f'shard_index {shard_index} is not in [0, {shard_count}).')
  ds = grain.MapDataset.source(grain.sources.ArrayRecordDataSource(shard_paths(data_dir, split)))
  if shard_count > 1:
    # Every process gets the same number of records, so their steps stay in lockstep.
    per_shard = len(ds) // shard_count
    if per_shard == 0:
      raise DatasetError(f'{split} has {len(ds)} windows, fewer than the {shard_count} '
                         'processes reading it.')
    ds = ds[shard_index * per_shard:(shard_index + 1) * per_shard]
  return ds


def train_dataset(data_dir, *, batch_size: int, seed: int, split: str = 'train',
                  shard_index: int = 0, shard_count: int = 1, transpose_range=(0, 0),
                  transform=None, read_threads: int = 2, prefetch: int = 8
                  ) -> grain.IterDataset:
  """Endless shuffled batches of ``batch_size`` (this process's share), reshuffled each epoch.

  ``transpose_range=(low, high)`` shifts the pitched parts of each window by a random number
  of semitones, drawn anew every epoch (``config.data.transpose_range``; see ``augment``).
  ``transform(example, rng)`` (a model family's) maps each example after that, with its own
  numpy Generator, drawn anew every epoch.
  """
  info = dataset_info(data_dir)
  transposer = augment.RandomTranspose(transpose_range, info['converter'],
                                       chord_column=chord_column(info),
                                       converter=_own_transposer(info))
  ds = _records(data_dir, split, shard_index, shard_count)
  if len(ds) < batch_size:
    raise DatasetError(
        f'{split} split of {data_dir} has {len(ds)} windows (this process\'s share), fewer than '
        f'one batch of {batch_size}. Lower --config.train.batch_size or prepare more MIDI.')
  ds = ds.shuffle(seed=seed).repeat().map(_decode)
  if transposer.active:
    ds = ds.random_map(transposer, seed=seed)
  if transform is not None:
    ds = ds.random_map(transform, seed=seed)
  ds = ds.batch(batch_size, drop_remainder=True, batch_fn=lambda xs: _stack(xs, batch_size))
  return ds.to_iter_dataset(grain.ReadOptions(num_threads=read_threads,
                                              prefetch_buffer_size=prefetch))


def eval_dataset(data_dir, *, batch_size: int, split: str = 'eval', shard_index: int = 0,
                 shard_count: int = 1, transform=None, seed: int = 0) -> grain.MapDataset:
  """One ordered pass; the last batch is padded with zero-length examples (mask 0).

  ``transform(example, rng)`` maps each example with a Generator seeded by ``seed`` and the
  example's index, so every pass is the same."""
  ds = _records(data_dir, split, shard_index, shard_count).map(_decode)
  if transform is not None:
    ds = ds.random_map(transform, seed=seed)
  return ds.batch(batch_size, drop_remainder=False, batch_fn=lambda xs: _stack(xs, batch_size))
