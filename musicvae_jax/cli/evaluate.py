"""musicvae-evaluate: teacher-forced and sampled reconstruction accuracy of a checkpoint.

  musicvae-evaluate --workdir=<training workdir> --data=<musicvae-prepare output>
      [--split=eval|train|all] [--json=<file>] [--step=N] [--batch_size=N]

Any prepared dataset whose windows fit the model works, not only the one it was trained on.
The table's two accuracy columns are the MusicVAE paper's: teacher-forced (the decoder sees the
true previous step) and sampled (it sees its own samples). --json writes them under the keys
teacher_forced_accuracy and sampled_accuracy (for --split=all, over both splits together),
with every split's figures under "splits".
"""

import json
import pathlib
import sys

from absl import flags

from musicvae_jax.cli import entry

_WORKDIR = flags.DEFINE_string('workdir', None, 'A musicvae-train workdir.')
_DATA = flags.DEFINE_string('data', None, 'A dataset folder written by musicvae-prepare.')
_SPLIT = flags.DEFINE_enum('split', 'eval', ['eval', 'train', 'all'], 'Which split to score.')
_JSON = flags.DEFINE_string('json', None, 'Also write the figures to this JSON file.')
_STEP = flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')
_BATCH = flags.DEFINE_integer('batch_size', None, 'Batch size (default: the training one).')

PROG = 'musicvae-evaluate'


def main(argv):
  entry.require(PROG, argv, _WORKDIR, _DATA)
  from musicvae_jax.training import evaluate  # pylint: disable=g-import-not-at-top
  result = evaluate.evaluate_workdir(_WORKDIR.value, _DATA.value, split=_SPLIT.value,
                                     step=_STEP.value, batch_size=_BATCH.value)
  print(evaluate.report(result))
  if _JSON.value:
    path = pathlib.Path(_JSON.value)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + '\n')
    print(f'wrote {path}')


def run():
  entry.run(main, sys.modules[__name__], PROG)


if __name__ == '__main__':
  run()
