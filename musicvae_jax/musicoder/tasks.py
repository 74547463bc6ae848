"""The labelled tasks MusiCoder is fine-tuned on, read from a split file, and their baselines.

Shapes: N = windows, T = frames (64), P = pitch channels (88).

A split file is a CSV with a header ``path,label,split``: one row per MIDI file (``path``
relative to the CSV's folder, or absolute), its class for a classification task (empty for
melody identification) and ``train`` or ``test`` (``valid`` rows are read as their own split).
Files are split whole, so no excerpt of a test piece is ever seen in training.

* ``composer``: each window of a file carries the file's class (``musicoder.composer_corpus``
  writes music21's corpus this way).
* ``melody``: POP909-style files whose melody is the track named ``MELODY``; every window
  carries a [T, P] target, True at the onset cells of melody notes. The notes scored are the
  window's onset cells (label >= 2): melody or not. ``pop909_split_file`` writes the split of
  POP909's songs by id that the chord/key model uses (``sha1(id) % 10``: 9 test, 8 valid).

``skyline`` is melody identification's classic rule: a note is the melody when nothing higher
sounds in its onset frame.
"""

from __future__ import annotations

import csv
import dataclasses
import pathlib

import numpy as np

from musicvae_jax import errors
from musicvae_jax.converters import pianoroll

TASKS = ('composer', 'melody')
MELODY_TRACK = 'MELODY'


class SplitFileError(errors.UserError, ValueError):
  """A split file that is missing, malformed or names files that are not there."""


@dataclasses.dataclass
class Split:
  """One split's windows and what is known of them."""
  windows: np.ndarray           # [N, T, P] int16 piano-roll labels
  labels: np.ndarray            # [N] int class (composer) or [N, T, P] bool melody onsets
  groups: np.ndarray            # [N] the file each window came from
  classes: tuple[str, ...] = ()

  def __len__(self) -> int:
    return len(self.windows)

  def take(self, keep_N: np.ndarray) -> 'Split':
    return Split(self.windows[keep_N], self.labels[keep_N], self.groups[keep_N], self.classes)


