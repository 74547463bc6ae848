"""The converters' ``extract`` on ``note_arrays.NoteArrays``: same windows, same skip counts.

``extract(converter, arrays)`` is what prepare runs with ``--midi_parser=fast``: the melody,
drums and trio converters' extraction (``converter.extract`` on the NoteSequence, which stays the
definition) redone on arrays, with no protobuf built or copied: ``note_arrays`` splits and
quantizes, ``fast_tracks`` cuts melodies and drum tracks and slides the windows. Any other
converter (or a subclass) gets the NoteSequence built from the arrays and its own ``extract``.
``bench/midi_equivalence.py`` checks the windows and skip counts against the NoteSequence path on
every shared file.
"""

from __future__ import annotations

import numpy as np

from musicvae_jax.converters import base
from musicvae_jax.converters import drums as drums_lib
from musicvae_jax.converters import fast_midi
from musicvae_jax.converters import fast_tracks
from musicvae_jax.converters import melody as melody_lib
from musicvae_jax.converters import note_arrays
from musicvae_jax.converters import trio as trio_lib

_CLASS_OF_PITCH = np.full(128, -1, np.int64)
for _pitch, _cls in drums_lib.PITCH_TO_CLASS.items():
  _CLASS_OF_PITCH[_pitch] = _cls
_FIRST_PITCH_LABEL = melody_lib.MELODY.FIRST_PITCH_LABEL


def extract(converter: base.Converter, arrays: note_arrays.NoteArrays) -> base.Extraction:
  """``converter.extract`` of the NoteSequence ``arrays`` stands for."""
  piece_windows = _EXTRACTORS.get(type(converter))
  if piece_windows is None:
    return converter.extract(fast_midi.sequence_of(arrays))
  if converter.presplit_on_time_changes:
    pieces = note_arrays.split_on_time_changes(arrays)
  else:
    pieces = [note_arrays.whole(arrays)]
  result = base.Extraction()
  for piece in pieces:
    quantized, reason = note_arrays.quantize(piece, converter.steps_per_quarter)
    if quantized is not None and quantized.steps_per_bar != converter.steps_per_bar:
      quantized, reason = None, f'steps_per_bar_not_{converter.steps_per_bar}'
    if quantized is None:
      result.skipped[reason] += 1
      continue
    result.extend(piece_windows(converter, quantized))
  if converter.max_windows_per_sequence is not None:
    result.windows = result.windows[:converter.max_windows_per_sequence]
  return result


def warm_up() -> None:
  """Loads the compiled code (numba's cache) now, e.g. before a pool forks its workers."""
  track = b'\x00\x90\x3c\x40\x01\x80\x3c\x40\x00\xff\x2f\x00'
  fast_midi.read_arrays(b'MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x60MTrk\x00\x00\x00'
                        + bytes([len(track)]) + track, _Limits)
  one = np.ones(1, np.int64)
  for kind in (fast_tracks.MELODY, fast_tracks.DRUMS):
    fast_tracks.cut_tracks(kind, one, one + 1, one + 60, one, one == 0, 16, 16.0, True, 16, -1)
    fast_tracks.cut_tracks(kind, one, one + 1, one + 60, one, one == 0, 16, np.inf, True, 16, -1)
  fast_tracks.windows(np.zeros(4, np.int16), np.array([0, 4]), 2, 1, True)
  fast_tracks.melody_labels(one, 21, 2)


class _Limits:  # the caps fast_midi.read_arrays reads (any will do for warm_up's file)
  min_qpm, max_qpm, max_num_notes = 10.0, 1000.0, 10


def _cut(kind, qstart, qend, value, velocity, is_drum, *, steps_per_bar: int, gap_bars,
         pad_end: bool, min_bars: int, max_steps_truncate):
  gap = float(gap_bars * steps_per_bar) if gap_bars else np.inf
  events, offsets, starts, too_short, too_few, error = fast_tracks.cut_tracks(
      kind, qstart, qend, value, velocity, is_drum, steps_per_bar, gap, pad_end,
      steps_per_bar * min_bars, -1 if max_steps_truncate is None else max_steps_truncate)
  if error == fast_tracks.ERROR_ORDER:
    raise ValueError('PolyphonicMelodyError: Unexpected note. Not in ascending order.')
  if error:
    raise ValueError('BadNoteError: Start step does not precede end step')
  return events, offsets, starts, too_short, too_few


