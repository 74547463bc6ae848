"""Any MIDI file read onto a beat grid with the track roles the chord/key model reads.

The model's features (``classifier.song_features``) come from an accompaniment part ('PIANO')
and a melody part ('MELODY', 'BRIDGE'), as POP909 names its tracks. A file with those track
names keeps them. Otherwise the pitched (non-drum) instruments are split: with two or more, the
one with the highest mean pitch is the melody and the rest are the accompaniment; a single
instrument is all accompaniment. Drums are ignored.

The beat grid is, in order: ``beats`` when given, a POP909 ``beat_midi.txt`` beside the file,
or the beats of the file's own tempo map and time signatures (pretty_midi's ``get_beats``).
"""

from __future__ import annotations

import pathlib

import numpy as np
import pretty_midi

from musicvae_jax import errors
from musicvae_jax.chordkey import pop909


class MidiInputError(errors.UserError, ValueError):
  """A MIDI file the chord/key estimator cannot read; the text names the file and why."""


def roles(midi: pretty_midi.PrettyMIDI) -> dict:
  """{'PIANO': [instrument indices], 'MELODY': [...], 'BRIDGE': [...]} for the file."""
  pitched = [(i, inst) for i, inst in enumerate(midi.instruments)
             if not inst.is_drum and inst.notes]
  named = {name: [i for i, inst in pitched if inst.name == name] for name in pop909.TRACKS}
  if named['PIANO']:
    return named
  if len(pitched) < 2:
    return {'PIANO': [i for i, _ in pitched], 'MELODY': [], 'BRIDGE': []}
  top = max(pitched, key=lambda p: np.mean([n.pitch for n in p[1].notes]))[0]
  return {'PIANO': [i for i, _ in pitched if i != top], 'MELODY': [top], 'BRIDGE': []}


def beat_grid(midi: pretty_midi.PrettyMIDI, path: pathlib.Path, beats=None):
  """([B + 1] beat times in seconds, the last one ending the grid; [B] downbeat flags)."""
  downbeat_b = None
  if beats is None and (path.parent / 'beat_midi.txt').is_file():
    beats, _, downbeat_b = pop909.read_beats(path.parent / 'beat_midi.txt')
  if beats is None:
    beats = midi.get_beats()
    end = midi.get_end_time()
    beats = beats[beats < end] if len(beats) > 1 else beats
  beats = np.asarray(beats, dtype=float)
  if len(beats) < 2:
    raise MidiInputError(f'{path}: too short for a beat grid (fewer than 2 beats).')
  if downbeat_b is None:
    downbeat_b = np.isin(np.round(beats, 4), np.round(midi.get_downbeats(), 4))
  return np.append(beats, beats[-1] + (beats[-1] - beats[-2])), np.asarray(downbeat_b, bool)


def read_midi(path, beats=None) -> tuple[pop909.Song, pretty_midi.PrettyMIDI, dict]:
  """(the file as a Song without labels, the parsed MIDI, the roles of its instruments)."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise MidiInputError(f'{path}: no such MIDI file.')
  try:
    midi = pretty_midi.PrettyMIDI(str(path))
  except Exception as e:  # noqa: BLE001 - mido and pretty_midi raise many kinds
    raise MidiInputError(f'{path}: not a readable MIDI file ({type(e).__name__}: {e}).') from e
  parts = roles(midi)
  if not any(parts.values()):
    raise MidiInputError(f'{path}: no pitched notes (only drums, or empty); chords need notes.')
  beat_times_b1, downbeat_b = beat_grid(midi, path, beats)
  notes = {}
  for name, indices in parts.items():
    rows = [[n.start, n.end, n.pitch] for i in indices for n in midi.instruments[i].notes]
    if rows:
      rows_n3 = np.asarray(rows, dtype=float)
      notes[name] = np.column_stack([pop909.to_beats(rows_n3[:, :2], beat_times_b1),
                                     rows_n3[:, 2]])
  song = pop909.Song(path.stem, beat_times_b1, downbeat_b, notes, [], [], [])
  names = {name: [midi.instruments[i].name or f'instrument {i}' for i in idx]
           for name, idx in parts.items()}
  return song, midi, names
