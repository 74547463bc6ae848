"""musicvae-evaluate: teacher-forced and sampled reconstruction accuracy of a trained model.

  musicvae-evaluate --workdir=<model> --data=<musicvae-prepare output>
      [--split=eval|train|all] [--json=<file>] [--step=N] [--batch_size=N]
  musicvae-evaluate --workdir=<model> --midi=<folder of .mid files> [--json=<file>]
  musicvae-evaluate --workdir=bundled:<name> --card

The model is a training workdir, an exported or imported model's folder, or bundled:<name>
(e.g. bundled:cat-mel_2bar_small); nothing is written into it. Any prepared dataset whose
windows fit the model works, not only the one it was trained on. --midi prepares a folder of
MIDI with the model's own data settings (into a temporary folder) and scores every window.
The table's two accuracy columns are the MusicVAE paper's: teacher-forced (the decoder sees the
true previous step) and sampled (it sees its own samples). --json writes them under the keys
teacher_forced_accuracy and sampled_accuracy (for --split=all, over both splits together),
with every split's figures under "splits". --card prints a bundled model's card: what it was
trained on, its held-out figures per style, its known weaknesses.
"""

import json
import pathlib
import sys

from absl import flags

from musicvae_jax import output_paths
from musicvae_jax.cli import entry

_WORKDIR = flags.DEFINE_string('workdir', None, 'A training workdir, an exported model folder '
                                'or bundled:<name>.')
_DATA = flags.DEFINE_string('data', None, 'A dataset folder written by musicvae-prepare.')
_MIDI = flags.DEFINE_string('midi', None, 'Or a folder of MIDI files: every window is scored.')
_SPLIT = flags.DEFINE_enum('split', 'eval', ['eval', 'train', 'all'], 'Which split to score.')
_JSON = flags.DEFINE_string('json', None, 'Also write the figures to this JSON file.')
_STEP = flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')
_BATCH = flags.DEFINE_integer('batch_size', None, 'Batch size (default: the training one).')
_CARD = flags.DEFINE_bool('card', False, "Print the model's card (data, training, held-out "
                          'figures per style, weaknesses) and stop.')

PROG = 'musicvae-evaluate'


def main(argv):
  entry.require(PROG, argv, _WORKDIR)
  if _CARD.value:
    from musicvae_jax.generation import model_card  # pylint: disable=g-import-not-at-top
    print(model_card.text(_WORKDIR.value))
    return
  if bool(_DATA.value) == bool(_MIDI.value):
    entry.die(PROG, 'give one of --data=<prepared dataset> or --midi=<folder of .mid files>.')
  if _MIDI.value and flags.FLAGS['split'].present:
    entry.die(PROG, '--split is for --data; --midi scores every window of the folder.')
  if _JSON.value:
    output_paths.check_file(_JSON.value, 'json')  # refused now, not after the evaluation
  from musicvae_jax.training import evaluate  # pylint: disable=g-import-not-at-top
  if _MIDI.value:
    result = evaluate.evaluate_midi(_WORKDIR.value, _MIDI.value, step=_STEP.value,
                                    batch_size=_BATCH.value)
  else:
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
