"""TrioConverter against Magenta's own windows (shared/reference/magenta_windows)."""

import math
import random
import tempfile
import warnings

import numpy as np
import pytest

from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax.converters import melody
from musicvae_jax.converters import trio
from musicvae_jax.converters import midi_io
import magenta_reference as mref

with warnings.catch_warnings():
  warnings.simplefilter('ignore', RuntimeWarning)
  import note_seq

CONFIG = 'hierdec-trio_16bar'
FOLDER = 'multitrack'

# Files whose windows deliberately differ from Magenta's, with the reason: none.
KNOWN_DIFFERENCES: dict[str, str] = {}


def _converter() -> trio.TrioConverter:
  return config_boundary.converter_of(config_lib.get_config(CONFIG))


def _canonical(window: np.ndarray) -> np.ndarray:
  """The round-trip normal form: melody and bass columns canonical, drums unchanged."""
  out = window.copy()
  out[:, :2] = melody.canonical_melody_labels(window[:, :2])
  return out


@pytest.fixture(scope='module')
def converter():
  return _converter()


@pytest.fixture(scope='module')
def extracted(shared_midi, converter):
  """{file name: Extraction} over the multitrack folder, every MIDI file parsed once by
  ``read_midi``'s default (fast) reader."""
  paths = sorted((shared_midi / FOLDER).glob('*.mid'))
  return {p.name: converter.extract(midi_io.read_midi(p)) for p in paths}


@pytest.fixture(scope='module')
def all_windows(extracted):
  distinct = {}
  for extraction in extracted.values():
    for w in extraction.windows:
      distinct.setdefault(w.tobytes(), w)
  return list(distinct.values())


@pytest.mark.slow
def test_windows_match_magenta(extracted, magenta_windows_dir):
  reference = mref.load(magenta_windows_dir / f'{CONFIG}__{FOLDER}.jsonl.gz')
  mref.assert_matches(extracted, reference, KNOWN_DIFFERENCES)
  # Magenta does not deduplicate trio windows: repeats survive.
  assert sum(len(e.windows) for e in extracted.values()) == 5141


@pytest.mark.slow
def test_window_shapes_and_skip_reasons(extracted, converter):
  assert converter.part_depths == (90, 90, 512)
  for name, extraction in extracted.items():
    for w in extraction.windows:
      assert w.shape == (256, 3) and w.dtype == np.int16
      assert w.min() >= 0 and w[:, :2].max() < 90 and w[:, 2].max() < 512
    if not extraction.windows:
      assert sum(extraction.skipped.values()) > 0, f'{name}: no windows and no skip reason'


@pytest.mark.slow
def test_labels_round_trip(all_windows, converter):
  assert len(all_windows) > 4000
  normalised = 0
  for w in all_windows:
    canonical = _canonical(w)
    normalised += not np.array_equal(canonical, w)
    np.testing.assert_array_equal(converter.to_labels(converter.from_labels(w)), canonical)
  # Trio parts are sliced out of whole-piece tracks, so a window can open on the NOTE_OFF of a
  # note that ended on its first step: the one thing the round trip normalises away.
  assert normalised > 0


@pytest.mark.slow
def test_midi_file_round_trip(all_windows, converter):
  sample = random.Random(0).sample(all_windows, 40)
  with tempfile.TemporaryDirectory() as tmp:
    for i, w in enumerate(sample):
      path = f'{tmp}/{i}.mid'
      note_seq.sequence_proto_to_midi_file(converter.from_labels(w), path)
      np.testing.assert_array_equal(
          converter.to_labels(note_seq.midi_file_to_note_sequence(path)), _canonical(w))


def test_to_tensors_and_from_tensors(shared_midi, converter):
  ns = mref.note_sequence(str(shared_midi / FOLDER / 'freedoom_d_map03.mid'))
  windows = converter.extract(ns).windows
  tensors = converter.to_tensors(ns)
  assert len(tensors.outputs) == len(windows) > 0
  assert converter.input_depth == converter.output_depth == 692
  for w, inputs, outputs in zip(windows, tensors.inputs, tensors.outputs):
    assert inputs.shape == outputs.shape == (256, 692)
    np.testing.assert_array_equal(outputs.sum(axis=-1), np.full(256, 3.0))
    np.testing.assert_array_equal(np.argmax(outputs[:, :90], -1), w[:, 0])
    np.testing.assert_array_equal(np.argmax(outputs[:, 90:180], -1), w[:, 1])
    np.testing.assert_array_equal(np.argmax(outputs[:, 180:], -1), w[:, 2])
  decoded = converter.from_tensors(tensors.outputs[:5])
  for w, seq in zip(windows, decoded):
    np.testing.assert_array_equal(converter.to_labels(seq), _canonical(w))


