"""dMelodies from its rules: the authors' arrays to the bit, checked against the reference's
checksums, and every item against a plain loop over the rules written out one by one."""

import itertools
import json
import re
import subprocess

import numpy as np
import pytest

from cli_process import argv
from conftest import SHARED, require_shared
from musicvae_jax.converters import dmelodies

REFERENCE = SHARED / 'reference' / 'dmelodies.md'


@pytest.fixture(scope='module')
def reference() -> str:
  require_shared(REFERENCE)
  return REFERENCE.read_text()


@pytest.fixture(scope='module')
def full():
  return dmelodies.generate()


def test_the_full_set_matches_the_authors_arrays(full, reference):
  sums = dict(re.findall(r'\| (tokens|factors) \(`\w+`\) \| [\d,]+ × \d+ \| `([0-9a-f]{64})` \|',
                         reference))
  assert set(sums) == {'tokens', 'factors'}
  assert full.tokens.shape == (1_354_752, 16) and full.factors.shape == (1_354_752, 9)
  assert dmelodies.sha256(full.tokens) == sums['tokens']
  assert dmelodies.sha256(full.factors) == sums['factors']


def test_token_names_are_the_references(full, reference):
  listed = re.search(r'Token ids: (.*?)(?:\n\n|\Z)', reference, re.S).group(1).replace('\n', ' ')
  pairs = re.findall(r'(\d+) ([^\s,]+)', listed)
  assert len(pairs) == 52
  assert full.vocabulary[2:] == tuple(name.rstrip('.') for _, name in pairs[2:])
  assert [int(i) for i, _ in pairs] == list(range(52))


def _by_the_rules(factors) -> list[int]:
  """One item's pitches (-1 rest), a loop over the rules as the reference states them."""
  tonic, octave, scale, r1, r2, *arps = (int(f) for f in factors)
  root = 12 * ((4, 5, 6)[octave] + 1) + tonic
  offsets = {0: (0, 2, 4, 5, 7, 9, 11, 12, 14), 1: (0, 2, 3, 5, 7, 8, 11, 12, 14),
             2: (0, 2, 3, 5, 6, 9, 10, 12, 14)}[scale]
  notes = []
  for degrees, arp in zip(((0, 2, 4), (3, 5, 7), (4, 6, 8), (0, 2, 4)), arps):
    chord = [root + offsets[d] for d in degrees]
    notes += chord[::-1] if arp else chord
  rhythms = list(itertools.combinations(range(8), 6))
  bars = []
  for onsets, bar_notes in ((rhythms[r1], notes[:6]), (rhythms[r2], notes[6:])):
    it = iter(bar_notes)
    bars += [next(it) if slot in onsets else -1 for slot in range(8)]
  return bars


def test_items_follow_the_rules(full):
  rng = np.random.default_rng(0)
  picks = np.concatenate([np.arange(40), rng.integers(0, dmelodies.NUM_ITEMS, 400),
                          [dmelodies.NUM_ITEMS - 1]])
  pitches = full.pitches()
  for i in picks:
    order = np.unravel_index(i, dmelodies.SIZES)  # last factor fastest
    assert full.factors[i].tolist() == list(order)
    assert pitches[i].tolist() == _by_the_rules(full.factors[i]), i
  # Every item: 12 notes and 4 rests, the hold token never used, pitches 60..109.
  assert np.all((full.tokens == dmelodies.REST).sum(1) == 4)
  assert not np.any(full.tokens == dmelodies.HOLD)
  assert pitches.max() == 109 and pitches[pitches >= 0].min() == 60
  # The factors are every combination, once each.
  flat = np.ravel_multi_index(full.factors.T, dmelodies.SIZES)
  assert np.array_equal(flat, np.arange(dmelodies.NUM_ITEMS))


def test_reference_spot_checks(full):
  assert full.tokens[0].tolist() == [2, 3, 4, 5, 6, 7, 0, 0, 4, 8, 9, 2, 3, 4, 0, 0]
  assert full.tokens[1].tolist()[11:] == [4, 3, 2, 0, 0]
  assert full.factors[1_000_000].tolist() == [8, 2, 1, 20, 4, 0, 0, 0, 0]
  assert full.tokens[1_000_000].tolist() == [33, 0, 0, 30, 40, 39, 42, 46, 40, 45, 48, 33, 0,
                                             30, 0, 40]


def test_slices_and_the_split_agree_with_the_full_set(full):
  some = dmelodies.generate(np.array([5, 1_000_000, 77]))
  assert np.array_equal(some.tokens, full.tokens[[5, 1_000_000, 77]])
  assert np.array_equal(some.split, full.split[[5, 1_000_000, 77]])
  counts = np.bincount(full.split, minlength=3) / dmelodies.NUM_ITEMS
  assert counts == pytest.approx([0.7, 0.2, 0.1], abs=1e-5)
  # The split is a shuffle, not blocks of the order: every tonic is in every part.
  for k in range(3):
    assert len(np.unique(full.factors[full.split == k, 0])) == 12
  with pytest.raises(ValueError, match='items 0 to 1354751'):
    dmelodies.generate([dmelodies.NUM_ITEMS])


def test_an_item_as_midi_keeps_its_notes(tmp_path, full):
  from note_seq import midi_io  # pylint: disable=g-import-not-at-top
  pitches = full.pitches()[1_000_000]
  path = tmp_path / 'item.mid'
  midi_io.sequence_proto_to_midi_file(dmelodies.to_note_sequence(pitches), str(path))
  back = midi_io.midi_file_to_note_sequence(str(path))
  assert [(n.pitch, round(n.start_time / 0.25)) for n in back.notes] == [
      (int(p), slot) for slot, p in enumerate(pitches) if p >= 0]
  assert all(n.end_time - n.start_time == pytest.approx(0.25, abs=1e-3) for n in back.notes)


def test_command_writes_arrays_labels_and_examples(tmp_path):
  out = tmp_path / 'dm'
  proc = subprocess.run(argv('musicvae-dmelodies', f'--output={out}', '--items=3000',
                             '--midi_examples=2'), capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  arrays = np.load(out / 'dmelodies.npz')
  again = dmelodies.generate(range(3000))
  assert np.array_equal(arrays['score_array'], again.tokens)
  assert np.array_equal(arrays['latent_array'], again.factors)
  info = json.loads((out / 'dmelodies.json').read_text())
  assert info['sha256']['score_array'] == dmelodies.sha256(again.tokens)
  assert info['vocabulary'][:4] == ['rest', '__', 'C4', 'E4']
  assert sum(info['split'].values()) == 3000
  examples = sorted((out / 'examples').glob('*.mid'))
  assert [p.name for p in examples] == ['dmelodies_0000000.mid', 'dmelodies_0002999.mid']
  assert all(p.with_suffix('.png').stat().st_size > 0 for p in examples)
  bad = subprocess.run(argv('musicvae-dmelodies', f'--output={out}', '--items=0'),
                       capture_output=True, text=True, timeout=300)
  assert bad.returncode != 0 and 'items' in bad.stderr
