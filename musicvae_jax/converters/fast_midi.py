"""A compiled MIDI reader: exactly the NoteSequence note-seq gives, 10-85x sooner per file.

note-seq reads a file with mido (one Python object per event), pretty_midi (a float per tick of
the file, one object per note) and then copies everything into a NoteSequence. Here two small
numba-compiled loops over the raw bytes do the same work:

* ``_scan`` walks the track chunks exactly as mido's reader does (running status, sysex, meta
  events, the same checks that make mido reject a file), counting notes and the last tick while
  it goes, so the caps are checked before anything is allocated; a second walk records the few
  event kinds that matter (note on/off, program change, track name, tempo, time and key
  signature) into one integer array.
* ``_pair`` turns note on/off events into notes with pretty_midi's rules: a note-on of velocity 0
  is a note-off; a note-off closes every open note of its channel and pitch that started on an
  earlier tick (one started on the same tick stays open only if another one was closed); a note
  takes the program its channel has when it ends; instruments are (track, channel, program) in
  the order their first note ends, drums on channel 10.

Seconds come from pretty_midi's tick map formula (tempo events of the first track only, repeats
dropped), so times are equal to the last bit. The NoteSequence holds what the converters read:
notes (appended as one block of serialized protobuf, not one ``add`` per note), tempos, time and
key signatures, ticks_per_quarter, total_time and instrument names; it leaves out control changes
and pitch bends, which no converter reads, and source_info's parser.

numba comes with note-seq (through librosa). symusic, the obvious compiled reader, does not give
note-seq's notes and exposes no raw events to redo them: it pairs a note-off with the oldest open
note of its pitch (pretty_midi closes all of them), keeps notes that end on their start tick
(pretty_midi drops them) and gives a note the program of its note-on (pretty_midi: of its
note-off).
"""

from __future__ import annotations

import warnings

import numba
import numpy as np

from musicvae_jax.converters.base import NoteSequence
from musicvae_jax.converters.note_arrays import NoteArrays

# Event kinds in the event array (columns: track, tick, kind, channel, a, b).
NOTE_ON, NOTE_OFF, PROGRAM, TRACK_NAME, TEMPO, TIME_SIG, KEY_SIG = range(7)
# _scan's error codes -> (reason, detail).
_ERRORS = {
    1: ('truncated', 'an event runs past the end of the file'),
    2: ('corrupt', 'OSError: running status without last_status'),
    3: ('corrupt', 'OSError: undefined status byte'),
    4: ('corrupt', 'OSError: data byte must be in range 0..127'),
    5: ('corrupt', 'OSError: message length exceeds maximum length 1000000'),
    6: ('corrupt', 'ValueError: data byte must be in range 0..127 (sysex)'),
    7: ('corrupt', 'IndexError: a meta event is too short'),
    8: ('corrupt', 'KeySignatureError: could not decode key'),
    9: ('corrupt', 'ValueError: bad SMPTE offset'),
    10: ('corrupt', 'ValueError: wrong number of bytes for a message'),
}
_TICK_CAP = 1 << 40  # ticks saturate here (far above pretty_midi's 1e7 limit)
# mido's key signature table as pretty_midi key numbers: KEY_NUMBER[sharps + 7, minor].
_KEY_NUMBER = np.array([[11, 20], [6, 15], [1, 22], [8, 17], [3, 12], [10, 19], [5, 14],
                        [0, 21], [7, 16], [2, 23], [9, 18], [4, 13], [11, 20], [6, 15],
                        [1, 22]])
# Data bytes after the status byte of each channel / system message (-1: undefined status).
_LENGTHS = np.full(256, -1, np.int64)
_LENGTHS[0x80:0xC0] = 2
_LENGTHS[0xC0:0xE0] = 1
_LENGTHS[0xE0:0xF0] = 2
_LENGTHS[[0xF1, 0xF3]] = 1
_LENGTHS[0xF2] = 2
_LENGTHS[[0xF6, 0xF8, 0xFA, 0xFB, 0xFC, 0xFE]] = 0


class FastMidiError(Exception):
  """A file the reader rejects, with one of midi_io's reason codes."""

  def __init__(self, reason: str, detail: str = ''):
    super().__init__(reason, detail)
    self.reason = reason
    self.detail = detail