def test_melody_only_tune_has_no_trio(shared_midi, converter):
  ns = mref.note_sequence(str(shared_midi / 'melody' / 'nottingham_reelsa-c1.mid'))
  extraction = converter.extract(ns)
  assert extraction.windows == []
  assert extraction.skipped['trio_missing_instrument_type'] == 1


def test_from_labels_instruments(converter):
  window = np.zeros((256, 3), np.int16)
  window[0, 0], window[4, 0] = 72 - 19, melody.NOTE_OFF
  window[0, 1] = 36 - 19
  window[2, 2] = 1 + 2  # kick + snare
  ns = converter.from_labels(window)
  notes = sorted((n.instrument, n.program, n.is_drum, n.pitch, n.start_time, n.end_time)
                 for n in ns.notes)
  assert notes == [(0, 0, False, 72, 0.0, 0.5), (1, 33, False, 36, 0.0, 32.0),
                   (9, 0, True, 36, 0.25, 0.375), (9, 0, True, 38, 0.25, 0.375)]
  assert all(n.velocity == 80 for n in ns.notes)
  assert ns.tempos[0].qpm == 120 and math.isclose(ns.total_time, 32.0)


def _trio_sequence(bars, *, drum_bars=None, extra=()):
  """A 4/4, 120 qpm trio: melody (instrument 0), bass (1, program 33) and drums (9), one note a
  bar each with pitches that make every bar distinct; ``drum_bars`` limits the drum bars."""
  ns = note_seq.NoteSequence(ticks_per_quarter=220)
  ns.tempos.add(qpm=120)
  ns.time_signatures.add(numerator=4, denominator=4)

  def add(pitch, start, end, instrument, program=0, is_drum=False):
    ns.notes.add(pitch=pitch, start_time=start * 0.125, end_time=end * 0.125, velocity=100,
                 instrument=instrument, program=program, is_drum=is_drum)

  for bar in range(bars):
    add(40 + bar, bar * 16, bar * 16 + 8, 0)
    add(30 + bar % 7, bar * 16 + 4, bar * 16 + 12, 1, program=33)
    if drum_bars is None or bar in drum_bars:
      add(36, bar * 16, bar * 16 + 1, 9, is_drum=True)
  for note in extra:
    add(*note)
  ns.total_time = bars * 2.0
  return ns


def test_synthetic_trio_windows(converter):
  extraction = converter.extract(_trio_sequence(20))
  assert len(extraction.windows) == 5  # 16-bar windows, 1-bar hop, over 20 bars
  for j, w in enumerate(extraction.windows):
    assert w[0, 0] == 40 + j - 19 and w[8, 0] == melody.NOTE_OFF
    assert w[4, 1] == 30 + j % 7 - 19 and w[12, 1] == melody.NOTE_OFF
    assert w[0, 2] == 1 and w[1:16, 2].sum() == 0
  # Two melody instruments: the cross product doubles the windows (no dedup).
  extra = [(90, bar * 16, bar * 16 + 4, 2) for bar in range(20)]
  assert len(converter.extract(_trio_sequence(20, extra=extra)).windows) == 10
  # An instrument with a program outside melody and bass, or one mixing types, is ignored.
  invalid = [(60, 0, 4, 3, 40), (60, 0, 4, 4, 0), (40, 16, 20, 4, 33)]
  assert len(converter.extract(_trio_sequence(20, extra=invalid)).windows) == 5


def test_coverage_gaps_and_ends(converter):
  # A 4-bar drum gap is bridged by the 2-bar dilation from both sides; a 5-bar one is not.
  bridged = converter.extract(_trio_sequence(20, drum_bars=set(range(20)) - set(range(10, 14))))
  assert len(bridged.windows) == 5
  broken = converter.extract(_trio_sequence(20, drum_bars=set(range(20)) - set(range(10, 15))))
  assert broken.windows == [] and broken.skipped['trio_no_covered_window'] == 1
  # Drums stop after bar 16 of 20: dilation reaches bar 18, and Magenta's end leniency counts
  # the last 2 bars as covered because the melody and bass play there.
  lenient = converter.extract(_trio_sequence(20, drum_bars=set(range(17))))
  assert len(lenient.windows) == 5
  # Drums stop after bar 14: dilation reaches bar 16 and leniency covers bars 18-19, but bar 17
  # is uncovered, so only the windows ending by bar 16 remain.
  short = converter.extract(_trio_sequence(20, drum_bars=set(range(15))))
  assert len(short.windows) == 2
