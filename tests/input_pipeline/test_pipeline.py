"""grain pipeline over shards prepared from real Nottingham tunes."""

import collections
import pathlib
import shutil

import numpy as np
import pytest

from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax.input_pipeline import pipeline
from musicvae_jax.input_pipeline.prepare import prepare

BATCH = 16


@pytest.fixture(scope='module')
def prepared(tmp_path_factory, shared_midi) -> tuple[pathlib.Path, pathlib.Path, object]:
  """cat-mel_2bar_small over 40 real 4/4 tunes, eval fraction 0.25."""
  src = tmp_path_factory.mktemp('midi')
  tunes = sorted(p for p in (shared_midi / 'melody').glob('nottingham_reels*.mid'))[:40]
  for p in tunes:
    shutil.copy(p, src / p.name)
  config = config_lib.get_config('cat-mel_2bar_small')
  config.data.eval_fraction = 0.25
  out = tmp_path_factory.mktemp('prepared') / 'mel'
  prepare(config_boundary.run_spec(config), src, out, workers=1, records_per_shard=100, progress=False)
  return src, out, config


def _keys(batch):
  valid = batch['lengths'] > 0
  return list(zip(batch['source'][valid].tolist(), batch['window'][valid].tolist()))


def test_batches_have_fixed_shapes_and_consistent_masks(prepared):
  _, out, config = prepared
  it = iter(pipeline.train_dataset(out, batch_size=BATCH, seed=0))
  for _ in range(5):
    batch = next(it)
    assert batch['labels'].shape == (BATCH, 32, 1) and batch['labels'].dtype == np.int32
    assert batch['mask'].shape == (BATCH, 32)
    np.testing.assert_array_equal(batch['mask'].sum(axis=1), batch['lengths'])
    assert batch['labels'].min() >= 0 and batch['labels'].max() < 90
    assert (batch['lengths'] == 32).all()


def test_records_are_the_converter_windows_of_their_source_file(prepared):
  src, out, config = prepared
  sources = (out / 'sources.txt').read_text().splitlines()
  converter = config_boundary.converter_of(config)
  batch = next(iter(pipeline.train_dataset(out, batch_size=BATCH, seed=1)))
  import magenta_reference  # pylint: disable=import-outside-toplevel
  for labels, source, window in zip(batch['labels'], batch['source'], batch['window']):
    ns = magenta_reference.note_sequence(str(src / sources[source]))
    np.testing.assert_array_equal(converter.extract(ns).windows[window], labels)


def test_same_seed_same_order_other_seed_other_order(prepared):
  _, out, _ = prepared
  take = lambda seed: [_keys(next(it)) for it in [iter(pipeline.train_dataset(
      out, batch_size=BATCH, seed=seed))] for _ in range(6)]
  assert take(3) == take(3)
  assert take(3) != take(4)


def test_every_epoch_sees_every_window_once(prepared):
  _, out, _ = prepared
  n = len(pipeline._records(out, 'train', 0, 1))  # pylint: disable=protected-access
  it = iter(pipeline.train_dataset(out, batch_size=1, seed=5))
  first = [_keys(next(it))[0] for _ in range(n)]
  second = [_keys(next(it))[0] for _ in range(n)]
  assert len(set(first)) == n and set(first) == set(second)
  assert first != second  # reshuffled each epoch


def test_resume_from_iterator_state_gives_the_same_batches(prepared):
  _, out, _ = prepared
  it = iter(pipeline.train_dataset(out, batch_size=BATCH, seed=7))
  for _ in range(9):  # past the end of the first epoch
    next(it)
  state = it.get_state()
  expected = [_keys(next(it)) for _ in range(12)]
  resumed = iter(pipeline.train_dataset(out, batch_size=BATCH, seed=7))
  resumed.set_state(state)
  assert [_keys(next(resumed)) for _ in range(12)] == expected


def test_process_shards_are_disjoint_and_equal_sized(prepared):
  _, out, _ = prepared
  seen = []
  for index in range(3):
    keys = [k for b in pipeline.eval_dataset(out, batch_size=BATCH, split='train',
                                             shard_index=index, shard_count=3)
            for k in _keys(b)]
    seen.append(keys)
  assert len({len(s) for s in seen}) == 1
  flat = [k for s in seen for k in s]
  assert len(flat) == len(set(flat))


def test_eval_reads_every_window_once_and_pads_the_last_batch(prepared):
  _, out, _ = prepared
  batches = list(pipeline.eval_dataset(out, batch_size=BATCH))
  keys = [k for b in batches for k in _keys(b)]
  assert len(keys) == len(set(keys)) > 0
  assert len(keys) == pipeline.dataset_info(out)['splits']['eval']['windows']
  last = batches[-1]
  assert last['labels'].shape[0] == BATCH
  padded = last['lengths'] == 0
  assert (last['mask'][padded] == 0).all() and (last['source'][padded] == -1).all()
  # No source file is in both splits.
  train_sources = {s for b in pipeline.eval_dataset(out, batch_size=BATCH, split='train')
                   for s, _ in _keys(b)}
  assert train_sources.isdisjoint({s for s, _ in keys})
  assert collections.Counter(s for s, _ in keys)


