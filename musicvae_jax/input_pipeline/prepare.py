"""Offline preparation: a folder of MIDI files -> ArrayRecord shards of windows + dataset.json.

Every .mid/.midi file under the input folder (recursively, in sorted relative-path order) is read
(``converters.midi_io``) and cut into windows by the config's converter, in a multiprocessing
pool (``prepare_beam`` does the same as an Apache Beam pipeline, to the same bytes). The windows
stream into two splits, train and eval, chosen per source file by a stable hash of its relative
path and ``config.data.split_seed``, so no song is in both, or by a split CSV that comes with
the data (``splits``: the Groove MIDI Dataset's own split by performance). Within a split the records fill
shards of ``records_per_shard`` one after another, in file order (``shards``), so the shards are
byte-identical whatever the number of workers and memory stays flat however many files there
are. Bad files are skipped and reported, never fatal.

Output folder:

  train-00000-of-0000N.array_record ...   one record per window (``records`` layout)
  eval-00000-of-0000M.array_record ...
  sources.txt     every MIDI file taken (found, and given a split by the split CSV if one is
                  used), relative to the input folder; a record's ``source`` is its line index
  skipped.jsonl   one JSON line per file that gave no window: file, reason, message
  dataset.json    config, shapes, counts, skip reasons, versions (deterministic: no times/paths);
                  each split's shards with their record counts and byte sizes
  run.json        input folder, workers, wall time, files/s (differs from run to run)
  .musicvae-prepare.lock   the lock a run holds (see below); empty, and left in place
  preview/        the first window of each of the first ``preview`` files with windows, written
                  back to MIDI with a piano-roll PNG beside it, to listen to and look at

A run holds an exclusive ``flock`` on the lock file for as long as it writes the folder, so a
second run on the same folder is refused at once (``OutputBusyError``) instead of racing it; the
kernel drops the lock when the holder exits, however it dies. Under the lock the old dataset is
removed (dataset.json first), shards are written under temporary names and renamed into place
once flushed to disk, and dataset.json is written last, atomically: a folder with a
dataset.json holds every shard it names, whole, whatever was interrupted.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import fcntl
import importlib.metadata
import json
import os
import pathlib
import shutil
import sys
import time
from typing import Any

from musicvae_jax import errors
from musicvae_jax import progress as progress_bars
from musicvae_jax import specs
from musicvae_jax.converters import get_converter, midi_io
from musicvae_jax.input_pipeline import convert_files
from musicvae_jax.input_pipeline import records
from musicvae_jax.input_pipeline import shards
from musicvae_jax.input_pipeline import splits

SPLITS = ('train', 'eval')
MIDI_SUFFIXES = ('.mid', '.midi')
OUTPUT_FILES = ('dataset.json', 'run.json', 'sources.txt', 'skipped.jsonl')
SCRATCH_DIR = '.scratch'  # a runner's working files (prepare_beam), removed when it ends
LOCK_FILE = '.musicvae-prepare.lock'
_COUNTS = ('files_found', 'files_not_in_split_csv', 'files_read', 'files_with_windows',
           'files_without_windows')
_VERSIONED = ('musicvae_jax', 'note-seq', 'pretty_midi', 'mido', 'numpy', 'numba',
              'array_record')


class PrepareError(errors.UserError):
  """A problem the user fixes (missing input folder, no MIDI, output already holds a dataset)."""


class OutputBusyError(PrepareError, BlockingIOError):
  """Another run holds the lock of the output folder."""


_HELD_LOCKS: set[int] = set()  # this process's lock descriptors


def _drop_inherited_locks() -> None:
  # A forked worker shares the parent's lock; were it to outlive a killed parent, it would hold
  # the folder forever. Closing its copy leaves the parent's lock in force.
  for fd in _HELD_LOCKS:
    os.close(fd)
  _HELD_LOCKS.clear()


os.register_at_fork(after_in_child=_drop_inherited_locks)


def lock_output(out: pathlib.Path) -> int:
  """Takes the exclusive lock of the existing folder ``out``; returns its descriptor.

  Refused at once, with ``OutputBusyError``, while another process holds it.
  """
  fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    os.close(fd)
    raise OutputBusyError(f'Output folder {out} is in use: another musicvae-prepare is writing '
                          'it; wait for that run to end, or choose another --output.') from None
  _HELD_LOCKS.add(fd)
  return fd


def unlock_output(fd: int) -> None:
  if fd in _HELD_LOCKS:
    _HELD_LOCKS.discard(fd)
    os.close(fd)  # closing the last descriptor of the lock releases it


def find_midi_files(input_dir) -> list[str]:
  """Relative POSIX paths of every .mid/.midi file under ``input_dir``, sorted."""
  root = pathlib.Path(input_dir)
  if not root.exists():
    raise PrepareError(f'Input folder {root} does not exist; pass --input=<folder of .mid files>.')
  if not root.is_dir():
    raise PrepareError(f'Input {root} is not a folder; pass --input=<folder of .mid files>.')
  found = []
  for dirpath, dirnames, filenames in os.walk(root):
    dirnames.sort()
    for name in filenames:
      if name.lower().endswith(MIDI_SUFFIXES) and '\n' not in name and '\r' not in name:
        found.append(pathlib.Path(dirpath, name).relative_to(root).as_posix())
  if not found:
    raise PrepareError(f'No .mid or .midi files in {root} (searched recursively); pass '
                       '--input=<folder that holds MIDI files>.')
  return sorted(found)


def split_of(rel_path: str, split_seed: int, eval_fraction: float) -> str:
  """'eval' for a stable pseudo-random ``eval_fraction`` of the files, else 'train'."""
  return splits.hashed_split(rel_path, split_seed, eval_fraction)


# ---- the job ------------------------------------------------------------------------------
def check_output_dir(output_dir, overwrite: bool, remove: bool = True) -> None:
  """Refuses an output folder that already holds a dataset, unless ``overwrite``; then removes
  that dataset (dataset.json first) if ``remove``: only while holding the folder's lock."""
  out = pathlib.Path(output_dir)
  if out.exists() and not out.is_dir():
    raise PrepareError(f'Output {out} is a file, not a folder; pass --output=<new folder>.')
  ours = _own_files(out)
  if ours and not overwrite:
    raise PrepareError(f'Output folder {out} already holds a dataset ({ours[0].name}, ...); '
                       'pass --overwrite to replace it, or choose another --output.')
  for path in ours if remove else ():
    shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)


