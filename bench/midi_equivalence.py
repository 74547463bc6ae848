"""The fast MIDI reader against note-seq on every file of the shared data, and their speeds.

  python bench/midi_equivalence.py [--data=../shared/data] [--workers=2] [--write]

Reads every .mid under --data (midi/melody, midi/drums, midi/multitrack, pop909/songs) with
``read_midi(parser='fast')`` and ``parser='note_seq'`` and requires the same outcome: the same
MidiReadError reason, or the same notes (pitch, velocity, start and end time to the last bit,
instrument, program, drum flag), tempos, time and key signatures, total time, ticks per quarter,
instrument names and counted warnings, and the same windows and skip counts from one config
of each converter family: for note_seq from ``converter.extract`` on its NoteSequence, for fast
from ``fast_extract.extract`` on the fast reader's arrays (what prepare runs with
``--midi_parser=fast``). Prints the counts, every difference, and each reader's parse time per file (the parse
alone, in the worker processes). ``--write`` adds the summary to the ``## prepare`` section of
BENCHMARKS.md (after what bench/prepare.py wrote there). Exits 1 on any difference.
"""

import argparse
import collections
import concurrent.futures
import os
import pathlib
import platform
import re
import sys
import time

import report  # bench/report.py

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = pathlib.Path(os.environ.get('MUSICVAE_SHARED', REPO.parent / 'shared')) / 'data'
CONFIGS = ('cat-mel_2bar_small', 'cat-drums_2bar_small', 'hierdec-trio_16bar')
_CONVERTERS = {}


def fields(sequence) -> tuple:
  return ([(n.pitch, n.velocity, n.start_time, n.end_time, n.instrument, n.program, n.is_drum)
           for n in sequence.notes],
          [(t.time, t.qpm) for t in sequence.tempos],
          [(t.time, t.numerator, t.denominator) for t in sequence.time_signatures],
          [(k.time, k.key, k.mode) for k in sequence.key_signatures],
          sequence.total_time, sequence.ticks_per_quarter,
          [(i.instrument, i.name) for i in sequence.instrument_infos])


def outcome(data: bytes, parser: str):
  """(fields or reason, warnings, {config: (windows, skip counts)}, parse seconds)."""
  from musicvae_jax import config_boundary  # pylint: disable=g-import-not-at-top
  from musicvae_jax import config_lib  # pylint: disable=g-import-not-at-top
  from musicvae_jax.converters import fast_extract  # pylint: disable=g-import-not-at-top
  from musicvae_jax.converters import midi_io  # pylint: disable=g-import-not-at-top
  if not _CONVERTERS:
    _CONVERTERS.update({c: config_boundary.converter_of(config_lib.get_config(c))
                        for c in CONFIGS})
  counts = collections.Counter()
  start = time.perf_counter()
  try:
    sequence = midi_io.read_midi_bytes(data, parser=parser, warning_counts=counts)
  except midi_io.MidiReadError as e:
    return e.reason, sorted(counts), None, time.perf_counter() - start
  seconds = time.perf_counter() - start
  if parser == 'fast':  # the path prepare takes: arrays, no NoteSequence
    arrays = midi_io.read_midi_bytes(data, arrays=True)
    extractions = {c: fast_extract.extract(conv, arrays) for c, conv in _CONVERTERS.items()}
  else:
    extractions = {c: conv.extract(sequence) for c, conv in _CONVERTERS.items()}
  windows = {c: ([(w.shape, w.dtype.str, w.tobytes()) for w in e.windows],
                 sorted(e.skipped.items())) for c, e in extractions.items()}
  return fields(sequence), sorted(counts), windows, seconds


def _warm_up() -> None:
  """Loads the converters and the compiled reader in a worker before any file is timed."""
  from musicvae_jax.converters import midi_io  # pylint: disable=g-import-not-at-top
  warm = next((REPO / 'data' / 'midi').rglob('*.mid'))
  for parser in midi_io.PARSERS:
    outcome(warm.read_bytes(), parser)