def test_errors_name_the_folder_and_the_fix(prepared, tmp_path):
  _, out, _ = prepared
  with pytest.raises(pipeline.DatasetError, match='musicvae-prepare'):
    pipeline.dataset_info(tmp_path)
  with pytest.raises(pipeline.DatasetError, match='batch_size'):
    pipeline.train_dataset(out, batch_size=10**6, seed=0)


def _stored(out, config, src):
  """{(source, window): stored labels} for the train split, read without augmentation."""
  return {k: labels for b in pipeline.eval_dataset(out, batch_size=BATCH, split='train')
          for k, labels in zip(_keys(b), b['labels'][b['lengths'] > 0])}


def test_transposition_shifts_every_note_of_a_window_by_one_drawn_amount(prepared):
  src, out, config = prepared
  stored = _stored(out, config, src)
  it = iter(pipeline.train_dataset(out, batch_size=BATCH, seed=2, transpose_range=(-5, 5)))
  shifts = []
  for _ in range(20):
    batch = next(it)
    for key, labels, shift in zip(_keys(batch), batch['labels'], batch['transpose']):
      orig = stored[key]
      notes = orig >= 2
      np.testing.assert_array_equal(labels[~notes], orig[~notes])  # rests and note-offs stay
      np.testing.assert_array_equal(labels[notes], orig[notes] + shift)
      assert -5 <= shift <= 5 and labels.min() >= 0 and labels.max() < 90
      shifts.append(int(shift))
  # Uniform over the 11 shifts: every one of them turns up in 320 draws.
  assert set(shifts) == set(range(-5, 6))


def test_transposition_is_seeded_resumable_and_redrawn_each_epoch(prepared):
  _, out, _ = prepared
  n = len(pipeline._records(out, 'train', 0, 1))  # pylint: disable=protected-access

  def run(seed, steps):
    it = iter(pipeline.train_dataset(out, batch_size=1, seed=seed, transpose_range=(-5, 5)))
    return it, [(_keys(b)[0], int(b['transpose'][0])) for b in (next(it) for _ in range(steps))]

  _, a = run(11, 2 * n)
  assert run(11, 2 * n)[1] == a
  first = dict(a[:n])
  second = dict(a[n:])
  assert sum(first[k] != second[k] for k in first) > n // 2  # not frozen after epoch 1
  it, _ = run(11, 5)
  state = it.get_state()
  resumed = iter(pipeline.train_dataset(out, batch_size=1, seed=11, transpose_range=(-5, 5)))
  resumed.set_state(state)
  assert [(_keys(b)[0], int(b['transpose'][0])) for b in (next(resumed) for _ in range(7))] \
      == a[5:12]


def test_transposition_of_drum_windows_is_refused(tmp_path, shared_midi):
  src = tmp_path / 'midi'
  src.mkdir()
  for p in sorted((shared_midi / 'drums').glob('freedoom_*.mid'))[:3]:
    shutil.copy(p, src / p.name)
  config = config_lib.get_config('cat-drums_2bar_small')
  config.data.eval_fraction = 0.0
  prepare(config_boundary.run_spec(config), src, tmp_path / 'drums', workers=1, progress=False)
  with pytest.raises(ValueError, match='transpose_range'):
    pipeline.train_dataset(tmp_path / 'drums', batch_size=2, seed=0, transpose_range=(-2, 2))
  batch = next(iter(pipeline.train_dataset(tmp_path / 'drums', batch_size=2, seed=0)))
  assert (batch['transpose'] == 0).all()


def test_multiperf_windows_are_transposed_by_their_converter(tmp_path, shared_midi):
  """hier-multiperf's (-3, 3): pitched tracks move (drums stay), every draw one the converter
  allows, each window the converter's own transposition of the stored one."""
  src = tmp_path / 'midi'
  src.mkdir()
  for p in sorted((shared_midi / 'multitrack').glob('*.mid'))[:6]:
    shutil.copy(p, src / p.name)
  config = config_lib.get_config('hier-multiperf_vel_1bar_med:tiny')
  config.data.eval_fraction = 0.0
  run = config_boundary.run_spec(config)
  out = tmp_path / 'multiperf'
  prepare(run, src, out, workers=1, progress=False)
  converter = config_boundary.converter_of(config)
  stored = {k: labels for b in pipeline.eval_dataset(out, batch_size=4, split='train')
            for k, labels in zip(_keys(b), b['labels'][b['lengths'] > 0])}
  it = iter(pipeline.train_dataset(out, batch_size=4, seed=3, transpose_range=(-3, 3)))
  shifts = []
  for _ in range(30):
    batch = next(it)
    for key, labels, shift in zip(_keys(batch), batch['labels'], batch['transpose']):
      want = converter.transpose(stored[key], int(shift))
      assert want is not None
      np.testing.assert_array_equal(labels, want)
      shifts.append(int(shift))
  assert set(shifts) == set(range(-3, 4))
