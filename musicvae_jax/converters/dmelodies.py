"""dMelodies generated from its rules: every item, its factors, the canonical order, a split.

dMelodies (Pati, Gururani, Lerch, ISMIR 2020) is every combination of 9 factors of a two-bar 4/4
arpeggio melody in eighth notes, 1,354,752 items. Its licence (CC BY-NC-SA) does not suit
shipping it; its rules do, and ``generate`` follows them exactly (``../shared/reference/
dmelodies.md`` has the rules and the checksums of the authors' arrays, which the tests match):

* item i is the i-th element of the product of the factors below, last factor fastest;
* root pitch 12·(octave + 1) + tonic; the scale's offsets by degree; chords I, IV, V, I as
  degrees (0, 2, 4), (3, 5, 7), (4, 6, 8), (0, 2, 4), a ``down`` chord's three notes reversed;
* bar 1 places chords 1-2's six notes on rhythm_bar1's onsets (the value-th element of
  ``combinations(range(8), 6)``), bar 2 chords 3-4 on rhythm_bar2's; other slots are rests;
* tokens: 0 rest, 1 hold (never used), then the pitches in order of first appearance, spelled
  as music21 spells them.

Shapes: N items, 16 eighth-note slots. Pure numpy; the whole set takes about a second.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools

import numpy as np

from musicvae_jax.converters.base import NoteSequence

FACTORS = (('tonic', tuple('C C# D E- E F F# G G# A B- B'.split())),
           ('octave', (4, 5, 6)),
           ('scale', ('major', 'minor', 'blues')),
           ('rhythm_bar1', tuple(range(28))),
           ('rhythm_bar2', tuple(range(28))),
           ('arp_chord1', ('up', 'down')),
           ('arp_chord2', ('up', 'down')),
           ('arp_chord3', ('up', 'down')),
           ('arp_chord4', ('up', 'down')))
FACTOR_NAMES = tuple(name for name, _ in FACTORS)
SIZES = tuple(len(values) for _, values in FACTORS)
NUM_ITEMS = int(np.prod(SIZES))  # 1,354,752
SLOTS = 16  # eighth notes over two bars of 4/4
REST, HOLD = 0, 1
SCALE_OFFSETS = np.array([[0, 2, 4, 5, 7, 9, 11, 12, 14],    # major
                          [0, 2, 3, 5, 7, 8, 11, 12, 14],    # harmonic minor
                          [0, 2, 3, 5, 6, 9, 10, 12, 14]])   # blues
CHORD_DEGREES = np.array([[0, 2, 4], [3, 5, 7], [4, 6, 8], [0, 2, 4]])  # I IV V I
ONSETS = np.array(list(itertools.combinations(range(8), 6)))  # [28, 6] slots of each rhythm
PITCH_CLASS_NAMES = FACTORS[0][1]
SPLIT_FRACTIONS = (0.7, 0.2)  # train, validation; the rest test
SPLIT_NAMES = ('train', 'validation', 'test')


def note_name(pitch: int) -> str:
  """music21's spelling of a MIDI pitch (60 -> 'C4', 63 -> 'E-4')."""
  return f'{PITCH_CLASS_NAMES[pitch % 12]}{pitch // 12 - 1}'


@dataclasses.dataclass(frozen=True)
class DMelodies:
  """``tokens`` [N, 16] and ``factors`` [N, 9] int32 in canonical order (``index`` says which
  items of the full set they are); ``vocabulary`` names each token id; ``split`` [N] uint8 is
  0 train, 1 validation, 2 test."""
  tokens: np.ndarray
  factors: np.ndarray
  index: np.ndarray
  vocabulary: tuple[str, ...]
  split: np.ndarray

  def pitches(self) -> np.ndarray:
    """[N, 16] MIDI pitch of each slot, -1 on rests."""
    table = np.array([-1, -1] + [_pitch_of(n) for n in self.vocabulary[2:]])
    return table[self.tokens]


def _pitch_of(name: str) -> int:
  return (int(name[-1]) + 1) * 12 + PITCH_CLASS_NAMES.index(name[:-1])


def factors_of(index: np.ndarray) -> np.ndarray:
  """[N, 9] factor values of items ``index`` of the canonical order."""
  return np.stack(np.unravel_index(np.asarray(index, np.int64), SIZES), axis=-1).astype(np.int32)


