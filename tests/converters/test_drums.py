"""DrumsConverter against Magenta's own windows (shared/reference/magenta_windows)."""

import collections
import copy
import math
import random
import tempfile
import warnings

import numpy as np
import pytest

from musicvae_jax import config_boundary
from musicvae_jax.converters import get_converter
from musicvae_jax import config_lib
from musicvae_jax.converters import drums
from musicvae_jax.converters import midi_io
import magenta_reference as mref

with warnings.catch_warnings():
  warnings.simplefilter('ignore', RuntimeWarning)
  import note_seq
  from note_seq import sequences_lib

FOLDERS = ('drums', 'multitrack')
REFERENCE_CONFIG = 'cat-drums_2bar_small'

# Files whose windows deliberately differ from Magenta's, with the reason: none.
KNOWN_DIFFERENCES: dict[str, str] = {}


def _converter() -> drums.DrumsConverter:
  return get_converter(config_boundary.data_spec(config_lib.drums_data(slice_bars=2)))


@pytest.fixture(scope='module')
def converter():
  return _converter()


@pytest.fixture(scope='module')
def extracted(shared_midi, converter):
  """{folder: {file name: Extraction}}, every MIDI file parsed once by ``read_midi``'s default
  (fast) reader."""
  out = {}
  for folder in FOLDERS:
    paths = sorted((shared_midi / folder).glob('*.mid'))
    out[folder] = {p.name: converter.extract(midi_io.read_midi(p)) for p in paths}
  return out


@pytest.fixture(scope='module')
def all_windows(extracted):
  """Every distinct window extracted from the shared data (both folders)."""
  distinct = {}
  for per_file in extracted.values():
    for extraction in per_file.values():
      for w in extraction.windows:
        distinct.setdefault(w.tobytes(), w)
  return list(distinct.values())


@pytest.mark.slow
@pytest.mark.parametrize('folder', FOLDERS)
def test_windows_match_magenta(folder, extracted, magenta_windows_dir):
  reference = mref.load(magenta_windows_dir / f'{REFERENCE_CONFIG}__{folder}.jsonl.gz')
  ours = extracted[folder]
  mref.assert_matches(ours, reference, KNOWN_DIFFERENCES)


@pytest.mark.slow
@pytest.mark.parametrize('folder', FOLDERS)
def test_window_shapes_and_skip_reasons(folder, extracted, converter):
  for name, extraction in extracted[folder].items():
    for w in extraction.windows:
      assert w.shape == (converter.max_seq_len, 1) and w.dtype == np.int16
      assert 0 <= w.min() and w.max() < 512
    if not extraction.windows:
      assert sum(extraction.skipped.values()) > 0, f'{name}: no windows and no skip reason'


@pytest.mark.slow
def test_labels_round_trip_exactly(all_windows, converter):
  assert len(all_windows) > 10_000
  for w in all_windows:
    ns = converter.from_labels(w)
    np.testing.assert_array_equal(converter.to_labels(ns), w)


@pytest.mark.slow
def test_roll_inputs_match_labels(all_windows, converter):
  assert converter.input_depth == 10 and converter.output_depth == 512
  for w in all_windows[:2000]:
    inputs, outputs = converter.labels_to_tensors(w)
    assert inputs.shape == (32, 10) and outputs.shape == (32, 512)
    np.testing.assert_array_equal(np.argmax(outputs, axis=-1), w[:, 0])
    assert np.all(outputs.sum(axis=-1) == 1)
    bits = inputs[:, :9].astype(np.int64)
    np.testing.assert_array_equal((bits << np.arange(9)).sum(axis=-1), w[:, 0])
    np.testing.assert_array_equal(inputs[:, 9], (w[:, 0] == 0).astype(np.float32))
  np.testing.assert_array_equal(converter.tensors_to_labels(outputs), w)


def test_one_hot_inputs_without_roll():
  converter = drums.DrumsConverter(slice_bars=2, roll_input=False)
  assert converter.input_depth == 512
  w = np.arange(32, dtype=np.int16)[:, None] * 16
  inputs, outputs = converter.labels_to_tensors(w)
  np.testing.assert_array_equal(inputs, outputs)
  np.testing.assert_array_equal(np.argmax(inputs, axis=-1), w[:, 0])