@numba.njit(cache=True, nogil=True)
def _vlq(data, pos, n):
  """(value, new pos); pos = -1 at the end of the data. Values saturate at _TICK_CAP."""
  value = 0
  while True:
    if pos >= n:
      return 0, -1
    byte = data[pos]
    pos += 1
    value = (value << 7) | (byte & 0x7F)
    if value > _TICK_CAP:
      value = _TICK_CAP
    if byte < 0x80:
      return value, pos


@numba.njit(cache=True, nogil=True)
def _scan(data, pos, num_tracks, lengths, min_qpm, max_qpm, events):
  """One walk over the tracks as mido reads them; fills ``events`` when it has rows.

  Returns (error, n_events, n_note_ons, max_tick, first_bad_tempo, empty_track).
  """
  n = data.shape[0]
  fill = events.shape[0] > 0
  n_events = 0
  n_note_ons = 0
  max_tick = 0
  bad_tempo = -1
  empty_track = False
  for track in range(num_tracks):
    if pos + 8 > n:
      return 1, n_events, n_note_ons, max_tick, bad_tempo, empty_track
    size = (data[pos + 4] << 24) | (data[pos + 5] << 16) | (data[pos + 6] << 8) | data[pos + 7]
    pos += 8
    start = pos
    tick = 0
    last_status = -1
    count = 0
    while pos - start != size:
      delta, pos = _vlq(data, pos, n)
      if pos < 0:
        return 1, n_events, n_note_ons, max_tick, bad_tempo, empty_track
      tick = min(tick + delta, _TICK_CAP)
      if pos >= n:
        return 1, n_events, n_note_ons, max_tick, bad_tempo, empty_track
      status = np.int64(data[pos])
      pos += 1
      peek = -1
      if status < 0x80:
        if last_status < 0:
          return 2, n_events, n_note_ons, max_tick, bad_tempo, empty_track
        peek = status
        status = last_status
      elif status != 0xFF:
        last_status = status
      count += 1
      if status == 0xFF:
        if pos >= n:
          return 1, n_events, n_note_ons, max_tick, bad_tempo, empty_track
        meta = data[pos]
        pos += 1
        length, pos = _vlq(data, pos, n)
        if pos < 0:
          return 1, n_events, n_note_ons, max_tick, bad_tempo, empty_track
        if length > 1000000:
          return 5, n_events, n_note_ons, max_tick, bad_tempo, empty_track
        if pos + length > n:
          return 1, n_events, n_note_ons, max_tick, bad_tempo, empty_track
        d = pos
        pos += length
        if meta == 0x00:
          if length == 1:
            return 7, n_events, n_note_ons, max_tick, bad_tempo, empty_track
        elif meta == 0x20:
          if length < 1:
            return 7, n_events, n_note_ons, max_tick, bad_tempo, empty_track
        elif meta == 0x03:
          if fill:
            events[n_events, 0] = track
            events[n_events, 1] = tick
            events[n_events, 2] = TRACK_NAME
            events[n_events, 4] = d
            events[n_events, 5] = length
          n_events += 1
        elif meta == 0x51:
          if length < 3:
            return 7, n_events, n_note_ons, max_tick, bad_tempo, empty_track
          tempo = (np.int64(data[d]) << 16) | (np.int64(data[d + 1]) << 8) | data[d + 2]
          if bad_tempo < 0:
            qpm = 60e6 / tempo if tempo > 0 else np.inf
            if not min_qpm <= qpm <= max_qpm:
              bad_tempo = tempo
          if fill:
            events[n_events, 0] = track
            events[n_events, 1] = tick
            events[n_events, 2] = TEMPO
            events[n_events, 4] = tempo
          n_events += 1
        elif meta == 0x54:
          if length < 1:
            return 7, n_events, n_note_ons, max_tick, bad_tempo, empty_track
          if data[d] >> 5 > 3:
            return 9, n_events, n_note_ons, max_tick, bad_tempo, empty_track
          if length < 5:
            return 7, n_events, n_note_ons, max_tick, bad_tempo, empty_track
          if data[d + 1] > 59 or data[d + 2] > 59 or data[d + 4] > 99:
            return 9, n_events, n_note_ons, max_tick, bad_tempo, empty_track
        elif meta == 0x58:
          if length < 4:
            return 7, n_events, n_note_ons, max_tick, bad_tempo, empty_track
          if fill:
            events[n_events, 0] = track
            events[n_events, 1] = tick
            events[n_events, 2] = TIME_SIG
            events[n_events, 4] = data[d]
            events[n_events, 5] = data[d + 1]
          n_events += 1
        elif meta == 0x59:
          if length < 2:
            return 7, n_events, n_note_ons, max_tick, bad_tempo, empty_track
          key = np.int64(data[d])
          if key > 127:
            key -= 256
          mode = data[d + 1]
          if key < -7 or key > 7 or mode > 1:
            return 8, n_events, n_note_ons, max_tick, bad_tempo, empty_track
          if fill:
            events[n_events, 0] = track
            events[n_events, 1] = tick
            events[n_events, 2] = KEY_SIG
            events[n_events, 4] = key
            events[n_events, 5] = mode
          n_events += 1
      elif status == 0xF0 or status == 0xF7:
        # mido reads a sysex length right after the status (a running-status byte is lost).
        length, pos = _vlq(data, pos, n)
        if pos < 0:
          return 1, n_events, n_note_ons, max_tick, bad_tempo, empty_track
        if length > 1000000:
          return 5, n_events, n_note_ons, max_tick, bad_tempo, empty_track
        if pos + length > n:
          return 1, n_events, n_note_ons, max_tick, bad_tempo, empty_track
        lo = pos
        hi = pos + length
        pos = hi
        if hi > lo and data[lo] == 0xF0:
          lo += 1
        if hi > lo and data[hi - 1] == 0xF7:
          hi -= 1
        for i in range(lo, hi):
          if data[i] > 127:
            return 6, n_events, n_note_ons, max_tick, bad_tempo, empty_track
      else:
        want = lengths[status]
        if want < 0:
          return 3, n_events, n_note_ons, max_tick, bad_tempo, empty_track
        size_left = want - (1 if peek >= 0 else 0)
        if pos + max(size_left, 0) > n:
          return 1, n_events, n_note_ons, max_tick, bad_tempo, empty_track
        a = peek
        b = -1
        if size_left >= 1:
          if a < 0:
            a = data[pos]
            if size_left == 2:
              b = data[pos + 1]
          else:
            b = data[pos]
        if size_left > 0:
          pos += size_left
        if a > 127 or b > 127:
          return 4, n_events, n_note_ons, max_tick, bad_tempo, empty_track
        if size_left < 0 and status >= 0xF3:
          return 10, n_events, n_note_ons, max_tick, bad_tempo, empty_track
        kind = status >> 4
        channel = status & 0x0F
        if kind == 0x9 and b > 0:
          n_note_ons += 1
          ev_kind = NOTE_ON
        elif kind == 0x8 or kind == 0x9:
          ev_kind = NOTE_OFF
        elif kind == 0xC:
          ev_kind = PROGRAM
        else:
          ev_kind = -1
        if ev_kind >= 0:
          if fill:
            events[n_events, 0] = track
            events[n_events, 1] = tick
            events[n_events, 2] = ev_kind
            events[n_events, 3] = channel
            events[n_events, 4] = a
            events[n_events, 5] = b
          n_events += 1
    if count == 0:
      empty_track = True
    max_tick = max(max_tick, tick)
  return 0, n_events, n_note_ons, max_tick, bad_tempo, empty_track