def _own_files(out: pathlib.Path) -> list[pathlib.Path]:
  if not out.is_dir():
    return []
  found = [out / n for n in OUTPUT_FILES if (out / n).exists()]
  found += sorted(out.glob('*-?????-of-?????.array_record'))
  found += sorted(out.glob(shards.PARTIAL_GLOB))  # left by an interrupted run
  return found + [out / d for d in ('preview', SCRATCH_DIR) if (out / d).is_dir()]


class Job:
  """All but the shards, shared by the runners: making it checks the arguments, lists the files,
  locks and clears the output and writes sources.txt; ``add`` takes each file's result in file
  order and writes skipped.jsonl; ``finish`` writes run.json and dataset.json; ``close``
  releases the lock."""

  def __init__(self, run: specs.RunSpec, input_dir, output_dir, records_per_shard: int,
               overwrite: bool,
               limits: midi_io.MidiLimits, split_csv=None, split_column: str = 'split'):
    self.started = time.time()
    if records_per_shard < 1:
      raise PrepareError(f'--records_per_shard must be at least 1, got {records_per_shard}.')
    self.eval_fraction = run.data.eval_fraction
    if not 0.0 <= self.eval_fraction <= 1.0:
      raise PrepareError(f'config.data.eval_fraction must be in [0, 1], got {self.eval_fraction}.')
    try:
      self.splitter = splits.make_splitter(run.data.split_seed, self.eval_fraction, split_csv,
                                           split_column)
    except splits.SplitError as e:
      raise PrepareError(str(e)) from None
    self.run, self.records_per_shard, self.limits = run, records_per_shard, limits
    self.converter = get_converter(run.data)
    found = find_midi_files(input_dir)
    # A split CSV leaves out the files it gives no split: they are counted, never converted.
    self.files = [f for f in found if self.splitter(f)] if self.splitter.table else found
    self.found, self.not_in_split = len(found), len(found) - len(self.files)
    if not self.files:
      raise PrepareError(f'{split_csv} gives a split to none of the {len(found)} MIDI files in '
                         f'{input_dir}; its "file" column must name them by their path under '
                         '--input or by their bare name.')
    check_output_dir(output_dir, overwrite, remove=False)  # refused before anything is written
    self.input_dir, self.out = pathlib.Path(input_dir), pathlib.Path(output_dir)
    self.out.mkdir(parents=True, exist_ok=True)
    self._lock = lock_output(self.out)
    try:
      check_output_dir(self.out, overwrite)  # again, now that no other run can write here
      (self.out / 'sources.txt').write_text(''.join(f + '\n' for f in self.files), 'utf-8')
      self.windows, self.split_files, self.tally = (collections.Counter() for _ in range(3))
      self.skipped, self.dropped, self.midi_warnings = (collections.Counter() for _ in range(3))
      self._skipped_fh = open(self.out / 'skipped.jsonl', 'w', encoding='utf-8')
    except BaseException:
      unlock_output(self._lock)
      raise

  def close(self) -> None:
    """Closes skipped.jsonl and releases the folder's lock (after ``finish``, or on failure)."""
    self._skipped_fh.close()
    unlock_output(self._lock)

  def add(self, rel_path: str, reason: str, message: str, dropped: dict, warnings: dict,
          num_windows: int) -> str:
    """Counts one file; returns its split, or '' when it gave no window."""
    self.dropped.update(dropped)
    self.midi_warnings.update(warnings)
    if not reason or reason in convert_files.REASONS_AFTER_READ:
      self.tally['files_read'] += 1
    if reason:
      self.skipped[reason] += 1
      self._skipped_fh.write(json.dumps({'file': rel_path, 'reason': reason,
                                         'message': message}) + '\n')
      return ''
    split = self.splitter(rel_path)
    self.tally['files_with_windows'] += 1
    self.split_files[split] += 1
    self.windows[split] += num_windows
    return split

  def finish(self, shard_names: dict[str, list[str]], previews: list[str],
             **run_extra) -> dict[str, Any]:
    """Writes run.json and, last, dataset.json (``run_extra``: how it ran); returns both as one
    dict. The shards must be in place: dataset.json records their sizes."""
    self._skipped_fh.close()
    tally = self.tally
    tally['files_found'], tally['files_not_in_split_csv'] = self.found, self.not_in_split
    tally['files_without_windows'] = tally['files_read'] - tally['files_with_windows']
    info = self._dataset_info({s: self._shards(s, shard_names[s]) for s in SPLITS})
    elapsed = max(time.time() - self.started, 1e-9)
    run = {'input_dir': str(self.input_dir.resolve()), 'output_dir': str(self.out.resolve()),
           **run_extra, 'wall_s': round(elapsed, 3),
           'files_per_s': round(len(self.files) / elapsed, 2),
           'windows_per_s': round(sum(self.windows.values()) / elapsed, 2),
           'preview': [p for p in previews if p]}
    _write_json(self.out / 'run.json', run)
    _write_json(self.out / 'dataset.json', info)  # last: what it names is whole on disk
    return {**info, 'run': run}

  def _shards(self, split: str, names: list[str]) -> dict[str, list]:
    """A split's shards, flushed to disk, with their record counts and sizes for dataset.json."""
    counts = shards.shard_records(self.windows[split], self.records_per_shard)
    if len(counts) != len(names):
      raise RuntimeError(f'{split}: {len(names)} shards for {self.windows[split]} windows')
    for path in [*(self.out / n for n in names), self.out / 'sources.txt',
                 self.out / 'skipped.jsonl']:
      shards.sync(path)
    return {'shards': names, 'shard_records': counts,
            'shard_bytes': [(self.out / n).stat().st_size for n in names]}

  def _dataset_info(self, split_shards) -> dict[str, Any]:
    run, converter = self.run, self.converter
    dtype, shape = convert_files.window_layout(converter)
    depths = [int(d) for d in part_depths(converter)]
    return {
        'config_name': run.name,
        'config': {'name': run.name, 'data': dataclasses.asdict(run.data)},
        'converter': run.data.converter,
        'T': converter.max_seq_len, 'P': len(depths),
        'part_depths': depths,
        'input_depth': int(converter.input_depth), 'output_depth': int(converter.output_depth),
        'window': {'dtype': dtype.name, 'shape': list(shape)},
        'record_format': (f'{records.magic_of(dtype).decode()} '
                          '(musicvae_jax.input_pipeline.records)'),
        'writer_options': shards.WRITER_OPTIONS,
        'counts': {k: int(self.tally[k]) for k in _COUNTS},
        'splits': {s: {'files': int(self.split_files[s]), 'windows': int(self.windows[s]),
                       **split_shards[s]} for s in SPLITS},
        'split': self.splitter.describe(),
        'records_per_shard': self.records_per_shard,
        'skipped_files': dict(sorted(self.skipped.items())),
        'dropped': dict(sorted(self.dropped.items())),
        'midi_warnings': dict(sorted(self.midi_warnings.items())),
        'midi_limits': dataclasses.asdict(self.limits),
        'versions': _versions(),
    }