def pitches_of(factors_Nx9: np.ndarray) -> np.ndarray:
  """[N, 16] MIDI pitch of each slot (-1: rest) of the items with these factors."""
  f = np.asarray(factors_Nx9, np.int64)
  n = len(f)
  tonic, octave, scale = f[:, 0], np.take(FACTORS[1][1], f[:, 1]), f[:, 2]
  root = 12 * (octave + 1) + tonic
  degrees = np.broadcast_to(CHORD_DEGREES, (n, 4, 3))
  degrees = np.where(f[:, 5:9, None] == 1, degrees[..., ::-1], degrees)  # down: reversed
  notes = root[:, None] + np.take_along_axis(SCALE_OFFSETS[scale], degrees.reshape(n, 12), 1)
  out = np.full((n, SLOTS), -1, np.int64)
  rows = np.arange(n)[:, None]
  out[rows, ONSETS[f[:, 3]]] = notes[:, :6]
  out[rows, 8 + ONSETS[f[:, 4]]] = notes[:, 6:]
  return out


@functools.lru_cache(maxsize=1)
def _vocabulary_and_ids() -> tuple[tuple[str, ...], np.ndarray]:
  """Token names in order of first appearance over the full set, and a pitch -> id table."""
  flat = pitches_of(factors_of(np.arange(NUM_ITEMS))).reshape(-1)
  played = flat >= 0
  values, first = np.unique(flat[played], return_index=True)
  order = values[np.argsort(first)]
  ids = np.zeros(128 + 2, np.int32)
  ids[order] = np.arange(2, 2 + len(order))
  return ('rest', '__') + tuple(note_name(int(p)) for p in order), ids


@functools.lru_cache(maxsize=2)
def _splits(seed: int) -> np.ndarray:
  perm = np.random.default_rng(seed).permutation(NUM_ITEMS)
  cut1 = int(SPLIT_FRACTIONS[0] * NUM_ITEMS)
  cut2 = cut1 + int(SPLIT_FRACTIONS[1] * NUM_ITEMS)
  split = np.full(NUM_ITEMS, 2, np.uint8)
  split[perm[:cut1]] = 0
  split[perm[cut1:cut2]] = 1
  return split


def _split_of(index: np.ndarray, seed: int = 0) -> np.ndarray:
  """0/1/2 (train/validation/test) of each item: a seeded permutation of the full set cut
  70/20/10 (this project's split; the reference gives none), so an item's split does not
  depend on which slice was generated."""
  return _splits(seed)[index]


def generate(index=None, *, split_seed: int = 0) -> DMelodies:
  """dMelodies, all of it or the items ``index`` (e.g. ``range(1000)``, or any index array)."""
  # Token ids come from first appearances over the whole set, so any slice spells them the same.
  vocabulary, ids = _vocabulary_and_ids()
  index = np.arange(NUM_ITEMS) if index is None else np.asarray(list(index) if isinstance(index, range)
                                                else index, np.int64)
  if index.size and (index.min() < 0 or index.max() >= NUM_ITEMS):
    raise ValueError(f'dMelodies has items 0 to {NUM_ITEMS - 1}; got {index.min()}..'
                     f'{index.max()}')
  factors = factors_of(index)
  pitches = pitches_of(factors)
  tokens = np.where(pitches >= 0, ids[np.maximum(pitches, 0)], REST).astype(np.int32)
  return DMelodies(tokens, factors, index, vocabulary, _split_of(index, split_seed))


@functools.lru_cache(maxsize=1)
def _parse_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
  """Token id -> MIDI pitch (-1: rest, hold), bar onset mask -> rhythm (-1: none), and the 108
  (tonic, octave, scale) combinations [108, 3] with their notes all chords up [108, 4, 3]."""
  vocabulary, _ = _vocabulary_and_ids()
  pitch_of_id = np.array([-1, -1] + [_pitch_of(n) for n in vocabulary[2:]], np.int16)
  rhythm_of_mask = np.full(256, -1, np.int32)
  rhythm_of_mask[(1 << ONSETS).sum(1)] = np.arange(len(ONSETS))
  combos = np.stack(np.meshgrid(*map(np.arange, SIZES[:3]), indexing='ij'), -1).reshape(-1, 3)
  factors = np.zeros((len(combos), len(SIZES)), np.int64)
  factors[:, :3] = combos
  pitches = pitches_of(factors)  # rhythm 0, every chord up
  up = pitches[pitches >= 0].reshape(len(combos), 4, 3).astype(np.int16)
  return pitch_of_id, rhythm_of_mask, combos.astype(np.int32), up


