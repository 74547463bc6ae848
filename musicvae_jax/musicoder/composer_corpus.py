"""MusiCoder's composer/style classification set: music21's bundled corpus as MIDI, 5 classes.

Classes (``CLASSES``): bach, palestrina, monteverdi, trecento and classical (music21's mozart,
haydn and beethoven). A piece is one score file that ``music21.corpus.getComposer`` lists, named
by its path relative to music21's corpus folder (e.g. ``'bach/bwv1.6.mxl'``). RomanText files
(``.rntxt``: harmonic analyses, not scores) are left out, and a piece encoded twice (e.g.
``beethoven/opus18no1/movement1`` as .krn and .mxl) is kept once, in the first format of
``SCORE_EXTENSIONS``, so that no piece can sit in both splits.

Pieces are ordered by the sha1 of their path and each class keeps its first ``per_class``. The
split is by piece: sha1 % 5 == 0 is test (about 20 %), the rest train, so every window of a piece
falls in its piece's split.

``export`` parses each piece with music21 and writes it as MIDI to
``<out>/<class>/<path with '/' -> '__' and extension .mid>``, keeping only pieces that give at
least one ``PianoRollConverter(slice_bars=4, min_notes=4)`` window (labels [64 frames, 88
pitches]). Beside the MIDI it writes ``split.csv`` (path,label,split; paths relative to
``<out>``), ``skipped.csv`` (path,label,reason,detail: the pieces left out, so that a rerun does not
try them again; delete it to retry) and ``README.md`` (source, licence, counts). A rerun parses
only the pieces that have neither a MIDI file nor a skipped.csv row.

  python -m musicvae_jax.musicoder.composer_corpus --output=DIR [--per_class=100]
"""

from __future__ import annotations

import argparse
import collections
import csv
import hashlib
import json
import os
import pathlib
import sys
import time

from musicvae_jax import progress as progress_bars
from musicvae_jax.converters import pianoroll

CLASSES = ('bach', 'palestrina', 'monteverdi', 'trecento', 'classical')
# music21 composer name (a folder of its corpus) -> class.
CLASS_OF_COMPOSER = {'bach': 'bach', 'palestrina': 'palestrina', 'monteverdi': 'monteverdi',
                     'trecento': 'trecento', 'mozart': 'classical', 'haydn': 'classical',
                     'beethoven': 'classical'}
# Score formats, the preferred first where a piece is encoded more than once.
SCORE_EXTENSIONS = ('.mxl', '.musicxml', '.xml', '.krn', '.mei', '.abc', '.mid', '.midi')
SPLITS = ('train', 'test')
NO_WINDOW = 'no_window'  # the skip reason of a piece that gives no piano-roll window
SPLIT_FIELDS = ('path', 'label', 'split')
SKIP_FIELDS = ('path', 'label', 'reason', 'detail')


def window_converter() -> pianoroll.PianoRollConverter:
  """The converter whose windows decide which pieces are kept (and that the baselines read)."""
  return pianoroll.PianoRollConverter(slice_bars=4, min_notes=4)


def corpus_dir() -> pathlib.Path:
  """music21's bundled corpus folder."""
  import music21.corpus  # pylint: disable=import-outside-toplevel  (slow import)
  return pathlib.Path(music21.corpus.__file__).parent


def _sha1(relative_path: str) -> int:
  return int(hashlib.sha1(relative_path.encode('utf-8')).hexdigest(), 16)


def split_of(relative_path: str) -> str:
  """'test' for about one piece in five (sha1 of the path % 5 == 0), else 'train'."""
  return 'test' if _sha1(relative_path) % 5 == 0 else 'train'


def _rank(path: pathlib.PurePath) -> int:
  return SCORE_EXTENSIONS.index(path.suffix.lower())


def scores_of(composer: str) -> list[str]:
  """The relative paths of ``composer``'s score files, one per piece (module docstring)."""
  import music21.corpus  # pylint: disable=import-outside-toplevel
  root = corpus_dir()
  best = {}
  for path in music21.corpus.getComposer(composer):
    relative = pathlib.PurePosixPath(pathlib.Path(path).relative_to(root).as_posix())
    suffix = relative.suffix.lower()
    if suffix not in SCORE_EXTENSIONS:
      continue
    stem = relative.with_suffix('').as_posix()
    if stem not in best or _rank(relative) < _rank(best[stem]):
      best[stem] = relative
  return [p.as_posix() for p in best.values()]