@pytest.mark.slow
def test_midi_file_round_trip(all_windows, converter):
  sample = random.Random(0).sample(all_windows, 100)
  with tempfile.TemporaryDirectory() as tmp:
    for i, w in enumerate(sample):
      path = f'{tmp}/{i}.mid'
      note_seq.sequence_proto_to_midi_file(converter.from_labels(w), path)
      np.testing.assert_array_equal(
          converter.to_labels(note_seq.midi_file_to_note_sequence(path)), w)


def test_from_labels_writes_exemplars(converter):
  labels = np.zeros((32, 1), np.int16)
  labels[0] = 1 + 4  # kick + closed hi-hat
  labels[5] = 256  # ride
  ns = converter.from_labels(labels)
  notes = sorted((n.start_time, n.pitch) for n in ns.notes)
  assert notes == [(0.0, 36), (0.0, 42), (5 * 0.125, 51)]
  for n in ns.notes:
    assert n.is_drum and n.velocity == 80 and n.instrument == 9
    assert math.isclose(n.end_time - n.start_time, 0.125)
  assert ns.tempos[0].qpm == 120 and math.isclose(ns.total_time, 4.0)


def _drum_sequence(notes):
  """A 4/4, 120 qpm sequence of (pitch, start step, velocity, is_drum) 16th notes."""
  ns = note_seq.NoteSequence(ticks_per_quarter=220)
  ns.tempos.add(qpm=120)
  ns.time_signatures.add(numerator=4, denominator=4)
  for pitch, step, velocity, is_drum in notes:
    ns.notes.add(pitch=pitch, start_time=step * 0.125, end_time=(step + 1) * 0.125,
                 velocity=velocity, is_drum=is_drum, instrument=9 if is_drum else 0)
  ns.total_time = max(n.end_time for n in ns.notes)
  return sequences_lib.quantize_note_sequence(ns, 4)


def test_pitch_class_map():
  assert drums.PITCH_TO_CLASS[35] == drums.PITCH_TO_CLASS[36] == 0
  assert drums.PITCH_TO_CLASS[38] == 1 and drums.PITCH_TO_CLASS[51] == 8
  assert drums.CLASS_EXEMPLAR_PITCHES == (36, 38, 42, 46, 45, 48, 50, 49, 51)
  quantized = _drum_sequence([
      (35, 0, 100, True), (36, 0, 100, True),  # both kick: one bit
      (42, 2, 100, True),  # closed hi-hat
      (25, 3, 100, True), (100, 4, 100, True),  # unmapped drum pitches: ignored
      (38, 5, 100, False),  # not a drum: ignored
      (49, 6, 0, True),  # zero velocity: ignored
      (53, 7, 100, True), (82, 7, 100, True),  # ride twice: one bit
  ])
  tracks = drums.extract_drum_label_tracks(quantized, gap_bars=1.0, max_bars=100, pad_end=True)
  assert len(tracks) == 1
  expected = np.zeros(16, np.int16)
  expected[0], expected[2], expected[7] = 1, 4, 256
  np.testing.assert_array_equal(tracks[0], expected)


def test_gap_splitting_and_padding():
  # Hits in bar 1 and in bar 4: a 2-bar gap splits them at gap_bars=1, not at gap_bars=None.
  quantized = _drum_sequence([(36, 17, 100, True), (38, 66, 100, True)])
  assert quantized.total_quantized_steps == 67
  split = drums.extract_drum_label_tracks(quantized, gap_bars=1.0, max_bars=100, pad_end=True)
  assert [len(t) for t in split] == [16, 16]
  assert split[0][1] == 1 and split[1][2] == 2
  whole = drums.extract_drum_label_tracks(quantized, gap_bars=None, max_bars=None, pad_end=True)
  assert [len(t) for t in whole] == [64]  # from bar 1 to the end of bar 4
  padded = drums.extract_drum_label_tracks(quantized, gap_bars=None, max_bars=None,
                                           pad_end=True, pad_to_total_time=True)
  assert [len(t) for t in padded] == [67]  # left-padded to step 0, cut to the total steps
  assert np.flatnonzero(padded[0]).tolist() == [17, 66]
  capped = drums.extract_drum_label_tracks(quantized, gap_bars=None, max_bars=2, pad_end=True)
  assert [len(t) for t in capped] == [32]
  assert drums.extract_drum_label_tracks(quantized, gap_bars=1.0, max_bars=None, pad_end=True,
                                         min_bars=2) == []


