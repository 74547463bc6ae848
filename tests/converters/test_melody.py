"""MelodyConverter against Magenta's own windows (shared/reference/magenta_windows)."""

import copy
import math
import random
import tempfile
import warnings

import numpy as np
import pytest

from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax.converters import melody
from musicvae_jax.converters import midi_io
import magenta_reference as mref

with warnings.catch_warnings():
  warnings.simplefilter('ignore', RuntimeWarning)
  import note_seq

CONFIGS = ('cat-mel_2bar_small', 'hierdec-mel_16bar')
FOLDERS = ('melody', 'multitrack')
CASES = [(c, f) for c in CONFIGS for f in FOLDERS]

# Files whose windows deliberately differ from Magenta's, with the reason: none. (Magenta
# dedupes a piece's windows with a set, we keep them in first-occurrence order: the multiset is
# the same.)
KNOWN_DIFFERENCES: dict[str, str] = {}


def _converter(config_name: str) -> melody.MelodyConverter:
  return config_boundary.converter_of(config_lib.get_config(config_name))


@pytest.fixture(scope='module')
def converters():
  return {name: _converter(name) for name in CONFIGS}


@pytest.fixture(scope='module')
def extracted(shared_midi, converters):
  """{(config, folder): {file name: Extraction}}, every MIDI file parsed once.

  Parsed by ``read_midi``'s default (fast) reader, compared with Magenta's windows.
  """
  out = {}
  for config_name, folder in CASES:
    paths = sorted((shared_midi / folder).glob('*.mid'))
    conv = converters[config_name]
    out[config_name, folder] = {p.name: conv.extract(midi_io.read_midi(p)) for p in paths}
  return out


@pytest.fixture(scope='module')
def all_windows(extracted):
  """{config: every distinct window extracted from the shared data (both folders)}."""
  out = {}
  for (config_name, _), per_file in extracted.items():
    distinct = out.setdefault(config_name, {})
    for extraction in per_file.values():
      for w in extraction.windows:
        distinct.setdefault(w.tobytes(), w)
  return {name: list(d.values()) for name, d in out.items()}


@pytest.mark.slow
@pytest.mark.parametrize('config_name,folder', CASES)
def test_windows_match_magenta(config_name, folder, extracted, magenta_windows_dir):
  reference = mref.load(magenta_windows_dir / f'{config_name}__{folder}.jsonl.gz')
  ours = extracted[config_name, folder]
  mref.assert_matches(ours, reference, KNOWN_DIFFERENCES)


@pytest.mark.slow
@pytest.mark.parametrize('config_name,folder', CASES)
def test_window_shapes_and_skip_reasons(config_name, folder, extracted, converters):
  conv = converters[config_name]
  for name, extraction in extracted[config_name, folder].items():
    for w in extraction.windows:
      assert w.shape == (conv.max_seq_len, 1) and w.dtype == np.int16
      assert 0 <= w.min() and w.max() < melody.NUM_CLASSES
      # As Magenta's Melody slices: no NOTE_OFF before a window's first onset.
      onsets = np.flatnonzero(w[:, 0] >= 2)
      assert not np.any(w[:onsets[0] if onsets.size else None, 0] == melody.NOTE_OFF)
    # Windows are deduplicated within a piece, so a file with one piece has no repeats.
    if not extraction.windows:
      assert sum(extraction.skipped.values()) > 0, f'{name}: no windows and no skip reason'


@pytest.mark.slow
@pytest.mark.parametrize('config_name', CONFIGS)
def test_labels_round_trip(config_name, all_windows, converters):
  conv = converters[config_name]
  windows = all_windows[config_name]
  assert len(windows) > 10_000
  for w in windows:
    back = conv.to_labels(conv.from_labels(w))
    np.testing.assert_array_equal(back, melody.canonical_melody_labels(w))


@pytest.mark.slow
@pytest.mark.parametrize('config_name', CONFIGS)
def test_midi_file_round_trip(config_name, all_windows, converters):
  conv = converters[config_name]
  sample = random.Random(0).sample(all_windows[config_name], 100)
  with tempfile.TemporaryDirectory() as tmp:
    for i, w in enumerate(sample):
      path = f'{tmp}/{i}.mid'
      note_seq.sequence_proto_to_midi_file(conv.from_labels(w), path)
      np.testing.assert_array_equal(
          conv.to_labels(note_seq.midi_file_to_note_sequence(path)),
          melody.canonical_melody_labels(w))


