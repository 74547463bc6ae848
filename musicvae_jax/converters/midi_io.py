"""MIDI file -> NoteSequence, with one exception type and a short reason code for every bad file.

``read_midi`` checks the header and chunk structure on the raw bytes, then reads the file one of
two ways that give the same NoteSequence notes, tempos and signatures:

* ``parser='fast'``: ``fast_midi``'s compiled reader, which counts notes and ticks before it
  allocates anything and reproduces note-seq's semantics exactly (opt-in until the whole test
  suite has run on it; it leaves out control changes and pitch bends, which no converter reads);
* ``parser='note_seq'`` (the default): mido once, the caps on its events before pretty_midi builds its tick
  map (so a corrupt or enormous file costs little), then note-seq exactly as Magenta does
  (``note_seq.midi_io.midi_to_note_sequence``).

Whatever the bytes, the only exception it raises is ``MidiReadError``, whose ``reason`` is one of
``REASONS``; both parsers give the same reason for the same file.
"""

from __future__ import annotations

import collections
import dataclasses
import io
import os
import struct
import warnings

import mido
import pretty_midi

with warnings.catch_warnings():
  warnings.simplefilter('ignore', RuntimeWarning)  # pydub's ffmpeg warning at import time
  from note_seq import midi_io

from musicvae_jax import errors
from musicvae_jax.converters.base import NoteSequence

PARSERS = ('fast', 'note_seq')

REASONS = {
    'unreadable': 'the file could not be opened or read',
    'empty': 'the file is empty (0 bytes)',
    'not_midi': "the file does not start with a MIDI header ('MThd')",
    'truncated': 'the file ends in the middle of a chunk or event',
    'corrupt': 'the MIDI data is malformed',
    'midi_type_2': 'type-2 (asynchronous multi-song) MIDI is not supported',
    'smpte_timing': 'SMPTE (frames per second) timing is not supported; only ticks per beat',
    'absurd_tempo': 'a tempo is outside the sane range',
    'too_large': 'the file is larger than the size cap',
    'too_many_notes': 'the file has more notes than the note cap',
    'too_long': 'the file is longer than the duration cap',
    'no_notes': 'the file has no notes',
}

_MAX_TICK = 10_000_000  # pretty_midi.MAX_TICK: beyond it pretty_midi refuses the file


@dataclasses.dataclass(frozen=True)
class MidiLimits:
  """Caps that mark a file as not worth converting (Magenta's preprocessing uses 1800 s)."""

  max_file_bytes: int = 16 * 1024 * 1024
  # 50k rather than 10k: two real files of the shared set (a long Groove MIDI take and a game
  # song) have 10-12k notes and are fine.
  max_num_notes: int = 50_000
  max_total_time: float = 1800.0  # seconds
  min_qpm: float = 10.0
  max_qpm: float = 1000.0
  # How files are read, one of PARSERS (both give the same NoteSequence notes and reasons);
  # here so that prepare's workers and dataset.json carry it with the caps.
  parser: str = 'note_seq'

  def __post_init__(self):
    if self.parser not in PARSERS:
      raise ValueError(f'parser={self.parser!r}: expected one of {", ".join(PARSERS)}')


class MidiReadError(errors.UserError):
  """A MIDI file that cannot be used; ``reason`` is a key of ``REASONS``."""

  def __init__(self, path: str, reason: str, detail: str = ''):
    super().__init__(path, reason, detail)
    self.path = str(path)
    self.reason = reason
    self.detail = detail

  @property
  def message(self) -> str:
    text = REASONS.get(self.reason, self.reason)
    return f'{text} ({self.detail})' if self.detail else text

  def __str__(self) -> str:
    return f'{self.path}: {self.message} [{self.reason}]'


def read_midi(path, limits: MidiLimits = MidiLimits(),
              warning_counts: collections.Counter | None = None,
              parser: str | None = None, arrays: bool = False) -> NoteSequence:
  """The NoteSequence of a MIDI file; raises MidiReadError (only) for a file that is unusable.

  Warnings that pretty_midi or note-seq emit are not printed; their short texts are counted in
  ``warning_counts`` when one is given. ``parser`` (one of ``PARSERS``) overrides
  ``limits.parser``. ``arrays``: read with the fast parser and return its
  ``note_arrays.NoteArrays`` instead of the NoteSequence (same checks, same reasons).
  """
  path = os.fspath(path)
  try:
    size = os.path.getsize(path)
    if size > limits.max_file_bytes:
      raise MidiReadError(path, 'too_large', f'{size} bytes > {limits.max_file_bytes}')
    with open(path, 'rb') as fh:
      data = fh.read(limits.max_file_bytes + 1)
  except MidiReadError:
    raise
  except Exception as e:  # OSError, permission, a folder named *.mid, ...
    raise MidiReadError(path, 'unreadable', f'{type(e).__name__}: {e}') from None
  return read_midi_bytes(data, path, limits, warning_counts, parser, arrays)


def read_midi_bytes(data: bytes, path: str = '<bytes>', limits: MidiLimits = MidiLimits(),
                    warning_counts: collections.Counter | None = None,
                    parser: str | None = None, arrays: bool = False) -> NoteSequence:
  """``read_midi`` for bytes already in memory; ``path`` only names the file in errors."""
  parser = 'fast' if arrays else parser or limits.parser
  if parser not in PARSERS:
    raise ValueError(f'parser={parser!r}: expected one of {", ".join(PARSERS)}')
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    try:
      return _read(data, path, limits, parser, arrays)
    except MidiReadError:
      raise
    except Exception as e:  # anything mido, pretty_midi or note-seq throws on odd bytes
      raise MidiReadError(path, 'corrupt', f'{type(e).__name__}: {e}'[:300]) from None
    finally:
      if warning_counts is not None:
        for w in caught:
          warning_counts[_short(str(w.message))] += 1


