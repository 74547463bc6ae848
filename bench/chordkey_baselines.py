"""Chord and key baselines on the held-out POP909 split, scored with mir_eval (issue 19).

  python bench/chordkey_baselines.py [--data=../shared/data/pop909] [--max_songs=N]

Splits the POP909 folder by song id (musicvae_jax.chordkey.pop909.split_of), trains the two
logistic regressions on the train split, runs every baseline on the test split and prints one
Markdown table: chord scores (root, majmin, mirex, thirds, sevenths, seg; pooled over songs
weighted by duration) and key scores (mir_eval weighted score: global per song against the main
key, and per region over the songs with a key change), with the split sizes and wall time.
"""

import argparse
import pathlib
import sys
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from musicvae_jax.chordkey import baselines, pop909, scoring, vocabulary  # noqa: E402


def main() -> int:
  ap = argparse.ArgumentParser(description=__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument('--data', default=str(pop909.DATA_DIR))
  ap.add_argument('--max_songs', type=int, default=0,
                  help='cap each split (0: all), for a quick run')
  ap.add_argument('--lr_steps', type=int, default=200)
  args = ap.parse_args()
  t0 = time.time()
  full = pop909.split(pop909.song_ids(args.data))
  splits = {k: v[:args.max_songs] if args.max_songs else v for k, v in full.items()}
  train = [pop909.load_song(i, args.data) for i in splits['train']]
  test = [pop909.load_song(i, args.data) for i in splits['test']]
  print(f'loaded {len(train)} train, {len(test)} test songs in {time.time() - t0:.0f} s',
        file=sys.stderr)

  t = time.time()
  x = np.concatenate([baselines.chord_features(s) for s in train])
  y = np.array([vocabulary.chord_index(lab) for s in train for lab in s.chord_labels_b])
  chord_lr = baselines.SoftmaxRegression(vocabulary.NUM_CHORDS, steps=args.lr_steps).fit(x, y)
  key_lr = baselines.train_key_regression(train, steps=500)
  print(f'trained in {time.time() - t:.0f} s', file=sys.stderr)

  chord_methods = {
      'note_seq HMM (PIANO, 1 chord/beat)': baselines.hmm_chords,
      'template matching (PIANO chroma; maj, min, 7, maj7, min7)': lambda s:
          baselines.template_chords(s.chroma()),
      'template matching (PIANO chroma; all 15 qualities)': lambda s:
          baselines.template_chords(s.chroma(), qualities=None),
      'logistic regression (PIANO chroma ±1 beat + bass)': lambda s: [
          vocabulary.chord_label(int(c)) for c in chord_lr.predict(baselines.chord_features(s))],
  }
  key_methods = {
      'music21 default key (global)': baselines.music21_key,
      'logistic regression (song pitch-class histogram)': lambda s: vocabulary.key_label(
          int(key_lr.predict(baselines.key_features(s)[None])[0])),
  }
  dur = [s.beat_times_b1[-1] - s.beat_times_b1[0] for s in test]
  rows = []
  for name, fn in chord_methods.items():
    t = time.time()
    per_song = [scoring.song_chord_scores(s, fn(s)) for s in test]
    rows.append((name, scoring.pool(per_song, dur), time.time() - t))
    print(f'{name}: {time.time() - t:.0f} s', file=sys.stderr)
  key_rows = []
  changing = [i for i, s in enumerate(test) if len(s.key_segments) > 1]
  for name, fn in key_methods.items():
    t = time.time()
    est = [fn(s) for s in test]
    glob = np.mean([scoring.key_score(s.main_key(), e) for s, e in zip(test, est)])
    region = (np.mean([scoring.region_key_score(test[i], [est[i]] * test[i].num_beats)
                       for i in changing]) if changing else float('nan'))
    key_rows.append((name, glob, region, time.time() - t))

  print(f'POP909 split by sha1(song id) % 10 (0-7 train, 8 valid, 9 test): '
        f'{len(full["train"])} train / {len(full["valid"])} valid / {len(full["test"])} test '
        f'songs; trained on {len(train)}, scored on {len(test)} test songs.\n')
  print('| chord estimator | ' + ' | '.join(scoring.CHORD_METRICS) + ' | time (s) |')
  print('| --- |' + ' ---: |' * (len(scoring.CHORD_METRICS) + 1))
  for name, sc, secs in rows:
    print(f'| {name} | ' + ' | '.join(f'{sc[m]:.3f}' for m in scoring.CHORD_METRICS)
          + f' | {secs:.0f} |')
  print(f'\n| key estimator | weighted (global, {len(test)} songs) | weighted (per region, '
        f'{len(changing)} songs with a key change) | time (s) |')
  print('| --- | ---: | ---: | ---: |')
  for name, glob, region, secs in key_rows:
    print(f'| {name} | {glob:.3f} | {region:.3f} | {secs:.0f} |')
  print(f'\nwall time {time.time() - t0:.0f} s')
  return 0


if __name__ == '__main__':
  sys.exit(main())