@pytest.mark.parametrize('config_name,steps', [('cat-mel_2bar_small', 32),
                                               ('hierdec-mel_16bar', 256)])
def test_to_tensors_and_from_tensors(config_name, steps, shared_midi):
  conv = _converter(config_name)
  assert conv.input_depth == conv.output_depth == 90
  ns = mref.note_sequence(str(shared_midi / 'melody' / 'nottingham_reelsa-c1.mid'))
  windows = conv.extract(ns).windows
  tensors = conv.to_tensors(ns)
  assert len(tensors.outputs) == len(windows) > 0
  assert tensors.lengths == [steps] * len(windows)
  for w, inputs, outputs in zip(windows, tensors.inputs, tensors.outputs):
    assert inputs.shape == outputs.shape == (steps, 90)
    np.testing.assert_array_equal(inputs, outputs)
    assert np.all(outputs.sum(axis=-1) == 1)
    np.testing.assert_array_equal(conv.tensors_to_labels(outputs), w)
  decoded = conv.from_tensors(tensors.outputs)
  assert len(decoded) == len(windows)
  for w, seq in zip(windows, decoded):
    np.testing.assert_array_equal(conv.to_labels(seq), melody.canonical_melody_labels(w))


def test_three_four_tune_gives_no_windows(shared_midi):
  conv = _converter('cat-mel_2bar_small')
  ns = mref.note_sequence(str(shared_midi / 'melody' / 'nottingham_ashover1.mid'))
  assert ns.time_signatures[0].numerator == 3
  extraction = conv.extract(ns)
  assert extraction.windows == []
  assert extraction.skipped['steps_per_bar_not_16'] >= 1


def test_four_four_tune_gives_windows(shared_midi):
  conv = _converter('cat-mel_2bar_small')
  ns = mref.note_sequence(str(shared_midi / 'melody' / 'nottingham_reelsa-c1.mid'))
  assert all((ts.numerator, ts.denominator) == (4, 4) for ts in ns.time_signatures)
  extraction = conv.extract(ns)
  assert len(extraction.windows) > 10
  keys = [w.tobytes() for w in extraction.windows]
  assert len(set(keys)) == len(keys)  # one piece: deduplicated
  # The first window starts on the bar of the melody's first note, with that note or silence.
  first = extraction.windows[0][:, 0]
  assert first[np.flatnonzero(first)[0]] >= 2


def _sequence(notes, *, total_time=None):
  """A 4/4, 120 qpm sequence of (pitch, start step, end step[, program[, instrument]]) notes."""
  ns = note_seq.NoteSequence(ticks_per_quarter=220)
  ns.tempos.add(qpm=120)
  ns.time_signatures.add(numerator=4, denominator=4)
  for note in notes:
    pitch, start, end = note[:3]
    program = note[3] if len(note) > 3 else 0
    instrument = note[4] if len(note) > 4 else 0
    ns.notes.add(pitch=pitch, start_time=start * 0.125, end_time=end * 0.125, velocity=100,
                 program=program, instrument=instrument)
  ns.total_time = total_time if total_time is not None else max(n.end_time for n in ns.notes)
  return ns


def test_polyphony_resolved_by_highest_note(shared_midi):
  conv = _converter('cat-mel_2bar_small')
  ns = mref.note_sequence(str(shared_midi / 'melody' / 'nottingham_reelsa-c1.mid'))
  windows = conv.extract(ns).windows
  # A chord tone a third below every note changes nothing: the highest note wins.
  below = copy.deepcopy(ns)
  for n in ns.notes:
    below.notes.add().CopyFrom(n)
    below.notes[-1].pitch = n.pitch - 4
  assert mref.multiset(conv.extract(below).windows) == mref.multiset(windows)
  # A note a fifth above every note wins instead: the same windows, 7 semitones up.
  above = copy.deepcopy(ns)
  for n in ns.notes:
    above.notes.add().CopyFrom(n)
    above.notes[-1].pitch = n.pitch + 7
  shifted = [np.where(w >= 2, w + 7, w).astype(np.int16) for w in windows]
  assert mref.multiset(conv.extract(above).windows) == mref.multiset(shifted)
  # Synthetic: C4+E4+G4 at step 0 gives G4; a later onset cuts the held note.
  labels = conv.to_labels(_sequence([(60, 0, 8), (64, 0, 8), (67, 0, 8), (62, 4, 6)]))[:, 0]
  assert labels[:7].tolist() == [67 - 19, 0, 0, 0, 62 - 19, 0, 1]


