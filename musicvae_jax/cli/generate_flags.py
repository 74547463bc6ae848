"""Flags and set-up shared by the generating commands (sample, interpolate, reconstruct, ...).

The flag names follow Magenta's music_vae_generate where it has one (--input_midi_1/2,
--num_outputs, --temperature, --output_dir); --workdir replaces --run_dir/--checkpoint_file.
"""

from __future__ import annotations

import datetime
import math
import random
import sys

from absl import flags

from musicvae_jax import output_paths

WORKDIR = flags.DEFINE_string(
    'workdir', None, 'A musicvae-train or musicvae-import-magenta workdir, an exported model, or '
    'bundled:<name> for a model that ships with the toolkit (default: bundled:cat-mel_2bar_small).')
STEP = flags.DEFINE_integer('step', None, 'Checkpoint step of --workdir (default: the latest).')
TEMPERATURE = flags.DEFINE_float(
    'temperature', 0.5, 'Sampling temperature: logits are divided by it; 0 decodes greedily '
    '(argmax).')
# Refused when the flags are parsed, before a model is loaded: one line, as every flag mistake.
# inf or nan would turn every logit into 0 or nan: no music, so it is refused too.
flags.register_validator('temperature', lambda t: math.isfinite(t) and t >= 0,
                         'use 0 (greedy) or a positive value (a finite number).')
SEED = flags.DEFINE_integer('seed', None, 'Random seed (default: a fresh one, printed so the '
                            'run can be repeated).')
OUTPUT_DIR = flags.DEFINE_string('output_dir', 'musicvae_output',
                                 'Folder for the MIDI files and their PNG (and WAV) companions.')
WAV = flags.DEFINE_bool('wav', True, 'Also render a WAV per MIDI when FluidSynth and a soundfont '
                        'are installed.')
STRICT_MONOPHONY = flags.DEFINE_bool(
    'strict_monophony', False, 'Refuse chordal input for a melody model (by default the highest '
    'note of each onset is kept, as Magenta does, and the dropped notes are counted).')
flags.DEFINE_bool('allow_polyphony', False, 'Deprecated, no effect: chordal input is read by '
                  'default now (see --strict_monophony).')


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


def check_output_dir():
  """Refuses an --output_dir nothing can be written to, before any model is loaded."""
  return output_paths.check_dir(OUTPUT_DIR.value, 'output_dir')


def writer():
  from musicvae_jax.generation import outputs  # pylint: disable=g-import-not-at-top
  play = 'play_chords' in flags.FLAGS and flags.FLAGS.play_chords  # --chords' commands only
  return outputs.Writer(check_output_dir(), wav=WAV.value, progress=True, play_chords=play,
                        log=lambda msg: print(msg, file=sys.stderr))


def stem(model, mode: str) -> str:
  """``<config>_<mode>_<date-time>``, as Magenta names generated files."""
  return f'{model.name}_{mode}_{datetime.datetime.now():%Y-%m-%d_%H%M%S}'


def windows(model, path: str):
  """The input's windows (stderr: how many notes its chords lost); entry.run prints a refusal."""
  read = model.read_windows(path, strict_monophony=STRICT_MONOPHONY.value)
  if read.polyphony_notice():
    print(read.polyphony_notice(), file=sys.stderr)
  return read


def report(prog: str, paths) -> None:
  paths = list(paths)
  if paths:
    print(f'{prog}: wrote {len(paths)} MIDI file(s) with piano rolls to {paths[0].parent}')
    for p in paths[:20] if len(paths) > 21 else paths:  # a long run lists 20, then counts
      print(f'  {p}')
    if len(paths) > 21:
      print(f'  ... and {len(paths) - 20} more')
