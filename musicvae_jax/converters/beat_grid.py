"""Performed MIDI put onto its annotated beat grid: 4/4 bars where the music has them.

POP909's MIDI declares 2/4 and many tempos, so its bar lines mean nothing to a quantiser. Its
``beat_midi.txt`` marks every beat and the 4/4 downbeats. Here each run of 4-beat bars (downbeat
to downbeat) becomes one piece of 16th-note steps at a constant 120 qpm with a 4/4 time
signature, so every converter of this toolkit reads it with the bars where the song has them.
A bar of another length (a 2/4 or 6/4 bar, a pickup) ends the run; the next run starts at the
next 4-beat bar. Note times are mapped through the beat grid (``pop909.to_beats``), then
rounded to the nearest 16th; a note keeps at least one step and is cut at the end of its run.

Songs whose annotation says triple or compound metre (POP909's MANIFEST: beats per measure 3 or
quavers per beat 3) are skipped by ``regrid_pop909``: their 4/4 flags do not mark their bars.
"""

import csv
import dataclasses
import pathlib

import numpy as np
import pretty_midi

from musicvae_jax.chordkey import pop909

STEPS_PER_BEAT = 4
QPM = 120.0
STEP_S = 60.0 / QPM / STEPS_PER_BEAT
BEATS_PER_BAR = 4


@dataclasses.dataclass(frozen=True)
class Run:
  """A run of whole 4-beat bars: beats [first_beat, first_beat + 4 * num_bars)."""
  first_beat: int
  num_bars: int


def four_four_runs(downbeat_b: np.ndarray, num_beats: int, min_bars: int = 2) -> list[Run]:
  """Runs of consecutive 4-beat bars (at least ``min_bars``) from a grid's downbeat flags.

  The last downbeat opens a bar if 4 beats remain after it.
  """
  down = list(np.nonzero(downbeat_b)[0]) + [num_beats]
  runs, start, bars = [], None, 0
  for a, b in zip(down[:-1], down[1:]):
    if b - a == BEATS_PER_BAR or (b == num_beats and b - a > BEATS_PER_BAR):
      if start is None:
        start, bars = int(a), 0
      bars += 1
    else:
      if start is not None and bars >= min_bars:
        runs.append(Run(start, bars))
      start = None
  if start is not None and bars >= min_bars:
    runs.append(Run(start, bars))
  return runs


def run_notes(notes_n3: np.ndarray, run: Run) -> np.ndarray:
  """[M, 3] int (start_step, end_step, pitch) of the notes starting inside ``run``, in steps
  from its first beat; end > start; ends cut at the run's end."""
  total = run.num_bars * BEATS_PER_BAR * STEPS_PER_BEAT
  start_n = np.round((notes_n3[:, 0] - run.first_beat) * STEPS_PER_BEAT).astype(int)
  end_n = np.round((notes_n3[:, 1] - run.first_beat) * STEPS_PER_BEAT).astype(int)
  keep = (start_n >= 0) & (start_n < total)
  start_n, end_n, pitch_n = start_n[keep], end_n[keep], notes_n3[keep, 2].astype(int)
  end_n = np.clip(np.maximum(end_n, start_n + 1), None, total)
  order = np.lexsort((pitch_n, start_n))
  return np.column_stack([start_n, end_n, pitch_n])[order]


def to_midi(tracks: dict, program: int = 0) -> pretty_midi.PrettyMIDI:
  """{name: [M, 3] steps} -> a 4/4, 120 qpm PrettyMIDI whose notes lie exactly on 16ths."""
  midi = pretty_midi.PrettyMIDI(initial_tempo=QPM)
  midi.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
  for name, steps_m3 in tracks.items():
    inst = pretty_midi.Instrument(program=program, name=name)
    for s, e, p in steps_m3:
      inst.notes.append(pretty_midi.Note(velocity=100, pitch=int(p), start=s * STEP_S,
                                         end=e * STEP_S))
    midi.instruments.append(inst)
  return midi


def regrid_song(song: pop909.Song, tracks=('MELODY',), min_bars: int = 2) -> list:
  """[(Run, PrettyMIDI)] for each 4/4 run of a song that holds a note of ``tracks``."""
  out = []
  for run in four_four_runs(song.downbeat_b, song.num_beats, min_bars):
    parts = {t: run_notes(song.notes[t], run) for t in tracks if t in song.notes}
    if any(len(v) for v in parts.values()):
      out.append((run, to_midi({t: v for t, v in parts.items() if len(v)})))
  return out


def metre_ok(row: dict) -> bool:
  """A POP909 MANIFEST row in duple metre with duple subdivision (the 4/4 songs)."""
  return row.get('num_beats_per_measure') == '2' and row.get('num_quavers_per_beat') == '2'


def regrid_pop909(data_dir, output_dir, *, tracks=('MELODY',), ids=None, progress=None) -> dict:
  """Writes ``<output_dir>/pop909_<id>[_<k>].mid`` (one per 4/4 run) for POP909 songs.

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
    pieces = regrid_song(pop909.load_song(song_id, data_dir), tracks)
    counts['songs'] += bool(pieces)
    for k, (run, midi) in enumerate(pieces):
      name = f'pop909_{song_id}.mid' if k == 0 else f'pop909_{song_id}_{k}.mid'
      midi.write(str(output_dir / name))
      counts['files'][name] = song_id
      counts['runs'] += 1
      counts['bars'] += run.num_bars
  return counts