def read_split_file(path) -> list[dict]:
  """Rows {'path': absolute Path, 'label': str, 'split': str}; a SplitFileError naming the
  file and line otherwise."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise SplitFileError(f'--split_file={path}: no such file (a CSV with header '
                         'path,label,split).')
  with path.open(newline='') as f:
    reader = csv.DictReader(f)
    if not reader.fieldnames or not {'path', 'split'} <= set(reader.fieldnames):
      raise SplitFileError(f'{path}: the header must be path,label,split '
                           f'(it is {",".join(reader.fieldnames or [])}).')
    rows = []
    for line, row in enumerate(reader, start=2):
      midi = pathlib.Path(row['path'])
      midi = midi if midi.is_absolute() else path.parent / midi
      if not midi.is_file():
        raise SplitFileError(f'{path}, line {line}: {row["path"]} is not a file.')
      rows.append(dict(path=midi, label=(row.get('label') or '').strip(),
                       split=row['split'].strip()))
  if not rows:
    raise SplitFileError(f'{path}: no rows.')
  return rows


def _note_sequence(path):
  import note_seq  # pylint: disable=g-import-not-at-top
  return note_seq.midi_file_to_note_sequence(str(path))


TRACK_CODES = {'other': 1, 'BRIDGE': 2, MELODY_TRACK: 3}  # a cell takes its highest code


def melody_windows(path, converter: pianoroll.PianoRollConverter, with_tracks: bool = False):
  """(windows [N, T, P] int16, melody onsets [N, T, P] bool) of one file with a MELODY track;
  ``with_tracks`` adds [N, T, P] int8, the track each onset cell is from (``TRACK_CODES``, 0 for
  cells that are not an onset)."""
  sequence = _note_sequence(path)
  names = {i.instrument: i.name for i in sequence.instrument_infos}
  melody_ids = {k for k, name in names.items() if name == MELODY_TRACK}
  if not melody_ids:
    raise SplitFileError(f'{path}: no track named {MELODY_TRACK}; melody identification reads '
                         'files whose melody track is so named (POP909).')
  pitch, start, end, velocity, _ = converter.note_frames(sequence)
  notes = [n for n in sequence.notes if not n.is_drum and converter.vocabulary.min_pitch
           <= n.pitch <= converter.vocabulary.max_pitch]
  is_melody = np.array([n.instrument in melody_ids for n in notes], bool)
  labels = converter.roll(pitch, start, end, velocity, num_frames=converter.padded_frames(end))
  target = np.zeros(labels.shape, bool)
  cell = (start, pitch - converter.vocabulary.min_pitch)
  target[cell[0][is_melody], cell[1][is_melody]] = True
  tracks = np.zeros(labels.shape, np.int8)
  np.maximum.at(tracks, cell, np.array([TRACK_CODES.get(names.get(n.instrument), 1)
                                        for n in notes], np.int8))
  T, hop = converter.max_seq_len, converter.hop_steps
  starts = range(0, labels.shape[0] - T + 1, hop)
  keep = [s for s in starts
          if np.count_nonzero(labels[s:s + T] >= pianoroll.FIRST_ONSET) >= converter.min_notes]
  cut = lambda x: (np.stack([x[s:s + T] for s in keep]) if keep
                   else np.zeros((0, T, 88), x.dtype))
  return (cut(labels), cut(target)) + ((cut(tracks),) if with_tracks else ())


def load(task: str, split_file, converter: pianoroll.PianoRollConverter | None = None,
         progress: bool = False) -> dict[str, Split]:
  """{split name: Split} of every file the split file lists."""
  if task not in TASKS:
    raise SplitFileError(f'--task={task}: one of {", ".join(TASKS)}.')
  converter = converter or pianoroll.PianoRollConverter(slice_bars=4, min_notes=4)
  rows = read_split_file(split_file)
  classes = tuple(sorted({r['label'] for r in rows})) if task == 'composer' else ()
  if task == 'composer' and (len(classes) < 2 or '' in classes):
    raise SplitFileError(f'{split_file}: composer classification needs a label on every row '
                         f'and at least two classes (found {list(classes)}).')
  parts: dict[str, list] = {}
  if progress:
    from musicvae_jax import progress as progress_lib  # pylint: disable=g-import-not-at-top
    rows = progress_lib.bar(rows, desc=f'read {task}', unit='file')
  for row in rows:
    if task == 'melody':
      windows, labels = melody_windows(row['path'], converter)
    else:
      windows = np.asarray(converter.extract(_note_sequence(row['path'])).windows,
                           np.int16).reshape(-1, converter.max_seq_len, 88)
      labels = np.full(len(windows), classes.index(row['label']))
    parts.setdefault(row['split'], []).append((windows, labels,
                                               np.full(len(windows), str(row['path']))))
  return {name: Split(np.concatenate([p[0] for p in ps]), np.concatenate([p[1] for p in ps]),
                      np.concatenate([p[2] for p in ps]), classes)
          for name, ps in parts.items()}


def subsample_groups(split: Split, fraction: float, seed: int) -> Split:
  """``fraction`` of the split's files (at least one per class for classification), whole."""
  if fraction >= 1.0:
    return split
  rng = np.random.default_rng(seed)
  groups = np.unique(split.groups)
  if split.labels.ndim == 1:
    by_class = {}
    for g in groups:
      by_class.setdefault(int(split.labels[split.groups == g][0]), []).append(g)
    chosen = [g for members in by_class.values()
              for g in rng.permutation(members)[:max(1, round(fraction * len(members)))]]
  else:
    chosen = list(rng.permutation(groups)[:max(1, round(fraction * len(groups)))])
  return split.take(np.isin(split.groups, chosen))


