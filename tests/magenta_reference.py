"""Reads Magenta's reference windows (shared/reference/magenta_windows) for comparison tests.

Each reference file is JSON lines, one object per MIDI file, with its windows as integer class
lists (melody 0-89 per step, drums 0-511 per step, trio (mel, bass, drums) per step flattened
step-major). A window here becomes a tuple, and a file's windows a Counter (a multiset).
"""

import collections
import functools
import gzip
import json
import pathlib
import warnings

import numpy as np

from conftest import require_shared

with warnings.catch_warnings():
  warnings.simplefilter('ignore', RuntimeWarning)
  import note_seq


def load(path: pathlib.Path) -> dict[str, dict]:
  """{file basename: record} for one <config>__<folder>.jsonl.gz file."""
  require_shared(path)
  with gzip.open(path, 'rt') as fh:
    return {rec['file']: rec for rec in map(json.loads, fh)}


def window_key(labels_TxP: np.ndarray) -> tuple[int, ...]:
  """A window in the reference's flat encoding (step-major)."""
  return tuple(int(v) for v in np.asarray(labels_TxP).reshape(-1))


def multiset(windows) -> collections.Counter:
  return collections.Counter(window_key(w) for w in windows)


def reference_multiset(record: dict) -> collections.Counter:
  return collections.Counter(tuple(w) for w in record['windows'])


@functools.lru_cache(maxsize=None)
def note_sequence(path: str):
  """The NoteSequence of a MIDI file, parsed as the reference was (cached per test process)."""
  return note_seq.midi_file_to_note_sequence(path)


def mismatches(ours: dict, reference: dict, known_differences=()) -> list[str]:
  """One line per file whose window multiset differs from Magenta's.

  ``ours`` maps file basename -> Extraction; ``reference`` is ``load(...)``'s result.
  """
  assert sorted(ours) == sorted(reference), 'the file lists differ'
  lines = []
  for name in sorted(reference):
    if name in known_differences:
      continue
    got = multiset(ours[name].windows)
    want = reference_multiset(reference[name])
    if got != want:
      lines.append(f'{name}: ours {sum(got.values())} windows, Magenta '
                   f'{sum(want.values())}, only ours {sum((got - want).values())}, '
                   f'only Magenta {sum((want - got).values())}')
  return lines


def assert_matches(ours: dict, reference: dict, known_differences=()) -> None:
  bad = mismatches(ours, reference, known_differences)
  assert not bad, (f'{len(bad)}/{len(reference)} files differ from Magenta; first: '
                   + '; '.join(bad[:5]))
