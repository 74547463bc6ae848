"""prepare: real MIDI (plus real files broken on purpose) -> shards, sources, skip report."""

import collections
import json
import shutil
import subprocess
import sys

from array_record.python.array_record_module import ArrayRecordReader
import numpy as np
import pytest

import broken_midi
from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax.converters import midi_io
from musicvae_jax.input_pipeline import convert_files, prepare, records

CONFIG = 'cat-mel_2bar_small:tiny'
BROKEN = ('truncated', 'empty', 'midi_type_2', 'corrupt', 'not_midi', 'smpte_timing', 'no_notes')


def _config(eval_fraction=0.4):
  config = config_lib.get_config(CONFIG)
  config.data.eval_fraction = eval_fraction
  return config


@pytest.fixture(scope='module')
def input_dir(tmp_path_factory, shared_midi):
  """Real melody and multitrack files in nested folders, broken files, and a non-MIDI file."""
  root = tmp_path_factory.mktemp('midi_in')
  melodies = sorted((shared_midi / 'melody').glob('*.mid'))[::140]  # 6 tunes across the books
  (root / 'melody').mkdir()
  for path in melodies:
    shutil.copyfile(path, root / 'melody' / path.name)
  (root / 'songs' / 'deep').mkdir(parents=True)
  for name in ('freedoom_d_map03.mid', 'freedoom_d_dm30.mid'):
    shutil.copyfile(shared_midi / 'multitrack' / name, root / 'songs' / 'deep' / name)
  shutil.copyfile(broken_midi.MELODY, root / 'songs' / 'ASHOVER.MIDI')  # upper-case suffix
  (root / 'broken').mkdir()
  for kind in BROKEN:
    broken_midi.make(kind, root / 'broken' / f'{kind}.mid')
  shutil.copyfile(shared_midi / 'melody' / 'MANIFEST.csv', root / 'melody' / 'MANIFEST.csv')
  return root


@pytest.fixture(scope='module')
def prepared(input_dir, tmp_path_factory):
  """{workers: (output folder, dataset info)} for one and two workers."""
  out = {}
  for workers in (1, 2):
    folder = tmp_path_factory.mktemp(f'prepared_{workers}')
    info = prepare.prepare(config_boundary.run_spec(_config()), input_dir, folder, workers=workers, records_per_shard=20,
                           preview=3, overwrite=True, progress=False)
    out[workers] = folder, info
  return out


def _read_split(folder, split):
  found = []
  for name in json.loads((folder / 'dataset.json').read_text())['splits'][split]['shards']:
    reader = ArrayRecordReader(str(folder / name))
    found += [records.decode(r) for r in reader.read_all()]
    reader.close()
  return found


def test_counts_and_skip_report(prepared, input_dir):
  folder, info = prepared[1]
  counts = info['counts']
  assert counts['files_found'] == 6 + 2 + 1 + len(BROKEN)
  assert counts['files_read'] == 9
  assert counts['files_with_windows'] + counts['files_without_windows'] == counts['files_read']
  assert sum(info['skipped_files'].values()) == (counts['files_found']
                                                 - counts['files_with_windows'])
  for kind in BROKEN:
    assert info['skipped_files'][kind] == 1
  lines = [json.loads(line) for line in (folder / 'skipped.jsonl').read_text().splitlines()]
  by_file = {line['file']: line['reason'] for line in lines}
  assert {f'broken/{k}.mid': k for k in BROKEN}.items() <= by_file.items()
  assert all(line['message'] for line in lines)
  sources = (folder / 'sources.txt').read_text().splitlines()
  assert sources == prepare.find_midi_files(input_dir)
  assert 'songs/ASHOVER.MIDI' in sources and not any(s.endswith('.csv') for s in sources)
  splits = info['splits']
  assert splits['train']['windows'] > 0 and splits['eval']['windows'] > 0
  assert splits['train']['files'] + splits['eval']['files'] == counts['files_with_windows']
  assert (info['T'], info['P'], info['part_depths']) == (32, 1, [90])
  assert info['config']['data']['eval_fraction'] == 0.4
  assert info['config_name'] == CONFIG and info['versions']['note-seq']


def test_split_is_by_file_and_disjoint(prepared):
  folder, info = prepared[1]
  sources = (folder / 'sources.txt').read_text().splitlines()
  seen = {split: {int(r['source']) for r in _read_split(folder, split)} for split in ('train',
                                                                                       'eval')}
  assert seen['train'] and seen['eval'] and not seen['train'] & seen['eval']
  for split, indices in seen.items():
    for i in indices:
      assert prepare.split_of(sources[i], 0, 0.4) == split
  for split in ('train', 'eval'):
    assert len(_read_split(folder, split)) == info['splits'][split]['windows']


def test_same_bytes_whatever_the_worker_count(prepared):
  (one, _), (two, _) = prepared[1], prepared[2]
  names = sorted(p.name for p in one.iterdir() if p.is_file() and p.name != 'run.json')
  assert names == sorted(p.name for p in two.iterdir() if p.is_file() and p.name != 'run.json')
  assert any(n.endswith('.array_record') for n in names)
  for name in names:
    assert (one / name).read_bytes() == (two / name).read_bytes(), name


