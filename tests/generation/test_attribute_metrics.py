"""Attribute metrics on hand-built windows with known answers and on the bundled real MIDI."""

import time
import warnings

import numpy as np
import pytest

from musicvae_jax import config_boundary
from musicvae_jax import bundled_data
from musicvae_jax import config_lib
from musicvae_jax.converters import drums as drums_lib
from musicvae_jax.converters import midi_io
from musicvae_jax.generation import attribute_metrics as am

with warnings.catch_warnings():
  warnings.simplefilter('ignore', RuntimeWarning)
  from note_seq import sequences_lib

T = 32
OFF = 1


def _on(pitch: int) -> int:
  return pitch - 21 + 2


def _melody(events: dict[int, int], steps: int = T) -> np.ndarray:
  """A [steps, 1] melody window with ``events`` {step: label} and NO_EVENT elsewhere."""
  labels = np.zeros((steps, 1), dtype=np.int16)
  for step, label in events.items():
    labels[step, 0] = label
  return labels


def _one(window: np.ndarray, kind: str = 'melody') -> dict[str, float]:
  return {k: float(v[0]) for k, v in am.compute(window[None], kind).items()}


def _windows(config: str, kind: str, paths) -> np.ndarray:
  conv = config_boundary.converter_of(config_lib.get_config(config))
  windows = []
  for path in paths:
    windows.extend(conv.extract(midi_io.read_midi(path)).windows)
  return np.stack(windows)


@pytest.fixture(scope='module')
def mel_converter():
  return config_boundary.converter_of(config_lib.get_config('cat-mel_2bar_small'))


@pytest.fixture(scope='module')
def melody_windows() -> np.ndarray:
  """200 real 2-bar windows spread over every 8th bundled Nottingham tune."""
  paths = sorted(bundled_data.midi_dir('melody').glob('*.mid'))[::8]
  windows = _windows('cat-mel_2bar_small', 'melody', paths)
  return windows[np.linspace(0, len(windows) - 1, 200).astype(int)]


# ---- hand-built windows -------------------------------------------------------------------------
def test_eighths_on_the_beat_are_not_syncopated():
  attrs = _one(_melody({s: _on(60) for s in range(0, T, 2)}))
  assert attrs['syncopation_16th'] == 0 and attrs['syncopation_8th'] == 0
  assert attrs['note_density'] == 0.5 and attrs['average_interval'] == 0
  assert attrs['pitch_range'] == 0 and attrs['c_diatonic'] == 1


def test_eighths_shifted_by_a_sixteenth_and_held_are_16th_syncopated():
  # Steps 1, 3, ..., T - 3: each note lasts 2 steps (the last one until T).
  attrs = _one(_melody({s: _on(62) for s in range(1, T - 1, 2)}))
  assert attrs['syncopation_16th'] == 1 and attrs['syncopation_8th'] == 0


def test_off_beat_eighths_held_across_the_beat_are_8th_syncopated():
  # Steps 2, 6, ..., T - 6: each note lasts 4 steps (the last one until T).
  attrs = _one(_melody({s: _on(64) for s in range(2, T - 4, 4)}))
  assert attrs['syncopation_8th'] == 1 and attrs['syncopation_16th'] == 0


def test_syncopation_needs_the_note_held_past_the_next_boundary():
  # Odd 16ths cut by a note-off one step later; off-beat 8ths cut exactly at the beat.
  short_16ths = {s: _on(60) for s in range(1, T, 4)} | {s: OFF for s in range(2, T, 4)}
  assert _one(_melody(short_16ths))['syncopation_16th'] == 0
  short_8ths = {2: _on(60), 4: OFF, 10: _on(62), 13: OFF}
  attrs = _one(_melody(short_8ths))
  assert attrs['syncopation_8th'] == 0.5  # the note at 10 sounds until 13, past the beat at 12
  # The window's end ends a note: at step T - 1 (or T - 2) it is cut before the next boundary.
  assert _one(_melody({T - 1: _on(60)}))['syncopation_16th'] == 0
  assert _one(_melody({T - 2: _on(60)}))['syncopation_8th'] == 0


