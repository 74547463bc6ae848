"""A read MIDI file as flat arrays, split at time changes and quantized as note-seq does it.

``NoteArrays`` holds what the converters read of a NoteSequence (notes as one array per field,
tempos, time signatures, total time) and what ``fast_midi.sequence_of`` needs to build the
NoteSequence itself. ``split_on_time_changes`` and ``quantize`` are note-seq's
``split_note_sequence_on_time_changes`` (with ``_extract_subsequences``) and
``quantize_note_sequence`` on those arrays: the same pieces, the same float operations on the
same doubles, the same errors as ``base.Converter.quantize``'s reasons. Only the notes are
arrays; the few tempos and time signatures stay Python lists and follow note-seq's loops line
by line, edge rules included.
"""

from __future__ import annotations

import dataclasses

import numpy as np

DEFAULT_QPM = 120.0  # note-seq's implicit tempo
QUANTIZE_OFFSET = 0.5  # 1 - note-seq's QUANTIZE_CUTOFF


@dataclasses.dataclass
class NoteArrays:
  """Notes (one entry per note, in NoteSequence order) and the timing of one MIDI file."""

  start: np.ndarray  # float64 seconds
  end: np.ndarray  # float64 seconds
  pitch: np.ndarray  # int64
  velocity: np.ndarray  # int64
  instrument: np.ndarray  # int64
  program: np.ndarray  # int64
  is_drum: np.ndarray  # bool
  tempos: list  # [(time, qpm)]
  time_signatures: list  # [(time, numerator, denominator)]
  total_time: float
  # Only for building the NoteSequence (fast_midi.sequence_of).
  key_signatures: list = dataclasses.field(default_factory=list)  # [(time, key, mode)]
  instrument_names: list = dataclasses.field(default_factory=list)  # [(instrument, name)]
  ticks_per_quarter: int = 0
  filename: str = ''

  @property
  def num_notes(self) -> int:
    return len(self.pitch)

  def take(self, index: np.ndarray) -> dict[str, np.ndarray]:
    """The note fields at ``index``, as a dict of arrays."""
    return {f: getattr(self, f)[index] for f in NOTE_FIELDS}


NOTE_FIELDS = ('start', 'end', 'pitch', 'velocity', 'instrument', 'program', 'is_drum')


@dataclasses.dataclass
class Piece:
  """One time-change piece: its notes (fields of NoteArrays, times shifted to the piece)."""

  notes: dict  # NOTE_FIELDS -> array, in the piece's note order
  tempos: list  # [(time, qpm)] in the piece's order
  time_signatures: list  # [(time, numerator, denominator)]
  total_time: float


@dataclasses.dataclass
class Quantized:
  """A quantized piece: ``notes`` gains 'qstart' and 'qend' steps."""

  notes: dict
  total_time: float
  total_quantized_steps: int
  steps_per_quarter: int
  qpm: float
  numerator: int
  denominator: int

  @property
  def steps_per_bar(self) -> float:
    """note-seq's ``steps_per_bar_in_quantized_sequence`` (a float)."""
    return self.steps_per_quarter * (4.0 / self.denominator * self.numerator)


def whole(arrays: NoteArrays) -> Piece:
  """The file as one piece (no split), as the converters take it without presplitting."""
  return Piece(arrays.take(slice(None)), list(arrays.tempos), list(arrays.time_signatures),
               arrays.total_time)


def split_on_time_changes(arrays: NoteArrays) -> list[Piece]:
  """note-seq's ``split_note_sequence_on_time_changes`` (splits inside notes too)."""
  numerator, denominator, qpm = 4, 4, DEFAULT_QPM
  # Time signatures before tempos at equal times (a stable sort of the concatenation).
  changes = sorted([(t, 'ts', n, d) for t, n, d in arrays.time_signatures]
                   + [(t, 'tempo', q, None) for t, q in arrays.tempos], key=lambda c: c[0])
  split_times = [0.0]
  for time, kind, a, b in changes:
    if time >= arrays.total_time:
      continue
    if kind == 'ts':
      if a == numerator and b == denominator:
        continue
    elif a == qpm:
      continue
    if time > split_times[-1]:
      split_times.append(time)
    if kind == 'ts':
      numerator, denominator = a, b
    else:
      qpm = a
  if arrays.total_time > split_times[-1]:
    split_times.append(arrays.total_time)
  if len(split_times) < 2:
    return []
  return _extract_pieces(arrays, split_times)


