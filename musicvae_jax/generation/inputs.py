"""A user's MIDI -> the model's windows, or a refusal that says why.

Generation reads a piece bar-aligned from its start: the piece is cut into consecutive windows of
the model's length (2 bars, 16 bars, ...) and each is encoded with the converter's ``to_labels``
(highest note of each onset for a pitched part, every mapped drum hit for drums). Unlike the
training extraction (sliding windows, melodies split at silent bars), this keeps the piece's own
bar grid, so a reconstruction lines up with its input bar for bar. Windows with nothing the model
reads are left out (a long rest between phrases is not "encoded" as a window of silence).

Polyphony in a pitched part is resolved as Magenta's melody extraction does (skip_polyphony=False):
the highest note of each onset is kept. Magenta drops the others silently; here ``Windows`` counts
them (``dropped_notes`` of ``pitched_notes``) so a caller can say so. ``strict_monophony=True``
refuses a melody input that is chords rather than a line instead (see ``MAX_OVERLAP``).

Refused, with a reason naming the file: no 4/4 section, nothing the model encodes (no melody
notes for a melody model, no drums for a drum model, a missing part for a trio model), and chords
given to a melody model under ``strict_monophony``.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np

from musicvae_jax import errors
from musicvae_jax.converters import vocabulary

with warnings.catch_warnings():
  warnings.simplefilter('ignore', RuntimeWarning)
  import note_seq
  from note_seq import sequences_lib

#: Under ``strict_monophony`` a melody input is refused as polyphonic when more than this share
#: of its notes start while an earlier note still sounds: legato overlaps in a sung line stay far
#: below it, chords far above.
MAX_OVERLAP = 0.25
DEFAULT_QPM = 120.0  # note_seq's default, for a MIDI file without a tempo event


class UnencodableInput(errors.UserError, ValueError):
  """An input the model cannot read; ``source`` names it and ``reason`` says why."""

  def __init__(self, source: str, reason: str):
    super().__init__(f'{source}: {reason}')
    self.source = source
    self.reason = reason


@dataclasses.dataclass(frozen=True)
class Windows:
  labels: np.ndarray  # [N, T, P] int32
  start_times: tuple[float, ...]  # where each window starts in the input, seconds
  source: str
  qpm: float = DEFAULT_QPM  # the input's tempo where its first window is
  pitched_notes: int = 0  # notes of the windows' pitched parts (melody, bass) the model reads
  dropped_notes: int = 0  # of those, left out as not the highest note of their onset

  def polyphony_notice(self) -> str | None:
    """One line saying how many notes keeping the highest of each onset dropped, or None."""
    if not self.dropped_notes:
      return None
    return (f'{self.source}: polyphonic; kept the highest note of each onset (dropped '
            f'{self.dropped_notes} of {self.pitched_notes} notes)')


def qpm_of(note_sequence) -> float:
  """The sequence's first tempo (MIDI's default 120 qpm where it has none)."""
  return note_sequence.tempos[0].qpm if note_sequence.tempos else DEFAULT_QPM


def _melody_notes(ns, programs=None):
  # Every pitched part (melody, and the trio's melody and bass) reads the melody vocabulary.
  return [n for n in ns.notes if not n.is_drum and n.velocity > 0
          and vocabulary.MELODY.has_pitch(n.pitch)
          and (programs is None or n.program in programs)]


def _pitched_parts(tile, kind: str, programs) -> list[list]:
  """The notes of each part ``converter.to_labels`` reads one note at a time from."""
  if kind == 'melody':
    return [_melody_notes(tile, programs)]
  if kind == 'trio':
    trio = vocabulary.TRIO
    return [_melody_notes(tile, trio.melody_programs), _melody_notes(tile, trio.bass_programs)]
  return []


def _dropped(tile, kind: str, programs, step_s: float) -> tuple[int, int]:
  """(notes, dropped) of the pitched parts: of notes sharing an onset step, all but one drop."""
  notes = dropped = 0
  for part in _pitched_parts(tile, kind, programs):
    onsets = {round(n.start_time / step_s) for n in part}
    notes += len(part)
    dropped += len(part) - len(onsets)
  return notes, dropped


def overlap_share(quantized, programs=None) -> float:
  """Share of melody notes that start while an earlier-starting note still sounds."""
  notes = sorted(_melody_notes(quantized, programs),
                 key=lambda n: (n.quantized_start_step, -n.pitch))
  overlapping, sounding_until = 0, -1
  for n in notes:
    if n.quantized_start_step < sounding_until:
      overlapping += 1
    sounding_until = max(sounding_until, n.quantized_end_step)
  return overlapping / len(notes) if notes else 0.0


def _span(values) -> str:
  return f'{min(values)}-{max(values)}'


def _what_is_missing(ns, kind: str, programs=None) -> str:
  has_drums = any(n.is_drum for n in ns.notes)
  if kind == 'melody':
    extra = ' (it has only drum notes)' if has_drums and not _melody_notes(ns) else ''
    which = (f' in programs {_span(programs)}' if programs
             and set(programs) != set(range(128)) else '')
    melody = vocabulary.MELODY
    return (f'no melody notes: no non-drum notes{which} with pitches '
            f'{melody.min_pitch}-{melody.max_pitch}{extra}')
  if kind == 'drums':
    return ('no drums: no drum-channel notes (MIDI channel 10) on a pitch of the drum map'
            if not has_drums else 'no drum hits on a pitch of the drum map')
  trio = vocabulary.TRIO
  parts = [(f'melody (programs {_span(trio.melody_programs)})',
            bool(_melody_notes(ns, trio.melody_programs))),
           (f'bass (programs {_span(trio.bass_programs)})',
            bool(_melody_notes(ns, trio.bass_programs))),
           ('drums (channel 10)', has_drums)]
  missing = [name for name, present in parts if not present]
  return ('no part ' + ', '.join(missing) if missing
          else 'no window where melody, bass and drums all play')


def _usable(labels_TxP, kind: str) -> bool:
  if kind == 'trio':
    return bool(np.all(np.any(labels_TxP > 0, axis=0)))
  return bool(np.any(labels_TxP > 0))


def _tiles(piece, quantized, window: int, step_s: float) -> list:
  """The quantized piece cut into windows of ``window`` steps, each an unquantized sequence.

  A note belongs to the window its quantized onset falls in, where quantizing the whole piece
  places it (a hit played just before a bar line is on that bar's downbeat), and is cut at the
  window's end. Times are whole steps from the window's start, so the converter's ``to_labels``
  quantizes them back to the same steps.
  """
  count = math.ceil(max(quantized.total_quantized_steps, 1) / window)
  tiles = []
  for _ in range(count):
    tile = note_seq.NoteSequence(ticks_per_quarter=piece.ticks_per_quarter)
    tile.tempos.extend(piece.tempos[:1])
    tile.time_signatures.extend(piece.time_signatures[:1])
    tile.total_time = window * step_s
    tiles.append(tile)
  # Chord symbols go with their window, and the chord sounding at a window's start opens it.
  symbols = sorted((ta.quantized_step, ta.text) for ta in quantized.text_annotations
                   if ta.annotation_type == note_seq.NoteSequence.TextAnnotation.CHORD_SYMBOL)
  for k, tile in enumerate(tiles):
    start, end = k * window, (k + 1) * window
    before = [text for step, text in symbols if step <= start]
    for step, text in ([(start, before[-1])] if before else []) + [
        (s, t) for s, t in symbols if start < s < end]:
      ta = tile.text_annotations.add(time=(step - start) * step_s, text=text)
      ta.annotation_type = note_seq.NoteSequence.TextAnnotation.CHORD_SYMBOL
  for n in quantized.notes:
    k = n.quantized_start_step // window
    if not 0 <= k < count:
      continue
    note = tiles[k].notes.add()
    note.CopyFrom(n)
    note.start_time = (n.quantized_start_step - k * window) * step_s
    note.end_time = (min(n.quantized_end_step, (k + 1) * window) - k * window) * step_s
    note.ClearField('quantized_start_step')
    note.ClearField('quantized_end_step')
  return tiles


def split_windows(note_sequence, converter, *, source: str = '<input>',
                  strict_monophony: bool = False) -> Windows:
  """Consecutive windows of ``note_sequence`` the model can encode (see the module docstring)."""
  kind = converter.kind
  if kind == 'multiperf':
    return _performance_windows(note_sequence, converter, source)
  window = converter.max_seq_len
  programs = getattr(converter, 'valid_programs', None)
  chord_errors = ()
  if kind == 'melody_chords':
    from musicvae_jax.converters import chords  # pylint: disable=g-import-not-at-top
    chord_errors = (chords.ChordError,)
  pieces = sequences_lib.split_note_sequence_on_time_changes(note_sequence)
  labels, starts, tempos, refusals, offset = [], [], [], [], 0.0
  notes = dropped = 0
  for piece in pieces:
    quantized, reason = converter.quantize(piece)
    if quantized is None:
      refusals.append(reason)
    elif (kind == 'melody' and strict_monophony
          and overlap_share(quantized, programs) > MAX_OVERLAP):
      share = overlap_share(quantized, programs)
      raise UnencodableInput(source, (
          f'polyphonic: {share:.0%} of its notes start while another sounds, and strict '
          'monophony was asked for. Pass a single melody line, or leave out --strict_monophony '
          'to keep the highest note of each onset as Magenta does.'))
    else:
      qpm = qpm_of(piece)
      step_s = 60.0 / qpm / converter.steps_per_quarter
      for k, tile in enumerate(_tiles(piece, quantized, window, step_s)):
        try:
          tile_labels = np.asarray(converter.to_labels(tile), np.int32)
        except chord_errors as e:  # a chord model's input chords
          raise UnencodableInput(source, f'window {k + 1}: {e}') from None
        if _usable(tile_labels, kind):
          labels.append(tile_labels)
          starts.append(offset + k * window * step_s)
          tempos.append(qpm)
          tile_notes, tile_dropped = _dropped(tile, kind, programs, step_s)
          notes += tile_notes
          dropped += tile_dropped
    offset += piece.total_time
  if labels:
    return Windows(np.stack(labels), tuple(starts), source, qpm=tempos[0], pitched_notes=notes,
                   dropped_notes=dropped)
  if refusals and len(refusals) == len(pieces):
    why = sorted(set(refusals))
    raise UnencodableInput(source, (
        f'no section the model can read ({", ".join(why)}): windows are bars of '
        f'{converter.steps_per_bar} steps at {converter.steps_per_quarter} steps per quarter, '
        'i.e. 4/4 time with one tempo per section.'))
  raise UnencodableInput(source, _what_is_missing(
      note_sequence, kind, getattr(converter, 'valid_programs', None)))


def _performance_windows(note_sequence, converter, source: str) -> Windows:
  """A multi-instrument piece's windows (hier-multiperf: one bar of 2 to 8 instruments
  each): the bars the converter can encode, with where each starts; the bars it cannot are left
  out (the output keeps their place silent)."""
  extraction, starts = converter.timed_windows(note_sequence)
  if extraction.windows:
    return Windows(np.stack(extraction.windows).astype(np.int32), tuple(starts), source,
                   qpm=qpm_of(note_sequence))
  why = ', '.join(f'{k} x{v}' for k, v in sorted(extraction.skipped.items())) or 'no notes'
  raise UnencodableInput(source, (
      f'no bar the model can read ({why}): a window is one 4/4 bar of '
      f'{converter.min_num_instruments} to {converter.max_num_instruments} instruments with at '
      f'most {converter.max_events_per_instrument - 2} events each and '
      f'{converter.min_total_events} in all.'))


def single_window(note_sequence, converter, *, source: str = '<input>',
                  strict_monophony: bool = False) -> np.ndarray:
  """The one window [T, P] of an input that must fit the model's length."""
  windows = split_windows(note_sequence, converter, source=source,
                          strict_monophony=strict_monophony)
  if len(windows.labels) != 1:
    bars = converter.max_seq_len // converter.steps_per_bar
    raise UnencodableInput(source, (
        f'{len(windows.labels)} windows of {bars} bars: this call takes one window per input. '
        'Use split_windows() to cut it first.'))
  return windows.labels[0]
