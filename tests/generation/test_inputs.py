"""A user's MIDI -> the model's windows: real tunes, grooves and songs, and why some are refused."""

import math
import warnings

import numpy as np
import pytest

from conftest import SHARED
from musicvae_jax import config_boundary
from musicvae_jax import bundled_data
from musicvae_jax import config_lib
from musicvae_jax.converters import drums as drums_lib
from musicvae_jax.converters import midi_io
from musicvae_jax.generation import inputs

with warnings.catch_warnings():
  warnings.simplefilter('ignore', RuntimeWarning)
  import note_seq
  from note_seq import sequences_lib

MELODY = bundled_data.midi_dir('melody')
DRUMS = bundled_data.midi_dir('drums')
MULTITRACK = bundled_data.midi_dir('trio')
TUNE_32_BARS = MELODY / 'nottingham_reelsa-c14.mid'  # 4/4, 120 qpm, 512 steps, monophonic
# Human drumming (Groove MIDI), played around the grid: hits fall a hair before bar lines.
GROOVES = ('gmd_drummer1_session1_5_jazz-funk_116_beat_4-4.mid',
           'gmd_drummer7_session1_39_hiphop_100_beat_4-4.mid')
SONG = MULTITRACK / 'freedoom_d_e1m1.mid'  # 4/4; chords in programs 0-31, bass, drums
# 4/4; its programs 0-31 play a line (7 % overlaps), the other programs chords and pads.
LEAD_AND_BAND = MULTITRACK / 'freedoom_d_dm04.mid'
WALTZ = SHARED / 'data' / 'midi' / 'melody' / 'nottingham_waltzes3.mid'  # 3/4 throughout
FIRST_PITCH_LABEL = 2


def _converter(name):
  return config_boundary.converter_of(config_lib.get_config(name))


@pytest.fixture(scope='module')
def mel():
  return _converter('cat-mel_2bar_small')


@pytest.fixture(scope='module')
def drums():
  return _converter('cat-drums_2bar_small')


@pytest.fixture(scope='module')
def trio():
  return _converter('hierdec-trio_16bar')


def _step_seconds(ns, converter):
  qpm = ns.tempos[0].qpm if ns.tempos else 120.0
  return 60.0 / qpm / converter.steps_per_quarter


def _window_indices(windows, ns, converter):
  """Index k of each window (it starts k windows into the piece); asserts they are whole."""
  duration = converter.max_seq_len * _step_seconds(ns, converter)
  ks = np.asarray(windows.start_times) / duration
  np.testing.assert_allclose(ks, np.round(ks), atol=1e-6)
  return np.round(ks).astype(int)


def _melody_onsets(ns, converter):
  """{step: highest pitch starting there} of the notes a melody model reads, whole piece."""
  quantized = sequences_lib.quantize_note_sequence(ns, converter.steps_per_quarter)
  programs = converter.valid_programs
  onsets = {}
  for n in quantized.notes:
    if (not n.is_drum and n.velocity and 21 <= n.pitch <= 108
        and (programs is None or n.program in programs)):
      onsets[n.quantized_start_step] = max(onsets.get(n.quantized_start_step, 0), n.pitch)
  return onsets, quantized.total_quantized_steps