def hold_out(split: Split, fraction: float, seed: int) -> tuple[Split, Split | None]:
  """(train, valid): ``fraction`` of the split's files (per class for classification, at least
  one where a class has two or more) held out whole; valid is None when nothing can be."""
  if fraction <= 0.0:
    return split, None
  rng = np.random.default_rng(seed + 1_000_003)  # not the subsample's draw
  groups = np.unique(split.groups)
  if split.labels.ndim == 1:
    by_class = {}
    for g in groups:
      by_class.setdefault(int(split.labels[split.groups == g][0]), []).append(g)
    members = list(by_class.values())
  else:
    members = [list(groups)]
  held = [g for m in members if len(m) > 1
          for g in rng.permutation(m)[:max(1, round(fraction * len(m)))]]
  if not held:
    return split, None
  is_held = np.isin(split.groups, held)
  return split.take(~is_held), split.take(is_held)


def pop909_split_file(songs_dir, out_csv) -> pathlib.Path:
  """Writes the split file of POP909's songs (``<id>/<id>.mid``) by song id."""
  from musicvae_jax.chordkey import pop909  # pylint: disable=g-import-not-at-top
  songs_dir, out_csv = pathlib.Path(songs_dir), pathlib.Path(out_csv)
  out_csv.parent.mkdir(parents=True, exist_ok=True)
  with out_csv.open('w', newline='') as f:
    writer = csv.writer(f)
    writer.writerow(['path', 'label', 'split'])
    for song in sorted(p.name for p in songs_dir.iterdir() if (p / f'{p.name}.mid').is_file()):
      writer.writerow([str((songs_dir / song / f'{song}.mid').resolve()), '',
                       pop909.split_of(song)])
  return out_csv


# ---- composer classification: scoring by window and by piece --------------------------------
def composer_scores(probs_NxC, split: Split) -> dict:
  """Macro-F1 (and accuracy) over the windows, and over the files: a file's class is the
  argmax of its windows' mean probabilities."""
  from sklearn import metrics  # pylint: disable=g-import-not-at-top
  probs = np.asarray(probs_NxC, np.float64)
  classes = list(range(len(split.classes)))
  f1 = lambda truth, guess: float(metrics.f1_score(truth, guess, average='macro', labels=classes,
                                                   zero_division=0))
  window_guess = np.argmax(probs, -1)
  files = np.unique(split.groups)
  file_guess = np.array([np.argmax(probs[split.groups == g].mean(0)) for g in files])
  file_truth = np.array([split.labels[split.groups == g][0] for g in files])
  return dict(macro_f1=f1(split.labels, window_guess),
              accuracy=float(np.mean(window_guess == split.labels)),
              piece_macro_f1=f1(file_truth, file_guess),
              piece_accuracy=float(np.mean(file_guess == file_truth)),
              windows=len(split), pieces=len(files))


# ---- melody identification: scoring and the skyline rule -----------------------------------
def note_counts(predicted_NxTxP, target_NxTxP, windows_NxTxP) -> dict:
  """True/false positives and negatives over the onset cells (the notes)."""
  notes = np.asarray(windows_NxTxP) >= pianoroll.FIRST_ONSET
  p, t = np.asarray(predicted_NxTxP) & notes, np.asarray(target_NxTxP) & notes
  return dict(tp=int(np.sum(p & t)), fp=int(np.sum(p & ~t)), fn=int(np.sum(~p & t)),
              notes=int(np.sum(notes)))


def note_f1(counts: dict) -> float:
  return 2 * counts['tp'] / max(2 * counts['tp'] + counts['fp'] + counts['fn'], 1)


def skyline(windows_NxTxP) -> np.ndarray:
  """[N, T, P] bool: onset cells with nothing sounding above them in their frame."""
  sounding = np.asarray(windows_NxTxP) >= pianoroll.SOUNDING
  # Whether anything sounds strictly above each pitch: a reversed cumulative OR, shifted by one.
  above = np.flip(np.cumsum(np.flip(sounding, -1), -1), -1) - sounding
  return (np.asarray(windows_NxTxP) >= pianoroll.FIRST_ONSET) & (above == 0)
