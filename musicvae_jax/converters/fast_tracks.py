"""note-seq's melody and drum-track extraction as compiled loops over note arrays.

``cut_tracks`` is ``base.cut_tracks`` driving note-seq's ``Melody.from_quantized_sequence``
(``MELODY``) or ``DrumTrack.from_quantized_sequence`` (``DRUMS``), transcribed statement by
statement onto one int64 event buffer: ``_add_note``, ``Melody.set_length`` (which ends a
sustained note when it pads on the right), ``_get_last_on_off_events``, the polyphony and gap
rules, the final NOTE_OFF strip and the padding to a bar, then the cut loop's search restart,
``min_bars``, truncation and (melodies) the at-least-one-pitch check. ``windows`` slides the
converters' windows over the tracks. The inputs are prepared by ``fast_extract``.
"""

from __future__ import annotations

import numba
import numpy as np

MELODY, DRUMS = 0, 1
NO_EVENT, NOTE_OFF = -2, -1  # note-seq's MELODY_NO_EVENT, MELODY_NOTE_OFF
ERROR_ORDER, ERROR_BAD_NOTE = 1, 2  # note-seq's PolyphonicMelodyError, BadNoteError


@numba.njit(cache=True, nogil=True)
def _melody_set_length(ev, length, steps):
  """``Melody.set_length(steps)`` (not from the left) on ev[:length]; returns the new length."""
  if steps > length:
    ev[length:steps] = NO_EVENT
    for i in range(length - 1, -1, -1):
      if ev[i] == NOTE_OFF:
        break
      if ev[i] != NO_EVENT:
        ev[length] = NOTE_OFF
        break
  return steps


@numba.njit(cache=True, nogil=True)
def _fill_melody(ev, search, qs, qe, pitch, vel, drum, spb, gap_steps, pad_end):
  """``Melody.from_quantized_sequence``: (length, start step, end step, error)."""
  n = qs.shape[0]
  first = np.searchsorted(qs, search)  # notes sorted by (start, -pitch)
  if first == n:
    return 0, 0, 0, 0
  start_step = qs[first] - (qs[first] - search) % spb
  length = 0
  for i in range(first, n):
    if drum[i] or vel[i] == 0:
      continue
    s = qs[i] - start_step
    e = qe[i] - start_step
    if length > 0:
      last_off = length
      last_on = -1
      for j in range(length - 1, -1, -1):
        if ev[j] == NOTE_OFF:
          last_off = j
        if ev[j] >= 0:
          last_on = j
          break
      if s == last_on:
        continue  # the highest note of the step is already there
      if s < last_on:
        return 0, 0, 0, ERROR_ORDER
      if s - last_off >= gap_steps:
        break
    if s >= e:
      return 0, 0, 0, ERROR_BAD_NOTE
    length = _melody_set_length(ev, length, e + 1)
    ev[s] = pitch[i]
    ev[e] = NOTE_OFF
    ev[s + 1:e] = NO_EVENT
  if length == 0:
    return 0, 0, 0, 0
  if ev[length - 1] == NOTE_OFF:
    length -= 1
  steps = length
  if pad_end:
    steps += -length % spb
  length = _melody_set_length(ev, length, steps)
  return length, start_step, start_step + length, 0


@numba.njit(cache=True, nogil=True)
def _fill_drums(ev, search, steps, masks, spb, gap_steps, pad_end):
  """``DrumTrack.from_quantized_sequence`` on onset steps (ascending) and their class masks."""
  n = steps.shape[0]
  first = np.searchsorted(steps, search)
  if first == n:
    return 0, 0, 0, 0
  start_step = steps[first] - (steps[first] - search) % spb
  length = 0
  gap_start = 0
  for i in range(first, n):
    index = steps[i] - start_step
    if length > 0 and index - gap_start >= gap_steps:
      break
    if index + 1 > length:
      ev[length:index + 1] = 0
    length = index + 1
    ev[index] = masks[i]
    gap_start = index + 1
  if length == 0:
    return 0, 0, 0, 0
  total = length
  if pad_end:
    total += -length % spb
  ev[length:total] = 0
  return total, start_step, start_step + total, 0