def test_c_major_scale():
  pitches = [60, 62, 64, 65, 67, 69, 71, 72]
  attrs = _one(_melody({4 * i: _on(p) for i, p in enumerate(pitches)}))
  assert attrs['c_diatonic'] == 1
  assert attrs['average_interval'] == pytest.approx(12 / 7)  # 2 2 1 2 2 2 1
  assert attrs['pitch_range'] == 12 and attrs['note_density'] == 8 / T


def test_chromatic_scale_and_octave_leap():
  chromatic = _one(_melody({2 * i: _on(60 + i) for i in range(12)}))
  assert chromatic['c_diatonic'] == pytest.approx(7 / 12)
  assert chromatic['average_interval'] == 1 and chromatic['pitch_range'] == 11
  # Rests between notes do not matter: 60, rest, 72 is one leap of 12.
  leap = _one(_melody({0: _on(60), 2: OFF, 16: _on(72)}))
  assert leap['pitch_range'] == 12 and leap['average_interval'] == 12
  assert leap['c_diatonic'] == 1
  sharps = _one(_melody({0: _on(61), 8: _on(66), 16: _on(70)}))
  assert sharps['c_diatonic'] == 0


def test_empty_and_single_note_windows_give_zeros():
  assert set(_one(_melody({})).values()) == {0.0}
  single = _one(_melody({5: _on(69)}))  # A4, held to T
  assert single['note_density'] == 1 / T and single['syncopation_16th'] == 1
  assert single['average_interval'] == 0 and single['pitch_range'] == 0
  assert single['c_diatonic'] == 1


def test_melody_notes_on_note_offs_and_holds():
  # A note-off before any note and a second note-off in a row end nothing.
  labels = _melody({0: OFF, 2: _on(60), 5: OFF, 7: OFF, 8: _on(62), 9: _on(64)})
  onsets, ends, pitches = am.melody_notes(labels)
  np.testing.assert_array_equal(onsets, [2, 8, 9])
  np.testing.assert_array_equal(ends, [5, 9, T])
  np.testing.assert_array_equal(pitches, [60, 62, 64])
  np.testing.assert_array_equal(am.melody_notes(labels[:, 0])[0], onsets)


def test_drums_hand_built():
  kick, snare, hat = 1, 2, 4
  labels = np.zeros((T, 1), dtype=np.int16)
  labels[[0, 1, 6, 8], 0] = [kick | hat, hat, snare | hat | kick, kick]
  attrs = _one(labels, 'drums')
  assert attrs['note_density'] == 7 / T  # 2 + 1 + 3 + 1 class hits
  assert attrs['syncopation_16th'] == 0.25 and attrs['syncopation_8th'] == 0.25
  assert set(_one(np.zeros((T, 1), np.int16), 'drums').values()) == {0.0}


def test_bad_kind_shape_and_labels_raise():
  window = _melody({0: _on(60)})[None]
  with pytest.raises(ValueError, match="'melody', 'drums', 'trio'"):
    am.compute(window, 'bass')
  with pytest.raises(ValueError, match="'melody', 'drums', 'trio'"):
    am.attribute_names('piano')
  with pytest.raises(ValueError, match='labels must be'):
    am.compute(window, 'trio')
  with pytest.raises(ValueError, match='0..89'):
    am.compute(window + 90, 'melody')
  with pytest.raises(ValueError, match='integers'):
    am.compute(window.astype(np.float32), 'melody')


# ---- real windows -------------------------------------------------------------------------------
def _reference(window: np.ndarray) -> dict[str, float]:
  """The definitions written out note by note from ``melody_notes``."""
  onsets, ends, pitches = am.melody_notes(window)
  n = len(onsets)
  if n == 0:
    return dict.fromkeys(am.MELODY_ATTRIBUTES, 0.0)
  return {
      'note_density': n / len(window),
      'average_interval': float(np.mean(np.abs(np.diff(pitches)))) if n > 1 else 0.0,
      'syncopation_16th': sum(o % 2 == 1 and e > o + 1 for o, e in zip(onsets, ends)) / n,
      'syncopation_8th': sum(o % 4 == 2 and e > o + 2 for o, e in zip(onsets, ends)) / n,
      'pitch_range': float(pitches.max() - pitches.min()),
      'c_diatonic': sum(p % 12 in (0, 2, 4, 5, 7, 9, 11) for p in pitches) / n,
  }


