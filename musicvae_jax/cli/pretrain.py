"""musicvae-pretrain: pretrain MusiCoder by masked reconstruction; re-run to resume.

  musicvae-prepare --config=musicoder --input=<MIDI folder> --output=<dataset dir>
  musicvae-pretrain --config=musicoder --data=<dataset dir> --workdir=<dir>
      [--config.train.num_steps=N]   (musicoder_cfm, musicoder_ccm: one objective each)

musicvae-train's machinery for the musicoder configs: Orbax checkpoints with exact resume,
metrics.jsonl, TensorBoard, every device, --multihost; the same flags. The workdir is then
what musicvae-finetune --pretrained=<dir> and musicvae-evaluate --workdir=<dir> read.
"""

import sys

from musicvae_jax import config_lib
from musicvae_jax.cli import entry
from musicvae_jax.cli import train

PROG = 'musicvae-pretrain'


def main(argv):
  config = train._CONFIG.value  # pylint: disable=protected-access
  if config is not None and config.model.get('family') != 'musicoder':
    pretraining = [n for n in config_lib.config_names() if n.startswith('musicoder')]
    entry.die(PROG, f'--config={config.name} is not a pretraining config: use one of '
              f'{", ".join(pretraining)} (musicvae-train trains {config.name}).')
  train.main(argv, prog=PROG)


def run():
  sys.argv = config_lib.resume_argv(sys.argv)
  entry.run(main, sys.modules[__name__], PROG, shared=(train,))


if __name__ == '__main__':
  run()