@numba.njit(cache=True, nogil=True)
def cut_tracks(kind, qs, qe, value, vel, drum, spb, gap_steps, pad_end, min_steps,
               max_steps_truncate):
  """``base.cut_tracks`` over one instrument's melodies (``kind`` MELODY: notes sorted by
  (start, -pitch), value = pitch) or the drum tracks (DRUMS: qs the onset steps, value the class
  masks). ``max_steps_truncate`` < 0: no truncation.

  Returns (events, offsets [tracks + 1], start steps, too_short, too_few_pitches, error).
  """
  cap = (qe.max() if qe.shape[0] else 0) + (qs.max() if qs.shape[0] else 0) + 2 * spb + 2
  ev = np.empty(cap, np.int64)
  out = np.empty(max(cap, 64), np.int64)
  offsets = [0]
  starts = [0]
  starts.pop()
  too_short = 0
  too_few = 0
  search = 0
  while True:
    if kind == MELODY:
      length, start, end, error = _fill_melody(ev, search, qs, qe, value, vel, drum, spb,
                                               gap_steps, pad_end)
    else:
      length, start, end, error = _fill_drums(ev, search, qs, value, spb, gap_steps, pad_end)
    if error:
      return out[:0], np.zeros(1, np.int64), np.zeros(0, np.int64), 0, 0, error
    search = end + (search - end) % spb
    if length == 0:
      break
    if length < min_steps:
      too_short += 1
      continue
    if max_steps_truncate >= 0 and length > max_steps_truncate:
      length = max_steps_truncate - (max_steps_truncate % spb if pad_end else 0)
    if kind == MELODY:
      pitched = False
      for j in range(length):
        if ev[j] >= 0:
          pitched = True
          break
      if not pitched:
        too_few += 1
        continue
    used = offsets[-1]
    if used + length > out.shape[0]:
      grown = np.empty(2 * (used + length), np.int64)
      grown[:used] = out[:used]
      out = grown
    out[used:used + length] = ev[:length]
    offsets.append(used + length)
    starts.append(start)
  return (out[:offsets[-1]].copy(), np.array(offsets, np.int64), np.array(starts, np.int64),
          too_short, too_few, 0)


@numba.njit(cache=True, nogil=True)
def melody_labels(events, min_pitch, first_pitch_label):
  """note-seq melody events -> the 90-way labels (``melody.melody_events_to_labels``)."""
  labels = np.empty(events.shape[0], np.int16)
  for i in range(events.shape[0]):
    e = events[i]
    labels[i] = 0 if e == NO_EVENT else 1 if e == NOTE_OFF else e - min_pitch + first_pitch_label
  return labels


@numba.njit(cache=True, nogil=True)
def windows(labels, offsets, window, hop, clean_note_offs):
  """Every ``window``-step slice of each track (hop ``hop``), as ``base.slice_windows``; with
  ``clean_note_offs`` each NOTE_OFF (1) before a window's first onset becomes NO_EVENT (0), as
  ``melody.clean_leading_note_offs``. Returns (windows [N, window] int16, per-track counts)."""
  tracks = offsets.shape[0] - 1
  counts = np.zeros(tracks, np.int64)
  for t in range(tracks):
    length = offsets[t + 1] - offsets[t]
    if length >= window:
      counts[t] = (length - window) // hop + 1
  out = np.empty((counts.sum(), window), np.int16)
  row = 0
  for t in range(tracks):
    for k in range(counts[t]):
      lo = offsets[t] + k * hop
      out[row] = labels[lo:lo + window]
      if clean_note_offs:
        for j in range(window):
          if out[row, j] >= 2:
            break
          if out[row, j] == 1:
            out[row, j] = 0
      row += 1
  return out, counts