def _check_melody_windows(windows, ns, converter):
  """Each window holds exactly the onsets (highest pitch) the whole piece has in its bars."""
  onsets, steps = _melody_onsets(ns, converter)
  T = converter.max_seq_len
  ks = _window_indices(windows, ns, converter)
  expected_ks = sorted({s // T for s in onsets})
  assert list(ks) == expected_ks
  assert len(ks) <= math.ceil(steps / T)
  for k, labels in zip(ks, windows.labels):
    want = {s - k * T: p for s, p in onsets.items() if k * T <= s < (k + 1) * T}
    col = labels[:, 0]
    got = {int(s): int(col[s]) - FIRST_PITCH_LABEL + 21
           for s in np.flatnonzero(col >= FIRST_PITCH_LABEL)}
    assert got == want, f'window {k}'


def test_real_32_bar_tune_gives_16_windows_of_its_bars(mel):
  ns = midi_io.read_midi(TUNE_32_BARS)
  windows = inputs.split_windows(ns, mel, source=TUNE_32_BARS.name)
  quantized = sequences_lib.quantize_note_sequence(ns, 4)
  assert quantized.total_quantized_steps == 512
  assert windows.labels.shape == (16, 32, 1)
  assert windows.labels.dtype == np.int32
  assert windows.source == TUNE_32_BARS.name
  assert windows.start_times == tuple(k * 4.0 for k in range(16))  # 2 bars at 120 qpm = 4 s
  _check_melody_windows(windows, ns, mel)
  # Every note of the (monophonic) tune is one onset of one window.
  assert int(np.sum(windows.labels >= FIRST_PITCH_LABEL)) == len(ns.notes)
  # The tune is on the grid, so each window is the converter's encoding of its 2-bar slice.
  for k, labels in enumerate(windows.labels):
    tile = sequences_lib.extract_subsequence(ns, 4.0 * k, 4.0 * (k + 1))
    np.testing.assert_array_equal(labels, mel.to_labels(tile))


def test_a_rest_between_phrases_is_not_a_window(mel):
  """The same real tune with 4 silent bars inserted after bar 16: still 16 windows, shifted."""
  ns = midi_io.read_midi(TUNE_32_BARS)
  rest = 8.0  # 4 bars at 120 qpm
  for n in ns.notes:
    if n.start_time >= 32.0:
      n.start_time += rest
      n.end_time += rest
  ns.total_time += rest
  windows = inputs.split_windows(ns, mel)
  ks = _window_indices(windows, ns, mel)
  assert list(ks) == list(range(8)) + list(range(10, 18))
  _check_melody_windows(windows, ns, mel)
  plain = inputs.split_windows(midi_io.read_midi(TUNE_32_BARS), mel)
  np.testing.assert_array_equal(windows.labels, plain.labels)


@pytest.mark.parametrize('name', GROOVES)
def test_drum_windows_hold_every_hit_where_the_grid_puts_it(drums, name):
  """A hit played just before a window's downbeat belongs on that downbeat (as quantizing the
  whole groove puts it), not lost; the last window may start past the groove's last sound."""
  ns = midi_io.read_midi(DRUMS / name)
  windows = inputs.split_windows(ns, drums, source=name)
  quantized = sequences_lib.quantize_note_sequence(ns, drums.steps_per_quarter)
  hits = {}
  for n in quantized.notes:
    if n.is_drum and n.velocity and n.pitch in drums_lib.PITCH_TO_CLASS:
      step = n.quantized_start_step
      hits[step] = hits.get(step, 0) | 1 << drums_lib.PITCH_TO_CLASS[n.pitch]
  T = drums.max_seq_len
  ks = _window_indices(windows, ns, drums)
  assert list(ks) == sorted({s // T for s in hits})
  got = {}
  for k, labels in zip(ks, windows.labels):
    for s in np.flatnonzero(labels[:, 0]):
      got[k * T + int(s)] = int(labels[s, 0])
  missing = sorted(s for s in hits if got.get(s) != hits[s])
  assert not missing, f'{len(missing)} of {len(hits)} hit steps differ, first at {missing[:8]}'
  assert set(got) == set(hits)


def _chords(pitches_per_beat, qpm=120.0, program=0):
  """Hand-made block chords, one per beat (each as long as the beat), 4/4."""
  ns = note_seq.NoteSequence(ticks_per_quarter=220)
  ns.tempos.add(qpm=qpm)
  ns.time_signatures.add(numerator=4, denominator=4)
  beat = 60.0 / qpm
  for i, chord in enumerate(pitches_per_beat):
    for p in chord:
      ns.notes.add(pitch=p, start_time=i * beat, end_time=(i + 1) * beat, velocity=80,
                   program=program)
  ns.total_time = len(pitches_per_beat) * beat
  return ns


BLOCK_CHORDS = [(60, 64, 67), (60, 65, 69), (59, 62, 67), (60, 64, 72)] * 2  # 2 bars


def test_block_chords_keep_the_highest_note_unless_strict_monophony(mel):
  ns = _chords(BLOCK_CHORDS)
  q = sequences_lib.quantize_note_sequence(ns, 4)
  assert inputs.overlap_share(q) == pytest.approx(16 / 24)
  with pytest.raises(inputs.UnencodableInput) as err:
    inputs.split_windows(ns, mel, source='chords.mid', strict_monophony=True)
  assert err.value.source == 'chords.mid'
  assert 'polyphonic' in err.value.reason and '67%' in err.value.reason
  assert '--strict_monophony' in err.value.reason
  assert str(err.value).startswith('chords.mid: ')
  windows = inputs.split_windows(ns, mel, source='chords.mid')
  assert (windows.pitched_notes, windows.dropped_notes) == (24, 16)
  assert windows.polyphony_notice() == ('chords.mid: polyphonic; kept the highest note of each '
                                        'onset (dropped 16 of 24 notes)')
  labels = inputs.single_window(ns, mel, source='chords.mid')
  onsets = np.flatnonzero(labels[:, 0] >= FIRST_PITCH_LABEL)
  np.testing.assert_array_equal(onsets, np.arange(0, 32, 4))
  np.testing.assert_array_equal(labels[onsets, 0] - FIRST_PITCH_LABEL + 21,
                                [max(c) for c in BLOCK_CHORDS])


def test_overlap_threshold_is_a_share_of_the_notes():
  """Two of eight notes starting under a held note is a line (25 %); three is not (37.5 %)."""
  def line(overlapping):
    ns = note_seq.NoteSequence()
    for i in range(8):
      # An overlapping note starts a beat into a two-beat note that started before it.
      end = (i + 2) * 0.5 if i + 1 in overlapping else (i + 1) * 0.5
      ns.notes.add(pitch=60 + i, start_time=i * 0.5, end_time=end, velocity=80)
    ns.total_time = 5.0
    return sequences_lib.quantize_note_sequence(ns, 4)
  assert inputs.overlap_share(line({2, 5})) == 0.25 == inputs.MAX_OVERLAP
  assert inputs.overlap_share(line({2, 5, 7})) == 0.375 > inputs.MAX_OVERLAP
  assert inputs.overlap_share(line(set())) == 0.0


def test_real_song_is_polyphonic_for_a_melody_model_and_keeps_highest_notes(mel):
  ns = midi_io.read_midi(SONG)
  with pytest.raises(inputs.UnencodableInput, match='polyphonic') as err:
    inputs.split_windows(ns, mel, source=SONG.name, strict_monophony=True)
  assert err.value.source == SONG.name and SONG.name in str(err.value)
  windows = inputs.split_windows(ns, mel, source=SONG.name)
  assert len(windows.labels) >= 32
  _check_melody_windows(windows, ns, mel)
  # One note-on label per onset kept; the notes under a higher one at their onset are counted.
  kept = int(np.sum(windows.labels >= FIRST_PITCH_LABEL))
  assert windows.dropped_notes > 0 and kept == windows.pitched_notes - windows.dropped_notes


def test_trio_counts_the_notes_its_melody_and_bass_drop(trio):
  ns = midi_io.read_midi(SONG)
  windows = inputs.split_windows(ns, trio, source=SONG.name)
  kept = int(np.sum(windows.labels[:, :, :2] >= FIRST_PITCH_LABEL))
  assert windows.dropped_notes > 0 and kept == windows.pitched_notes - windows.dropped_notes
  assert windows.qpm == ns.tempos[0].qpm


@pytest.mark.parametrize('name', GROOVES)
def test_windows_carry_the_tempo_of_the_input(drums, name):
  ns = midi_io.read_midi(DRUMS / name)
  windows = inputs.split_windows(ns, drums, source=name)
  qpm = float(name.split('_')[-3])  # the Groove MIDI name holds its tempo
  assert windows.qpm == pytest.approx(qpm, abs=1e-3) == ns.tempos[0].qpm
  assert windows.dropped_notes == windows.pitched_notes == 0  # drums have no pitched part


def test_polyphony_is_judged_on_the_notes_the_melody_model_reads(mel):
  """Chords in programs the model ignores do not make its input polyphonic."""
  ns = midi_io.read_midi(LEAD_AND_BAND)
  quantized = sequences_lib.quantize_note_sequence(ns, 4)
  assert inputs.overlap_share(quantized) > 0.9
  assert inputs.overlap_share(quantized, mel.valid_programs) < inputs.MAX_OVERLAP
  windows = inputs.split_windows(ns, mel, source=LEAD_AND_BAND.name)
  _check_melody_windows(windows, ns, mel)


def test_drum_file_for_a_melody_model_is_refused_naming_the_drums(mel):
  path = DRUMS / GROOVES[0]
  with pytest.raises(inputs.UnencodableInput) as err:
    inputs.split_windows(midi_io.read_midi(path), mel, source=path.name)
  assert err.value.source == path.name
  assert 'no melody notes' in err.value.reason and 'only drum notes' in err.value.reason


def test_melody_file_for_a_drums_model_is_refused_with_no_drums(drums):
  with pytest.raises(inputs.UnencodableInput) as err:
    inputs.split_windows(midi_io.read_midi(TUNE_32_BARS), drums, source=TUNE_32_BARS.name)
  assert err.value.source == TUNE_32_BARS.name
  assert err.value.reason.startswith('no drums')


def test_three_four_tune_is_refused_mentioning_four_four(mel):
  if not WALTZ.exists():
    pytest.fail(f'The shared 3/4 tune is missing at {WALTZ}.')
  ns = midi_io.read_midi(WALTZ)
  assert [(t.numerator, t.denominator) for t in ns.time_signatures] == [(3, 4)]
  with pytest.raises(inputs.UnencodableInput) as err:
    inputs.split_windows(ns, mel, source=WALTZ.name)
  assert err.value.source == WALTZ.name
  assert '4/4' in err.value.reason and 'steps_per_bar_not_16' in err.value.reason


def test_quantize_names_why_an_unsplit_tune_is_refused(mel):
  """The converter's refusal reasons, which the refusals above report (morris2 changes metre)."""
  ns = midi_io.read_midi(MELODY / 'nottingham_morris2.mid')
  assert len({(t.numerator, t.denominator) for t in ns.time_signatures}) > 1
  assert mel.quantize(ns) == (None, 'multiple_time_signatures')


def test_hand_made_three_four_sequence_is_refused(mel):
  ns = _chords([(60,), (62,), (64,)] * 4)
  ns.time_signatures[0].numerator = 3
  with pytest.raises(inputs.UnencodableInput, match='4/4'):
    inputs.split_windows(ns, mel, source='waltz')


def test_trio_model_names_the_missing_parts_of_a_melody_file(trio):
  with pytest.raises(inputs.UnencodableInput) as err:
    inputs.split_windows(midi_io.read_midi(TUNE_32_BARS), trio, source=TUNE_32_BARS.name)
  reason = err.value.reason
  assert err.value.source == TUNE_32_BARS.name
  assert reason.startswith('no part ') and 'bass' in reason and 'drums' in reason
  assert 'melody' not in reason


def test_trio_model_reads_a_real_song_window_by_window(trio):
  ns = midi_io.read_midi(SONG)
  windows = inputs.split_windows(ns, trio, source=SONG.name)
  assert windows.labels.shape[1:] == (256, 3) and len(windows.labels) >= 2
  # Every window kept has all three parts playing.
  assert np.all(np.any(windows.labels > 0, axis=1))
  _window_indices(windows, ns, trio)


def test_single_window_takes_one_window_and_refuses_more(mel):
  ns = midi_io.read_midi(TUNE_32_BARS)
  with pytest.raises(inputs.UnencodableInput) as err:
    inputs.single_window(ns, mel, source='long.mid')
  assert err.value.source == 'long.mid'
  assert '16 windows of 2 bars' in err.value.reason
  two_bars = sequences_lib.extract_subsequence(ns, 4.0, 8.0)
  one = inputs.single_window(two_bars, mel)
  np.testing.assert_array_equal(one, inputs.split_windows(ns, mel).labels[1])
