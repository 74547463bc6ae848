"""POP909 songs read onto their MIDI beat grid: per-beat pitch-class features, chords and keys.

The raw POP909 MIDI declares 2/4 and often has many tempo events, so nothing here uses its
metre: note times (seconds, tempo map applied by pretty_midi) are mapped onto the beat grid of
``beat_midi.txt`` and every feature is measured in beats. ``chord_midi.txt`` is beat-synchronous
(every boundary is a grid time), so it becomes one label per beat. ``key_audio.txt`` is on the
audio time line, which roughly matches the MIDI's; a beat takes the key region holding its start
(the nearest region for beats outside all of them).

The split is by song id: ``sha1(id) % 10`` 0-7 train, 8 valid, 9 test (deterministic, about
80/10/10).
"""

import csv
import dataclasses
import hashlib
import os
import pathlib

import numpy as np
import pretty_midi

from musicvae_jax.converters import beat_grid

# $POP909_DIR, else $MUSICVAE_SHARED/data/pop909, else ../shared/data/pop909 beside the repo.
DATA_DIR = pathlib.Path(os.environ.get('POP909_DIR') or pathlib.Path(os.environ.get(
    'MUSICVAE_SHARED', pathlib.Path(__file__).resolve().parents[3] / 'shared')) / 'data' / 'pop909')
TRACKS = ('MELODY', 'BRIDGE', 'PIANO')


@dataclasses.dataclass(frozen=True)
class Segment:
  start_s: float
  end_s: float
  label: str


@dataclasses.dataclass
class Song:
  """One song on its beat grid (B beats)."""
  song_id: str
  beat_times_b1: np.ndarray        # [B+1] seconds; the last entry is the grid end
  downbeat_b: np.ndarray           # [B] bool, flag_b of beat_midi.txt (4/4 bar downbeats)
  notes: dict                      # track -> [N, 3] float (start_beat, end_beat, pitch)
  chord_segments: list             # chord_midi.txt, as Segments
  key_segments: list               # key_audio.txt, as Segments
  chord_labels_b: list             # [B] Harte label per beat

  @property
  def num_beats(self) -> int:
    return len(self.beat_times_b1) - 1

  def chroma(self, tracks=('PIANO',)) -> np.ndarray:
    """[B, 12] duration-weighted chroma: beats of each pitch class sounding within each beat."""
    return beat_chroma(self.notes_of(tracks), self.num_beats)

  def bass_chroma(self, tracks=('PIANO',)) -> np.ndarray:
    """[B, 12] one-hot pitch class of the lowest note sounding in each beat (zeros if none)."""
    return beat_bass_chroma(self.notes_of(tracks), self.num_beats)

  def notes_of(self, tracks) -> np.ndarray:
    """[N, 3] (start_beat, end_beat, pitch) of the given tracks ('all': every track)."""
    tracks = TRACKS if tracks in ('all', None) else tracks
    parts = [self.notes[t] for t in tracks if t in self.notes]
    return np.concatenate(parts) if parts else np.zeros((0, 3))

  def key_labels_b(self) -> list:
    """[B] key label ('Db:maj') of the region holding each beat's start (nearest if none)."""
    starts = self.beat_times_b1[:-1]
    out = []
    for t in starts:
      best = min(self.key_segments,
                 key=lambda s: 0.0 if s.start_s <= t < s.end_s else min(abs(t - s.start_s),
                                                                        abs(t - s.end_s)))
      out.append(best.label)
    return out

  def main_key(self) -> str:
    """The key region covering the most time."""
    totals = {}
    for s in self.key_segments:
      totals[s.label] = totals.get(s.label, 0.0) + s.end_s - s.start_s
    return max(totals, key=totals.get)


def beat_chroma(notes_n3: np.ndarray, num_beats: int) -> np.ndarray:
  """[B, 12] per-beat chroma: for each note, its overlap (in beats) with each beat."""
  overlap_nb = _overlap(notes_n3, num_beats)
  pc_n = notes_n3[:, 2].astype(int) % 12
  chroma_b12 = np.zeros((num_beats, 12))
  np.add.at(chroma_b12.T, pc_n, overlap_nb)
  return chroma_b12


