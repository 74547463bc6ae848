"""Generated music on disk: whole outputs only, sampled a batch at a time, and WAV rendering.

A write interrupted by Ctrl-C leaves no MIDI without its piano roll; sampling in batches gives
the music of one batch for the same key; the FluidSynth program and the in-process library
render the same piece.
"""

import math
import pathlib
import shutil
import wave

import jax
import numpy as np
import pytest

from musicvae_jax import bundled_data
from musicvae_jax import errors
from musicvae_jax.generation import outputs
from musicvae_jax.generation.trained_model import TrainedModel
from musicvae_jax.render import piano_roll

TUNE = 'nottingham_hpps11.mid'  # a real 4/4 folk tune of the bundled set


def _read(path: pathlib.Path) -> tuple[np.ndarray, int]:
  with wave.open(str(path)) as w:
    frames = np.frombuffer(w.readframes(w.getnframes()), '<i2').astype(np.float32) / 32768
    return frames.reshape(-1, w.getnchannels()).mean(1), w.getframerate()


def _envelope(signal: np.ndarray, rate: int) -> np.ndarray:
  """RMS per 50 ms, normalised to its maximum: when notes sound, whatever the gain."""
  hop = rate // 20
  n = len(signal) // hop
  rms = np.sqrt((signal[:n * hop].reshape(n, hop) ** 2).mean(1))
  return rms / max(rms.max(), 1e-9)


def test_program_and_library_render_the_same_notes(tmp_path):
  synth = outputs.find_synth()
  if not synth.soundfont or not synth.program or not outputs._has_pyfluidsynth():  # pylint: disable=protected-access
    pytest.skip('needs the fluidsynth program, pyfluidsynth and a General MIDI soundfont '
                f'(found: {synth})')
  midi = tmp_path / TUNE
  shutil.copy(bundled_data.midi_dir('melody') / TUNE, midi)
  by_program = tmp_path / 'program.wav'
  by_library = tmp_path / 'library.wav'
  assert outputs.render_wav(midi, by_program, synth)
  assert outputs.render_wav(midi, by_library, outputs.Synth(None, synth.soundfont, library=True))
  a, rate_a = _read(by_program)
  b, rate_b = _read(by_library)
  assert rate_a == rate_b == outputs.SAMPLE_RATE
  # Same length up to the release tail the program adds after the last note.
  assert abs(len(a) - len(b)) / rate_a < 2.0, (len(a) / rate_a, len(b) / rate_b)
  env_a, env_b = _envelope(a, rate_a), _envelope(b, rate_b)
  n = min(len(env_a), len(env_b))
  assert env_b.mean() > 0.05  # not silence
  # Loud where the other is loud: both follow the tune's notes, in time (a quarter second out
  # of step already matches clearly worse; the two synths' reverb and gain differ, so not 1).
  aligned = np.corrcoef(env_a[:n], env_b[:n])[0, 1]
  shifted = np.corrcoef(env_a[5:n], env_b[:n - 5])[0, 1]
  assert aligned > 0.7 and aligned > shifted + 0.1, (aligned, shifted)


def test_without_a_synthesiser_nothing_is_written_and_the_reason_is_given(tmp_path):
  none = outputs.Synth(None, None)
  assert not none.available and 'FluidSynth is not installed' in none.missing
  no_font = outputs.Synth('/usr/bin/fluidsynth', None)
  assert not no_font.available and 'soundfont' in no_font.missing
  midi = tmp_path / TUNE
  shutil.copy(bundled_data.midi_dir('melody') / TUNE, midi)
  wav = tmp_path / 'x.wav'
  # A program that fails leaves no half-written file behind.
  assert not outputs.render_wav(midi, wav, outputs.Synth('/bin/false', '/nonexistent.sf2'))
  assert not wav.exists()


# ---- whole outputs only -----------------------------------------------------------------------
@pytest.fixture(scope='module')
def tunes():
  """Real NoteSequences: bundled folk tunes, as a generating command hands them to a Writer."""
  import note_seq  # pylint: disable=import-outside-toplevel
  return [note_seq.midi_file_to_note_sequence(str(p))
          for p in sorted(bundled_data.midi_dir('melody').glob('*.mid'))[:4]]


def test_an_interrupted_run_leaves_only_whole_outputs(tunes, tmp_path, monkeypatch):
  draw = piano_roll.write_piano_roll
  drawn = []

  def ctrl_c_at_the_third_piano_roll(ns, path, title=None):
    drawn.append(path)
    if len(drawn) == 3:
      raise KeyboardInterrupt
    return draw(ns, path, title)

  monkeypatch.setattr(piano_roll, 'write_piano_roll', ctrl_c_at_the_third_piano_roll)
  writer = outputs.Writer(tmp_path, wav=False)
  with pytest.raises(KeyboardInterrupt):
    writer.write_all(tunes, 'run')
  left = sorted(p.name for p in tmp_path.iterdir())
  # The first two outputs are whole and readable; of the third nothing stays, not even its MIDI
  # (written before the piano roll was begun) nor a temporary file.
  assert left == ['run-001-of-004.mid', 'run-001-of-004.png', 'run-002-of-004.mid',
                  'run-002-of-004.png'], left
  assert writer.written == [tmp_path / 'run-001-of-004.mid', tmp_path / 'run-002-of-004.mid']
  import note_seq  # pylint: disable=import-outside-toplevel
  again = note_seq.midi_file_to_note_sequence(str(tmp_path / 'run-002-of-004.mid'))
  assert [n.pitch for n in again.notes] == [n.pitch for n in tunes[1].notes]


