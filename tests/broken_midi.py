"""Deliberately broken MIDI files, each made from a real file of the shared set.

``make(kind, dst)`` writes a file whose expected ``MidiReadError.reason`` is ``kind``. Every one
starts from the bytes (or mido's parse) of a real file, so only the damage is invented.
"""

import pathlib

import mido

from conftest import SHARED, SHARED_MIDI

MELODY = SHARED_MIDI / 'melody' / 'nottingham_ashover1.mid'  # type 1, 1024 tpb, no tempo event
DRUMS = SHARED_MIDI / 'drums' / 'gmd_drummer1_session1_145_latin-brazilian-baiao_95_beat_4-4.mid'
MULTITRACK = SHARED_MIDI / 'multitrack' / 'freedoom_d_map03.mid'
REAL_SMALL = (MELODY, DRUMS, SHARED_MIDI / 'multitrack' / 'freedoom_d_dm30.mid')

KINDS = ('empty', 'not_midi', 'corrupt', 'truncated', 'midi_type_2', 'smpte_timing',
         'absurd_tempo', 'too_large', 'too_many_notes', 'too_long', 'no_notes')


def _save(midi: mido.MidiFile, dst: pathlib.Path) -> pathlib.Path:
  midi.save(str(dst))
  return dst


def _ticks(midi: mido.MidiFile, seconds: float) -> int:
  tempo = next((m.tempo for t in midi.tracks for m in t if m.type == 'set_tempo'), 500000)
  return int(mido.second2tick(seconds, midi.ticks_per_beat, tempo))


def make(kind: str, dst) -> pathlib.Path:
  """Writes a broken file of ``kind`` (a midi_io reason) to ``dst`` and returns its path."""
  dst = pathlib.Path(dst)
  real = MELODY.read_bytes()
  if kind == 'empty':
    dst.write_bytes(b'')
  elif kind == 'not_midi':  # a real non-MIDI file under a .mid name
    dst.write_bytes((SHARED / 'data' / 'README.md').read_bytes())
  elif kind == 'corrupt':  # the track chunk's tag overwritten
    at = real.index(b'MTrk')
    dst.write_bytes(real[:at] + b'XTrk' + real[at + 4:])
  elif kind == 'truncated':
    data = DRUMS.read_bytes()
    dst.write_bytes(data[:len(data) * 3 // 5])
  elif kind == 'midi_type_2':
    midi = mido.MidiFile(MULTITRACK)
    midi.type = 2
    return _save(midi, dst)
  elif kind == 'smpte_timing':  # 25 frames/s, 40 ticks per frame
    midi = mido.MidiFile(MELODY)
    midi.ticks_per_beat = -(25 << 8) + 40
    return _save(midi, dst)
  elif kind == 'absurd_tempo':  # 1 microsecond per beat = 60 million qpm
    midi = mido.MidiFile(MELODY)
    midi.tracks[0].insert(0, mido.MetaMessage('set_tempo', tempo=1, time=0))
    return _save(midi, dst)
  elif kind == 'too_large':  # a real file followed by a 17 MiB alien chunk (legal MIDI)
    size = 17 * 2**20
    dst.write_bytes(real + b'XFIL' + size.to_bytes(4, 'big') + bytes(size))
  elif kind == 'too_many_notes':  # the drum track stacked until it holds over 50k notes
    midi = mido.MidiFile(DRUMS)
    notes = sum(m.type == 'note_on' and m.velocity > 0 for m in midi.tracks[0])
    midi.type = 1
    midi.tracks = [midi.tracks[0]] * (50_000 // notes + 1)
    return _save(midi, dst)
  elif kind == 'too_long':  # one more note half an hour after the tune ends
    midi = mido.MidiFile(MELODY)
    track = midi.tracks[0]
    end = track.pop()  # end_of_track
    track.append(mido.Message('note_on', note=60, velocity=80, time=_ticks(midi, 1900.0)))
    track.append(mido.Message('note_off', note=60, velocity=0, time=midi.ticks_per_beat))
    track.append(end)
    return _save(midi, dst)
  elif kind == 'no_notes':
    midi = mido.MidiFile(MULTITRACK)
    for track in midi.tracks:
      track[:] = [m for m in track if m.type not in ('note_on', 'note_off')]
    return _save(midi, dst)
  else:
    raise ValueError(kind)
  return dst


def mutate(data: bytes, ops) -> bytes:
  """Applies (op, position in [0, 1), byte) edits: 'flip', 'insert', 'delete', 'truncate'."""
  buf = bytearray(data)
  for op, where, value in ops:
    at = min(int(where * len(buf)), max(len(buf) - 1, 0))
    if op == 'flip' and buf:
      buf[at] ^= value or 1
    elif op == 'insert':
      buf[at:at] = bytes([value])
    elif op == 'delete' and buf:
      del buf[at]
    elif op == 'truncate':
      del buf[at:]
  return bytes(buf)