def beat_bass_chroma(notes_n3: np.ndarray, num_beats: int) -> np.ndarray:
  overlap_nb = _overlap(notes_n3, num_beats)
  bass_b12 = np.zeros((num_beats, 12))
  if not len(notes_n3):
    return bass_b12
  pitch_nb = np.where(overlap_nb > 0, notes_n3[:, 2:3], np.inf)
  lowest_b = pitch_nb.min(axis=0)
  has_b = np.isfinite(lowest_b)
  bass_b12[np.nonzero(has_b)[0], lowest_b[has_b].astype(int) % 12] = 1.0
  return bass_b12


def _overlap(notes_n3: np.ndarray, num_beats: int) -> np.ndarray:
  """[N, B] overlap in beats of note n with beat b (notes clipped to the grid)."""
  lo_b = np.arange(num_beats)[None, :]
  return np.clip(np.minimum(notes_n3[:, 1:2], lo_b + 1) - np.maximum(notes_n3[:, 0:1], lo_b),
                 0.0, None)


def song_ids(data_dir=DATA_DIR) -> list:
  return sorted(p.name for p in (pathlib.Path(data_dir) / 'songs').iterdir() if p.is_dir())


def split_of(song_id: str) -> str:
  h = int(hashlib.sha1(song_id.encode()).hexdigest(), 16) % 10
  return 'train' if h < 8 else ('valid' if h == 8 else 'test')


def split(ids) -> dict:
  out = {'train': [], 'valid': [], 'test': []}
  for i in ids:
    out[split_of(i)].append(i)
  return out


def write_split_csv(path, data_dir=DATA_DIR) -> dict:
  """Writes a split CSV for ``musicvae-prepare --input=<data_dir>/songs --split_csv=<path>``:
  train songs -> train, test songs -> eval, valid songs left out (``split``). Returns counts."""
  rows = [(f'{i}/{i}.mid', {'train': 'train', 'test': 'test', 'valid': ''}[split_of(i)])
          for i in song_ids(data_dir)]
  pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
  with open(path, 'w', newline='', encoding='utf-8') as f:
    writer = csv.writer(f)
    writer.writerow(['file', 'split'])
    writer.writerows(rows)
  return {s: sum(r[1] == s for r in rows) for s in ('train', 'test', '')}


def read_segments(path) -> list:
  out = []
  for line in pathlib.Path(path).read_text().splitlines():
    if line.strip():
      start, end, label = line.split('\t')
      out.append(Segment(float(start), float(end), label.strip()))
  return out


def read_beats(path):
  """(beat times [B], flag_a [B], flag_b [B]) from beat_midi.txt."""
  rows_b3 = np.loadtxt(path, ndmin=2)
  return rows_b3[:, 0], rows_b3[:, 1] > 0, rows_b3[:, 2] > 0


def load_song(song_id: str, data_dir=DATA_DIR) -> Song:
  return load_song_folder(pathlib.Path(data_dir) / 'songs' / song_id)


LABEL_FILES = ('beat_midi.txt', 'chord_midi.txt', 'key_audio.txt')


def has_labels(midi_path) -> bool:
  """Whether a MIDI file sits in a POP909 song folder: its beats, chords and keys beside it."""
  folder = pathlib.Path(midi_path).parent
  return all((folder / name).is_file() for name in LABEL_FILES)


def load_song_folder(folder, midi_path=None) -> Song:
  """The song of a POP909-style folder (``<id>.mid`` or ``midi_path``, and ``LABEL_FILES``)."""
  folder = pathlib.Path(folder)
  midi_path = pathlib.Path(midi_path) if midi_path else folder / f'{folder.name}.mid'
  times_b, _, downbeat_b = read_beats(folder / 'beat_midi.txt')
  beat_times_b1 = np.append(times_b, times_b[-1] + (times_b[-1] - times_b[-2]))
  midi = pretty_midi.PrettyMIDI(str(midi_path))
  notes = {}
  for inst in midi.instruments:
    if inst.is_drum or inst.name not in TRACKS:
      continue
    se_n2 = np.array([[n.start, n.end] for n in inst.notes]).reshape(-1, 2)
    pitch_n = np.array([n.pitch for n in inst.notes], dtype=float)
    notes[inst.name] = np.column_stack([to_beats(se_n2, beat_times_b1), pitch_n])
  chord_segments = read_segments(folder / 'chord_midi.txt')
  return Song(midi_path.stem, beat_times_b1, downbeat_b, notes, chord_segments,
              read_segments(folder / 'key_audio.txt'),
              chord_labels_per_beat(chord_segments, beat_times_b1))


