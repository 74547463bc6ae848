"""A user's MIDI file read into windows, and the one-line refusals the commands print as they are."""

import warnings

import pytest

import broken_midi
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


def test_chords_are_refused_unless_polyphony_is_allowed(model, tmp_path):
  chords = sequences_lib.extract_subsequence(midi_io.read_midi(TUNE), 0.0, 8.0)
  for note in list(chords.notes):  # a third above every note
    chords.notes.add().CopyFrom(note)
    chords.notes[-1].pitch += 4
  path = tmp_path / 'chords.mid'
  note_seq.sequence_proto_to_midi_file(chords, str(path))
  with pytest.raises(midi_inputs.CannotEncode, match=rf'^cannot encode {path}: polyphonic'):
    model.read_windows(path)
  assert model.read_windows(path, allow_polyphony=True).labels.shape == (2, 32, 1)


@pytest.mark.parametrize('kind', ['corrupt', 'not_midi'])
def test_a_file_that_is_no_midi_is_refused_as_such(model, tmp_path, kind):
  path = broken_midi.make(kind, tmp_path / 'x.mid')
  with pytest.raises(midi_io.MidiReadError) as err:
    model.read_windows(path)
  assert isinstance(err.value, errors.UserError)
  assert str(err.value).startswith(f'{path}: {midi_io.REASONS[kind]}')
  with pytest.raises(midi_io.MidiReadError, match='No such file'):
    model.read_windows(tmp_path / 'none.mid')
