"""Piano-roll frames: 16th-note frames of pitch channels with onsets and velocities (MusiCoder).

Shapes: T = frames of a window (``slice_bars`` x 16), P = 88 pitch channels (21..108, the piano).

Each (frame, pitch) cell holds one label of ``1 + 1 + velocity_bins`` classes:
0 silent, 1 sounding (held from an earlier frame), 2 + b an onset of velocity bin b
(velocities 1..127 in ``velocity_bins`` equal bins). Drums are left out; notes outside the
piano's range are dropped and counted.

Frames are read on the beat, not on bar lines: a note's start and end in seconds become
quarters through the file's tempo map (every tempo change honoured, no split), then 16ths. The
meter is not needed, so a 3/4 chorale, a 2/2 motet and a performed pop song with hundreds of
tempo events all give frames. Windows are ``slice_bars`` x 16 frames (4/4 bars' worth),
``hop_bars`` apart (non-overlapping by default), the last one padded with silence to cover the
end of the music; a window with fewer than ``min_notes`` onsets is
dropped (counted as ``too_few_notes``).

``from_labels`` writes a window back at 120 qpm: an onset starts a note at its bin's velocity
(the bin's middle), and the note lasts while the following frames say 'sounding'. Notes and
velocity bins survive the round trip exactly; times come back on the 16th-note grid. A note a
window holds from before its first frame (sounding, with no onset in the window) has no start to
write and is left out.
"""

from __future__ import annotations

import collections

import numpy as np

from musicvae_jax.converters import base

NoteSequence = base.NoteSequence

SILENT, SOUNDING, FIRST_ONSET = 0, 1, 2