def test_gap_splits_melodies_and_bars_align():
  conv = melody.MelodyConverter(slice_bars=1)
  # Bar 0 holds a note at step 2; bar 3 holds one at step 50: a 2-bar silence splits them.
  extraction = conv.extract(_sequence([(60, 2, 4), (72, 50, 52)]))
  got = sorted(w[:, 0].tolist() for w in extraction.windows)
  first = [0] * 16
  first[2], first[4] = 60 - 19, 1
  second = [0] * 16
  second[2], second[4] = 72 - 19, 1
  assert got == sorted([first, second])
  # No gap splitting: one melody from bar 0 to bar 3, silent bars included.
  whole = melody.MelodyConverter(slice_bars=4, gap_bars=None).extract(
      _sequence([(60, 2, 4), (72, 50, 52)]))
  assert len(whole.windows) == 1 and whole.windows[0][50, 0] == 72 - 19


def test_window_start_drops_leading_note_off():
  conv = melody.MelodyConverter(slice_bars=1)
  # A note ends exactly on the bar line: Magenta's window of bar 1 starts with NO_EVENT.
  extraction = conv.extract(_sequence([(60, 0, 16), (62, 20, 22)]))
  bar1 = [w[:, 0].tolist() for w in extraction.windows if w[4, 0] == 62 - 19]
  assert bar1 and bar1[0][0] == melody.NO_EVENT


def test_max_bars_truncates_before_slicing():
  # 120 bars, each with two notes whose pitches make every bar distinct.
  notes = []
  for bar in range(120):
    notes.append((30 + bar % 60, bar * 16, bar * 16 + 8))
    notes.append((100 + bar // 60, bar * 16 + 8, bar * 16 + 16))
  ns = _sequence(notes)
  assert len(_converter('cat-mel_2bar_small').extract(ns).windows) == 99  # 100 bars, 2-bar windows
  assert len(_converter('hierdec-mel_16bar').extract(ns).windows) == 85
  assert len(melody.MelodyConverter(slice_bars=2, max_bars=None).extract(ns).windows) == 119


def test_valid_programs_and_pitch_range():
  ns = _sequence([(60, 0, 4, 0), (64, 4, 8, 40), (110, 8, 12, 0), (20, 12, 14, 0)])
  cat = melody.MelodyConverter(slice_bars=1, valid_programs=config_lib.MEL_PROGRAMS)
  hier = melody.MelodyConverter(slice_bars=1)  # any program
  assert [w[:, 0].tolist()[:16] for w in cat.extract(ns).windows] == [
      [60 - 19, 0, 0, 0, 1] + [0] * 11]
  assert [w[:, 0].tolist()[:16] for w in hier.extract(ns).windows] == [
      [60 - 19, 0, 0, 0, 64 - 19, 0, 0, 0, 1] + [0] * 7]
  assert cat.to_labels(ns)[4, 0] == melody.NOTE_OFF


def test_canonical_melody_labels():
  labels = np.array([1, 0, 50, 0, 1, 1, 0, 1, 40, 41, 0, 1], np.int16)
  expected = np.array([0, 0, 50, 0, 1, 0, 0, 0, 40, 41, 0, 1], np.int16)
  np.testing.assert_array_equal(melody.canonical_melody_labels(labels), expected)
  np.testing.assert_array_equal(melody.canonical_melody_labels(labels[:, None]),
                                expected[:, None])
  conv = melody.MelodyConverter(slice_bars=1)
  window = np.zeros((16, 1), np.int16)
  window[:12, 0] = labels
  np.testing.assert_array_equal(conv.to_labels(conv.from_labels(window)),
                                melody.canonical_melody_labels(window))


def test_from_labels_decodes_like_magenta():
  conv = _converter('cat-mel_2bar_small')
  window = np.zeros((32, 1), np.int16)
  window[0], window[4], window[8], window[30] = 60 - 19, 1, 72 - 19, 2
  ns = conv.from_labels(window)
  notes = [(n.pitch, n.start_time, n.end_time) for n in ns.notes]
  assert notes == [(60, 0.0, 0.5), (72, 1.0, 3.75), (21, 3.75, 4.0)]
  for n in ns.notes:
    assert n.velocity == 80 and n.program == 0 and n.instrument == 0 and not n.is_drum
  assert ns.tempos[0].qpm == 120 and math.isclose(ns.total_time, 4.0)
  # Trailing silence is kept in total_time.
  window[30] = 0
  assert math.isclose(conv.from_labels(window).total_time, 4.0)
