"""musicvae-train: train a MusicVAE on a prepared dataset; re-run the same command to resume.

  musicvae-train --config=cat-mel_2bar_small --data=<musicvae-prepare output> --workdir=<dir>
      [--config.train.num_steps=N] [--config.train.batch_size=64] [--config.model.free_bits=48]

Without --config (and --data), an existing workdir resumes with the config.json (and the
dataset) it holds; --config.* flags change it, e.g. to go on:
  musicvae-train --workdir=<dir> --config.train.num_steps=<more steps>
The workdir receives config.json, Orbax checkpoints (model, optimizer, step, data position),
metrics.jsonl and TensorBoard event files (tensorboard --logdir=<workdir>/tensorboard).

Trains data-parallel over every device it sees. Several hosts (a TPU pod: run the same command
on every worker): add --multihost (TPU pods, Slurm, Open MPI: nothing else; GPU clusters:
--coordinator_address=<process 0 host:port> --num_processes=N --process_id=i). Parameter
sharding (FSDP): --config.train.fsdp=True; bfloat16 compute: --config.train.compute_dtype=bfloat16.
On SIGTERM (preemption) it saves a checkpoint and exits with status 75, on Ctrl-C with 130 (a
second Ctrl-C aborts at once); the same command resumes. It also saves every
config.train.checkpoint_every_secs seconds (default 60) besides every checkpoint_every_steps.
"""

import sys

from absl import flags
from ml_collections import config_flags

from musicvae_jax import config_lib
from musicvae_jax.cli import entry

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Config name, e.g. cat-mel_2bar_small or cat-mel_2bar_small:tiny.')
_DATA = flags.DEFINE_string('data', None, 'A dataset folder written by musicvae-prepare '
                            '(resuming: the one the workdir trained on).')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Where checkpoints, config.json and metrics go.')
_PROGRESS = flags.DEFINE_bool('progress', True, 'Show a progress bar.')
_MULTIHOST = flags.DEFINE_bool('multihost', False, 'Join a multi-process job '
                               '(jax.distributed.initialize) before training.')
_COORDINATOR = flags.DEFINE_string('coordinator_address', None, 'With --multihost off TPU: '
                                   'process 0\'s host:port, the same for every process.')
_NUM_PROCESSES = flags.DEFINE_integer('num_processes', None, 'With --multihost off TPU: '
                                      'how many processes the job has.')
_PROCESS_ID = flags.DEFINE_integer('process_id', None, 'With --multihost off TPU: this '
                                   'process\'s rank, 0 .. num_processes - 1.')

PROG = 'musicvae-train'


def main(argv, prog=PROG):
  entry.require(prog, argv, _WORKDIR)
  from musicvae_jax import output_paths  # pylint: disable=g-import-not-at-top
  workdir = output_paths.check_dir(_WORKDIR.value, 'workdir')
  from musicvae_jax.distributed import preemption, runtime  # pylint: disable=g-import-not-at-top
  spec = runtime.ProcessSpec(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  if spec != runtime.ProcessSpec() and not _MULTIHOST.value:
    entry.die(prog, '--coordinator_address/--num_processes/--process_id need --multihost.')
  if _MULTIHOST.value:
    runtime.initialize(spec)
  from musicvae_jax import checkpointing  # pylint: disable=g-import-not-at-top
  from musicvae_jax.training import loop  # pylint: disable=g-import-not-at-top
  data = _DATA.value or checkpointing.data_dir(workdir)  # resuming: the workdir knows its data
  if not data:
    entry.die(prog, '--data is required.')
  config = _CONFIG.value  # without --config, resume_argv made it the workdir's config.json
  if config is None:
    entry.die(prog, '--config is required for a new workdir, e.g. --config=cat-mel_2bar_small; '
              'known configs: ' + ', '.join(config_lib.config_names()))
  try:
    last = loop.train_and_evaluate(config, data, workdir, progress=_PROGRESS.value)
  except loop.TrainingDiverged as e:
    print(f'{prog}: stopped: {e}', file=sys.stderr)
    sys.exit(1)
  if 'interrupted_at' in last:
    print(f'{prog}: interrupted at step {last["interrupted_at"]}; saved in {workdir}; run the '
          'same command to resume.', file=sys.stderr)
    sys.exit(preemption.EXIT_INTERRUPTED)
  if 'preempted_at' in last:
    sys.exit(preemption.EXIT_PREEMPTED)
  if not runtime.is_lead():
    return
  for split, line in last.get('headlines', {}).items():
    print(f'{split}: {line}')


def run():
  sys.argv = config_lib.resume_argv(sys.argv)
  entry.run(main, sys.modules[__name__], PROG)


if __name__ == '__main__':
  run()