def _melodies(notes: dict, index: np.ndarray, **options):
  """The melodies (events, offsets, starts, too_short, too_few) of one instrument's notes."""
  qstart, pitch = notes['qstart'][index], notes['pitch'][index]
  order = index[np.lexsort((-pitch, qstart))]  # stable: ties keep the piece's order
  return _cut(fast_tracks.MELODY, notes['qstart'][order], notes['qend'][order],
              notes['pitch'][order], notes['velocity'][order], notes['is_drum'][order],
              **options)


def _drum_tracks(notes: dict, index: np.ndarray, **options):
  """The drum tracks of the mapped drum notes at ``index`` (any instrument)."""
  sounding = index[notes['velocity'][index] > 0]
  qstart = notes['qstart'][sounding]
  order = np.argsort(qstart, kind='stable')
  qstart = qstart[order]
  bits = np.left_shift(1, _CLASS_OF_PITCH[notes['pitch'][sounding[order]]])
  steps, first = np.unique(qstart, return_index=True)
  masks = np.bitwise_or.reduceat(bits, first) if len(first) else bits
  none = np.zeros(len(steps), np.int64)
  return _cut(fast_tracks.DRUMS, steps, steps, masks.astype(np.int64), none, none == 1,
              **options)


def _dedupe(windows: np.ndarray) -> list[np.ndarray]:
  """``base.dedupe_in_order`` of the rows of [N, T] windows, each as [T, 1]."""
  seen, kept = set(), []
  for w in windows:
    key = w.tobytes()
    if key not in seen:
      seen.add(key)
      kept.append(w[:, None])
  return kept


def _melody_windows(converter: melody_lib.MelodyConverter,
                    quantized: note_arrays.Quantized) -> base.Extraction:
  result = base.Extraction()
  notes = quantized.notes
  keep = (notes['pitch'] >= converter.min_pitch) & (notes['pitch'] <= converter.max_pitch)
  if converter.valid_programs is not None:
    valid = np.zeros(128, bool)
    valid[list(converter.valid_programs)] = True
    keep &= valid[notes['program']]
  spb = converter.steps_per_bar
  max_steps = spb * converter.max_bars if converter.max_bars else None
  found, chunks = 0, []
  for instrument in np.unique(notes['instrument'][keep]).tolist():
    index = np.flatnonzero(keep & (notes['instrument'] == instrument))
    events, offsets, _, too_short, too_few = _melodies(
        notes, index, steps_per_bar=spb, gap_bars=converter.gap_bars, pad_end=True,
        min_bars=melody_lib.MIN_BARS, max_steps_truncate=max_steps)
    if too_short:
      result.skipped['melody_too_short'] += too_short
    if too_few:
      result.skipped['melody_too_few_pitches'] += too_few
    if len(offsets) == 1:
      continue
    found += len(offsets) - 1
    labels = fast_tracks.melody_labels(events, converter.min_pitch, _FIRST_PITCH_LABEL)
    windows, counts = fast_tracks.windows(labels, offsets, converter.max_seq_len, spb, True)
    short = int(np.count_nonzero(counts == 0))
    if short:
      result.skipped['melody_shorter_than_window'] += short
    chunks.append(windows)
  if not found:
    if not result.skipped:
      result.skipped['no_melody'] += 1
    return result
  result.windows = _dedupe(np.concatenate(chunks))
  return result


def _drum_windows(converter: drums_lib.DrumsConverter,
                  quantized: note_arrays.Quantized) -> base.Extraction:
  result = base.Extraction()
  notes = quantized.notes
  mapped = np.flatnonzero(notes['is_drum'] & (_CLASS_OF_PITCH[notes['pitch']] >= 0))
  if not np.any(notes['velocity'][mapped]):
    result.skipped['no_drums'] += 1
    return result
  spb = converter.steps_per_bar
  max_steps = spb * converter.max_bars if converter.max_bars else None
  events, offsets, _, too_short, _ = _drum_tracks(
      notes, mapped, steps_per_bar=spb, gap_bars=converter.gap_bars, pad_end=True, min_bars=1,
      max_steps_truncate=max_steps)
  if too_short:
    result.skipped['drum_track_too_short'] += too_short
  windows, counts = fast_tracks.windows(events.astype(np.int16), offsets, converter.max_seq_len,
                                        spb, False)
  short = int(np.count_nonzero(counts == 0))
  if short:
    result.skipped['drum_track_shorter_than_window'] += short
  result.windows = _dedupe(windows)
  return result


