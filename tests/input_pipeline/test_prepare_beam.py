"""prepare_beam: the Beam DirectRunner writes the very files the in-process job writes."""

import fcntl
import json
import shutil
import subprocess
import sys

from array_record.python.array_record_module import ArrayRecordReader
import pytest

import broken_midi
from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax.input_pipeline import pipeline, prepare, prepare_beam, records

CONFIG = 'cat-mel_2bar_small:tiny'
BROKEN = ('corrupt', 'truncated', 'not_midi')
PER_SHARD = 500  # several shards per split, and files whose windows straddle two shards
MULTI_PROCESS = ['--direct_num_workers=2', '--direct_running_mode=multi_processing']


def _config():
  config = config_lib.get_config(CONFIG)
  config.data.eval_fraction = 0.4
  return config


@pytest.fixture(scope='module')
def input_dir(tmp_path_factory, shared_midi):
  """A third of the real melody set (about half give no 2-bar window), songs, broken files."""
  root = tmp_path_factory.mktemp('midi_in')
  (root / 'melody').mkdir()
  for path in sorted((shared_midi / 'melody').glob('*.mid'))[::3]:
    shutil.copyfile(path, root / 'melody' / path.name)
  (root / 'songs' / 'deep').mkdir(parents=True)
  for name in ('freedoom_d_map03.mid', 'freedoom_d_dm30.mid'):
    shutil.copyfile(shared_midi / 'multitrack' / name, root / 'songs' / 'deep' / name)
  (root / 'broken').mkdir()
  for kind in BROKEN:
    broken_midi.make(kind, root / 'broken' / f'{kind}.mid')
  return root


@pytest.fixture(scope='module')
def local(input_dir, tmp_path_factory):
  out = tmp_path_factory.mktemp('local')
  return out, prepare.prepare(config_boundary.run_spec(_config()), input_dir, out, workers=1, records_per_shard=PER_SHARD,
                              preview=2, overwrite=True, progress=False)


@pytest.fixture(scope='module')
def beam(input_dir, tmp_path_factory):
  out = tmp_path_factory.mktemp('beam')
  return out, prepare_beam.prepare_beam(config_boundary.run_spec(_config()), input_dir, out, records_per_shard=PER_SHARD,
                                        preview=2, overwrite=True, progress=False)


def _files(folder):
  """{relative path: bytes} of every file but run.json (wall times, the runner)."""
  return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob('*'))
          if p.is_file() and p.name != 'run.json'}


def _assert_same_folder(want, got):
  want_files, got_files = _files(want), _files(got)
  assert sorted(got_files) == sorted(want_files)
  for name, data in want_files.items():
    assert got_files[name] == data, name


def test_beam_writes_the_same_files_as_in_process(local, beam):
  (local_dir, local_info), (beam_dir, beam_info) = local, beam
  _assert_same_folder(local_dir, beam_dir)
  for split in ('train', 'eval'):  # the interesting case: records cross shard boundaries
    assert len(local_info['splits'][split]['shards']) >= 3, local_info['splits']
  assert (local_dir / 'skipped.jsonl').read_text().count('\n') > len(BROKEN)
  assert len(list((beam_dir / 'preview').glob('*.mid'))) == 2
  assert {k: v for k, v in beam_info.items() if k != 'run'} == {
      k: v for k, v in local_info.items() if k != 'run'}
  run = json.loads((beam_dir / 'run.json').read_text())
  assert run['runner'] == 'beam' and run == beam_info['run']
  assert not (beam_dir / prepare.SCRATCH_DIR).exists()


