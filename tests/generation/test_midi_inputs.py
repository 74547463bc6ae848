"""A user's MIDI file read into windows, and the one-line refusals the commands print as they are."""

import collections
import warnings

import numpy as np
import pretty_midi
import pytest

import broken_midi
from conftest import SHARED
from musicvae_jax import bundled_data
from musicvae_jax import errors
from musicvae_jax.converters import midi_io
from musicvae_jax.generation import inputs
from musicvae_jax.generation import midi_inputs
from musicvae_jax.generation.trained_model import TrainedModel

with warnings.catch_warnings():
  warnings.simplefilter('ignore', RuntimeWarning)
  import note_seq
  from note_seq import sequences_lib

TUNE = bundled_data.midi_dir('melody') / 'nottingham_hpps11.mid'
DRUMS = bundled_data.midi_dir('drums') / 'freedoom_d_dm01_drumtrack.mid'
# POP909 piano arrangement (melody, bridge and accompaniment, all program 0): 4/4, one tempo of
# 73 qpm, chords throughout.
PIANO = SHARED / 'data' / 'pop909' / 'songs' / '042' / '042.mid'
# Human drumming (Groove MIDI) at 92 qpm.
GROOVE_92 = bundled_data.midi_dir('drums') / 'gmd_drummer3_session2_23_rock_92_beat_4-4.mid'
FIRST_PITCH_LABEL = 2


@pytest.fixture(scope='module')
def model():
  return TrainedModel.from_workdir()


def test_windows_are_those_of_split_windows(model):
  got = model.read_windows(TUNE)
  want = inputs.split_windows(midi_io.read_midi(TUNE), model.converter, source=str(TUNE))
  assert got.labels.shape == (4, 32, 1) and got.source == str(TUNE)
  assert (got.labels == want.labels).all() and got.start_times == want.start_times


def test_music_the_model_cannot_encode_is_refused_naming_the_file(model):
  with pytest.raises(midi_inputs.CannotEncode) as err:
    model.read_windows(DRUMS)
  assert isinstance(err.value, errors.UserError)
  assert isinstance(err.value, inputs.UnencodableInput) and isinstance(err.value, ValueError)
  assert str(err.value).startswith(f'cannot encode {DRUMS}: no melody notes')
  assert err.value.source == str(DRUMS) and 'only drum notes' in err.value.reason


def test_chords_keep_their_highest_note_unless_strict_monophony(model, tmp_path):
  tune = sequences_lib.extract_subsequence(midi_io.read_midi(TUNE), 0.0, 8.0)
  chords = note_seq.NoteSequence()
  chords.CopyFrom(tune)
  for note in list(chords.notes):  # a third above every note
    chords.notes.add().CopyFrom(note)
    chords.notes[-1].pitch += 4
  path = tmp_path / 'chords.mid'
  note_seq.sequence_proto_to_midi_file(chords, str(path))
  with pytest.raises(midi_inputs.CannotEncode, match=rf'^cannot encode {path}: polyphonic'):
    model.read_windows(path, strict_monophony=True)
  windows = model.read_windows(path)
  # Every tune note is under its third: the thirds are read, one line a third above the tune.
  n = len(tune.notes)
  assert (windows.pitched_notes, windows.dropped_notes) == (2 * n, n)
  alone = model.read_windows(_written(tune, tmp_path / 'tune.mid'))
  assert alone.dropped_notes == 0 and alone.polyphony_notice() is None
  played = windows.labels >= FIRST_PITCH_LABEL
  np.testing.assert_array_equal(played, alone.labels >= FIRST_PITCH_LABEL)
  np.testing.assert_array_equal(windows.labels[played], alone.labels[played] + 4)


def _written(ns, path):
  note_seq.sequence_proto_to_midi_file(ns, str(path))
  return path


