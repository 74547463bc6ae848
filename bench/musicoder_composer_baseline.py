"""The composer-classification baseline of MusiCoder: pitch-class + interval histograms with
logistic regression, macro-F1 over test windows and over test pieces, at 100 % and 10 % of the
training pieces.

  python bench/musicoder_composer_baseline.py --data=DIR [--export] --out=FILE.md

DIR is an export of ``musicvae_jax.musicoder.composer_corpus`` (``--export`` writes one there
first if DIR/split.csv is missing). Reads every window of every piece, trains one model per
fraction and seed (``histogram_baseline.evaluate``) and prints and writes a markdown table:
fraction, seeds, window and piece macro-F1 (mean ± std and the per-seed values), train
pieces/windows (mean over seeds) and test pieces/windows.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time


def table(rows: list[dict]) -> str:
  """The markdown table of ``histogram_baseline.evaluate``'s rows."""
  lines = ['| train pieces kept | seeds | window macro-F1 mean ± std | per seed '
           '| piece macro-F1 mean ± std | per seed | train pieces / windows '
           '| test pieces / windows |', '|---|---|---|---|---|---|---|---|']
  for r in rows:
    per_seed = ', '.join(f'{f:.3f}' for f in r['f1'])
    piece_per_seed = ', '.join(f'{f:.3f}' for f in r['piece_f1'])
    seeds = ','.join(str(s) for s in r['seeds'])
    lines.append(f"| {r['fraction']:.0%} | {seeds} | {r['mean']:.3f} ± {r['std']:.3f} "
                 f"| {per_seed} | {r['piece_mean']:.3f} ± {r['piece_std']:.3f} "
                 f"| {piece_per_seed} | {r['train_pieces']:.0f} / {r['train_windows']:.0f} "
                 f"| {r['test_pieces']} / {r['test_windows']} |")
  return '\n'.join(lines)


def main() -> int:
  ap = argparse.ArgumentParser(description=__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument('--data', required=True, help='an export folder (holds split.csv)')
  ap.add_argument('--export', action='store_true', help='export first if split.csv is missing')
  ap.add_argument('--per_class', type=int, default=100, help='with --export: pieces per class')
  ap.add_argument('--out', required=True, help='markdown file to write the table to')
  args = ap.parse_args()

  from musicvae_jax.musicoder import composer_corpus  # pylint: disable=import-outside-toplevel
  from musicvae_jax.musicoder import histogram_baseline  # pylint: disable=import-outside-toplevel

  split_csv = pathlib.Path(args.data) / 'split.csv'
  start = time.time()
  if not split_csv.exists():
    if not args.export:
      sys.exit(f'{split_csv} is missing: pass --export, or export with '
               'python -m musicvae_jax.musicoder.composer_corpus --output=DIR')
    composer_corpus.export(args.data, per_class=args.per_class)
  rows = histogram_baseline.evaluate(split_csv)
  seconds = time.time() - start
  text = '\n'.join([
      '# MusiCoder composer classification: histogram baseline', '',
      f'Data: `{args.data}` (music21 corpus, 5 classes: {", ".join(composer_corpus.CLASSES)}). '
      'Features: 12 pitch classes of onsets, 25 melodic intervals (highest onset pitch of '
      'successive onset frames, clipped to ±12), 12 vertical intervals mod 12; standardised, '
      'logistic regression with balanced class weights. Macro-F1 over every test window '
      '(64 frames, 4 bars) and over every test piece (the argmax of its windows\' mean '
      'probabilities); the training set keeps the given share of training pieces per '
      'class (at least one), chosen per seed.', '',
      table(rows), '', f'{seconds:.0f} s.', ''])
  print(text)
  pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
  pathlib.Path(args.out).write_text(text, encoding='utf-8')
  return 0


if __name__ == '__main__':
  sys.exit(main())