def compare(path: str):
  data = pathlib.Path(path).read_bytes()
  fast, slow = outcome(data, 'fast'), outcome(data, 'note_seq')
  diff = [what for what, i in (('outcome', 0), ('warnings', 1), ('windows', 2))
          if fast[i] != slow[i]]
  windows = sum(len(w[0]) for w in fast[2].values()) if fast[2] else 0
  return (fast[0] if isinstance(fast[0], str) else 'read', diff, fast[3], slow[3], windows,
          len(fast[0][0]) if not isinstance(fast[0], str) else 0)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--data', default=str(SHARED_DATA))
  parser.add_argument('--workers', type=int, default=2)
  parser.add_argument('--write', action='store_true')
  args = parser.parse_args()
  data = pathlib.Path(args.data)
  folders = sorted(p for p in (data / 'midi').iterdir() if p.is_dir()) + [data / 'pop909/songs']
  lines = ['| folder | files | read | rejected (same reason both ways) | notes | windows '
           '(3 configs) | differences | note_seq parse ms/file | fast parse ms/file | ratio |',
           '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |']
  total_diff, total_files = [], 0
  start = time.perf_counter()
  with concurrent.futures.ProcessPoolExecutor(args.workers, initializer=_warm_up) as pool:
    for folder in folders:
      paths = sorted(str(p) for p in folder.rglob('*.mid'))
      results = list(pool.map(compare, paths, chunksize=8))
      diff = [(p, r[1]) for p, r in zip(paths, results) if r[1]]
      total_diff += diff
      total_files += len(paths)
      reasons = collections.Counter(r[0] for r in results)
      fast_ms = 1e3 * sum(r[2] for r in results) / len(results)
      slow_ms = 1e3 * sum(r[3] for r in results) / len(results)
      read = reasons.pop('read', 0)
      why = ', '.join(f'{k} {v}' for k, v in sorted(reasons.items())) or '-'
      lines.append(
          f'| {folder.relative_to(data)} | {len(paths)} | {read} | {sum(reasons.values())} '
          f'({why}) | {sum(r[5] for r in results)} | {sum(r[4] for r in results)} | '
          f'{len(diff)} | {slow_ms:.1f} | {fast_ms:.1f} | {slow_ms / fast_ms:.1f}x |')
      print(lines[-1], file=sys.stderr)
  for path, what in total_diff:
    print(f'DIFFERENT {", ".join(what)}: {path}')
  command = 'python bench/midi_equivalence.py ' + ' '.join(sys.argv[1:])
  text = ('\n'.join(lines) + f'\n\n**{total_files} files, {len(total_diff)} differences** '
          f'between the two readers (outcome, counted warnings, windows and skip counts of '
          f'{", ".join(CONFIGS)}). Command: `{command.strip()}` ({time.perf_counter() - start:.0f} s) on '
          f'{os.cpu_count()} CPUs ({report.cpu_name()}), Python {platform.python_version()}, '
          f'{time.strftime("%Y-%m-%d")}. Parse ms/file: `read_midi_bytes` alone (bytes already '
          'read), mean over the folder, measured inside the worker processes after a warm-up '
          'file.')
  print(text)
  if args.write:
    path = REPO / 'BENCHMARKS.md'
    old = path.read_text()
    match = re.search(r'^## prepare\n.*?(?=^## |\Z)', old, re.S | re.M)
    section = match.group(0).rstrip('\n') if match else ''
    section = re.sub(r'\n\n### MIDI readers compared file by file\n.*', '', section, flags=re.S)
    report.write_section('prepare', section.removeprefix('## prepare\n\n')
                         + '\n\n### MIDI readers compared file by file\n\n' + text)
  sys.exit(1 if total_diff else 0)


if __name__ == '__main__':
  main()
