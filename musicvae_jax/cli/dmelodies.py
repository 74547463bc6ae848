"""musicvae-dmelodies: dMelodies generated from its rules, with its factor labels and a split.

  musicvae-dmelodies --output=<dir> [--items=N] [--midi_examples=8]
      [--dataset=<dir> --train_items=100000 --eval_items=10000]

Writes <dir>/dmelodies.npz (``score_array`` [N, 16] and ``latent_array`` [N, 9] int32 in the
canonical order, as the authors' arrays; ``index``: each item's place in the full set; ``split``:
0 train, 1 validation, 2 test), <dir>/dmelodies.json (token names, factor names and values, split
sizes, the arrays' sha256) and, with --midi_examples, that many items spread over the set as MIDI
with a piano roll beside each. --items=N keeps the first N items (a slice for tests); without it
all 1,354,752 (about 140 MB, a few seconds). --dataset also writes a prepared dataset that the
configs dsae-dmelodies and tsdsae-dmelodies train on: --train_items drawn from dMelodies' train
split, --eval_items from its test split (``input_pipeline/dmelodies_dataset.py``).
"""

import json
import pathlib
import sys

from absl import flags
import numpy as np

from musicvae_jax import output_paths
from musicvae_jax.cli import entry

_OUTPUT = flags.DEFINE_string('output', None, 'The folder to write.')
_ITEMS = flags.DEFINE_integer('items', None, 'Only the first N items of the canonical order.',
                              lower_bound=1)
_EXAMPLES = flags.DEFINE_integer('midi_examples', 0, 'Items to write as MIDI + PNG, spread '
                                 'evenly over the generated ones.', lower_bound=0)

_DATASET = flags.DEFINE_string('dataset', None, 'Also write a prepared dataset here.')
_TRAIN = flags.DEFINE_integer('train_items', 100_000, 'Training items of --dataset.',
                              lower_bound=1)
_EVAL = flags.DEFINE_integer('eval_items', 10_000, 'Eval items of --dataset.', lower_bound=1)

PROG = 'musicvae-dmelodies'


def main(argv):
  entry.require(PROG, argv, _OUTPUT)
  output_paths.check_dir(_OUTPUT.value, 'output')
  if _DATASET.value:
    output_paths.check_dir(_DATASET.value, 'dataset')
    from musicvae_jax.input_pipeline import dmelodies_dataset  # pylint: disable=g-import-not-at-top
    dmelodies_dataset.check_counts(_TRAIN.value, _EVAL.value)
  from musicvae_jax.converters import dmelodies  # pylint: disable=g-import-not-at-top
  count = min(_ITEMS.value or dmelodies.NUM_ITEMS, dmelodies.NUM_ITEMS)
  data = dmelodies.generate(range(count))
  out = pathlib.Path(_OUTPUT.value)
  out.mkdir(parents=True, exist_ok=True)
  np.savez(out / 'dmelodies.npz', score_array=data.tokens, latent_array=data.factors,
           index=data.index, split=data.split)
  (out / 'dmelodies.json').write_text(json.dumps(dict(
      items=count, vocabulary=list(data.vocabulary),
      factors={name: list(values) for name, values in dmelodies.FACTORS},
      split={n: int((data.split == k).sum()) for k, n in enumerate(dmelodies.SPLIT_NAMES)},
      sha256=dict(score_array=dmelodies.sha256(data.tokens),
                  latent_array=dmelodies.sha256(data.factors))), indent=1) + '\n')
  if _EXAMPLES.value:
    from note_seq import midi_io  # pylint: disable=g-import-not-at-top
    from musicvae_jax.render import piano_roll  # pylint: disable=g-import-not-at-top
    pitches = data.pitches()
    for i in np.linspace(0, count - 1, min(_EXAMPLES.value, count)).astype(int):
      labels = ', '.join(f'{n}={v[f]}' for (n, v), f in zip(dmelodies.FACTORS, data.factors[i]))
      path = out / 'examples' / f'dmelodies_{data.index[i]:07d}.mid'
      path.parent.mkdir(exist_ok=True)
      seq = dmelodies.to_note_sequence(pitches[i])
      midi_io.sequence_proto_to_midi_file(seq, str(path))
      piano_roll.write_piano_roll(seq, path.with_suffix('.png'), title=labels)
  print(f'{PROG}: {count} items in {out / "dmelodies.npz"}'
        + (f', {_EXAMPLES.value} examples in {out / "examples"}' if _EXAMPLES.value else ''))
  if _DATASET.value:
    dmelodies_dataset.write(_DATASET.value, train_items=_TRAIN.value, eval_items=_EVAL.value)
    print(f'{PROG}: dataset of {_TRAIN.value} train and {_EVAL.value} eval items in '
          f'{_DATASET.value}')


def run():
  entry.run(main, sys.modules[__name__], PROG)


if __name__ == '__main__':
  run()
