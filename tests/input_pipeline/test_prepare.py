"""prepare: real MIDI (plus real files broken on purpose) -> shards, sources, skip report."""

import collections
import fcntl
import gzip
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

from array_record.python.array_record_module import ArrayRecordReader
import numpy as np
import pytest

import broken_midi
from cli_process import argv
from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax.converters import midi_io
from musicvae_jax.input_pipeline import convert_files, pipeline, prepare, records

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


# ---- one run at a time per output folder, and a dataset.json that only names whole shards --
def _files(folder):
  return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob('*'))
          if p.is_file()}


def _gated(out, *extra):
  """musicvae-prepare --overwrite as a user runs it, in a fresh interpreter that has imported
  everything and waits for a line on stdin before it runs: the race starts on our signal."""
  cmd = argv('musicvae-prepare', f'--config={CONFIG}', '--config.data.eval_fraction=0.4',
             f'--input={_gated.input_dir}', f'--output={out}', '--overwrite', *extra)
  cmd[2] = cmd[2].replace('run()', "print('ready', flush=True); sys.stdin.readline(); run()")
  proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
  assert proc.stdout.readline() == 'ready\n', proc.communicate()
  return proc


def _go(proc):
  proc.stdin.write('go\n')
  proc.stdin.flush()


def _locked(lock_file) -> bool:
  """Whether some process holds a flock on ``lock_file`` (read from /proc/locks: asking flock
  itself would take the lock for a moment and could refuse the run being watched)."""
  if not lock_file.exists():
    return False
  inode = f':{lock_file.stat().st_ino}'
  return any(field.endswith(inode) for line in pathlib.Path('/proc/locks').read_text().splitlines()
             for field in line.split())


def _wait_until_locked(proc, lock_file, timeout=120):
  deadline = time.time() + timeout
  while time.time() < deadline and proc.poll() is None and not _locked(lock_file):
    time.sleep(0.005)


def _refusal(proc_stderr, out):
  lines = [line for line in proc_stderr.splitlines() if line.strip()]
  assert len(lines) == 1 and 'Traceback' not in proc_stderr, proc_stderr
  assert lines[0] == (f'musicvae-prepare: error: Output folder {out} is in use: another '
                      'musicvae-prepare is writing it; wait for that run to end, or choose '
                      'another --output.'), lines[0]


def _assert_loads_whole(out):
  """The dataset passes the reader's checks and holds the windows its dataset.json claims."""
  info = pipeline.check_fits(out, seq_len=32, part_depths=[90])
  for split in ('train', 'eval'):
    claimed = info['splits'][split]
    assert claimed['windows'] > 0 and sum(claimed['shard_records']) == claimed['windows']
    read = sum(int((b['lengths'] > 0).sum())
               for b in pipeline.eval_dataset(out, batch_size=16, split=split))
    assert read == claimed['windows'], (split, read, claimed)
    for name, size in zip(claimed['shards'], claimed['shard_bytes']):
      assert (out / name).stat().st_size == size
  assert not list(out.glob('*.partial')) and not list(out.glob('*.tmp'))


@pytest.fixture(scope='module')
def dataset(input_dir, tmp_path_factory):
  folder = tmp_path_factory.mktemp('held') / 'data'
  prepare.prepare(config_boundary.run_spec(_config()), input_dir, folder, workers=1,
                  records_per_shard=20, progress=False)
  return folder


