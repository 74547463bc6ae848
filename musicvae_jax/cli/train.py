"""musicvae-train: train a MusicVAE on a prepared dataset; re-run the same command to resume.

  musicvae-train --config=cat-mel_2bar_small --data=<musicvae-prepare output> --workdir=<dir>
      [--config.train.num_steps=N] [--config.train.batch_size=64] [--config.model.free_bits=48]

Without --config, an existing workdir resumes with the config.json it holds.
The workdir receives config.json, Orbax checkpoints (model, optimizer, step, data position),
metrics.jsonl and TensorBoard event files (tensorboard --logdir=<workdir>/tensorboard).
"""

import sys

from absl import flags
from ml_collections import config_flags

from musicvae_jax import config_lib
from musicvae_jax.cli import entry

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Config name, e.g. cat-mel_2bar_small or cat-mel_2bar_small:tiny.')
_DATA = flags.DEFINE_string('data', None, 'A dataset folder written by musicvae-prepare.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Where checkpoints, config.json and metrics go.')
_PROGRESS = flags.DEFINE_bool('progress', True, 'Show a progress bar.')

PROG = 'musicvae-train'


def main(argv):
  entry.require(PROG, argv, _DATA, _WORKDIR)
  from musicvae_jax.models import vae  # pylint: disable=g-import-not-at-top
  from musicvae_jax.training import checkpointing, loop  # pylint: disable=g-import-not-at-top
  config = _CONFIG.value
  if config is None and checkpointing.config_path(_WORKDIR.value).exists():
    config = checkpointing.load_config(_WORKDIR.value)  # resuming: the workdir knows its config
  if config is None:
    entry.die(PROG, '--config is required for a new workdir, e.g. --config=cat-mel_2bar_small; '
              'known configs: ' + ', '.join(config_lib.config_names()))
  try:
    last = loop.train_and_evaluate(config, _DATA.value, _WORKDIR.value,
                                   progress=_PROGRESS.value)
  except (loop.DataMismatchError, checkpointing.WorkdirError, vae.ModelConfigError,
          ValueError) as e:
    entry.die(PROG, e)
  except loop.TrainingDiverged as e:
    print(f'{PROG}: stopped: {e}', file=sys.stderr)
    sys.exit(1)
  for split in ('eval_train', 'eval_eval'):
    if split in last:
      m = last[split]
      print(f'{split[5:]}: teacher-forced accuracy {m["teacher_forced_accuracy"]:.4f}, '
            f'sampled accuracy {m["sampled_accuracy"]:.4f}, KL {m["kl_bits"]:.1f} bits')


def run():
  entry.run(main, sys.modules[__name__], PROG)


if __name__ == '__main__':
  run()
