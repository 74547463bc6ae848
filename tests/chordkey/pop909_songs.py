"""A handful of real POP909 songs for the chordkey tests (chosen from MANIFEST.csv by property).

Fixtures imported by the test modules: a conftest.py here would shadow tests/conftest.py for
the modules that import it by name.
"""

import csv
import pathlib

import pytest

from conftest import SHARED
from musicvae_jax.chordkey import pop909

POP909 = SHARED / 'data' / 'pop909'


def _pick_ids():
  rows = list(csv.DictReader(open(POP909 / 'MANIFEST.csv', encoding='utf-8')))
  plain = rows[0]['id']
  key_change = next(r['id'] for r in rows if int(r['n_key_segments']) > 1)
  triple = next(r['id'] for r in rows if r['num_beats_per_measure'] == '3')
  many_tempos = max(rows, key=lambda r: int(r['n_tempo_events']))['id']
  return [plain, key_change, triple, many_tempos]


@pytest.fixture(scope='session')
def pop909_dir() -> pathlib.Path:
  if not (POP909 / 'MANIFEST.csv').is_file():
    pytest.fail(f'POP909 is missing at {POP909}; set MUSICVAE_SHARED to the folder holding '
                'data/pop909.')
  return POP909


@pytest.fixture(scope='session')
def songs(pop909_dir):
  """4 songs: the first, the first with a key change, the first in triple metre, the one with
  the most tempo events."""
  return [pop909.load_song(i, pop909_dir) for i in _pick_ids()]
