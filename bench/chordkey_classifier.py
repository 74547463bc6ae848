"""The joint chord/key BiLSTM classifier trained alone, scored like the baselines (issue 19).

  python bench/chordkey_classifier.py [--data=../shared/data/pop909] [--steps=2000]
      [--hidden=128] [--batch=16] [--length=128] [--lr=2e-3] [--seed=0] [--max_songs=N]

Trains musicvae_jax.chordkey.classifier on the train split (random 128-beat chunks, random
transpositions) for a fixed number of steps, decodes every test song by per-beat argmax and
prints the rows of bench/chordkey_baselines.py's two tables: chord scores pooled over test songs
weighted by duration, and key scores (global: argmax of the song's summed per-beat key
log-probabilities against the main key; per region: per-beat keys over the songs with a key
change), with wall time, seed and command.
"""

import argparse
import pathlib
import sys
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from musicvae_jax.chordkey import classifier, pop909, scoring  # noqa: E402


def main() -> int:
  ap = argparse.ArgumentParser(description=__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument('--data', default=str(pop909.DATA_DIR))
  ap.add_argument('--max_songs', type=int, default=0, help='cap each split (0: all)')
  ap.add_argument('--steps', type=int, default=2000)
  ap.add_argument('--hidden', type=int, default=128)
  ap.add_argument('--batch', type=int, default=16)
  ap.add_argument('--length', type=int, default=128)
  ap.add_argument('--lr', type=float, default=2e-3)
  ap.add_argument('--seed', type=int, default=0)
  args = ap.parse_args()
  t0 = time.time()
  full = pop909.split(pop909.song_ids(args.data))
  splits = {k: v[:args.max_songs] if args.max_songs else v for k, v in full.items()}
  train = [classifier.example(pop909.load_song(i, args.data)) for i in splits['train']]
  test = [pop909.load_song(i, args.data) for i in splits['test']]
  print(f'loaded {len(train)} train, {len(test)} test songs in {time.time() - t0:.0f} s',
        file=sys.stderr)

  t = time.time()
  trainer, state = classifier.make_trainer(args.hidden, 2, args.lr, args.seed,
                                           decay_steps=args.steps)
  state, losses = classifier.train(trainer, state, train, args.steps, args.batch, args.length,
                                   seed=args.seed, log_every=max(args.steps // 10, 1),
                                   log=lambda m: print(m, file=sys.stderr))
  train_s = time.time() - t

  t = time.time()
  estimates = [classifier.decode(*classifier.predict_song(trainer, state['params'],
                                                          classifier.example(song)))
               for song in test]
  sc = scoring.evaluate(test, estimates)
  eval_s = time.time() - t

  name = (f'BiLSTM classifier alone (2x{args.hidden} per direction; PIANO chroma + bass + '
          f'MELODY/BRIDGE chroma; {args.steps} steps x {args.batch} x {args.length} beats)')
  print(f'POP909 split by sha1(song id) % 10: trained on {len(train)}, scored on {len(test)} '
        f'test songs; final train loss {np.mean(losses[-50:]):.3f} (chord + key CE).\n')
  print('| chord estimator | ' + ' | '.join(scoring.CHORD_METRICS) + ' | time (s) |')
  print('| --- |' + ' ---: |' * (len(scoring.CHORD_METRICS) + 1))
  print(f'| {name} | ' + ' | '.join(f'{sc[m]:.3f}' for m in scoring.CHORD_METRICS)
        + f' | {train_s + eval_s:.0f} |')
  print(f'\n| key estimator | weighted (global, {len(test)} songs) | weighted (per region, '
        f'{sc["region_songs"]} songs with a key change) | time (s) |')
  print('| --- | ---: | ---: | ---: |')
  print(f'| {name} | {sc["key_global"]:.3f} | '
        f'{sc["key_region"]:.3f} | {train_s + eval_s:.0f} |')
  print(f'\ntrain {train_s:.0f} s, eval {eval_s:.0f} s, wall time {time.time() - t0:.0f} s, '
        f'seed {args.seed}; command: python ' + ' '.join(sys.argv))
  return 0


if __name__ == '__main__':
  sys.exit(main())
