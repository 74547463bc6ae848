"""dMelodies read back: ``parse`` recovers every factor of real generated items exactly, and
reads -1 where an edited row no longer says what a factor is."""

import time

import numpy as np
import pytest

from musicvae_jax.converters import dmelodies

TONIC, OCTAVE, SCALE, BAR1, BAR2 = range(5)
ARPS = slice(5, 9)


@pytest.fixture(scope='module')
def sample():
  """5,000 items at seeded random indices over the full set."""
  return dmelodies.generate(np.random.default_rng(0).choice(dmelodies.NUM_ITEMS, 5000, False))


def test_first_items_parse_exactly():
  items = dmelodies.generate(range(2001))
  np.testing.assert_array_equal(dmelodies.parse(items.tokens), items.factors)


def test_random_items_parse_exactly(sample):
  parsed = dmelodies.parse(sample.tokens)
  assert parsed.dtype == np.int32 and parsed.shape == (5000, 9)
  np.testing.assert_array_equal(parsed, sample.factors)


def test_item_one_million():
  item = dmelodies.generate([1_000_000])
  np.testing.assert_array_equal(dmelodies.parse(item.tokens), [[8, 2, 1, 20, 4, 0, 0, 0, 0]])


def test_parse_is_vectorised(sample):
  tokens = np.tile(sample.tokens, (20, 1))  # 100,000 rows
  start = time.perf_counter()
  parsed = dmelodies.parse(tokens)
  seconds = time.perf_counter() - start
  np.testing.assert_array_equal(parsed, np.tile(sample.factors, (20, 1)))
  # About 0.4 s on a loaded CPU; a loop over rows would take far more.
  assert seconds < 10, f'parse of 100,000 rows took {seconds:.1f} s'


def _with_rhythms(bar1: int, bar2: int) -> dmelodies.DMelodies:
  """100 items (other factors those of seeded random items) with these two rhythms."""
  index = np.random.default_rng(1).choice(dmelodies.NUM_ITEMS, 100, False)
  factors = dmelodies.factors_of(index)
  factors[:, BAR1], factors[:, BAR2] = bar1, bar2
  return dmelodies.generate(np.ravel_multi_index(factors.T, dmelodies.SIZES))


def test_a_note_moved_within_its_bar_reads_as_the_new_rhythm():
  items = _with_rhythms(0, 0)  # onsets 0-5 in each bar, rests on 6 and 7
  tokens = items.tokens.copy()
  tokens[:, [5, 6]] = tokens[:, [6, 5]]  # onsets 0-4, 6: rhythm 1 (the order is kept)
  expected = items.factors.copy()
  expected[:, BAR1] = 1
  np.testing.assert_array_equal(dmelodies.parse(tokens), expected)


def test_a_note_moved_into_the_other_bar_leaves_both_rhythms_unread():
  items = _with_rhythms(0, 27)  # bar 1 plays slots 0-5; bar 2 rests on 8 and 9
  tokens = items.tokens.copy()
  tokens[:, [5, 9]] = tokens[:, [9, 5]]  # 5 notes in bar 1, 7 in bar 2, same order
  parsed = dmelodies.parse(tokens)
  assert (parsed[:, BAR1:BAR2 + 1] == -1).all()
  # The 12 pitches in order are untouched, so tonic, octave, scale and arps still read.
  np.testing.assert_array_equal(np.delete(parsed, [BAR1, BAR2], 1),
                                np.delete(items.factors, [BAR1, BAR2], 1))


def test_a_note_dropped_leaves_its_bar_and_the_pitches_unread(sample):
  tokens = sample.tokens.copy()
  last = 8 + dmelodies.ONSETS[sample.factors[:, BAR2], -1]  # the last note of bar 2
  tokens[np.arange(len(tokens)), last] = dmelodies.REST
  parsed = dmelodies.parse(tokens)
  np.testing.assert_array_equal(parsed[:, BAR1], sample.factors[:, BAR1])
  assert (np.delete(parsed, BAR1, 1) == -1).all()


