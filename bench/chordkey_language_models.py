"""Chord language models on POP909 (the chord and key model's p(chord | before, key)).

  python bench/chordkey_language_models.py [--data=../shared/data/pop909] [--steps=3000]
      [--hidden=128] [--seed=0] [--max_songs=N]

Fits ``musicvae_jax.chordkey.language_models`` on the train split's per-beat chords and keys
(MIDI chord labels, audio key regions on the MIDI's beat grid) and prints per-step perplexity on
the test split at two grains: one chord per beat and one per chord change. Rows: a unigram of
key-relative chords, the first-order transition model of absolute chords (no key), the same of
key-relative chords with the mode, and the LSTM over key-relative chords with the mode.
"""

import argparse
import pathlib
import sys
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from musicvae_jax.chordkey import classifier, language_models as lm, pop909  # noqa: E402


def main() -> int:
  ap = argparse.ArgumentParser(description=__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument('--data', default=str(pop909.DATA_DIR))
  ap.add_argument('--max_songs', type=int, default=0, help='cap each split (0: all)')
  ap.add_argument('--steps', type=int, default=3000)
  ap.add_argument('--hidden', type=int, default=128)
  ap.add_argument('--seed', type=int, default=0)
  args = ap.parse_args()
  t0 = time.time()
  full = pop909.split(pop909.song_ids(args.data))
  labels = {}
  for part in ('train', 'test'):
    ids = full[part][:args.max_songs] if args.max_songs else full[part]
    labels[part] = [classifier.song_labels(pop909.load_song(i, args.data)) for i in ids]
  print(f'loaded {len(labels["train"])} train, {len(labels["test"])} test songs in '
        f'{time.time() - t0:.0f} s', file=sys.stderr)
  rows = {}
  for grain, shape in (('per beat', lambda s: s), ('per change', lm.changes)):
    train = [shape(lm.relative(c, k)) for c, k in labels['train']]
    test = [shape(lm.relative(c, k)) for c, k in labels['test']]
    train_abs = [shape(lm.relative(c, np.zeros_like(k))) for c, k in labels['train']]
    test_abs = [shape(lm.relative(c, np.zeros_like(k))) for c, k in labels['test']]
    uni = lm.unigram(train)
    absolute = lm.Transition.fit(train_abs)
    keyed = lm.Transition.fit(train)
    t = time.time()
    trainer, state = lm.make_recurrent(args.hidden, seed=args.seed)
    state, losses = lm.train_recurrent(trainer, state, train, args.steps,
                                       length=128 if grain == 'per beat' else 64, seed=args.seed)
    rnn_s = time.time() - t
    print(f'{grain}: LSTM trained in {rnn_s:.0f} s, final loss {np.mean(losses[-100:]):.3f}',
          file=sys.stderr)
    rows[grain] = {
        'unigram, key-relative': lm.perplexity([uni[s.chords] for s in test]),
        'first-order transition, absolute chords': lm.perplexity(
            [absolute.step_log_probs(s) for s in test_abs]),
        'first-order transition, key-relative + mode': lm.perplexity(
            [keyed.step_log_probs(s) for s in test]),
        f'LSTM ({args.hidden}), key-relative + mode, {args.steps} steps': lm.perplexity(
            [lm.recurrent_step_log_probs(trainer, state['params'], s) for s in test]),
    }
    rows[grain + ' steps'] = sum(len(s.chords) for s in test)
  print(f'\nPOP909 split by sha1(song id) % 10: fitted on {len(labels["train"])} train songs, '
        f'perplexity per step on {len(labels["test"])} test songs ({rows["per beat steps"]} '
        f'beats, {rows["per change steps"]} chord changes); 181 chord classes.\n')
  print('| chord language model | perplexity per beat | perplexity per chord change |')
  print('| --- | ---: | ---: |')
  for (name, beat), change in zip(rows['per beat'].items(), rows['per change'].values()):
    print(f'| {name} | {beat:.2f} | {change:.2f} |')
  print(f'\nwall time {time.time() - t0:.0f} s, seed {args.seed}; command: python '
        + ' '.join(sys.argv))
  return 0


if __name__ == '__main__':
  sys.exit(main())