def test_real_melody_windows_match_the_note_by_note_definitions(melody_windows):
  attrs = am.compute(melody_windows, 'melody')
  assert tuple(attrs) == am.attribute_names('melody') == am.MELODY_ATTRIBUTES
  for i, window in enumerate(melody_windows):
    ref = _reference(window)
    for name in am.MELODY_ATTRIBUTES:
      assert attrs[name][i] == pytest.approx(ref[name]), (i, name)
    assert attrs['note_density'][i] == np.sum(window >= 2) / window.shape[0]


def test_real_melody_attributes_lie_in_range_and_vary(melody_windows):
  attrs = am.compute(list(melody_windows), 'melody')
  limits = {'note_density': 1, 'average_interval': 87, 'syncopation_16th': 1,
            'syncopation_8th': 1, 'pitch_range': 87, 'c_diatonic': 1}
  for name, values in attrs.items():
    assert values.shape == (200,) and values.dtype == np.float64
    assert values.min() >= 0 and values.max() <= limits[name], name
    assert np.ptp(values) > 0, name


def test_melody_notes_round_trip_through_the_decoder(melody_windows, mel_converter):
  for window in melody_windows[::10]:
    quantized = sequences_lib.quantize_note_sequence(mel_converter.from_labels(window), 4)
    notes = sorted(quantized.notes, key=lambda n: n.quantized_start_step)
    onsets, ends, pitches = am.melody_notes(window)
    assert len(notes) == len(onsets) > 0
    np.testing.assert_array_equal([n.quantized_start_step for n in notes], onsets)
    np.testing.assert_array_equal([n.quantized_end_step for n in notes], ends)
    np.testing.assert_array_equal([n.pitch for n in notes], pitches)


def test_real_drum_windows():
  paths = sorted(bundled_data.midi_dir('drums').glob('*.mid'))[::20]
  windows = _windows('cat-drums_2bar_small', 'drums', paths)
  attrs = am.compute(windows, 'drums')
  assert tuple(attrs) == am.attribute_names('drums') == am.DRUM_ATTRIBUTES
  rolls = np.stack([drums_lib.labels_to_roll(w) for w in windows])  # [N, T, 9]
  np.testing.assert_allclose(attrs['note_density'], rolls.sum(axis=(1, 2)) / windows.shape[1])
  hit_steps = rolls.any(axis=2)
  on_odd = hit_steps[:, 1::2].sum(axis=1)
  np.testing.assert_allclose(attrs['syncopation_16th'], on_odd / hit_steps.sum(axis=1))
  for name, values in attrs.items():
    assert values.min() >= 0 and np.ptp(values) > 0, name
    assert values.max() <= (drums_lib.NUM_CLASSES if name == 'note_density' else 1), name


def test_trio_gives_the_melody_part_attributes():
  paths = sorted(bundled_data.midi_dir('trio').glob('*.mid'))[:2]
  windows = _windows('hierdec-trio_16bar', 'trio', paths)
  assert windows.shape[1:] == (256, 3)
  attrs = am.compute(windows, 'trio')
  melody = am.compute(windows[:, :, :1], 'melody')
  bass = am.compute(windows[:, :, 1:2], 'melody')
  assert tuple(attrs) == am.attribute_names('trio') == am.MELODY_ATTRIBUTES
  for name in am.MELODY_ATTRIBUTES:
    np.testing.assert_array_equal(attrs[name], melody[name])
  assert any(not np.array_equal(attrs[name], bass[name]) for name in am.MELODY_ATTRIBUTES)


def test_two_thousand_windows_take_well_under_a_second(melody_windows):
  windows = np.tile(melody_windows, (10, 1, 1))
  start = time.perf_counter()
  attrs = am.compute(windows, 'melody')
  assert time.perf_counter() - start < 1.0
  assert attrs['note_density'].shape == (2000,)