def test_a_run_while_another_holds_the_lock_is_refused_and_writes_nothing(dataset, input_dir,
                                                                           tmp_path):
  out = tmp_path / 'data'
  shutil.copytree(dataset, out)
  before = _files(out)
  with open(out / prepare.LOCK_FILE, 'a') as held:  # another run's lock
    fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    proc = subprocess.run(argv('musicvae-prepare', f'--config={CONFIG}', f'--input={input_dir}',
                               f'--output={out}', '--overwrite', '--workers=1'),
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 2 and not proc.stdout, proc.stderr
    _refusal(proc.stderr, out)
    with pytest.raises(prepare.OutputBusyError, match='another musicvae-prepare') as caught:
      prepare.prepare(config_boundary.run_spec(_config()), input_dir, out, workers=1,
                      overwrite=True, progress=False)
    assert isinstance(caught.value, BlockingIOError)
    assert _files(out) == before  # not a byte written, nothing removed
  _assert_loads_whole(out)


def test_two_concurrent_overwrite_runs_one_writes_one_is_refused(dataset, input_dir, tmp_path):
  """The interleaving users hit by chance, made certain: the first run is paused (SIGSTOP)
  once it writes the folder, the second runs meanwhile, then the first carries on."""
  out = tmp_path / 'data'
  shutil.copytree(dataset, out)  # both replace a dataset, as --overwrite runs do
  _gated.input_dir = input_dir
  first, second = _gated(out, '--workers=2'), _gated(out, '--workers=2')
  _go(first)
  _wait_until_locked(first, out / prepare.LOCK_FILE)
  first.send_signal(signal.SIGSTOP)
  try:
    _go(second)
    second_out, second_err = second.communicate(timeout=300)
  finally:
    first.send_signal(signal.SIGCONT)
  first_out, first_err = first.communicate(timeout=300)
  assert first.returncode == 0, first_err[-3000:]
  assert 'train:' in first_out
  assert second.returncode == 2 and second_out == '', second_err
  _refusal(second_err, out)
  _assert_loads_whole(out)


def test_a_killed_run_leaves_no_lock(dataset, input_dir, tmp_path):
  out = tmp_path / 'data'
  shutil.copytree(dataset, out)
  _gated.input_dir = input_dir
  killed = _gated(out, '--workers=2')
  _go(killed)
  _wait_until_locked(killed, out / prepare.LOCK_FILE)
  killed.kill()  # SIGKILL: no clean-up of its own runs
  killed.communicate(timeout=60)
  assert killed.returncode == -signal.SIGKILL, 'the run ended before it could be killed'
  info = prepare.prepare(config_boundary.run_spec(_config()), input_dir, out, workers=1,
                         overwrite=True, progress=False)
  assert info['counts']['files_with_windows'] > 0
  _assert_loads_whole(out)


def test_a_process_forked_by_a_run_does_not_keep_its_lock(tmp_path):
  """A run's forked workers share its lock; one that outlived a killed run (stuck on a file)
  must not keep the folder locked: here a run dies, its forked child lives on."""
  code = ('import os, pathlib, time\n'
          'from musicvae_jax.input_pipeline import prepare\n'
          f'prepare.lock_output(pathlib.Path({str(tmp_path)!r}))\n'
          'child = os.fork()\n'
          'if child == 0:\n'
          '  os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # our pipe closes with the parent\n'
          '  time.sleep(120)\n'
          '  os._exit(0)\n'
          'print(child, flush=True)\n'
          'os._exit(0)  # dies holding the lock, as a killed run does\n')
  proc = subprocess.run([sys.executable, '-c', code], stdout=subprocess.PIPE, text=True,
                        timeout=120, check=True)
  child = int(proc.stdout)
  try:
    assert pathlib.Path(f'/proc/{child}').exists()
    assert not _locked(tmp_path / prepare.LOCK_FILE)
    prepare.unlock_output(prepare.lock_output(tmp_path))
  finally:
    os.kill(child, signal.SIGKILL)


def test_a_missing_or_truncated_shard_is_refused_in_one_line(dataset, tmp_path):
  out = tmp_path / 'data'
  shutil.copytree(dataset, out)
  info = json.loads((out / 'dataset.json').read_text())
  name = info['splits']['eval']['shards'][-1]
  data = (out / name).read_bytes()
  want = (f'{out}: shard {name} is missing or truncated; run musicvae-prepare again '
          f'(--output={out} --overwrite).')
  for damaged in (data[:len(data) // 2], b'', None):
    if damaged is None:
      (out / name).unlink()
    else:
      (out / name).write_bytes(damaged)
    with pytest.raises(pipeline.DatasetError) as caught:
      pipeline.check_fits(out, seq_len=32, part_depths=[90])
    assert str(caught.value) == want
    with pytest.raises(pipeline.DatasetError, match='missing or truncated'):
      pipeline.eval_dataset(out, batch_size=4)
  pipeline.eval_dataset(out, batch_size=4, split='train')  # the whole split still reads


def _magenta_windows_per_file(windows_dir: pathlib.Path, spec: str) -> dict:
  """{(folder, file name): windows} of every file Magenta's converter read for ``spec``."""
  out = {}
  for path in windows_dir.glob(f'{spec}__*.jsonl.gz'):
    folder = path.name[len(spec) + 2:-len('.jsonl.gz')]
    with gzip.open(path, 'rt') as f:
      for line in f:
        row = json.loads(line)
        out[folder, row['file']] = row['n_windows']
  return out


def test_a_sixth_of_the_shared_set(shared_midi, magenta_windows_dir, tmp_path):
  """Every sixth shared MIDI file of each folder through one config of each converter kind,
  with two workers (the converter tests compare every file's windows; this checks that the
  parallel prepare adds none and loses none on the way to shards).

  The window totals equal what Magenta's own converters extract from the same files.
  """
  subset = tmp_path / 'midi'
  for folder in sorted(p for p in shared_midi.iterdir() if p.is_dir()):
    (subset / folder.name).mkdir(parents=True)
    for midi in sorted(folder.glob('*.mid'))[::6]:
      (subset / folder.name / midi.name).symlink_to(midi)
  chosen = {(m.parent.name, m.name) for m in subset.rglob('*.mid')}
  for spec in ('cat-mel_2bar_small', 'cat-drums_2bar_small', 'hierdec-trio_16bar'):
    out = tmp_path / spec
    info = prepare.prepare(config_boundary.run_spec(config_lib.get_config(spec)), subset, out,
                           workers=2, progress=False)
    counts = info['counts']
    assert counts['files_found'] == len(chosen)
    assert counts['files_with_windows'] > 0
    assert sum(info['skipped_files'].values()) == (counts['files_found']
                                                   - counts['files_with_windows'])
    assert 'converter_error' not in info['skipped_files'], info['skipped_files']
    magenta = sum(n for key, n in _magenta_windows_per_file(magenta_windows_dir, spec).items()
                  if key in chosen)
    ours = info['splits']['train']['windows'] + info['splits']['eval']['windows']
    assert magenta > 0 and ours == magenta, (spec, ours, magenta)
    print(prepare.format_report(info, out))


def test_an_unguarded_script_gets_a_clear_error_not_a_hang(input_dir, tmp_path):
  """A script that calls prepare with workers at its top level, JAX loaded: the fork server runs
  the script again in every worker, which dies; prepare says why and how to fix it, in seconds,
  where a multiprocessing.Pool replaced dying workers for ever. Guarded, the same script works."""
  call = (f'prepare.prepare(config_boundary.run_spec(config_lib.get_config("cat-mel_2bar_small")), '
          f'{str(input_dir / "melody")!r}, {str(tmp_path / "out")!r}, workers=2, progress=False, '
          f'overwrite=True)')
  head = ('import jax\nfrom musicvae_jax import config_boundary, config_lib\n'
          'from musicvae_jax.input_pipeline import prepare\n')
  unguarded, guarded = tmp_path / 'unguarded.py', tmp_path / 'guarded.py'
  unguarded.write_text(head + call + '\n')
  guarded.write_text(head + 'if __name__ == "__main__":\n  info = ' + call +
                     '\n  print("windows", info["splits"]["train"]["windows"])\n')
  start = time.monotonic()
  proc = subprocess.run([sys.executable, str(unguarded)], capture_output=True, text=True,
                        timeout=300, cwd=tmp_path)
  assert proc.returncode != 0
  assert 'WorkersDiedError' in proc.stderr and str(unguarded) in proc.stderr, proc.stderr[-2000:]
  assert 'if __name__ == "__main__":' in proc.stderr
  assert time.monotonic() - start < 120
  proc = subprocess.run([sys.executable, str(guarded)], capture_output=True, text=True,
                        timeout=300, cwd=tmp_path)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert int(proc.stdout.split('windows')[-1]) > 0


def test_a_worker_dying_mid_job_stops_it_with_the_files_it_was_on(shared_midi, tmp_path):
  """A worker killed while converting (by the system, out of memory) loses its files: the job
  stops with an error that says how far it got and where, instead of waiting for ever."""
  melodies = sorted(p.name for p in (shared_midi / 'melody').glob('*.mid'))
  victim = melodies[300]
  script = tmp_path / 'dies.py'
  script.write_text(
      'import os\n'
      'from musicvae_jax import config_boundary, config_lib\n'
      'from musicvae_jax.input_pipeline import convert_files, prepare\n'
      'real = convert_files.process_file\n'
      'def process_file(path, *args):\n'
      f'  if path.endswith({victim!r}):\n'
      '    os._exit(9)  # as the kernel ends a process that ran out of memory\n'
      '  return real(path, *args)\n'
      'convert_files.process_file = process_file\n'
      'if __name__ == "__main__":\n'
      '  prepare.prepare(config_boundary.run_spec(config_lib.get_config("cat-mel_2bar_small")), '
      f'{str(shared_midi / "melody")!r}, {str(tmp_path / "out")!r}, workers=2, progress=False)\n')
  proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                        timeout=300, cwd=tmp_path)
  assert proc.returncode != 0
  assert 'WorkersDiedError: a prepare worker process died after' in proc.stderr, proc.stderr[-2000:]
  assert f'of {len(melodies)} files' in proc.stderr