class PianoRollVocabulary:
  """88 parts of ``2 + velocity_bins`` classes each."""

  def __init__(self, min_pitch: int, max_pitch: int, velocity_bins: int):
    self.min_pitch, self.max_pitch, self.velocity_bins = min_pitch, max_pitch, velocity_bins

  @property
  def num_pitches(self) -> int:
    return self.max_pitch - self.min_pitch + 1

  @property
  def part_depths(self) -> tuple[int, ...]:
    return (FIRST_ONSET + self.velocity_bins,) * self.num_pitches

  def velocity_bin(self, velocity) -> np.ndarray:
    v = np.clip(np.asarray(velocity), 1, 127)
    return np.minimum((v - 1) * self.velocity_bins // 127, self.velocity_bins - 1)

  def bin_velocity(self, b) -> np.ndarray:
    """The middle velocity of bin ``b``."""
    lo = np.ceil(np.asarray(b) * 127 / self.velocity_bins) + 1
    hi = np.ceil((np.asarray(b) + 1) * 127 / self.velocity_bins)
    return ((lo + hi) // 2).astype(int)


def quarters_of(sequence: NoteSequence, times_s) -> np.ndarray:
  """Seconds -> quarter notes through ``sequence``'s tempo map (120 qpm where it has none)."""
  tempos = sorted((t.time, t.qpm) for t in sequence.tempos if t.qpm > 0)
  if not tempos or tempos[0][0] > 0:
    tempos = [(0.0, tempos[0][1] if tempos else 120.0)] + tempos
  starts = np.array([t for t, _ in tempos])
  qps = np.array([q for _, q in tempos]) / 60.0
  at_start = np.concatenate([[0.0], np.cumsum(np.diff(starts) * qps[:-1])])
  times_s = np.asarray(times_s, np.float64)
  i = np.clip(np.searchsorted(starts, times_s, side='right') - 1, 0, len(starts) - 1)
  return at_start[i] + (times_s - starts[i]) * qps[i]


class PianoRollConverter(base.Converter):
  """Windows of piano-roll frames, labels [T, 88]."""

  kind = 'pianoroll'

  def __init__(self, *, slice_bars: int = 4, steps_per_quarter: int = 4,
               quarters_per_bar: int = 4, min_pitch: int = 21, max_pitch: int = 108,
               velocity_bins: int = 8, hop_bars: int = 0, min_notes: int = 1,
               max_windows_per_sequence: int | None = None):
    if not 0 <= min_pitch <= max_pitch <= 127:
      raise ValueError(f'min_pitch={min_pitch}, max_pitch={max_pitch}: 0 <= min <= max <= 127.')
    if velocity_bins < 1:
      raise ValueError(f'velocity_bins={velocity_bins}: at least 1.')
    super().__init__(slice_bars=slice_bars, steps_per_quarter=steps_per_quarter,
                     quarters_per_bar=quarters_per_bar, presplit_on_time_changes=False,
                     max_windows_per_sequence=max_windows_per_sequence)
    self.vocabulary = PianoRollVocabulary(min_pitch, max_pitch, velocity_bins)
    self.hop_steps = (hop_bars or slice_bars) * self.steps_per_bar
    self.min_notes = min_notes

  # ---- NoteSequence -> frames ---------------------------------------------------------------
  def note_frames(self, sequence: NoteSequence, notes=None):
    """(pitch, start frame, end frame, velocity) arrays of ``notes`` (default: every pitched
    note of ``sequence`` in range), and Counter of dropped notes. End > start always."""
    skipped = collections.Counter()
    if notes is None:
      notes = [n for n in sequence.notes if not n.is_drum]
    vocab = self.vocabulary
    keep = [n for n in notes if vocab.min_pitch <= n.pitch <= vocab.max_pitch]
    if len(keep) < len(notes):
      skipped['notes_out_of_range'] += len(notes) - len(keep)
    pitch = np.array([n.pitch for n in keep], int)
    velocity = np.array([n.velocity for n in keep], int)
    q = self.steps_per_quarter
    start = np.round(quarters_of(sequence, [n.start_time for n in keep]) * q).astype(int)
    end = np.round(quarters_of(sequence, [n.end_time for n in keep]) * q).astype(int)
    return pitch, start, np.maximum(end, start + 1), velocity, skipped

  def roll(self, pitch, start, end, velocity, num_frames: int | None = None) -> np.ndarray:
    """labels [frames, 88] of notes given as frame arrays (a later onset wins a cell)."""
    vocab = self.vocabulary
    total = int(num_frames if num_frames is not None else (end.max() if len(end) else 0))
    labels = np.zeros((total, vocab.num_pitches), np.int16)
    channel = pitch - vocab.min_pitch
    for c, s, e in zip(channel, start, end):
      labels[s:min(e, total), c] = np.maximum(labels[s:min(e, total), c], SOUNDING)
    inside = start < total
    labels[start[inside], channel[inside]] = FIRST_ONSET + vocab.velocity_bin(velocity[inside])
    return labels

  def padded_frames(self, end) -> int:
    """Frames of a roll whose notes end at ``end``, padded so the last window reaches the end."""
    T, hop = self.max_seq_len, self.hop_steps
    return T + max(0, -(-(int(np.max(end, initial=0)) - T) // hop)) * hop

  def extract(self, note_sequence: NoteSequence) -> base.Extraction:
    out = base.Extraction()
    pitch, start, end, velocity, skipped = self.note_frames(note_sequence)
    out.skipped.update(skipped)
    if not len(pitch):
      out.skipped['no_notes'] += 1
      return out
    if start.min() < 0:
      out.skipped['negative_time'] += 1
      return out
    labels = self.roll(pitch, start, end, velocity, num_frames=self.padded_frames(end))
    for w in base.slice_windows(labels, self.max_seq_len, self.hop_steps):
      if np.count_nonzero(w >= FIRST_ONSET) < self.min_notes:
        out.skipped['too_few_notes'] += 1
      else:
        out.windows.append(w)
    if self.max_windows_per_sequence is not None:
      out.windows = out.windows[:self.max_windows_per_sequence]
    return out

  def _extract_quantized(self, quantized: NoteSequence) -> base.Extraction:
    raise NotImplementedError('piano-roll frames are read on the tempo map: use extract().')

  # ---- frames -> NoteSequence ---------------------------------------------------------------
  def from_labels(self, labels_TxP: np.ndarray, *, qpm: float = 120.0) -> NoteSequence:
    labels = np.asarray(labels_TxP).reshape(-1, self.vocabulary.num_pitches)
    step_s = 60.0 / qpm / self.steps_per_quarter
    sequence = NoteSequence()
    sequence.tempos.add(qpm=qpm)
    sequence.ticks_per_quarter = 220
    T = labels.shape[0]
    for c in range(labels.shape[1]):
      column = labels[:, c]
      for s in np.nonzero(column >= FIRST_ONSET)[0]:
        e = s + 1
        while e < T and column[e] == SOUNDING:
          e += 1
        sequence.notes.add(pitch=int(c + self.vocabulary.min_pitch),
                           velocity=int(self.vocabulary.bin_velocity(column[s] - FIRST_ONSET)),
                           start_time=s * step_s, end_time=e * step_s)
    sequence.total_time = max((n.end_time for n in sequence.notes), default=0.0)
    return sequence