def test_a_corrupt_midi_is_skipped_and_counted(beam):
  folder, info = beam
  for kind in BROKEN:
    assert info['skipped_files'][kind] == 1
  lines = [json.loads(s) for s in (folder / 'skipped.jsonl').read_text().splitlines()]
  line = [x for x in lines if x['file'] == 'broken/corrupt.mid']
  assert len(line) == 1 and line[0]['reason'] == 'corrupt' and line[0]['message']
  counts = info['counts']
  assert counts['files_found'] - counts['files_read'] == len(BROKEN)
  assert sum(info['skipped_files'].values()) == (counts['files_found']
                                                 - counts['files_with_windows'])
  sources = (folder / 'sources.txt').read_text().splitlines()
  corrupt = sources.index('broken/corrupt.mid')
  stored = set()
  for split in ('train', 'eval'):
    for name in info['splits'][split]['shards']:
      reader = ArrayRecordReader(str(folder / name))
      stored |= {int(records.decode(r)['source']) for r in reader.read_all()}
      reader.close()
  assert corrupt not in stored and len(stored) == counts['files_with_windows']


def _cli(*args):
  return subprocess.run([sys.executable, '-m', 'musicvae_jax.cli.prepare', *args],
                        capture_output=True, text=True, timeout=300)


def test_cli_beam_on_two_processes_reports_and_matches(input_dir, local, tmp_path):
  out = tmp_path / 'cli'
  proc = _cli(f'--config={CONFIG}', '--config.data.eval_fraction=0.4', f'--input={input_dir}',
              f'--output={out}', f'--records_per_shard={PER_SHARD}', '--preview=2',
              '--runner=beam', '--beam_options=' + ','.join(MULTI_PROCESS),
              '--midi_parser=note_seq')  # the `local` fixture's reader (the API's default; the CLI's is fast)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'train:' in proc.stdout and 'skipped files:' in proc.stdout and 'corrupt 1' in proc.stdout
  _assert_same_folder(local[0], out)
  assert json.loads((out / 'run.json').read_text())['beam_options'] == MULTI_PROCESS


@pytest.mark.parametrize('case', ['bad_value', 'without_beam_runner'])
def test_cli_beam_option_errors_are_one_line_exit_2(case, input_dir, tmp_path):
  out = tmp_path / 'out'
  runner = {'bad_value': '--runner=beam', 'without_beam_runner': '--runner=local'}[case]
  proc = _cli(f'--config={CONFIG}', f'--input={input_dir}', f'--output={out}', runner,
              '--beam_options=--direct_num_workers=two')
  assert proc.returncode == 2, proc.stderr[-3000:]
  errors = [s for s in proc.stderr.splitlines() if s.startswith('musicvae-prepare: error: ')]
  assert len(errors) == 1 and 'Traceback' not in proc.stderr and 'usage:' not in proc.stderr
  assert ('direct_num_workers' if case == 'bad_value' else '--runner=beam') in errors[0]
  assert not out.exists()  # refused before the output folder was touched


def test_a_folder_another_run_holds_is_refused_and_left_alone(beam, input_dir, tmp_path):
  out = tmp_path / 'data'
  shutil.copytree(beam[0], out)
  before = {p.name: p.read_bytes() for p in out.rglob('*') if p.is_file()}
  with open(out / prepare.LOCK_FILE, 'a') as held:  # another run's lock
    fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with pytest.raises(prepare.OutputBusyError, match=f'{out} is in use: another musicvae-'):
      prepare_beam.prepare_beam(config_boundary.run_spec(_config()), input_dir, out,
                                overwrite=True, progress=False)
  assert {p.name: p.read_bytes() for p in out.rglob('*') if p.is_file()} == before
  assert pipeline.check_fits(out, seq_len=32, part_depths=[90])['splits'] == beam[1]['splits']


def test_without_beam_it_says_how_to_install(input_dir, tmp_path, monkeypatch):
  monkeypatch.setitem(sys.modules, 'apache_beam', None)  # import apache_beam -> ImportError
  with pytest.raises(prepare.PrepareError, match=r'pip install -e "\.\[beam\]"'):
    prepare_beam.prepare_beam(config_boundary.run_spec(_config()), input_dir, tmp_path / 'out', progress=False)
  assert not (tmp_path / 'out').exists()