def test_write_all_takes_outputs_as_they_come(tunes, tmp_path):
  """A generator of outputs (the batches of a long run) is written one output at a time."""
  seen = []

  def one_by_one():
    for i, ns in enumerate(tunes[:3]):
      # Every earlier output is already on disk when the next one is made.
      seen.append(sorted(p.name for p in tmp_path.glob('*.mid')))
      yield ns

  paths = outputs.Writer(tmp_path, wav=False).write_all(one_by_one(), 'gen', total=3)
  assert [p.name for p in paths] == [f'gen-00{i}-of-003.mid' for i in (1, 2, 3)]
  assert seen == [[], ['gen-001-of-003.mid'], ['gen-001-of-003.mid', 'gen-002-of-003.mid']]
  assert all(p.with_suffix('.png').is_file() for p in paths)


# ---- sampling in batches ----------------------------------------------------------------------
@pytest.fixture(scope='module')
def bundled_model():
  return TrainedModel.from_workdir()


def test_batches_give_the_music_of_one_batch(bundled_model):
  model, key = bundled_model, jax.random.key(7)
  whole = model.sample(10, key=key, temperature=0.5)  # one batch (padded to 16)
  compiled = model._decode._cache_size()  # pylint: disable=protected-access
  batches = list(model.sample_batches(10, key=key, temperature=0.5, batch_size=4))
  assert [len(b) for b in batches] == [4, 4, 2]
  # The last, partial batch is padded to the full one: one compiled function serves all three.
  assert model._decode._cache_size() == compiled + 1  # pylint: disable=protected-access
  assert [ns for b in batches for ns in b] == whole
  assert len({ns.SerializeToString() for ns in whole}) > 1  # the outputs are not all one
  # A smaller count gives the first outputs of a larger one for the same key.
  assert model.sample(3, key=key, temperature=0.5) == whole[:3]


@pytest.mark.parametrize('temperature', [math.nan, math.inf, -0.5])
def test_sample_and_interpolate_refuse_a_temperature_that_is_no_number(bundled_model, tunes,
                                                                      temperature):
  for call in (lambda: bundled_model.sample(2, key=jax.random.key(0), temperature=temperature),
               lambda: list(bundled_model.sample_batches(2, key=jax.random.key(0),
                                                         temperature=temperature)),
               lambda: bundled_model.interpolate(tunes[0], tunes[1], 3, key=jax.random.key(0),
                                                 temperature=temperature)):
    with pytest.raises(ValueError, match=f'temperature={temperature}: use 0') as raised:
      call()
    assert isinstance(raised.value, errors.UserError)


# ---- the note on missing WAVs ----------------------------------------------------------------
def test_the_reason_for_no_wav_is_given_once_per_process(tmp_path, monkeypatch, capsys):
  """A notebook writes music in many cells (a Writer each): the reason is said the first time."""
  import note_seq  # pylint: disable=import-outside-toplevel
  from musicvae_jax import notebook  # pylint: disable=import-outside-toplevel
  monkeypatch.setattr(outputs, '_SAID', set())  # as in a fresh process
  monkeypatch.setattr(outputs, 'find_synth', lambda: outputs.Synth(None, None))
  tune = note_seq.midi_file_to_note_sequence(str(bundled_data.midi_dir('melody') / TUNE))
  said = []
  for cell in ('a', 'b'):
    outputs.Writer(tmp_path / cell, log=said.append).write(tune, 'tune')
    assert (tmp_path / cell / 'tune.png').exists() and not (tmp_path / cell / 'tune.wav').exists()
  assert said == [outputs.Synth(None, None).missing]
  # notebook.show, cell after cell: another reason (no soundfont) is printed by the first only.
  no_font = outputs.Synth('/usr/bin/fluidsynth', None)
  monkeypatch.setattr(outputs, 'find_synth', lambda: no_font)
  capsys.readouterr()
  for cell in ('c', 'd'):
    assert notebook.show([tune], tmp_path / cell, 'shown') == [tmp_path / cell / 'shown-001-of-001.mid']
  printed = capsys.readouterr().out.splitlines()
  assert [l for l in printed if l.startswith('no WAV')] == [no_font.missing]
  # --wav=false asks for no WAV: nothing to explain.
  monkeypatch.setattr(outputs, '_SAID', set())
  outputs.Writer(tmp_path / 'e', wav=False, log=said.append)
  assert len(said) == 1