def test_extract_drum_label_tracks_pad_to_total_time_real_file(shared_midi):
  ns = mref.note_sequence(str(shared_midi / 'multitrack' / 'freedoom_d_map03.mid'))
  drum_instruments = {n.instrument for n in ns.notes if n.is_drum}
  assert drum_instruments == {0}
  # As TrioConverter does: the drum instrument alone, its total time set to whole bars.
  instrument = copy.deepcopy(ns)
  del instrument.notes[:]
  instrument.notes.extend(n for n in ns.notes if n.is_drum)
  instrument.total_time = ns.total_time + 3.0
  quantized = sequences_lib.quantize_note_sequence(instrument, 4)
  total = quantized.total_quantized_steps
  tracks = drums.extract_drum_label_tracks(quantized, gap_bars=None, max_bars=None,
                                           pad_end=True, pad_to_total_time=True)
  assert len(tracks) == 1 and len(tracks[0]) == total
  # Independently: OR of the class bits of every mapped onset, per step.
  expected = np.zeros(total, np.int64)
  for n in quantized.notes:
    if n.velocity and n.pitch in drums.PITCH_TO_CLASS:
      expected[n.quantized_start_step] |= 1 << drums.PITCH_TO_CLASS[n.pitch]
  np.testing.assert_array_equal(tracks[0], expected)
  assert tracks[0][-16:].sum() == 0  # the extra total time is silent padding
  # With the 1-bar gap and no padding, every track is a bar-aligned stretch of the whole one.
  pieces = drums.extract_drum_label_tracks(quantized, gap_bars=1.0, max_bars=None, pad_end=True)
  assert pieces
  for piece in pieces:
    assert len(piece) % 16 == 0 and piece[:16].any()
    assert any(np.array_equal(expected[start:start + len(piece)], piece)
               for start in range(0, total - len(piece) + 1, 16))
  assert sum(int(np.count_nonzero(p)) for p in pieces) == int(np.count_nonzero(expected))


@pytest.mark.slow
def test_label_tracks_cover_magenta_trio_drums(shared_midi, magenta_windows_dir):
  """Every drum part of Magenta's trio windows is a slice of a pad_to_total_time drum track."""
  reference = mref.load(magenta_windows_dir / 'hierdec-trio_16bar__multitrack.jsonl.gz')
  missing = collections.Counter()
  total = 0
  for name, record in sorted(reference.items()):
    if not record['windows']:
      continue
    ns = mref.note_sequence(str(shared_midi / 'multitrack' / name))
    slices = set()
    for piece in sequences_lib.split_note_sequence_on_time_changes(ns):
      try:
        quantized = sequences_lib.quantize_note_sequence(piece, 4)
      except (sequences_lib.BadTimeSignatureError, sequences_lib.NegativeTimeError,
              sequences_lib.MultipleTimeSignatureError, sequences_lib.MultipleTempoError):
        continue
      if sequences_lib.steps_per_bar_in_quantized_sequence(quantized) != 16:
        continue
      total_bars = min(math.ceil(quantized.total_quantized_steps / 16), 1024)
      for i in {n.instrument for n in quantized.notes if n.is_drum}:
        instrument = copy.deepcopy(piece)
        del instrument.notes[:]
        instrument.notes.extend(n for n in piece.notes if n.instrument == i)
        instrument.total_time = total_bars * 16 * 60 / piece.tempos[0].qpm / 4
        tracks = drums.extract_drum_label_tracks(
            sequences_lib.quantize_note_sequence(instrument, 4), gap_bars=None, max_bars=None,
            pad_end=True, pad_to_total_time=True)
        for track in tracks:
          for start in range(0, len(track) - 256 + 1, 16):
            slices.add(tuple(int(v) for v in track[start:start + 256]))
    for window in record['windows']:
      total += 1
      if tuple(window[2::3]) not in slices:
        missing[name] += 1
  assert total > 5000
  assert not missing, f'trio drum parts not found: {dict(missing)}'