def pieces(per_class: int = 100) -> list[tuple[str, str]]:
  """(relative path, class) of the first ``per_class`` pieces of each class in sha1 order."""
  out = []
  for label in CLASSES:
    paths = {p for composer, c in CLASS_OF_COMPOSER.items() if c == label
             for p in scores_of(composer)}
    out.extend((p, label) for p in sorted(paths, key=_sha1)[:per_class])
  return out


def midi_path(out_dir, relative_path: str, label: str) -> pathlib.Path:
  """Where ``export`` writes a piece: ``<out>/<class>/<path, '/' -> '__', .mid>``."""
  name = pathlib.PurePosixPath(relative_path).with_suffix('.mid').as_posix().replace('/', '__')
  return pathlib.Path(out_dir) / label / name


# ---- one piece ------------------------------------------------------------------------------
def parse_piece(relative_path: str):
  """The music21 score of one corpus piece."""
  import music21  # pylint: disable=import-outside-toplevel
  return music21.converter.parse(corpus_dir() / relative_path)


def write_midi(score, path: pathlib.Path) -> None:
  """Writes a music21 score as a MIDI file (music21 expands its repeats)."""
  score.write('midi', fp=str(path))


def windows_of(path, converter: pianoroll.PianoRollConverter | None = None) -> list:
  """The piano-roll windows (labels [64, 88] int16) of a MIDI file."""
  import note_seq  # pylint: disable=import-outside-toplevel  (after pianoroll: no ffmpeg warning)
  sequence = note_seq.midi_file_to_note_sequence(str(path))
  return (converter or window_converter()).extract(sequence).windows


def export_piece(relative_path: str, target: pathlib.Path,
                 converter: pianoroll.PianoRollConverter) -> tuple[str, str] | None:
  """Writes one piece to ``target``; None when written, else (reason, detail) of its skip.

  The MIDI is written under a hidden name first and renamed once its windows are read, so a
  ``target`` that exists is always a complete, kept piece.
  """
  partial = target.with_name('.' + target.name)
  stage = 'parse'
  try:
    score = parse_piece(relative_path)
    stage = 'write'
    write_midi(score, partial)
    stage = 'read'
    windows = windows_of(partial, converter)
  except Exception as e:  # pylint: disable=broad-except  (one bad piece never stops the job)
    partial.unlink(missing_ok=True)
    return type(e).__name__, f'{stage}: {e}'[:300]
  if not windows:
    partial.unlink()
    return NO_WINDOW, 'read: no window with 4 onsets'
  os.replace(partial, target)
  return None


# ---- the files beside the MIDI ---------------------------------------------------------------
def read_skipped(out_dir) -> dict[str, dict]:
  """skipped.csv's rows by relative path ({} when there is none)."""
  path = pathlib.Path(out_dir) / 'skipped.csv'
  if not path.exists():
    return {}
  with open(path, newline='', encoding='utf-8') as f:
    return {row['path']: row for row in csv.DictReader(f)}


def _append_skip(out_dir, row: dict) -> None:
  path = pathlib.Path(out_dir) / 'skipped.csv'
  new = not path.exists()
  with open(path, 'a', newline='', encoding='utf-8') as f:
    writer = csv.DictWriter(f, SKIP_FIELDS)
    if new:
      writer.writeheader()
    writer.writerow(row)


def _write_split_csv(out_dir, rows: list[dict]) -> None:
  with open(pathlib.Path(out_dir) / 'split.csv', 'w', newline='', encoding='utf-8') as f:
    writer = csv.DictWriter(f, SPLIT_FIELDS)
    writer.writeheader()
    writer.writerows(sorted(rows, key=lambda r: r['path']))


def _licence_note() -> str:
  licence = corpus_dir() / 'license.txt'
  found = 'music21/corpus/license.txt' if licence.exists() else 'no music21/corpus/license.txt'
  return (
      f'Licence (from {found}): music21 itself is BSD-licensed; its corpus is a collection of '
      'encodings distributed with music21 with the permission of their encoders (and, where '
      'needed, composers or arrangers) and where US copyright law permits. To the best of '
      "music21's knowledge each piece is out of copyright in the United States or licensed for "
      'use, but some encodings may carry other restrictions, e.g. no commercial use: see the '
      'licences embedded in individual files or folders. It is not a blanket BSD or '
      'public-domain grant; check the source files before redistributing these MIDI files.')


