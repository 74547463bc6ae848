"""WAV rendering: the FluidSynth program and the in-process library give the same piece."""

import pathlib
import shutil
import wave

import numpy as np
import pytest

from musicvae_jax import bundled_data
from musicvae_jax.generation import outputs

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