def test_piano_keeps_the_highest_note_of_each_onset_and_counts_the_rest(model):
  windows = model.read_windows(PIANO)
  with pytest.raises(midi_inputs.CannotEncode, match=rf'^cannot encode {PIANO}: polyphonic'):
    model.read_windows(PIANO, strict_monophony=True)
  # The notes the melody model reads, counted from the whole file quantized on its own.
  quantized = sequences_lib.quantize_note_sequence(midi_io.read_midi(PIANO), 4)
  notes = [n for n in quantized.notes if not n.is_drum and n.velocity > 0
           and 21 <= n.pitch <= 108 and n.program in model.converter.valid_programs]
  onsets = collections.Counter(n.quantized_start_step for n in notes)
  assert windows.pitched_notes == len(notes)
  assert windows.dropped_notes == len(notes) - len(onsets) > len(notes) // 3
  # Exactly one note-on label per onset kept.
  assert int(np.sum(windows.labels >= FIRST_PITCH_LABEL)) == len(onsets)
  assert windows.polyphony_notice() == (
      f'{PIANO}: polyphonic; kept the highest note of each onset (dropped '
      f'{len(notes) - len(onsets)} of {len(notes)} notes)')


def test_windows_go_back_out_at_the_input_tempo(model, tmp_path):
  """A 73 qpm piano piece's windows, decoded at its tempo, are a MIDI file at 73 qpm whose
  notes sit on its sixteenth-note grid."""
  windows = model.read_windows(PIANO)
  (want_qpm,) = pretty_midi.PrettyMIDI(str(PIANO)).get_tempo_changes()[1]
  assert windows.qpm == pytest.approx(want_qpm, rel=1e-6) and abs(want_qpm - 73) < 0.01
  piece = model.to_piece(windows.labels[:3], qpm=windows.qpm)
  midi = pretty_midi.PrettyMIDI(str(_written(piece, tmp_path / 'out.mid')))
  times, tempos = midi.get_tempo_changes()
  assert list(times) == [0.0] and tempos[0] == pytest.approx(want_qpm, rel=1e-6)
  step_s = 60.0 / want_qpm / 4
  starts = np.array([n.start for i in midi.instruments for n in i.notes]) / step_s
  ends = np.array([n.end for i in midi.instruments for n in i.notes]) / step_s
  assert len(starts) and np.allclose(starts, np.round(starts), atol=1e-3)
  assert ends.max() <= 3 * 32 + 1e-3 and ends.max() > 2 * 32  # three windows of 32 steps
  # Every note-on label of the windows is a note starting on its step, at 73 qpm.
  steps = [w * 32 + t for w, t in zip(*np.nonzero(windows.labels[:3, :, 0] >= FIRST_PITCH_LABEL))]
  np.testing.assert_array_equal(np.sort(np.round(starts)), steps)
  # The default stays note_seq's (and Magenta's) 120 qpm.
  assert model.to_piece(windows.labels[:1]).tempos[0].qpm == 120.0


def test_a_groove_is_read_at_its_own_tempo(tmp_path):
  drums = TrainedModel.from_workdir('bundled:cat-drums_2bar_small')
  windows = drums.read_windows(GROOVE_92)
  assert windows.qpm == pytest.approx(92.0, abs=1e-4) and windows.dropped_notes == 0
  piece = drums.to_piece(windows.labels, qpm=windows.qpm)
  assert piece.total_time == pytest.approx(len(windows.labels) * 32 * 60 / windows.qpm / 4)
  assert all(n.is_drum for n in piece.notes) and [t.qpm for t in piece.tempos] == [windows.qpm]


@pytest.mark.parametrize('kind', ['corrupt', 'not_midi'])
def test_a_file_that_is_no_midi_is_refused_as_such(model, tmp_path, kind):
  path = broken_midi.make(kind, tmp_path / 'x.mid')
  with pytest.raises(midi_io.MidiReadError) as err:
    model.read_windows(path)
  assert isinstance(err.value, errors.UserError)
  assert str(err.value).startswith(f'{path}: {midi_io.REASONS[kind]}')
  with pytest.raises(midi_io.MidiReadError, match='No such file'):
    model.read_windows(tmp_path / 'none.mid')