def to_beats(times_s, beat_times_b1: np.ndarray) -> np.ndarray:
  """Seconds -> fractional beat index on the grid (linear within a beat, extrapolated outside)."""
  times_s = np.asarray(times_s, dtype=float)
  idx = np.arange(len(beat_times_b1), dtype=float)
  out = np.interp(times_s, beat_times_b1, idx)
  first = (beat_times_b1[1] - beat_times_b1[0])
  last = (beat_times_b1[-1] - beat_times_b1[-2])
  out = np.where(times_s < beat_times_b1[0], (times_s - beat_times_b1[0]) / first, out)
  return np.where(times_s > beat_times_b1[-1], idx[-1] + (times_s - beat_times_b1[-1]) / last,
                  out)


def chord_labels_per_beat(segments, beat_times_b1: np.ndarray, tol_s=0.01) -> list:
  """[B] label per beat; raises if a segment boundary is not a grid time."""
  labels = [None] * (len(beat_times_b1) - 1)
  for seg in segments:
    i0, i1 = (int(np.argmin(np.abs(beat_times_b1 - t))) for t in (seg.start_s, seg.end_s))
    for t, i in ((seg.start_s, i0), (seg.end_s, i1)):
      if abs(beat_times_b1[i] - t) > tol_s:
        raise ValueError(f'chord boundary {t} is not on the beat grid')
    labels[i0:i1] = [seg.label] * (i1 - i0)
  if any(lab is None for lab in labels):
    raise ValueError('beats without a chord label')
  return labels


def metre_ok(row: dict) -> bool:
  """A MANIFEST row in duple metre with duple subdivision (the 4/4 songs): the others' 4/4
  downbeat flags do not mark their bars."""
  return row.get('num_beats_per_measure') == '2' and row.get('num_quavers_per_beat') == '2'


def melody_pieces(song: Song, tracks=('MELODY',), min_bars: int = 2) -> list:
  """[(beat_grid.Run, PrettyMIDI)]: the song's ``tracks`` on its beat grid, one per 4/4 run."""
  return beat_grid.regrid({t: song.notes[t] for t in tracks if t in song.notes},
                          song.downbeat_b, song.num_beats, min_bars)


def regrid_melodies(data_dir, output_dir, *, tracks=('MELODY',), ids=None, progress=None) -> dict:
  """Writes ``<output_dir>/pop909_<id>[_<k>].mid`` (one per 4/4 run) for the 4/4 songs.

  Returns counts: songs written, songs skipped for metre, runs, bars, and {file: song id}.
  """
  data_dir, output_dir = pathlib.Path(data_dir), pathlib.Path(output_dir)
  rows = {r['id']: r for r in csv.DictReader(open(data_dir / 'MANIFEST.csv', encoding='utf-8'))}
  ids = sorted(rows) if ids is None else list(ids)
  output_dir.mkdir(parents=True, exist_ok=True)
  counts = dict(songs=0, skipped_metre=0, runs=0, bars=0, files={})
  for song_id in (progress(ids) if progress else ids):
    if not metre_ok(rows[song_id]):
      counts['skipped_metre'] += 1
      continue
    pieces = melody_pieces(load_song(song_id, data_dir), tracks)
    counts['songs'] += bool(pieces)
    for k, (run, midi) in enumerate(pieces):
      name = f'pop909_{song_id}.mid' if k == 0 else f'pop909_{song_id}_{k}.mid'
      midi.write(str(output_dir / name))
      counts['files'][name] = song_id
      counts['runs'] += 1
      counts['bars'] += run.num_bars
  return counts
