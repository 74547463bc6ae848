"""Chords obeyed: do a chord model's samples land on the chords they are told?

  python bench/chords_obeyed.py --workdir=<cat-mel_2bar_med_chords run or bundled:name>
      --data=<prepared cat-mel_2bar_med_chords dataset> [--split=eval] [--max_windows=1000]
      [--unconditioned=bundled:cat-mel_2bar_small] [--temperature=0.5] [--json=out.json]

The progressions are the held-out windows' own chords (those with two chords or more and no
N.C.). Each is given to the chord model with a fresh code from the prior; the same codes are also
decoded under another window's progression (a derangement), and an unconditioned melody model
samples as many melodies. All three are scored against the progressions: the share of note
onsets on a tone of the sounding triad (``musicvae_jax.training.chord_fit``).
"""

import argparse
import json
import pathlib
import sys
import time

import jax
import numpy as np
from array_record.python.array_record_module import ArrayRecordReader

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from musicvae_jax.generation import trained_model  # pylint: disable=wrong-import-position
from musicvae_jax.input_pipeline import pipeline  # pylint: disable=wrong-import-position
from musicvae_jax.input_pipeline import records  # pylint: disable=wrong-import-position
from musicvae_jax.training import chord_fit  # pylint: disable=wrong-import-position


def chord_windows(data_dir, split: str) -> np.ndarray:
  """The chord column [N, T] of a prepared chord dataset's split."""
  out = []
  for shard in pipeline.shard_paths(data_dir, split):
    reader = ArrayRecordReader(str(shard))
    out += [records.decode(r)['labels'][..., -1] for r in reader.read_all()]
    reader.close()
  return np.stack(out).astype(np.int32)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--workdir', required=True)
  parser.add_argument('--data', required=True)
  parser.add_argument('--split', default='eval')
  parser.add_argument('--max_windows', type=int, default=1000)
  parser.add_argument('--unconditioned', default='bundled:cat-mel_2bar_small')
  parser.add_argument('--temperature', type=float, default=0.5)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--json', default=None)
  args = parser.parse_args()
  start = time.time()
  held = chord_fit.progressions(chord_windows(args.data, args.split))
  rng = np.random.default_rng(args.seed)
  if len(held) > args.max_windows:
    held = held[np.sort(rng.choice(len(held), args.max_windows, replace=False))]
  model = trained_model.TrainedModel.from_workdir(args.workdir)
  free = (trained_model.TrainedModel.from_workdir(args.unconditioned)
          if args.unconditioned else None)
  result = chord_fit.score(model, held, key=jax.random.PRNGKey(args.seed),
                           temperature=args.temperature, unconditioned_model=free, seed=args.seed)
  print(f'{len(held)} progressions from the {args.split} split of {args.data}; temperature '
        f'{args.temperature}; {time.time() - start:.0f} s\n')
  names = {'conditioned': f'{model.name}, told the progression',
           'shuffled': f"{model.name}, told another window's progression",
           'unconditioned': f'{args.unconditioned} (no chords)'}
  print('| melodies | onsets | onsets per melody | on a chord tone |\n| --- | ---: | ---: | ---: |')
  for key, row in result.items():
    print(f"| {names[key]} | {row['onsets']} | {row['onsets'] / len(held):.1f} | "
          f"{row['share']:.3f} |")
  if args.json:
    pathlib.Path(args.json).write_text(json.dumps(
        {'progressions': len(held), 'temperature': args.temperature, 'rows': result},
        indent=2) + '\n')


if __name__ == '__main__':
  main()
