"""musicvae-finetune: MusiCoder's encoder on a labelled task, from few labels.

  musicvae-finetune --task=melody --pretrained=<musicvae-pretrain workdir> --split_file=<csv>
      --output=<dir> [--labels_fraction=0.1] [--mode=finetune|probe] [--seed=0] [--steps=600]
      [--transpose=6] [--melody_loss=frame|cells] [--head=window|song]
  musicvae-finetune --task=composer --config=musicoder --split_file=<csv> --output=<dir>   # scratch
  musicvae-finetune --task=melody --head=song --config=musicoder --pretrain_steps=1500
      --split_file=<csv> --output=<dir>

--task=composer: a class per window (the CSV's label column, e.g. music21's corpus as written by
python -m musicvae_jax.musicoder.composer_corpus), by macro-F1; --task=melody: which notes of a
POP909-style arrangement are its MELODY track, by note F1. --labels_fraction keeps that share of
the train files. --config: the same transformer fresh (the from-scratch control). --head=song: a
BiLSTM over whole songs' notes (+ the frozen --pretrained encoder's), after --pretrain_steps of
masked-note pretraining on the notes of the train and `unlabelled` rows if given.
"""

import json
import pathlib
import sys

from absl import flags
from ml_collections import config_flags

from musicvae_jax.cli import entry

_TASK = flags.DEFINE_enum('task', None, ['composer', 'melody'], 'The labelled task.')
_PRETRAINED = flags.DEFINE_string('pretrained', None, 'A musicvae-pretrain workdir.')
_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Without --pretrained: the musicoder config whose transformer starts fresh.')
_SPLIT = flags.DEFINE_string('split_file', None, 'CSV path,label,split naming every file.')
_OUTPUT = flags.DEFINE_string('output', None, 'Where result.json goes.')
_FRACTION = flags.DEFINE_float('labels_fraction', 1.0, 'Share of train files.', 0.0, 1.0)
_MODE = flags.DEFINE_enum('mode', 'finetune', ['finetune', 'probe'], 'probe: frozen encoder.')
_SEED = flags.DEFINE_integer('seed', 0, 'Seeds the head, the file subsample and the batches.')
_STEPS = flags.DEFINE_integer('steps', 600, 'Training batches.', lower_bound=1)
_BATCH = flags.DEFINE_integer('batch_size', 32, 'Windows a batch.', lower_bound=1)
_TRANSPOSE = flags.DEFINE_integer('transpose', None, 'Semitones a training window may move, up '
                                  'or down (default: 6 for melody, 0 for composer).', lower_bound=0)
_MELODY_LOSS = flags.DEFINE_enum('melody_loss', 'frame', ['frame', 'cells'], 'frame: one a frame.')
_HEAD = flags.DEFINE_enum('head', 'window', ['window', 'song'], 'melody: 4-bar windows or songs.')
_ENCODER_LR = flags.DEFINE_float('encoder_lr', 1e-3, "The encoder's learning rate (finetune).")
_PRETRAIN = flags.DEFINE_integer('pretrain_steps', 0, 'Masked-note pretraining (song).')
_OBJECTIVES = flags.DEFINE_enum('objectives', 'both', ['cfm', 'ccm', 'both'], 'What it hides.')

PROG = 'musicvae-finetune'


def main(argv):
  entry.require(PROG, argv, _TASK, _SPLIT, _OUTPUT)
  if bool(_PRETRAINED.value) == bool(_CONFIG.value):
    entry.die(PROG, 'give --pretrained=<musicvae-pretrain workdir>, or --config=musicoder to '
              'train the same transformer from scratch (one of the two).')
  if _HEAD.value == 'song' and _TASK.value != 'melody':
    entry.die(PROG, '--head=song is for --task=melody.')
  if _PRETRAIN.value > 0 and (_HEAD.value != 'song' or _PRETRAINED.value):
    entry.die(PROG, '--pretrain_steps is for --head=song with --config=musicoder.')
  # pylint: disable=g-import-not-at-top
  from musicvae_jax import checkpointing, config_boundary, progress
  from musicvae_jax.models import musicoder
  from musicvae_jax.musicoder import finetune, melody_notes, tasks
  if _PRETRAINED.value:
    encoder = finetune.load_encoder(_PRETRAINED.value)
  else:
    spec = config_boundary.model_spec(_CONFIG.value)
    if spec.family != 'musicoder':
      entry.die(PROG, f'--config={_CONFIG.value.name} is not a musicoder config.')
    encoder = musicoder.build(spec, _SEED.value) if _HEAD.value == 'window' else None  # notes
  shift = 6 if _TRANSPOSE.value is None and _TASK.value == 'melody' else _TRANSPOSE.value or 0
  if _HEAD.value == 'song':
    data = (checkpointing.load_run_spec(_PRETRAINED.value).data if _PRETRAINED.value
            else config_boundary.data_spec(_CONFIG.value.data))
    settings = melody_notes.Settings(steps=_STEPS.value, seed=_SEED.value, transpose=shift)
    result = melody_notes.run_split_file(_SPLIT.value, encoder, data, settings, _FRACTION.value,
                                         _PRETRAIN.value, _OBJECTIVES.value)
    return _write(result, f'{result["notes"]} notes of {result["test_files"]} test songs')
  data = tasks.load(_TASK.value, _SPLIT.value, progress=progress.wanted())
  settings = finetune.Settings(mode=_MODE.value, steps=_STEPS.value, batch_size=_BATCH.value,
                               encoder_lr=_ENCODER_LR.value, seed=_SEED.value, transpose=shift,
                               melody_loss=_MELODY_LOSS.value)
  result = finetune.run(_TASK.value, data, encoder=encoder, settings=settings, labels_fraction=(
      _FRACTION.value), progress=lambda steps: progress.bar(steps, desc=_TASK.value, unit='step'))
  _write(result, f'{result["windows"]} test windows')


def _write(result, what):
  result.update(pretrained=_PRETRAINED.value or '', split_file=str(_SPLIT.value))
  (out := pathlib.Path(_OUTPUT.value)).mkdir(parents=True, exist_ok=True)
  (out / 'result.json').write_text(json.dumps(result, indent=1) + '\n')
  figure = 'macro_f1' if _TASK.value == 'composer' else 'note_f1'
  print(f'{_TASK.value}: {figure} {result[figure]:.4f} on {what} '
        f'({result["train_files"]} train files); wrote {out / "result.json"}')


def run():
  entry.run(main, sys.modules[__name__], PROG)


if __name__ == '__main__':
  run()