def _extract_pieces(arrays: NoteArrays, split_times: list[float]) -> list[Piece]:
  """note-seq's ``_extract_subsequences`` for notes, tempos and time signatures."""
  count = len(split_times) - 1
  order = np.argsort(arrays.start, kind='stable')
  starts = arrays.start[order]
  # A note before the first split is skipped; from the last split on, the loop stops.
  keep = (starts >= split_times[0]) & (starts < split_times[-1])
  order, starts = order[keep], starts[keep]
  bounds = np.asarray(split_times, np.float64)
  index = np.searchsorted(bounds, starts, side='right') - 1
  cuts = np.searchsorted(index, np.arange(count + 1))
  pieces = []
  for i in range(count):
    notes = arrays.take(order[cuts[i]:cuts[i + 1]])
    notes['start'] = notes['start'] - split_times[i]
    notes['end'] = np.minimum(notes['end'], split_times[i + 1]) - split_times[i]
    total = float(notes['end'].max()) if len(notes['end']) else 0.0
    pieces.append(Piece(notes, [], [], max(total, 0.0)))
  for events, name in ((arrays.time_signatures, 'time_signatures'), (arrays.tempos, 'tempos')):
    for i, items in enumerate(_state_events(events, split_times)):
      setattr(pieces[i], name, items)
  return pieces


def _state_events(events: list, split_times: list[float]) -> list[list]:
  """Each piece's events (time first in each tuple): the one in force at its start (at time
  0.0), then those strictly inside it, shifted; as ``_extract_subsequences`` does."""
  containers = [[] for _ in range(len(split_times) - 1)]
  previous = None
  index = -1
  for event in sorted(events, key=lambda e: e[0]):
    time = event[0]
    if time <= split_times[0]:
      previous = event
      continue
    while index < len(split_times) - 1 and time > split_times[index + 1]:
      index += 1
      if index == len(split_times) - 1:
        break
      if previous is not None:
        containers[index].append((0.0,) + tuple(previous[1:]))
    if index == len(split_times) - 1:
      break
    if time < split_times[index + 1]:
      containers[index].append((time - split_times[index],) + tuple(event[1:]))
    previous = event
  while index < len(split_times) - 2:
    index += 1
    if previous is not None:
      containers[index].append((0.0,) + tuple(previous[1:]))
  return containers


def quantize_steps(seconds, steps_per_second):
  """note-seq's ``quantize_to_step`` on an array (or a float): int(x * sps + 0.5)."""
  if isinstance(seconds, np.ndarray):
    return (seconds * steps_per_second + QUANTIZE_OFFSET).astype(np.int64)
  return int(seconds * steps_per_second + QUANTIZE_OFFSET)


def quantize(piece: Piece, steps_per_quarter: int) -> tuple[Quantized | None, str]:
  """note-seq's ``quantize_note_sequence``; (None, reason) where it raises (the reasons of
  ``base.Converter.quantize``)."""
  signatures = piece.time_signatures
  if signatures:
    ordered = sorted(signatures, key=lambda s: s[0])
    if ordered[0][0] != 0 and not (ordered[0][1] == 4 and ordered[0][2] == 4):
      return None, 'multiple_time_signatures'
    if any(s[1:] != signatures[0][1:] for s in ordered[1:]):
      return None, 'multiple_time_signatures'
    numerator, denominator = signatures[0][1], signatures[0][2]
  else:
    numerator, denominator = 4, 4
  if not (denominator and not denominator & (denominator - 1)) or numerator == 0:
    return None, 'bad_time_signature'
  if piece.tempos:
    ordered = sorted(piece.tempos, key=lambda t: t[0])
    if ordered[0][0] != 0 and ordered[0][1] != DEFAULT_QPM:
      return None, 'multiple_tempos'
    if any(t[1] != piece.tempos[0][1] for t in ordered[1:]):
      return None, 'multiple_tempos'
    qpm = piece.tempos[0][1]
  else:
    qpm = DEFAULT_QPM
  steps_per_second = steps_per_quarter * qpm / 60.0
  notes = dict(piece.notes)
  qstart = quantize_steps(notes['start'], steps_per_second)
  qend = quantize_steps(notes['end'], steps_per_second)
  qend[qend == qstart] += 1
  if len(qstart) and (qstart.min() < 0 or qend.min() < 0):
    return None, 'negative_time'
  notes['qstart'], notes['qend'] = qstart, qend
  total = quantize_steps(piece.total_time, steps_per_second)
  if len(qend):
    total = max(total, int(qend.max()))
  return Quantized(notes, piece.total_time, total, steps_per_quarter, qpm, numerator,
                   denominator), ''


def requantized_total(quantized: Quantized, total_time: float, qend: np.ndarray) -> int:
  """total_quantized_steps of a copy of ``quantized`` holding the notes ending on ``qend``,
  with ``total_time``, quantized again (what the trio converter does per instrument)."""
  total = quantize_steps(total_time, quantized.steps_per_quarter * quantized.qpm / 60.0)
  return max(total, int(qend.max())) if len(qend) else total