def parse(tokens_NxS: np.ndarray, chunk: int = 4096) -> np.ndarray:
  """[N, 9] int32 factors read back from token rows [N, 16]; -1 where a factor cannot be read.

  A bar's rhythm is read from its non-rest slots (exactly 6 of 8, else -1). Tonic, octave,
  scale and the arp directions are read from the 12 played pitches in order (a row with another
  count, a hold or an unknown id gives -1): they are set when exactly one of the 108 (tonic,
  octave, scale) combinations has each 3-note chord equal to its chord up or reversed (down).
  So a row that is some item gives exactly that item's factors. Works ``chunk`` rows at a time.
  """
  tokens = np.asarray(tokens_NxS, np.int64)
  if tokens.ndim != 2 or tokens.shape[1] != SLOTS:
    raise ValueError(f'parse wants token rows [N, {SLOTS}]; got shape {tokens.shape}')
  pitch_of_id, rhythm_of_mask, combos, up = _parse_tables()
  out = np.full((len(tokens), len(SIZES)), -1, np.int32)
  played = tokens != REST
  bits = 1 << np.arange(8)
  out[:, 3] = rhythm_of_mask[played[:, :8] @ bits]
  out[:, 4] = rhythm_of_mask[played[:, 8:] @ bits]
  known = (tokens >= 0) & (tokens < len(pitch_of_id))
  pitch = np.where(known, pitch_of_id[np.where(known, tokens, REST)], -1)
  rows = np.flatnonzero((played.sum(1) == 12) & ((pitch >= 0) == played).all(1))
  notes = pitch[rows][played[rows]].reshape(-1, 4, 3)  # played pitches in slot order
  code = np.array([1 << 14, 1 << 7, 1])  # a chord (pitches < 128) as one number
  chords = (notes @ code)[:, :, None]  # [n, 4, 1]
  up_code, down_code = (up @ code).T, (up[..., ::-1] @ code).T  # [4, 108]
  for start in range(0, len(rows), chunk):
    x = chords[start:start + chunk]
    down_fit = x == down_code  # [n, 4, 108]
    fits = ((x == up_code) | down_fit).all(1)  # [n, 108]
    one = fits.sum(1) == 1
    combo = fits.argmax(1)[one]
    at = rows[start:start + chunk][one]
    out[at, :3] = combos[combo]
    out[at, 5:] = down_fit[one, :, combo]
  return out


def factor_matches(parsed_Nx9: np.ndarray, expected_Nx9: np.ndarray) -> dict[str, np.ndarray]:
  """[N] booleans parsed == expected per factor of ``FACTOR_NAMES``, plus 'rhythm' (both bars)
  and 'arpeggio' (all four chords' directions)."""
  same = np.asarray(parsed_Nx9) == np.asarray(expected_Nx9)
  matches = {name: same[:, i] for i, name in enumerate(FACTOR_NAMES)}
  matches['rhythm'] = same[:, 3:5].all(1)
  matches['arpeggio'] = same[:, 5:9].all(1)
  return matches


def sha256(array: np.ndarray) -> str:
  """The checksum the reference gives: little-endian int32, C order."""
  return hashlib.sha256(np.ascontiguousarray(array, '<i4').tobytes()).hexdigest()


def to_note_sequence(pitches_S: np.ndarray, qpm: float = 120.0) -> NoteSequence:
  """One item as a NoteSequence: an eighth note per played slot, rests silent, 4/4."""
  seq = NoteSequence(ticks_per_quarter=220)
  seq.tempos.add(time=0.0, qpm=qpm)
  seq.time_signatures.add(time=0.0, numerator=4, denominator=4)
  step = 30.0 / qpm
  for slot, pitch in enumerate(np.asarray(pitches_S)):
    if pitch >= 0:
      seq.notes.add(pitch=int(pitch), velocity=80, start_time=slot * step,
                    end_time=(slot + 1) * step, instrument=0, program=0)
  seq.total_time = len(pitches_S) * step
  return seq