@numba.njit(cache=True, nogil=True)
def _pair(events, n_note_ons):
  """pretty_midi's ``_load_instruments`` on the event array.

  Returns (notes [N, 5]: instrument, start tick, end tick, pitch, velocity, in the order
  pretty_midi appends them; instruments [I, 4]: program, channel, track, track-name row or -1).
  """
  notes = np.empty((n_note_ons, 5), np.int64)
  instruments = np.empty((max(n_note_ons, 1), 4), np.int64)
  n_notes = 0
  n_inst = 0
  # Open notes: a linked list per (channel, pitch), valid while its stamp is the current track.
  o_start = np.empty(max(n_note_ons, 1), np.int64)
  o_vel = np.empty(max(n_note_ons, 1), np.int64)
  o_next = np.empty(max(n_note_ons, 1), np.int64)
  n_open = 0
  head = np.full(2048, -1, np.int64)
  tail = np.full(2048, -1, np.int64)
  key_stamp = np.full(2048, -1, np.int64)
  inst_of = np.full(16 * 128, -1, np.int64)
  inst_stamp = np.full(16 * 128, -1, np.int64)
  program = np.zeros(16, np.int64)
  track = -1
  name_row = -1
  for row in range(events.shape[0]):
    t = events[row, 0]
    if t != track:
      track = t
      program[:] = 0
      name_row = -1
    kind = events[row, 2]
    channel = events[row, 3]
    if kind == TRACK_NAME:
      name_row = row
    elif kind == PROGRAM:
      program[channel] = events[row, 4]
    elif kind == NOTE_ON:
      key = channel * 128 + events[row, 4]
      o_start[n_open] = events[row, 1]
      o_vel[n_open] = events[row, 5]
      o_next[n_open] = -1
      if key_stamp[key] != track or head[key] < 0:
        key_stamp[key] = track
        head[key] = n_open
      else:
        o_next[tail[key]] = n_open
      tail[key] = n_open
      n_open += 1
    elif kind == NOTE_OFF:
      key = channel * 128 + events[row, 4]
      if key_stamp[key] != track or head[key] < 0:
        continue
      end = events[row, 1]
      closed = 0
      kept_head = -1
      kept_tail = -1
      i = head[key]
      while i >= 0:
        nxt = o_next[i]
        if o_start[i] != end:
          ikey = channel * 128 + program[channel]
          if inst_stamp[ikey] != track:
            inst_stamp[ikey] = track
            inst_of[ikey] = n_inst
            instruments[n_inst, 0] = program[channel]
            instruments[n_inst, 1] = channel
            instruments[n_inst, 2] = track
            instruments[n_inst, 3] = name_row
            n_inst += 1
          notes[n_notes, 0] = inst_of[ikey]
          notes[n_notes, 1] = o_start[i]
          notes[n_notes, 2] = end
          notes[n_notes, 3] = events[row, 4]
          notes[n_notes, 4] = o_vel[i]
          n_notes += 1
          closed += 1
        else:
          o_next[i] = -1
          if kept_head < 0:
            kept_head = i
          else:
            o_next[kept_tail] = i
          kept_tail = i
        i = nxt
      if closed > 0 and kept_head >= 0:
        head[key] = kept_head
        tail[key] = kept_tail
      else:
        head[key] = -1
  return notes[:n_notes], instruments[:n_inst]


