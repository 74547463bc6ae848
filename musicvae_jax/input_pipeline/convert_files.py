"""One MIDI file -> its windows or the reason it has none; many files through a process pool.

``process_file`` never raises: a file that cannot be read or converted becomes a
``FileResult`` with a reason (the ``midi_io`` reasons, ``reader_error``, ``converter_error``,
``no_windows``) and a message, so one bad file among many is counted, never fatal. ``results``
yields the FileResults of a list of files in their order, from a pool or in-process; both
``prepare`` (in-process job) and ``prepare_beam`` (one call per file on Beam workers) convert
through ``process_file``.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import dataclasses
import multiprocessing
import os
import sys
from typing import Any

import numpy as np

from musicvae_jax import errors
from musicvae_jax import specs
from musicvae_jax.converters import get_converter, midi_io

REASONS_AFTER_READ = ('converter_error', 'no_windows')  # the MIDI itself was fine


@dataclasses.dataclass
class FileResult:
  """What one MIDI file gave; ``reason`` is empty iff ``windows`` has at least one window."""

  windows: np.ndarray  # int16 [N, T, P] (class labels) or float32 [N, T, D] (GrooVAE)
  reason: str = ''
  message: str = ''
  dropped: dict = dataclasses.field(default_factory=dict)  # Extraction.skipped
  warnings: dict = dataclasses.field(default_factory=dict)  # pretty_midi warnings, counted



def window_layout(converter) -> tuple[np.dtype, tuple[int, int]]:
  """(dtype, [T, columns]) of the windows ``converter`` gives, as prepare stores them: int16
  class labels [T, parts], or, for a converter with ``window_dtype`` float32 (GrooVAE),
  float32 values [T, output_depth]."""
  dtype = np.dtype(getattr(converter, 'window_dtype', np.int16))
  if np.issubdtype(dtype, np.floating):
    return dtype, (converter.max_seq_len, converter.output_depth)
  return dtype, (converter.max_seq_len, converter.num_parts)


def process_file(path, converter, limits: midi_io.MidiLimits = midi_io.MidiLimits(),
                 chords=None) -> FileResult:
  """Reads and converts one file. Never raises: any failure becomes a reason and a message.

  ``chords``: [(time s, chord symbol)] that replace the file's own chord symbols (from the
  chord/key model, ``--chord_source=model``); they need note-seq's NoteSequence, so the file is
  read by note-seq.
  """
  dtype, (t, p) = window_layout(converter)
  kind = np.floating if np.issubdtype(dtype, np.floating) else np.integer
  empty = np.zeros((0, t, p), dtype)
  warnings = collections.Counter()
  # The fast reader keeps notes, tempos and time signatures only; a converter that reads the
  # sustain pedal (hier-multiperf) gets note-seq's reading, whatever --midi_parser says.
  pedal = bool(getattr(converter, 'reads_control_changes', False))
  # notes as arrays, without NoteSequences
  arrays = limits.parser == 'fast' and not pedal and chords is None
  try:
    sequence = midi_io.read_midi(path, limits, warnings, arrays=arrays,
                                 parser='note_seq' if pedal or chords is not None else None)
    if chords is not None:
      from musicvae_jax.chordkey import model_chords  # pylint: disable=g-import-not-at-top
      model_chords.apply(sequence, chords)
  except midi_io.MidiReadError as e:
    return FileResult(empty, e.reason, e.message, warnings=dict(warnings))
  except Exception as e:  # read_midi promises not to; a bug there must not kill the job
    return FileResult(empty, 'reader_error', f'{type(e).__name__}: {e}'[:300])
  try:
    if getattr(converter, 'reads_files', False):
      # The chord/key converter reads the file itself (its beat grid and labels beside it);
      # the read above has vetted the bytes with the reasons every converter gives.
      extraction = converter.extract_file(path)
    elif arrays:
      from musicvae_jax.converters import fast_extract  # pylint: disable=g-import-not-at-top
      extraction = fast_extract.extract(converter, sequence)
    else:
      extraction = converter.extract(sequence)
    windows = [np.asarray(w) for w in extraction.windows]
    for w in windows:
      if w.shape != (t, p) or not np.issubdtype(w.dtype, kind):
        raise ValueError(f'converter gave a {w.dtype} window of shape {w.shape}, not [{t}, {p}]')
    dropped = {str(k): int(v) for k, v in extraction.skipped.items()}
  except Exception as e:
    return FileResult(empty, 'converter_error', f'{type(e).__name__}: {e}'[:300],
                      warnings=dict(warnings))
  if not windows:
    why = ', '.join(f'{k} x{v}' for k, v in sorted(dropped.items())) or 'nothing to extract'
    return FileResult(empty, 'no_windows', f'no {t}-step window ({why})', dropped,
                      dict(warnings))
  return FileResult(np.stack(windows).astype(dtype), dropped=dropped, warnings=dict(warnings))


# ---- the pool -----------------------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def _init_worker(data: specs.DataSpec, input_dir: str, limits: midi_io.MidiLimits,
                 chords=None) -> None:
  _WORKER.update(input_dir=input_dir, limits=limits, chords=chords)
  try:
    _WORKER['converter'] = get_converter(data)
  except Exception as e:  # reported per file; a raising initializer would respawn forever
    _WORKER['error'] = f'{type(e).__name__}: {e}'


def _work(rel_path: str) -> FileResult:
  if 'error' in _WORKER:
    return FileResult(np.zeros((0, 1, 1), np.int16), 'converter_error', _WORKER['error'])
  chords = _WORKER['chords']
  return process_file(os.path.join(_WORKER['input_dir'], rel_path), _WORKER['converter'],
                      _WORKER['limits'],
                      None if chords is None else chords.get(rel_path, []))


class WorkersDiedError(errors.UserError, RuntimeError):
  """A worker process died (at start, or while converting), so the job cannot go on."""


def _work_chunk(rel_paths: list[str]) -> list[FileResult]:
  return [_work(p) for p in rel_paths]


def _in_order(pool, files: list[str], chunksize: int, window: int):
  """FileResults of ``files`` in order, with at most ``window`` chunks in flight (so finished
  results never pile up in memory, however many files there are)."""
  pending = collections.deque()  # (first file of the chunk, its future)
  done, waiting_on = 0, None
  finished = []  # set once any chunk has come back from a worker

  def note(future):
    if not future.cancelled() and future.exception() is None:
      finished.append(True)

  def drain(count: int):
    nonlocal done, waiting_on
    while len(pending) > count:
      waiting_on, future = pending.popleft()
      for result in future.result():
        done += 1
        yield result

  try:
    for i in range(0, len(files), chunksize):
      pending.append((files[i], pool.submit(_work_chunk, files[i:i + chunksize])))
      pending[-1][1].add_done_callback(note)
      yield from drain(window - 1)
    yield from drain(0)
  except concurrent.futures.process.BrokenProcessPool as e:
    if not finished:
      main = getattr(sys.modules.get('__main__'), '__file__', None)
      raise WorkersDiedError(
          'prepare\'s worker processes died as they started, so no file was converted. Python '
          'starts them by importing the script that called prepare'
          + (f' ({main})' if main else '') + ': put that call under '
          '`if __name__ == "__main__":`, or pass workers=1.') from e
    raise WorkersDiedError(
        f'a prepare worker process died after {done} of {len(files)} files (killed by the '
        f'system, e.g. out of memory, or crashed) in the files from {waiting_on} on; run '
        'again with --workers=1 to find the file, or with more memory.') from e


@contextlib.contextmanager
def results(data: specs.DataSpec, input_dir, files: list[str], workers: int, limits,
            chords=None):
  """FileResults in file order, from a pool (workers > 1) or in-process. ``chords``:
  {relative path: chord changes} that replace the files' own (see ``process_file``)."""
  if workers <= 1:
    _init_worker(data, str(input_dir), limits, chords)
    try:
      yield map(_work, files)
    finally:
      _WORKER.clear()
    return
  # fork on Linux: workers start at once and work from any __main__ (stdin, notebooks). The
  # pool is made before the shard writers and the progress bar start their threads. Once JAX is
  # loaded (a notebook or test that also trains), its thread pools make fork unsafe, so the
  # workers come from a fork server instead. A worker that dies (a fork server or spawn re-runs
  # the caller's unguarded script in every worker) breaks the pool with a clear error rather than
  # being replaced for ever, as multiprocessing.Pool would.
  linux = sys.platform.startswith('linux')
  ctx = multiprocessing.get_context(
      ('forkserver' if 'jax' in sys.modules else 'fork') if linux else 'spawn')
  chunksize = max(1, min(8, len(files) // (workers * 16)))
  if limits.parser == 'fast' and ctx.get_start_method() == 'fork':
    # Load the compiled code once here: forked workers inherit it instead of each loading it.
    from musicvae_jax.converters import fast_extract  # pylint: disable=g-import-not-at-top
    fast_extract.warm_up()
  with concurrent.futures.ProcessPoolExecutor(
      workers, mp_context=ctx, initializer=_init_worker,
      initargs=(data, str(input_dir), limits, chords)) as pool:
    yield _in_order(pool, files, chunksize, window=4 * workers)
