"""A dataset's own split, from a CSV: the Groove MIDI performances' train/validation split.

Real Groove MIDI beats and two drum tracks the manifest gives no split are prepared for
groovae_2bar_humanize:tiny with ``--split_csv=MANIFEST.csv --split_column=gmd_split``: every
window lands in its performance's split, the unlisted files are counted and never read, and a
CSV without the column or with an unknown split value is refused naming the file and the fix.
"""

import csv
import shutil

import pytest
from array_record.python.array_record_module import ArrayRecordReader

from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax.input_pipeline import pipeline
from musicvae_jax.input_pipeline import prepare
from musicvae_jax.input_pipeline import records
from musicvae_jax.input_pipeline import splits

from conftest import require_shared


@pytest.fixture(scope='module')
def manifest(shared_midi):
  path = shared_midi / 'drums' / 'MANIFEST.csv'
  require_shared(path)
  return path


@pytest.fixture(scope='module')
def folder(tmp_path_factory, shared_midi, manifest):
  """Short Groove MIDI beats of both splits, and two drum tracks the manifest gives no split."""
  rows = list(csv.DictReader(manifest.open()))
  beats = [r for r in rows if r['source'] == 'groove_midi_dataset' and r['beat_type'] == 'beat'
           and 10 <= float(r['duration_s']) <= 40]
  picked = ([r for r in beats if r['gmd_split'] == 'train'][:5]
            + [r for r in beats if r['gmd_split'] == 'validation'][:3])
  unlisted = [r for r in rows if not r['gmd_split']][:2]
  assert len(picked) == 8 and len(unlisted) == 2
  src = tmp_path_factory.mktemp('drums')
  for r in picked + unlisted:
    shutil.copy(shared_midi / 'drums' / r['file'], src / r['file'])
  return src, {r['file']: r['gmd_split'] for r in picked}, [r['file'] for r in unlisted]


def test_windows_follow_the_performances_own_split(folder, manifest, tmp_path):
  src, split_of_file, unlisted = folder
  run = config_boundary.run_spec(config_lib.get_config('groovae_2bar_humanize:tiny'))
  info = prepare.prepare(run, src, tmp_path, workers=1, progress=False, split_csv=manifest,
                         split_column='gmd_split')
  assert info['counts']['files_found'] == 10
  assert info['counts']['files_not_in_split_csv'] == 2
  assert info['split'] == {'by': 'csv', 'csv': f'{manifest.resolve()} (column gmd_split)'}
  sources = (tmp_path / 'sources.txt').read_text().split()
  assert sorted(sources) == sorted(split_of_file) and not set(unlisted) & set(sources)
  expected = {'train': 0, 'eval': 0}
  for name, split in split_of_file.items():
    expected['train' if split == 'train' else 'eval'] += 1
  with_windows = {s: info['splits'][s]['files'] for s in ('train', 'eval')}
  assert with_windows == expected  # every picked beat is long enough to give windows
  seen = {}
  for split in ('train', 'eval'):
    for shard in pipeline.shard_paths(tmp_path, split):
      reader = ArrayRecordReader(str(shard))
      for record in reader.read_all():
        seen[sources[int(records.decode(record)['source'])]] = split
      reader.close()
  assert seen == {f: 'train' if s == 'train' else 'eval' for f, s in split_of_file.items()}
  report = prepare.format_report(info, tmp_path)
  assert '2 not given a split by the split CSV, left out' in report


def test_hash_split_is_the_default_and_unchanged():
  splitter = splits.make_splitter(0, 0.4)
  assert splitter.table is None and splitter.describe()['by'] == 'hash'
  names = [f'song{i}.mid' for i in range(200)]
  assert [splitter(n) for n in names] == [prepare.split_of(n, 0, 0.4) for n in names]
  assert 40 < sum(splitter(n) == 'eval' for n in names) < 120


@pytest.mark.parametrize('text, column, must', [
    ('file,gmd_split\na.mid,train\n', 'split', 'needs a "file" column and a "split" column'),
    ('file,split\na.mid,holdout\n', 'split', 'line 2: split "holdout" for a.mid is not one of'),
    ('file,split\na.mid,\n', 'split', 'gives no file a split'),
])
def test_unusable_split_csv_is_refused_naming_it(tmp_path, text, column, must):
  path = tmp_path / 'split.csv'
  path.write_text(text)
  with pytest.raises(splits.SplitError) as raised:
    splits.make_splitter(0, 0.1, path, column)
  assert str(path) in str(raised.value) and must in str(raised.value)