def part_depths(converter) -> tuple[int, ...]:
  """The depths of a window's parts: the class count of each labelled part, or for real-valued
  windows (GrooVAE) the width of each third (hits, velocities, offsets)."""
  if hasattr(converter, 'part_depths'):
    return tuple(converter.part_depths)
  return (converter.output_depth // 3,) * 3


def prepare(run: specs.RunSpec, input_dir, output_dir, *, workers: int | None = None,
            records_per_shard: int = 65_536, preview: int = 0, overwrite: bool = False,
            limits: midi_io.MidiLimits = midi_io.MidiLimits(), progress: bool = True,
            split_csv=None, split_column: str = 'split', chord_source: str = 'file',
            chord_model=None) -> dict[str, Any]:
  """Runs the job; returns the dataset.json dict (plus 'run': the run.json dict).

  ``split_csv``: a CSV that gives each file its split (see ``splits``); default: the hash split.
  ``chord_source``: 'file' (a file's chord symbols, else note-seq's HMM) or 'model' (the
  chord/key estimator at ``chord_model``, default the bundled one; ``chordkey.model_chords``),
  for chord-conditioned configs only.
  """
  workers = workers or os.cpu_count() or 1
  if chord_source not in ('file', 'model'):
    raise PrepareError(f"chord_source must be 'file' or 'model', not {chord_source!r}.")
  if chord_model and chord_source != 'model':
    raise PrepareError('--chord_model needs --chord_source=model.')
  if chord_source == 'model' and not getattr(get_converter(run.data), 'chord_encoding', None):
    raise PrepareError(f'--chord_source=model: config {run.name!r} takes no chords; it is for '
                       'the chord-conditioned configs (cat-mel_2bar_med_chords, '
                       'hier-multiperf_vel_1bar_med_chords, ...).')
  previews = []
  with contextlib.ExitStack() as stack:
    job = Job(run, input_dir, output_dir, records_per_shard, overwrite, limits, split_csv,
              split_column)
    stack.callback(job.close)
    chords, extra = None, {}
    if chord_source == 'model':
      chords, extra = _model_chords(job, input_dir, chord_model, progress)
    results = stack.enter_context(convert_files.results(run.data, input_dir, job.files, workers,
                                                        limits, chords))
    writers = {s: shards.SplitWriter(job.out, s, records_per_shard) for s in SPLITS}
    bar = stack.enter_context(progress_bars.bar(total=len(job.files), unit='file', desc='prepare',
                                                enabled=progress, smoothing=0.1))
    for source, (rel_path, res) in enumerate(zip(job.files, results)):
      split = job.add(rel_path, res.reason, res.message, res.dropped, res.warnings,
                      len(res.windows))
      for index, labels in enumerate(res.windows if split else ()):
        writers[split].write(records.encode(labels, source, index))
      if split and len(previews) < preview:  # one per file: a spread of sources
        previews.append(write_preview(job.converter, res.windows[0], rel_path, 0, job.out))
      bar.update(1)
      bar.set_postfix_str(f'windows={sum(job.windows.values())}', refresh=False)
    # A split without windows gets no shard files at all.
    shard_names = {s: w.close() for s, w in writers.items()}
    return job.finish(shard_names, previews, workers=workers, **extra)  # before job.close


def _model_chords(job, input_dir, chord_model, progress: bool):
  """(chords of every file from the chord/key model, what run.json records about them)."""
  from musicvae_jax.chordkey import model_chords  # pylint: disable=g-import-not-at-top
  chords = model_chords.annotate_files(input_dir, job.files, chord_model, progress)
  return chords, {'chord_source': 'model', 'chord_model': str(chord_model or 'bundled'),
                  'files_with_model_chords': len(chords)}


def write_preview(converter, labels, rel_path: str, index: int, out: pathlib.Path) -> str:
  """One window back to MIDI under preview/, with its piano-roll PNG beside it.

  Returns the MIDI path relative to ``out``, or '' (and a line on stderr) when the window
  cannot be written: a preview is a courtesy and never stops the job.
  """
  from note_seq import midi_io as ns_midi_io  # pylint: disable=g-import-not-at-top
  from musicvae_jax.render import piano_roll  # pylint: disable=g-import-not-at-top
  stem = rel_path.rsplit('.', 1)[0].replace('/', '__')
  path = out / 'preview' / f'{stem}_w{index:04d}.mid'
  try:
    path.parent.mkdir(exist_ok=True)
    to_sequence = getattr(converter, 'from_labels', None) or converter.from_window
    sequence = to_sequence(labels)
    ns_midi_io.sequence_proto_to_midi_file(sequence, str(path))
    piano_roll.write_piano_roll(sequence, path.with_suffix('.png'),
                                title=f'{rel_path}, window {index}')
  except Exception as e:  # pylint: disable=broad-except
    print(f'prepare: preview of {rel_path} window {index} not written: {e}', file=sys.stderr)
    return ''
  return str(path.relative_to(out))


def _versions() -> dict[str, str]:
  found = {'python': '.'.join(map(str, sys.version_info[:3]))}
  for name in _VERSIONED:
    try:
      found[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      found[name] = 'unknown'
  return found


def _write_json(path: pathlib.Path, obj) -> None:
  """Writes ``path`` whole or not at all: a flushed temporary file renamed over it."""
  tmp = path.with_suffix('.json.tmp')
  with open(tmp, 'w', encoding='utf-8') as f:
    f.write(json.dumps(obj, indent=2, sort_keys=False) + '\n')
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)
  shards.sync(path.parent)


def _window_shape(info: dict[str, Any]) -> str:
  window = info.get('window', {})
  if window.get('dtype', 'int16') != 'int16':
    t, d = window['shape']
    return f'{t} steps x {d} {window["dtype"]} values'
  parts = f"{info['T']} steps x {info['P']} part{'s' if info['P'] > 1 else ''}"
  extra = window.get('shape', [0, info['P']])[-1] - info['P']  # a chord model's chord column
  return parts + (f' + {extra} control column' if extra > 0 else '')


def format_report(info: dict[str, Any], output_dir) -> str:
  """A few lines for a person: files, windows per split, why files were skipped, where."""
  c, s = info['counts'], info['splits']
  lines = [
      f"{info['config_name']}: {c['files_found']} MIDI files"
      + (f" ({c['files_not_in_split_csv']} not given a split by the split CSV, left out)"
         if c.get('files_not_in_split_csv') else '') + f", {c['files_read']} read, "
      f"{c['files_with_windows']} gave windows ({_window_shape(info)}).",
      f"  train: {s['train']['windows']} windows from {s['train']['files']} files in "
      f"{len(s['train']['shards'])} shard(s); eval: {s['eval']['windows']} windows from "
      f"{s['eval']['files']} files in {len(s['eval']['shards'])} shard(s).",
  ]
  if info['skipped_files']:
    lines.append('  skipped files: ' + ', '.join(
        f'{k} {v}' for k, v in sorted(info['skipped_files'].items(), key=lambda kv: -kv[1])))
  if info['dropped']:
    lines.append('  dropped pieces/windows: ' + ', '.join(
        f'{k} {v}' for k, v in sorted(info['dropped'].items(), key=lambda kv: -kv[1])))
  out = pathlib.Path(output_dir)
  lines.append(f'  wrote {out}/dataset.json, shards, sources.txt, skipped.jsonl (per file)'
               + (f", {len(info['run']['preview'])} preview MIDI in {out / 'preview'}"
                  if info.get('run', {}).get('preview') else ''))
  return '\n'.join(lines)