def _short(text: str) -> str:
  return ' '.join(text.split()[:8])[:80]


def _read(data: bytes, path: str, limits: MidiLimits, parser: str, arrays: bool = False):
  if not data:
    raise MidiReadError(path, 'empty')
  if len(data) > limits.max_file_bytes:
    raise MidiReadError(path, 'too_large', f'{len(data)} bytes > {limits.max_file_bytes}')
  _check_structure(data, path)
  if parser == 'fast':
    # Imported here: numba's start-up is paid by the processes that read MIDI, not by every
    # command that imports this module.
    from musicvae_jax.converters import fast_midi  # pylint: disable=g-import-not-at-top
    try:
      read = fast_midi.read_arrays if arrays else fast_midi.read
      sequence = read(data, limits)
    except fast_midi.FastMidiError as e:
      raise MidiReadError(path, e.reason, e.detail) from None
  else:
    sequence = _read_note_seq(data, path, limits)
  num_notes = sequence.num_notes if arrays else len(sequence.notes)
  if not num_notes:
    raise MidiReadError(path, 'no_notes')
  if num_notes > limits.max_num_notes:
    raise MidiReadError(path, 'too_many_notes', f'{num_notes} notes > {limits.max_num_notes}')
  if sequence.total_time > limits.max_total_time:
    raise MidiReadError(path, 'too_long',
                        f'{sequence.total_time:.0f} s > {limits.max_total_time:.0f} s')
  sequence.filename = os.path.basename(path)
  return sequence


def _read_note_seq(data: bytes, path: str, limits: MidiLimits) -> NoteSequence:
  try:
    midi = mido.MidiFile(file=io.BytesIO(data))
  except EOFError:
    raise MidiReadError(path, 'truncated', 'an event runs past the end of the file') from None
  _check_events(midi, path, limits)

  try:
    pm = pretty_midi.PrettyMIDI(mido_object=midi)
  except EOFError:
    raise MidiReadError(path, 'truncated') from None
  return midi_io.midi_to_note_sequence(pm)


def _check_structure(data: bytes, path: str) -> None:
  """Header fields and chunk lengths, read from the raw bytes before mido sees them."""
  if data[:4] != b'MThd':
    detail = 'RIFF-wrapped (RMID) MIDI is not supported' if data[:4] == b'RIFF' else ''
    raise MidiReadError(path, 'not_midi', detail)
  if len(data) < 14:
    raise MidiReadError(path, 'truncated', 'the header is incomplete')
  header_len, fmt, num_tracks, division = struct.unpack_from('>LHHH', data, 4)
  if header_len < 6:
    raise MidiReadError(path, 'corrupt', f'header length {header_len} < 6')
  if fmt == 2:
    raise MidiReadError(path, 'midi_type_2')
  if fmt not in (0, 1):
    raise MidiReadError(path, 'corrupt', f'MIDI format {fmt}')
  if division & 0x8000:
    frames = 256 - (division >> 8)
    raise MidiReadError(path, 'smpte_timing', f'{frames} frames/s, {division & 0xFF} ticks/frame')
  if division == 0:
    raise MidiReadError(path, 'corrupt', '0 ticks per beat')
  if num_tracks == 0:
    raise MidiReadError(path, 'corrupt', 'the header declares no tracks')
  pos, found = 8 + header_len, 0
  while found < num_tracks:
    if pos + 8 > len(data):
      raise MidiReadError(path, 'truncated', f'{found} of {num_tracks} tracks present')
    name, length = struct.unpack_from('>4sL', data, pos)
    if name != b'MTrk':
      raise MidiReadError(path, 'corrupt', f'chunk {name!r} where track {found + 1} should be')
    if pos + 8 + length > len(data):
      raise MidiReadError(path, 'truncated',
                          f'track {found + 1} needs {length} bytes, {len(data) - pos - 8} left')
    pos += 8 + length
    found += 1


def _check_events(midi: mido.MidiFile, path: str, limits: MidiLimits) -> None:
  """Tempo range, note count and length, checked on mido's events (cheap, before pretty_midi)."""
  notes, max_tick = 0, 0
  for track in midi.tracks:
    tick = 0
    for msg in track:
      tick += msg.time
      if msg.type == 'note_on' and msg.velocity > 0:
        notes += 1
      elif msg.type == 'set_tempo':
        qpm = 60e6 / msg.tempo if msg.tempo > 0 else float('inf')
        if not limits.min_qpm <= qpm <= limits.max_qpm:
          raise MidiReadError(path, 'absurd_tempo', f'{qpm:.4g} qpm, allowed '
                              f'{limits.min_qpm:g}-{limits.max_qpm:g}')
    max_tick = max(max_tick, tick)
  if notes == 0:
    raise MidiReadError(path, 'no_notes')
  if notes > limits.max_num_notes:
    raise MidiReadError(path, 'too_many_notes', f'{notes} notes > {limits.max_num_notes}')
  if max_tick >= _MAX_TICK:
    raise MidiReadError(path, 'too_long', f'last event at tick {max_tick} (over 1e7)')
