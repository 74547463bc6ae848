"""Size-capped sequential shard writing."""

from array_record.python.array_record_module import ArrayRecordReader
import numpy as np

import magenta_reference
from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax.input_pipeline import records, shards


def _real_records(shared_midi):
  converter = config_boundary.converter_of(config_lib.get_config('cat-mel_2bar_small'))
  ns = magenta_reference.note_sequence(str(shared_midi / 'melody' / 'nottingham_reelsa-c1.mid'))
  windows = converter.extract(ns).windows
  assert len(windows) > 10
  return [records.encode(w, 0, i) for i, w in enumerate(windows)]


def test_shards_fill_in_order_up_to_the_cap(shared_midi, tmp_path):
  recs = _real_records(shared_midi)
  writer = shards.SplitWriter(tmp_path, 'train', records_per_shard=5)
  for r in recs:
    writer.write(r)
  names = writer.close()
  n = -(-len(recs) // 5)
  assert names == [shards.shard_name('train', i, n) for i in range(n)]
  assert not list(tmp_path.glob(shards.PARTIAL_GLOB))
  read = []
  for i, name in enumerate(names):
    reader = ArrayRecordReader(str(tmp_path / name))
    got = reader.read_all()
    reader.close()
    assert len(got) == (5 if i < n - 1 else len(recs) - 5 * (n - 1))
    assert len(got) == shards.shard_records(len(recs), 5)[i]  # what dataset.json records
    read += got
  assert read == recs
  np.testing.assert_array_equal(records.decode(read[-1])['labels'],
                                records.decode(recs[-1])['labels'])


def test_a_split_without_records_writes_no_file(tmp_path):
  assert shards.SplitWriter(tmp_path, 'eval', 10).close() == []
  assert not list(tmp_path.iterdir())
