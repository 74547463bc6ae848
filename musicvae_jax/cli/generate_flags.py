"""Flags and set-up shared by the generating commands (sample, interpolate, reconstruct, ...).

The flag names follow Magenta's music_vae_generate where it has one (--input_midi_1/2,
--num_outputs, --temperature, --output_dir); --workdir replaces --run_dir/--checkpoint_file.
"""

from __future__ import annotations

import datetime
import random
import sys

from absl import flags

WORKDIR = flags.DEFINE_string(
    'workdir', None, 'A musicvae-train or musicvae-import-magenta workdir, an exported model, or '
    'bundled:<name> for a model that ships with the toolkit (default: bundled:cat-mel_2bar_small).')
STEP = flags.DEFINE_integer('step', None, 'Checkpoint step of --workdir (default: the latest).')
TEMPERATURE = flags.DEFINE_float(
    'temperature', 0.5, 'Sampling temperature: logits are divided by it; 0 decodes greedily '
    '(argmax).')
# Refused when the flags are parsed, before a model is loaded: one line, as every flag mistake.
flags.register_validator('temperature', lambda t: t >= 0, 'use 0 (greedy) or a positive value.')
SEED = flags.DEFINE_integer('seed', None, 'Random seed (default: a fresh one, printed so the '
                            'run can be repeated).')
OUTPUT_DIR = flags.DEFINE_string('output_dir', 'musicvae_output',
                                 'Folder for the MIDI files and their PNG (and WAV) companions.')
WAV = flags.DEFINE_bool('wav', True, 'Also render a WAV per MIDI when FluidSynth and a soundfont '
                        'are installed.')
ALLOW_POLYPHONY = flags.DEFINE_bool(
    'allow_polyphony', False, 'Read chordal input for a melody model by keeping the highest note '
    'of each onset (Magenta does this silently).')


def are_numbers(values) -> bool:
  """For flags.register_validator: a list flag's items all read as numbers."""
  try:
    for v in values:
      float(v)
  except ValueError:
    return False
  return True


def load_model():
  """The model of --workdir (or the bundled one); entry.run prints its refusal in one line."""
  from musicvae_jax.generation import trained_model  # pylint: disable=g-import-not-at-top
  return trained_model.TrainedModel.from_workdir(WORKDIR.value, step=STEP.value)


def key(prog: str):
  """The run's PRNG key from --seed, or from a fresh seed that is printed."""
  import jax  # pylint: disable=g-import-not-at-top
  seed = SEED.value
  if seed is None:
    seed = random.SystemRandom().randrange(2**31)
    print(f'{prog}: seed {seed} (pass --seed={seed} to repeat this run)')
  return jax.random.key(seed)


def writer():
  from musicvae_jax.generation import outputs  # pylint: disable=g-import-not-at-top
  return outputs.Writer(OUTPUT_DIR.value, wav=WAV.value,
                        log=lambda msg: print(msg, file=sys.stderr))


def stem(model, mode: str) -> str:
  """``<config>_<mode>_<date-time>``, as Magenta names generated files."""
  return f'{model.name}_{mode}_{datetime.datetime.now():%Y-%m-%d_%H%M%S}'


def windows(model, path: str):
  """The input's windows; entry.run prints the refusal of a file the model cannot use."""
  return model.read_windows(path, allow_polyphony=ALLOW_POLYPHONY.value)


def report(prog: str, paths) -> None:
  paths = list(paths)
  if paths:
    print(f'{prog}: wrote {len(paths)} MIDI file(s) with piano rolls to {paths[0].parent}')
    for p in paths:
      print(f'  {p}')