def _whole_piece(events: np.ndarray, start: int, total: int, pad: int, melody: bool) -> np.ndarray:
  """A track padded on the left back to step 0, then set to ``total`` steps (on the right as
  ``Melody.set_length`` does: ending a sustained note where it pads)."""
  events = np.concatenate([np.full(start, pad, np.int64), events])
  if total <= len(events):
    return events[:total]
  ended = events[events != pad]
  tail = np.full(total - len(events), pad, np.int64)
  if melody and len(ended) and ended[-1] >= 0:
    tail[0] = fast_tracks.NOTE_OFF
  return np.concatenate([events, tail])


def _trio_windows(converter: trio_lib.TrioConverter,
                  quantized: note_arrays.Quantized) -> base.Extraction:
  result = base.Extraction()
  notes = quantized.notes
  spb = converter.steps_per_bar
  total_bars = min(int(np.ceil(quantized.total_quantized_steps / spb)), converter.max_bars)
  types, coverage = _trio_types(notes, total_bars, spb)
  by_type = {kind: np.flatnonzero(types == kind).tolist()
             for kind in (trio_lib.MEL, trio_lib.BASS, trio_lib.DRUMS)}
  if not all(by_type.values()):
    result.skipped['trio_missing_instrument_type'] += 1
    return result
  total_time = total_bars * spb * 60 / quantized.qpm / converter.steps_per_quarter
  options = dict(steps_per_bar=spb, gap_bars=None, pad_end=True, min_bars=1,
                 max_steps_truncate=None)
  encoded = {}
  for i in by_type[trio_lib.MEL] + by_type[trio_lib.BASS]:
    index = np.flatnonzero((notes['instrument'] == i) & (notes['pitch'] >= converter.min_pitch)
                           & (notes['pitch'] <= converter.max_pitch))
    events, offsets, starts, _, _ = _melodies(notes, index, **options)
    if len(offsets) == 1:
      coverage[:, i] = False
      result.skipped['trio_part_without_melody'] += 1
      continue
    total = note_arrays.requantized_total(quantized, total_time, notes['qend'][index])
    track = _whole_piece(events[offsets[0]:offsets[1]], int(starts[0]), total,
                         fast_tracks.NO_EVENT, True)
    encoded[i] = fast_tracks.melody_labels(track, converter.min_pitch, _FIRST_PITCH_LABEL)
  for i in by_type[trio_lib.DRUMS]:
    index = np.flatnonzero(notes['instrument'] == i)
    mapped = index[notes['is_drum'][index] & (_CLASS_OF_PITCH[notes['pitch'][index]] >= 0)]
    events, offsets, starts, _, _ = _drum_tracks(notes, mapped, **options)
    if len(offsets) == 1:
      coverage[:, i] = False
      result.skipped['trio_part_without_drums'] += 1
      continue
    total = note_arrays.requantized_total(quantized, total_time, notes['qend'][index])
    encoded[i] = _whole_piece(events[offsets[0]:offsets[1]], int(starts[0]), total, 0,
                              False).astype(np.int16)
  return converter._windows(by_type, coverage, encoded, total_bars, result)  # pylint: disable=protected-access


def _trio_types(notes: dict, total_bars: int, spb: int):
  """``TrioConverter._instrument_types`` on arrays."""
  size = trio_lib.MAX_INSTRUMENT_NUMBER + 1
  types = np.zeros(size, np.uint8)
  coverage = np.zeros((total_bars, size), bool)
  ok = notes['instrument'] <= trio_lib.MAX_INSTRUMENT_NUMBER
  inst = notes['instrument'][ok]
  program = notes['program'][ok]
  kind = np.where(notes['is_drum'][ok], trio_lib.DRUMS,
                  np.where(np.isin(program, trio_lib.TRIO.melody_programs), trio_lib.MEL,
                           np.where(np.isin(program, trio_lib.TRIO.bass_programs),
                                    trio_lib.BASS, trio_lib.INVALID)))
  for i in np.unique(inst).tolist():
    kinds = np.unique(kind[inst == i])
    types[i] = kinds[0] if len(kinds) == 1 else trio_lib.INVALID
  start_bar = notes['qstart'][ok] // spb
  end_bar = np.minimum(-(-notes['qend'][ok] // spb), total_bars)
  for i, lo, hi in zip(inst.tolist(), start_bar.tolist(), end_bar.tolist()):
    if lo < total_bars:
      coverage[lo:hi, i] = True
  return types, coverage


_EXTRACTORS = {melody_lib.MelodyConverter: _melody_windows,
               drums_lib.DrumsConverter: _drum_windows,
               trio_lib.TrioConverter: _trio_windows}