def _tick_map(tempo_ticks, tempos, resolution):
  """pretty_midi's tick scales: [(tick, seconds per tick)], first track's tempos only."""
  scales = [(0, 60.0 / (120.0 * resolution))]
  for tick, tempo in zip(tempo_ticks, tempos):
    if tick == 0:
      bpm = 6e7 / tempo
      scales = [(0, 60.0 / (bpm * resolution))]
    else:
      _, last = scales[-1]
      scale = 60.0 / ((6e7 / tempo) * resolution)
      if scale != last:
        scales.append((tick, scale))
  return scales


def _seconds_table(scales):
  """(start tick, seconds per tick, start seconds) of each tick scale, for ``_to_seconds``."""
  starts = np.array([s[0] for s in scales], np.int64)
  per_tick = np.array([s[1] for s in scales], np.float64)
  offsets = np.zeros(len(scales), np.float64)
  for i in range(1, len(scales)):
    offsets[i] = offsets[i - 1] + per_tick[i - 1] * np.float64(starts[i] - starts[i - 1])
  return starts, per_tick, offsets


def _to_seconds(ticks: np.ndarray, table) -> np.ndarray:
  """pretty_midi's tick -> seconds map evaluated at ``ticks`` (same float operations)."""
  starts, per_tick, offsets = table
  if len(starts) == 1:
    return offsets[0] + per_tick[0] * (ticks - starts[0]).astype(np.float64)
  index = np.searchsorted(starts, ticks, side='right') - 1
  return offsets[index] + per_tick[index] * (ticks - starts[index]).astype(np.float64)