def test_records_are_exactly_the_converter_windows(prepared, input_dir):
  folder, _ = prepared[2]
  sources = (folder / 'sources.txt').read_text().splitlines()
  stored = collections.defaultdict(dict)
  for split in ('train', 'eval'):
    for r in _read_split(folder, split):
      stored[sources[int(r['source'])]][int(r['window'])] = r['labels']
  converter = config_boundary.converter_of(_config())
  assert stored
  for rel_path, got in stored.items():
    want = converter.extract(midi_io.read_midi(input_dir / rel_path)).windows
    assert sorted(got) == list(range(len(want)))
    for i, labels in enumerate(want):
      np.testing.assert_array_equal(got[i], labels)
      assert got[i].dtype == np.int16


def test_preview_is_real_midi(prepared):
  folder, info = prepared[1]
  previews = sorted((folder / 'preview').glob('*.mid'))
  assert len(previews) == 3 == len(info['run']['preview'])
  for path in previews:
    assert midi_io.read_midi(path).notes
    assert path.with_suffix('.png').stat().st_size > 0  # its piano roll beside it
    assert path.name.endswith('_w0000.mid')  # one per file: three different sources
  assert previews[0].name.startswith('melody__')


def test_a_raising_converter_is_counted_not_fatal(input_dir, tmp_path, monkeypatch):
  real = convert_files.get_converter

  def flaky(data_config):
    converter = real(data_config)
    extract = converter.extract

    def maybe_raise(ns):
      if 'dm30' in ns.filename:
        raise RuntimeError('converter bug')
      return extract(ns)
    converter.extract = maybe_raise
    return converter

  monkeypatch.setattr(convert_files, 'get_converter', flaky)  # what the workers call
  info = prepare.prepare(config_boundary.run_spec(_config()), input_dir, tmp_path, workers=1, progress=False)
  assert info['skipped_files']['converter_error'] == 1
  line = [json.loads(s) for s in (tmp_path / 'skipped.jsonl').read_text().splitlines()
          if 'dm30' in s][0]
  assert line['reason'] == 'converter_error' and 'converter bug' in line['message']
  assert info['counts']['files_with_windows'] > 0


def test_folder_errors_name_the_folder(tmp_path, input_dir):
  for folder in (tmp_path / 'missing', tmp_path):
    with pytest.raises(prepare.PrepareError, match=str(folder)):
      prepare.prepare(config_boundary.run_spec(_config()), folder, tmp_path / 'out', workers=1, progress=False)
  (tmp_path / 'readme.txt').write_text('no MIDI here')
  with pytest.raises(prepare.PrepareError, match='No .mid or .midi files'):
    prepare.prepare(config_boundary.run_spec(_config()), tmp_path, tmp_path / 'out', workers=1, progress=False)


def test_refuses_existing_dataset_unless_overwrite(prepared, input_dir):
  folder, _ = prepared[1]
  with pytest.raises(prepare.PrepareError, match='--overwrite'):
    prepare.prepare(config_boundary.run_spec(_config()), input_dir, folder, workers=1, progress=False)


def _cli(*args):
  return subprocess.run([sys.executable, '-m', 'musicvae_jax.cli.prepare', *args],
                        capture_output=True, text=True, timeout=120)


def test_cli_runs_and_reports(input_dir, tmp_path):
  proc = _cli(f'--config={CONFIG}', '--config.data.eval_fraction=0.5', f'--input={input_dir}',
              f'--output={tmp_path}', '--workers=1', '--preview=1')
  assert proc.returncode == 0, proc.stderr
  assert 'train:' in proc.stdout and 'skipped files:' in proc.stdout
  info = json.loads((tmp_path / 'dataset.json').read_text())
  assert info['config']['data']['eval_fraction'] == 0.5
  assert len(list((tmp_path / 'preview').glob('*.mid'))) == 1


@pytest.mark.slow
def test_whole_shared_set(shared_midi, magenta_windows_dir, tmp_path):
  """Every shared MIDI file through one config of each converter kind, with two workers.

  The window totals equal what Magenta's own converters extract from the same files (its
  reference covers the folders that hold such windows; the other folders give none).
  """
  summary = json.loads((magenta_windows_dir / 'summary.json').read_text())['summary']
  for spec in ('cat-mel_2bar_small', 'cat-drums_2bar_small', 'hierdec-trio_16bar'):
    out = tmp_path / spec
    info = prepare.prepare(config_boundary.run_spec(config_lib.get_config(spec)), shared_midi, out, workers=2,
                           progress=False)
    counts = info['counts']
    assert counts['files_found'] == len(list(shared_midi.rglob('*.mid')))
    assert counts['files_with_windows'] > 0
    assert sum(info['skipped_files'].values()) == (counts['files_found']
                                                   - counts['files_with_windows'])
    assert 'converter_error' not in info['skipped_files'], info['skipped_files']
    magenta = sum(v['windows'] for k, v in summary.items() if k.startswith(spec + '__'))
    ours = info['splits']['train']['windows'] + info['splits']['eval']['windows']
    assert ours == magenta, (spec, ours, magenta)
    print(prepare.format_report(info, out))
