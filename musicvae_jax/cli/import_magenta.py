"""musicvae-import-magenta: turn a Magenta MusicVAE checkpoint into a musicvae_jax workdir.

  musicvae-import-magenta --checkpoint=<model.ckpt-N prefix, its folder, a .tar bundle, or URL>
      --config=<Magenta config name, e.g. cat-mel_2bar_big> --workdir=<new dir>

Reads TensorFlow's checkpoint files directly (TensorFlow is not needed). An http(s):// or
gs://bucket/path URL (read as https://storage.googleapis.com/bucket/path) of a published .tar is
downloaded into $XDG_CACHE_HOME/musicvae_jax/magenta/downloads (default ~/.cache) with a
progress bar; an interrupted download continues where it stopped when the command is run again,
and a downloaded file is not fetched twice. BUILD.md lists Magenta's published checkpoints. The workdir then works
with musicvae-sample, -interpolate, -reconstruct, -attributes, -evaluate, and musicvae-train
(fine-tuning from Magenta's weights; Adam starts afresh). Layer widths and z size come from the
checkpoint; the config supplies the architecture and data settings.
"""

import sys

from absl import flags
from ml_collections import config_flags

from musicvae_jax import config_lib
from musicvae_jax.cli import entry

_CHECKPOINT = flags.DEFINE_string('checkpoint', None,
                                   'Checkpoint prefix, folder, .tar bundle, or its URL.')
_CONFIG = config_flags.DEFINE_config_file('config', None,
                                          'The Magenta config it was trained with.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'The new workdir to write.')

PROG = 'musicvae-import-magenta'


def main(argv):
  entry.require(PROG, argv, _CHECKPOINT, _WORKDIR)
  if _CONFIG.value is None:
    entry.die(PROG, '--config is required: the Magenta config the checkpoint was trained with; '
              'known configs: ' + ', '.join(config_lib.config_names()))
  from musicvae_jax.magenta import importer  # pylint: disable=g-import-not-at-top
  record = importer.import_checkpoint(_CHECKPOINT.value, _CONFIG.value, _WORKDIR.value)
  sizes = record['sizes']
  print(f'{PROG}: {record["variables"]} variables of {record["prefix"]} (step '
        f'{record["global_step"]}) -> {_WORKDIR.value} as {record["config"]} (enc '
        f'{sizes["enc_rnn_size"]}, dec {sizes["dec_rnn_size"]}, z {sizes["z_size"]})')
  print(f'  try: musicvae-sample --workdir={_WORKDIR.value}')


def run():
  entry.run(main, sys.modules[__name__], PROG)


if __name__ == '__main__':
  run()