def read(data: bytes, limits) -> NoteSequence:
  """The NoteSequence note-seq gives for ``data`` (already past midi_io's structure checks).

  Raises FastMidiError with midi_io's reason for a file note-seq's path would reject.
  """
  return sequence_of(read_arrays(data, limits))


def read_arrays(data: bytes, limits) -> NoteArrays:
  """``read`` as flat arrays (no protobuf): what ``sequence_of`` turns into the NoteSequence."""
  buf = np.frombuffer(data, np.uint8)
  header_len = int.from_bytes(data[4:8], 'big')
  num_tracks = int.from_bytes(data[10:12], 'big')
  resolution = int.from_bytes(data[12:14], 'big')
  pos = 8 + header_len
  if num_tracks >= 0x8000:  # mido reads the count as a signed short: no track at all
    raise FastMidiError('no_notes')
  no_rows = np.empty((0, 6), np.int32)
  error, n_events, n_note_ons, max_tick, bad_tempo, empty_track = _scan(
      buf, pos, num_tracks, _LENGTHS, float(limits.min_qpm), float(limits.max_qpm), no_rows)
  if error:
    raise FastMidiError(*_ERRORS[error])
  if bad_tempo >= 0:
    qpm = 60e6 / bad_tempo if bad_tempo > 0 else float('inf')
    raise FastMidiError('absurd_tempo', f'{qpm:.4g} qpm, allowed '
                        f'{limits.min_qpm:g}-{limits.max_qpm:g}')
  if n_note_ons == 0:
    raise FastMidiError('no_notes')
  if n_note_ons > limits.max_num_notes:
    raise FastMidiError('too_many_notes', f'{n_note_ons} notes > {limits.max_num_notes}')
  if max_tick >= 10_000_000:
    raise FastMidiError('too_long', f'last event at tick {max_tick} (over 1e7)')
  if empty_track:
    raise FastMidiError('corrupt', 'ValueError: max() arg is an empty sequence (a track '
                        'without events)')
  events = np.zeros((n_events, 6), np.int32)
  _scan(buf, pos, num_tracks, _LENGTHS, float(limits.min_qpm), float(limits.max_qpm), events)
  return _arrays(data, events, n_note_ons, resolution)