def test_a_changed_pitch_is_not_an_item(sample):
  vocabulary, ids = dmelodies._vocabulary_and_ids()
  pitches = sample.pitches()
  slot = dmelodies.ONSETS[sample.factors[:, BAR1], 3]  # first note of chord 2 (IV)
  rows = np.arange(len(pitches))
  tokens = sample.tokens.copy()
  tokens[rows, slot] = ids[pitches[rows, slot] + 1]  # a semitone up: still in the vocabulary
  assert (tokens[rows, slot] >= 2).all() and (tokens != sample.tokens).sum() == len(rows)
  parsed = dmelodies.parse(tokens)
  assert (parsed[:, [TONIC, OCTAVE, SCALE]] == -1).all() and (parsed[:, ARPS] == -1).all()
  np.testing.assert_array_equal(parsed[:, BAR1:BAR2 + 1], sample.factors[:, BAR1:BAR2 + 1])


@pytest.mark.parametrize('chord', range(4))
def test_a_reversed_chord_flips_only_its_arp(sample, chord):
  onsets = np.concatenate([dmelodies.ONSETS[sample.factors[:, BAR1]],
                           8 + dmelodies.ONSETS[sample.factors[:, BAR2]]], 1)
  slots = onsets[:, 3 * chord:3 * chord + 3]
  rows = np.arange(len(slots))[:, None]
  tokens = sample.tokens.copy()
  tokens[rows, slots] = tokens[rows, slots[:, ::-1]]
  expected = sample.factors.copy()
  expected[:, 5 + chord] = 1 - expected[:, 5 + chord]
  np.testing.assert_array_equal(dmelodies.parse(tokens), expected)


def test_a_hold_or_an_unknown_token_is_not_parsed(sample):
  first = dmelodies.ONSETS[sample.factors[:, BAR1], 0]
  rows = np.arange(len(first))
  for token in (dmelodies.HOLD, 52, 1000, -3):
    tokens = sample.tokens.copy()
    tokens[rows, first] = token
    parsed = dmelodies.parse(tokens)
    assert (np.delete(parsed, [BAR1, BAR2], 1) == -1).all(), token
    np.testing.assert_array_equal(parsed[:, BAR1:BAR2 + 1], sample.factors[:, BAR1:BAR2 + 1])
  tokens = sample.tokens[:1].copy()
  tokens[0, tokens[0] == dmelodies.REST] = dmelodies.HOLD  # 16 slots sound: nothing reads
  assert (dmelodies.parse(tokens) == -1).all()
  assert (dmelodies.parse(np.zeros((3, 16), np.int32)) == -1).all()


def test_parse_wants_rows_of_sixteen_slots():
  assert dmelodies.parse(np.zeros((0, 16), np.int32)).shape == (0, 9)
  with pytest.raises(ValueError, match='16'):
    dmelodies.parse(np.zeros((2, 8), np.int32))


def test_factor_matches(sample):
  order = np.random.default_rng(2).permutation(len(sample.tokens))
  tokens, factors = sample.tokens[order], sample.factors[order]
  matches = dmelodies.factor_matches(dmelodies.parse(tokens), factors)
  assert set(matches) == set(dmelodies.FACTOR_NAMES) | {'rhythm', 'arpeggio'}
  assert all(m.shape == (len(tokens),) and m.all() for m in matches.values())

  shifted = np.roll(factors, 1, axis=0)
  matches = dmelodies.factor_matches(dmelodies.parse(tokens), shifted)
  for i, name in enumerate(dmelodies.FACTOR_NAMES):
    np.testing.assert_array_equal(matches[name], factors[:, i] == shifted[:, i])
  np.testing.assert_array_equal(matches['rhythm'], (factors[:, 3:5] == shifted[:, 3:5]).all(1))
  np.testing.assert_array_equal(matches['arpeggio'], (factors[:, 5:] == shifted[:, 5:]).all(1))
  # Neighbours in a random order mostly differ: about 1/12 share a tonic, 1/16 all four arps.
  assert 0.03 < matches['tonic'].mean() < 0.15 and matches['arpeggio'].mean() < 0.12
  assert not matches['rhythm'].any() or matches['rhythm'].mean() < 0.01
