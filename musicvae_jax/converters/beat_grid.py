"""Performed MIDI put onto its annotated beat grid: 4/4 bars where the music has them.

A performance's MIDI (POP909's declares 2/4 and many tempos) has bar lines that mean nothing to
a quantiser. Given its notes in beats (fractional beat indices on an annotated grid) and the
grid's 4/4 downbeat flags, ``regrid`` makes each run of 4-beat bars (downbeat to downbeat) one
piece of 16th-note steps at a constant 120 qpm with a 4/4 time signature, so every converter of
this toolkit reads it with the bars where the music has them. A bar of another length (a 2/4 or
6/4 bar, a pickup) ends the run; the next run starts at the next 4-beat bar. Note positions are
rounded to the nearest 16th; a note keeps at least one step and is cut at the end of its run.
``musicvae_jax.chordkey.pop909.regrid_melodies`` applies it to POP909's songs.
"""

import dataclasses

import numpy as np
import pretty_midi

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


def regrid(notes_by_track: dict, downbeat_b: np.ndarray, num_beats: int,
           min_bars: int = 2) -> list:
  """[(Run, PrettyMIDI)] for each 4/4 run holding a note; ``notes_by_track``: {name: [N, 3]
  (start_beat, end_beat, pitch)}."""
  out = []
  for run in four_four_runs(downbeat_b, num_beats, min_bars):
    parts = {t: run_notes(n, run) for t, n in notes_by_track.items()}
    if any(len(v) for v in parts.values()):
      out.append((run, to_midi({t: v for t, v in parts.items() if len(v)})))
  return out