def _arrays(data: bytes, events: np.ndarray, n_note_ons: int, resolution: int) -> NoteArrays:
  kinds = events[:, 2]
  all_meta = events[(kinds >= TEMPO) & (kinds <= KEY_SIG)]
  meta = all_meta[all_meta[:, 0] == 0]
  tempo_rows = meta[meta[:, 2] == TEMPO]
  scales = _tick_map(tempo_rows[:, 1].tolist(), tempo_rows[:, 4].tolist(), resolution)
  table = _seconds_table(scales)
  time_sigs = meta[meta[:, 2] == TIME_SIG]
  key_sigs = meta[meta[:, 2] == KEY_SIG]
  if np.any(time_sigs[:, 4] == 0):  # pretty_midi's TimeSignature refuses it
    raise FastMidiError('corrupt', 'ValueError: 0 is not a valid `numerator` type or value')
  if np.any(all_meta[:, 0] > 0):  # pretty_midi's warning, at the same point of the reading
    warnings.warn('Tempo, Key or Time signature change events found on non-zero tracks.  '
                  'This is not a valid type 0 or type 1 MIDI file.  Tempo, Key or Time '
                  'Signature may be wrong.', RuntimeWarning)

  signatures, keys, names = [], [], []
  if len(time_sigs):
    ts_times = _to_seconds(time_sigs[:, 1], table)
    for (num, exp), time in zip(time_sigs[:, 4:6].tolist(), ts_times.tolist()):
      if exp >= 31:  # note-seq: the denominator does not fit an int32
        raise FastMidiError('corrupt', f'MIDIConversionError: Invalid time signature '
                            f'denominator {2 ** exp}')
      signatures.append((time, num, 2 ** exp))
  if len(key_sigs):
    ks_times = _to_seconds(key_sigs[:, 1], table)
    for (sharps, minor), time in zip(key_sigs[:, 4:6].tolist(), ks_times.tolist()):
      number = int(_KEY_NUMBER[sharps + 7, minor])
      keys.append((time, number % 12, number // 12))
  scale_ticks = np.array([s[0] for s in scales], np.int64)
  tempos = [(time, 60.0 / (per_tick * resolution))
            for time, (_, per_tick) in zip(_to_seconds(scale_ticks, table).tolist(), scales)]

  notes, instruments = _pair(events, n_note_ons)
  total_time = 0.0
  starts = ends = np.zeros(0, np.float64)
  if len(notes):
    notes = notes[np.argsort(notes[:, 0], kind='stable')]
    times = _to_seconds(notes[:, 1:3].T.ravel(), table)  # one call: starts, then ends
    starts, ends = times[:len(notes)], times[len(notes):]
    total_time = float(ends.max())
    for number, (_, _, _, name_row) in enumerate(instruments.tolist()):
      if name_row >= 0:
        offset, length = events[name_row, 4], events[name_row, 5]
        name = data[offset:offset + length].decode('latin1')
        if name:
          names.append((number, name))
  inst = np.ascontiguousarray(notes[:, 0])
  return NoteArrays(
      start=starts, end=ends, pitch=np.ascontiguousarray(notes[:, 3]),
      velocity=np.ascontiguousarray(notes[:, 4]), instrument=inst,
      program=instruments[inst, 0] if len(notes) else inst,
      is_drum=instruments[inst, 1] == 9 if len(notes) else inst.astype(bool),
      tempos=tempos, time_signatures=signatures, total_time=total_time, key_signatures=keys,
      instrument_names=names, ticks_per_quarter=resolution)


def sequence_of(arrays: NoteArrays) -> NoteSequence:
  """The NoteSequence of ``read_arrays``' arrays (what note-seq builds for the file)."""
  sequence = NoteSequence()
  sequence.ticks_per_quarter = arrays.ticks_per_quarter
  sequence.source_info.encoding_type = NoteSequence.SourceInfo.MIDI
  for time, num, den in arrays.time_signatures:
    sequence.time_signatures.add(time=time, numerator=num, denominator=den)
  for time, key, mode in arrays.key_signatures:
    sequence.key_signatures.add(time=time, key=key, mode=mode)
  for time, qpm in arrays.tempos:
    sequence.tempos.add(time=time, qpm=qpm)
  if arrays.num_notes:
    sequence.total_time = arrays.total_time
    for number, name in arrays.instrument_names:
      sequence.instrument_infos.add(name=name, instrument=number)
    _add_notes(sequence, arrays)
  if arrays.filename:
    sequence.filename = arrays.filename
  return sequence


def _add_notes(sequence: NoteSequence, arrays: NoteArrays) -> None:
  """Appends the notes as serialized protobuf (one parse instead of one ``add`` per note)."""
  inst = arrays.instrument
  if inst.max() > 127:  # an instrument number would take two varint bytes: plainly
    for fields in zip(inst.tolist(), arrays.program.tolist(), arrays.start.tolist(),
                      arrays.end.tolist(), arrays.pitch.tolist(), arrays.velocity.tolist(),
                      arrays.is_drum.tolist()):
      sequence.notes.add(**dict(zip(('instrument', 'program', 'start_time', 'end_time',
                                     'pitch', 'velocity', 'is_drum'), fields)))
    return
  wire = np.empty((len(inst), 30), np.uint8)
  # notes (field 8, length 28): pitch (1), velocity (2), start_time (3, double),
  # end_time (4, double), instrument (7), program (8), is_drum (9).
  wire[:, :3] = (0x42, 28, 0x08)
  wire[:, 3] = arrays.pitch
  wire[:, 4] = 0x10
  wire[:, 5] = arrays.velocity
  wire[:, 6] = 0x19
  wire[:, 7:15] = arrays.start.astype('<f8').view(np.uint8).reshape(-1, 8)
  wire[:, 15] = 0x21
  wire[:, 16:24] = arrays.end.astype('<f8').view(np.uint8).reshape(-1, 8)
  wire[:, 24] = 0x38
  wire[:, 25] = inst
  wire[:, 26] = 0x40
  wire[:, 27] = arrays.program
  wire[:, 28] = 0x48
  wire[:, 29] = arrays.is_drum
  sequence.MergeFromString(wire.tobytes())
