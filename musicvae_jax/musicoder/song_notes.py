"""A song's notes for melody identification: reading a POP909-style file, the note features.

Shapes: n = notes of a song, in onset order, highest pitch first within an onset; F = note
features (``NOTE_FEATURES``); E = a frozen encoder's width.

A note is one key press: copies of a pitch struck at one frame on several tracks are merged
(``read_song``), as the piano roll merges them. The classes are read from the track names:
MELODY, BRIDGE, and every other track. ``musicoder.melody_notes`` trains the tagger that reads
these notes.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from musicvae_jax.converters import pianoroll
from musicvae_jax.musicoder import tasks

TRACK_CLASSES = {'BRIDGE': 1, tasks.MELODY_TRACK: 2}   # every other track is class 0
UNLABELLED = 'unlabelled'   # a split file's rows that only pretraining reads
NOTE_FEATURES = ('log duration', 'velocity', 'below the top', 'above the bottom',
                 'log sounding', 'rank from top', 'rank from bottom', 'log onset size',
                 'log gap before', 'log gap after', 'pitch', 'is the top',
                 'place in the song', 'log bars from the start', 'log bars to the end')
PITCH_FEATURE = NOTE_FEATURES.index('pitch')


@dataclasses.dataclass
class Song:
  """One song's notes in onset order: pitch, start and end frame, velocity, class [n]."""
  path: str
  pitch: np.ndarray
  start: np.ndarray
  end: np.ndarray
  velocity: np.ndarray
  classes: np.ndarray
  extra: np.ndarray | None = None   # [n, E] encoder features, once ``encoder_features`` ran

  def __len__(self) -> int:
    return len(self.pitch)


def read_notes(path, converter: pianoroll.PianoRollConverter, labelled: bool = True):
  """Every pitched note of ``path`` in the piano range, in the file's order, as arrays:
  (pitch, start, end, velocity, class, instrument) [n]. ``labelled``: the file must have a
  track named MELODY (SplitFileError otherwise)."""
  sequence = tasks._note_sequence(path)  # pylint: disable=protected-access
  names = {i.instrument: i.name for i in sequence.instrument_infos}
  if labelled and tasks.MELODY_TRACK not in names.values():
    raise tasks.SplitFileError(f'{path}: no track named {tasks.MELODY_TRACK}.')
  vocab = converter.vocabulary
  notes = [n for n in sequence.notes
           if not n.is_drum and vocab.min_pitch <= n.pitch <= vocab.max_pitch]
  pitch, start, end, velocity, _ = converter.note_frames(sequence, notes)
  classes = np.array([TRACK_CLASSES.get(names.get(n.instrument), 0) for n in notes], np.int32)
  instrument = np.array([n.instrument for n in notes], int)
  return pitch, start, end, velocity, classes, instrument


def read_song(path, converter: pianoroll.PianoRollConverter, labelled: bool = True) -> Song:
  """The notes of a POP909-style file (a track named MELODY); SplitFileError otherwise.
  ``labelled=False`` (songs for pretraining): any file, its classes unread by pretraining.

  Notes of one pitch struck at one frame on several tracks (the piano doubling the melody)
  are one key press of a piano: they become one note, which lasts as long and is as loud as
  the longest and loudest of them and takes the highest class (MELODY over BRIDGE over the
  rest). The piano roll merges them the same way. Kept apart, the copies differ only in the
  order the file lists its tracks, which would tell a tagger which copy is the melody.
  """
  pitch, start, end, velocity, classes, _ = read_notes(path, converter, labelled)
  # One note per (start, pitch), in onset order, highest pitch first within an onset.
  key = start.astype(np.int64) * 128 + (127 - pitch)
  if not len(key):
    return Song(str(path), pitch, start, end, velocity, classes)
  keys, group = np.unique(key, return_inverse=True)
  merged = lambda values: np.maximum.reduceat(values[np.argsort(group, kind='stable')],
                                             np.r_[0, np.cumsum(np.bincount(group))[:-1]])
  return Song(str(path), (127 - keys % 128).astype(pitch.dtype), (keys // 128).astype(
      start.dtype), merged(end), merged(velocity), merged(classes).astype(np.int32))