def _readme(counts: dict, per_class: int) -> str:
  import music21  # pylint: disable=import-outside-toplevel
  written, skipped = counts['written'], counts['skipped']
  lines = [
      '# Composer/style classification set (MusiCoder fine-tuning)', '',
      'MIDI files written by `python -m musicvae_jax.musicoder.composer_corpus` from the corpus '
      f'bundled with music21 {music21.__version__} (parsed with music21, written with its MIDI '
      'writer, repeats '
      'expanded). One folder per class: ' + ', '.join(CLASSES) + ' (classical = music21\'s '
      'mozart, haydn and beethoven).', '',
      f'Selection: every score music21.corpus.getComposer lists (RomanText analyses left out, one '
      f'file per piece encoded twice), ordered by sha1 of the path relative to the corpus folder, '
      f'the first {per_class} per class. Split by piece: sha1 % 5 == 0 is test. A piece is kept '
      'only if it gives at least one PianoRollConverter(slice_bars=4, min_notes=4) window.', '',
      '`split.csv`: path (relative to this folder), label, split. `skipped.csv`: the pieces '
      'left out and why (delete it to retry them).', '',
      _licence_note(), '',
      '| class | train | test |', '|---|---|---|',
      *(f'| {c} | {written[c]["train"]} | {written[c]["test"]} |' for c in CLASSES),
      f'| all | {counts["split"]["train"]} | {counts["split"]["test"]} |', '',
      'Skipped pieces by reason: ' + (', '.join(f'{r} {n}' for r, n in sorted(skipped.items()))
                                      or 'none') + '.', '']
  return '\n'.join(lines)


# ---- the job ---------------------------------------------------------------------------------
def export(out_dir, per_class: int = 100, progress: bool = True) -> dict:
  """Writes the set to ``out_dir`` (module docstring) and returns its counts.

  Counts: pieces (selected), parsed (by this call), written {class: {split: n}}, split
  {split: n}, skipped {reason: n} and skipped_by_class {class: n}.
  """
  out = pathlib.Path(out_dir)
  for label in CLASSES:
    (out / label).mkdir(parents=True, exist_ok=True)
  selected = pieces(per_class)
  earlier_skips = read_skipped(out)
  converter = window_converter()
  written = {c: dict.fromkeys(SPLITS, 0) for c in CLASSES}
  skipped, skipped_by_class = collections.Counter(), collections.Counter()
  rows, parsed = [], 0
  bar = _bar(selected, progress)
  for relative, label in bar:
    target = midi_path(out, relative, label)
    skip = None
    if relative in earlier_skips:
      skip = earlier_skips[relative]['reason'], earlier_skips[relative]['detail']
    elif not target.exists():
      parsed += 1
      skip = export_piece(relative, target, converter)
      if skip:
        _append_skip(out, dict(zip(SKIP_FIELDS, (relative, label) + skip)))
    if skip:
      skipped[skip[0]] += 1
      skipped_by_class[label] += 1
    else:
      split = split_of(relative)
      written[label][split] += 1
      rows.append({'path': target.relative_to(out).as_posix(), 'label': label, 'split': split})
    bar.set_postfix(kept=len(rows), skipped=sum(skipped.values()))
  _write_split_csv(out, rows)
  counts = {'pieces': len(selected), 'parsed': parsed, 'written': written,
            'split': {s: sum(w[s] for w in written.values()) for s in SPLITS},
            'skipped': dict(skipped), 'skipped_by_class': dict(skipped_by_class)}
  (out / 'README.md').write_text(_readme(counts, per_class), encoding='utf-8')
  return counts


def _bar(selected, enabled: bool):
  return progress_bars.bar(selected, desc='composer corpus', unit='piece', enabled=enabled)


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(description=__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument('--output', required=True, help='folder to write the set to')
  ap.add_argument('--per_class', type=int, default=100, help='pieces per class at most')
  args = ap.parse_args(argv)
  start = time.time()
  counts = export(args.output, per_class=args.per_class)
  print(json.dumps(counts, indent=2))
  print(f'{time.time() - start:.0f} s', file=sys.stderr)
  return 0


if __name__ == '__main__':
  sys.exit(main())
