"""musicvae-generate: Magenta's music_vae_generate, with its flags, on Magenta's checkpoints.

  musicvae-generate --config=cat-mel_2bar_big --checkpoint_file=<checkpoint> --mode=sample
      [--num_outputs=5] [--temperature=0.5] [--output_dir=musicvae_output]
  musicvae-generate --config=cat-mel_2bar_big --checkpoint_file=<checkpoint> --mode=interpolate
      --input_midi_1=<a.mid> --input_midi_2=<b.mid> [--num_outputs=5]

<checkpoint> is a Magenta .tar, a model.ckpt-N prefix or its folder, an http(s):// or gs:// URL
of a published .tar, or a musicvae_jax workdir (then --config may be left out).

A Magenta checkpoint (or URL, downloaded once) is imported once into the user's cache
($XDG_CACHE_HOME/musicvae_jax/magenta/imported); later runs reuse the import. --run_dir (a
Magenta run folder, whose train/ holds its checkpoints) wins over --checkpoint_file, as in
Magenta. Outputs are named as Magenta names them, <config>_<mode>_<date>-NNN-of-MMM.mid, with
a piano-roll .png (and a .wav with FluidSynth). Interpolation cuts longer inputs into windows and
morphs window k into window k, as musicvae-interpolate does (Magenta stops at inputs of more
than one window).
"""

import sys

from absl import flags
from absl import logging
from ml_collections import config_flags

from musicvae_jax import config_lib
from musicvae_jax.cli import entry
from musicvae_jax.cli import generate_flags as gf

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'The Magenta config the checkpoint was trained with (optional for a workdir).')
_CHECKPOINT = flags.DEFINE_string(
    'checkpoint_file', None, 'A Magenta .tar bundle, model.ckpt-N prefix or its folder, an '
    'http(s):// or gs:// URL of a published .tar, or a musicvae_jax workdir.')
_RUN_DIR = flags.DEFINE_string('run_dir', None, 'A Magenta run folder (its train/ holds the '
                               'checkpoints) or a musicvae_jax workdir; wins over --checkpoint_file.')
_MODE = flags.DEFINE_enum('mode', 'sample', ['sample', 'interpolate'], 'What to generate.')
_NUM = flags.DEFINE_integer('num_outputs', 5, 'Samples, or interpolation steps (ends included).')
_INPUT_1 = flags.DEFINE_string('input_midi_1', None, 'Interpolate: the MIDI file to start from.')
_INPUT_2 = flags.DEFINE_string('input_midi_2', None, 'Interpolate: the MIDI file to end at.')
_MAX_BATCH = flags.DEFINE_integer('max_batch_size', 8, 'The most sequences decoded at once.')
_LOG = flags.DEFINE_enum('log', None, ['DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'],
                         'Logging level, as Magenta\'s --log (same as --verbosity).')

PROG = 'musicvae-generate'


def main(argv):
  entry.require(PROG, argv)
  if _LOG.value:
    logging.set_verbosity(_LOG.value.lower().replace('warn', 'warning'))
  interpolate = _MODE.value == 'interpolate'
  if interpolate and not (_INPUT_1.value and _INPUT_2.value):
    entry.die(PROG, '--mode=interpolate needs --input_midi_1 and --input_midi_2.')
  if _NUM.value < (2 if interpolate else 1):
    entry.die(PROG, f'--num_outputs={_NUM.value}: ask for at least '
              f'{"the two ends of an interpolation" if interpolate else "one"}.')
  gf.check_output_dir()
  from musicvae_jax.magenta import cached_import  # pylint: disable=g-import-not-at-top
  workdir = cached_import.model_dir(checkpoint_file=_CHECKPOINT.value, run_dir=_RUN_DIR.value,
                                    workdir=gf.WORKDIR.value, config=_CONFIG.value)
  from musicvae_jax.generation import trained_model  # pylint: disable=g-import-not-at-top
  model = trained_model.TrainedModel.from_workdir(workdir, step=gf.STEP.value,
                                                  max_batch_size=_MAX_BATCH.value)
  given = _CONFIG.value and config_lib.split_name(_CONFIG.value.name)[0]
  if given and given != config_lib.split_name(model.name)[0]:
    entry.die(PROG, f'--config={given}, but {workdir} holds a {model.name} model; pass '
              f'--config={model.name} or leave --config out for a workdir.')
  key = gf.key(PROG)
  if interpolate:
    first = gf.windows(model, _INPUT_1.value)
    pieces = model.interpolate_windows(first.labels, gf.windows(model, _INPUT_2.value).labels,
                                       _NUM.value, key=key, temperature=gf.TEMPERATURE.value,
                                       qpm=first.qpm)
  else:
    pieces = model.sample(_NUM.value, key=key, temperature=gf.TEMPERATURE.value)
  gf.report(PROG, gf.writer().write_all(pieces, gf.stem(model, _MODE.value)))


def run():
  entry.run(main, sys.modules[__name__], PROG, shared=(gf,))


if __name__ == '__main__':
  run()