def note_features(song: Song) -> tuple[np.ndarray, np.ndarray]:
  """([n, F] float32 ``NOTE_FEATURES``, [n, 2] int32 (pitch - 21, position in the bar))."""
  p, s, e = song.pitch, song.start, song.end
  n = len(p)
  frames = int(e.max()) + 1 if n else 1
  top, bottom, sounding = np.full(frames, -1), np.full(frames, 200), np.zeros(frames, int)
  for pi, si, ei in zip(p, s, e):
    top[si:ei] = np.maximum(top[si:ei], pi)
    bottom[si:ei] = np.minimum(bottom[si:ei], pi)
    sounding[si:ei] += 1
  first = np.flatnonzero(np.r_[True, s[1:] != s[:-1]]) if n else np.zeros(0, int)
  size = np.diff(np.r_[first, n])
  group = np.repeat(np.arange(len(first)), size)
  rank_top = np.arange(n) - first[group]          # notes are highest first within an onset
  rank_bottom = size[group] - 1 - rank_top
  gaps = np.diff(s[first])
  before, after = np.r_[16, gaps][group], np.r_[gaps, 16][group]
  features = np.stack([
      np.log1p(e - s), song.velocity / 127.0, (p - top[s]) / 12.0, (p - bottom[s]) / 12.0,
      np.log1p(sounding[s]), np.minimum(rank_top, 5), np.minimum(rank_bottom, 5),
      np.log1p(size[group]), np.log1p(np.minimum(before, 64)), np.log1p(np.minimum(after, 64)),
      (p - 60) / 12.0, (rank_top == 0).astype(float), s / max(frames - 1, 1),
      np.log1p((s - (s[0] if n else 0)) / 16.0), np.log1p((frames - 1 - s) / 16.0)],
      axis=-1).astype(np.float32)
  return features, np.stack([p - 21, s % 16], axis=-1).astype(np.int32)


def encoder_features(embedder, song: Song) -> np.ndarray:
  """[n, E]: a frozen encoder's hidden state at each note's onset frame (``Embedder``)."""
  converter = embedder.converter
  T = converter.max_seq_len
  frames = -(-int(song.end.max()) // T) * T
  roll = converter.roll(song.pitch, song.start, song.end, song.velocity, num_frames=frames)
  hidden = embedder.embed_windows(roll.reshape(-1, T, roll.shape[-1]), pool=False)
  return hidden.reshape(frames, -1)[song.start].astype(np.float32)


def note_counts(predicted, song: Song) -> dict:
  truth = song.classes == TRACK_CLASSES[tasks.MELODY_TRACK]
  predicted = np.asarray(predicted, bool)
  return dict(tp=int(np.sum(predicted & truth)), fp=int(np.sum(predicted & ~truth)),
              fn=int(np.sum(~predicted & truth)), notes=len(song))


def skyline(song: Song) -> np.ndarray:
  """[n] bool: notes with nothing sounding above them at their onset."""
  x, _ = note_features(song)
  return x[:, NOTE_FEATURES.index('below the top')] == 0


def read_split(split_file, converter, embedder=None, splits=None, progress=None,
               skipped: list | None = None) -> dict[str, list[Song]]:
  """{split: songs} of a melody split file (only ``splits`` if given), each with its encoder
  features when ``embedder`` is given; ``progress(iterable, total)`` wraps the file loop.
  Rows of split ``unlabelled`` (songs only pretraining reads) need no MELODY track, and one
  that cannot be read is left out and added to ``skipped`` as (path, reason)."""
  rows = [r for r in tasks.read_split_file(split_file) if not splits or r['split'] in splits]
  out: dict[str, list[Song]] = {}
  for row in (progress(rows, len(rows)) if progress else rows):
    unlabelled = row['split'] == UNLABELLED
    try:
      song = read_song(row['path'], converter, labelled=not unlabelled)
      if unlabelled and not len(song):
        raise ValueError('no notes in the piano range')
    except Exception as e:  # pylint: disable=broad-except
      if not unlabelled or skipped is None:
        raise
      skipped.append((str(row['path']), f'{type(e).__name__}: {e}'))
      continue
    if embedder is not None:
      song.extra = encoder_features(embedder, song)
    out.setdefault(row['split'], []).append(song)
  missing = [name for name in ('train', 'test') if name not in out]
  if missing:
    raise tasks.SplitFileError(f'{split_file} has no {" and no ".join(missing)} rows; the '
                               'tagger trains on the train rows and scores the test rows.')
  return out
