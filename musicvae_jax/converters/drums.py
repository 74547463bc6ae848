"""Drums: NoteSequence <-> 512-way drum labels, matching Magenta's ``DrumsConverter``.

Each step of a drum track is the set of reduced drum classes (kick, snare, closed hi-hat, open
hi-hat, low/mid/high tom, crash, ride; ``vocabulary.DRUMS``, from note_seq's drum type table) whose
notes start on that step; its label is ``sum(2**class)`` (note_seq's ``MultiDrumOneHotEncoding``
over the classes), so label 0 is a silent step. Durations are discarded.

Extraction follows Magenta (music_vae/data.py ``DrumsConverter._to_tensors`` and
magenta/pipelines/drum_pipelines.py ``extract_drum_tracks``): keep drum notes whose pitch is in the
class map and replace each pitch by its class, then cut drum tracks with note_seq's
``DrumTrack.from_quantized_sequence`` (a track starts at the bar holding its first hit and ends
once ``gap_bars`` bars pass without a hit; padded to a bar boundary), drop tracks under
``min_bars``, truncate to ``max_bars``, and slide ``slice_bars`` windows with a one-bar hop.
"""

from __future__ import annotations

import warnings

import numpy as np

from musicvae_jax.converters import base
from musicvae_jax.converters import vocabulary

with warnings.catch_warnings():
  warnings.simplefilter('ignore', RuntimeWarning)
  import note_seq
  from note_seq import drums_encoder_decoder
  from note_seq import drums_lib
  from note_seq import sequences_lib

NoteSequence = base.NoteSequence

DRUMS = vocabulary.DRUMS
# Short names of the vocabulary's facts, for this module and its callers.
NUM_CLASSES = DRUMS.num_classes
NUM_LABELS = DRUMS.depth
PITCH_TO_CLASS = DRUMS.pitch_to_class
CLASS_EXEMPLAR_PITCHES = DRUMS.exemplar_pitches

OUTPUT_VELOCITY = 80
DRUM_INSTRUMENT = 9

# As Magenta: the pitches are mapped to class indices first, so the one-hot encoding treats each
# class index as its own single-pitch drum type and encodes a step as sum(2**class).
_CLASS_ENCODING = drums_encoder_decoder.MultiDrumOneHotEncoding(
    drum_type_pitches=[(cls,) for cls in range(NUM_CLASSES)])


def _class_note_sequence(quantized: NoteSequence,
                         pitch_to_class=PITCH_TO_CLASS) -> NoteSequence:
  """A copy of ``quantized`` with only its mapped drum notes, each pitch replaced by its class."""
  mapped = NoteSequence()
  mapped.CopyFrom(quantized)
  del mapped.notes[:]
  for note in quantized.notes:
    if note.is_drum and note.pitch in pitch_to_class:
      new_note = mapped.notes.add()
      new_note.CopyFrom(note)
      new_note.pitch = pitch_to_class[note.pitch]
  return mapped


def _encode_track(track) -> np.ndarray:
  return np.asarray([_CLASS_ENCODING.encode_event(event) for event in track], dtype=np.int16)


def _extract_class_tracks(class_sequence: NoteSequence, *, gap_bars, max_bars, pad_end: bool,
                          pad_to_total_time: bool, min_bars: int,
                          skipped=None, encode=_encode_track) -> list[np.ndarray]:
  """Magenta's ``extract_drum_tracks`` (+ the converter's padding) on a class-pitch sequence;
  each track encoded by ``encode`` (512-way labels, or a drum roll: ``drum_roll``)."""
  steps_per_bar = int(sequences_lib.steps_per_bar_in_quantized_sequence(class_sequence))
  # Magenta passes `gap_bars or inf` and `max_bars` only when truthy.
  gap = gap_bars if gap_bars else float('inf')
  max_steps_truncate = steps_per_bar * max_bars if max_bars else None
  tracks = []

  def fill(search_start_step):
    track = drums_lib.DrumTrack()
    track.from_quantized_sequence(class_sequence, search_start_step=search_start_step,
                                  gap_bars=gap, pad_end=pad_end)
    return track

  for track in base.cut_tracks(fill, steps_per_bar=steps_per_bar, min_bars=min_bars,
                               max_steps_truncate=max_steps_truncate, pad_end=pad_end,
                               skipped=skipped, kind='drum_track'):
    if pad_to_total_time:
      # Left-pad to step 0, then pad (or cut) to the sequence's total quantized length.
      track.set_length(len(track) + track.start_step, from_left=True)
      track.set_length(class_sequence.total_quantized_steps)
    tracks.append(encode(track))
  return tracks


def extract_drum_label_tracks(quantized: NoteSequence, *, gap_bars, max_bars, pad_end: bool,
                              pad_to_total_time: bool = False,
                              min_bars: int = 1) -> list[np.ndarray]:
  """Every drum track of a quantized NoteSequence, each a 1-D int16 array of 512-way labels.

  Mirrors Magenta's ``DrumsConverter`` before slicing: drum notes (``is_drum``) whose pitch is in
  the reduced class map, zero-velocity notes ignored, tracks cut at ``gap_bars`` bars of silence
  (None or 0: never), shorter than ``min_bars`` dropped, truncated to ``max_bars`` (None: no cap)
  and padded to a bar boundary if ``pad_end``. With ``pad_to_total_time`` each track is padded
  with silence on the left back to step 0 and set to ``quantized.total_quantized_steps`` long
  (padded or cut), as the TrioConverter's inner DrumsConverter does
  (``gap_bars=None, max_bars=None, pad_end=True, pad_to_total_time=True``).

  The caller quantizes (``steps_per_quarter`` and the time signature come from ``quantized``).
  """
  return _extract_class_tracks(
      _class_note_sequence(quantized), gap_bars=gap_bars, max_bars=max_bars, pad_end=pad_end,
      pad_to_total_time=pad_to_total_time, min_bars=min_bars)


def labels_to_roll(labels: np.ndarray) -> np.ndarray:
  """[T] labels -> [T, 9] class bits (bit c set when class c is hit)."""
  labels = np.asarray(labels).reshape(-1).astype(np.int64)
  return ((labels[:, None] >> np.arange(NUM_CLASSES)) & 1).astype(np.float32)


class DrumsConverter(base.Converter):
  """Magenta's ``DrumsConverter`` with one-hot (512-way) outputs and optional roll inputs."""

  kind = 'drums'
  vocabulary = DRUMS

  def __init__(self, *, slice_bars: int, max_bars: int | None = 100, gap_bars: float | None = 1.0,
               roll_input: bool = True, steps_per_quarter: int = 4, quarters_per_bar: int = 4,
               presplit_on_time_changes: bool = True,
               max_windows_per_sequence: int | None = None):
    super().__init__(slice_bars=slice_bars, steps_per_quarter=steps_per_quarter,
                     quarters_per_bar=quarters_per_bar,
                     presplit_on_time_changes=presplit_on_time_changes,
                     max_windows_per_sequence=max_windows_per_sequence)
    self.max_bars = max_bars
    self.gap_bars = gap_bars
    self.roll_input = roll_input

  @property
  def input_depth(self) -> int:
    # Roll input: 9 class bits plus a NOR bit set on silent steps.
    return NUM_CLASSES + 1 if self.roll_input else NUM_LABELS

  # ---- NoteSequence -> windows --------------------------------------------------------------
  def _extract_quantized(self, quantized: NoteSequence) -> base.Extraction:
    result = base.Extraction()
    class_sequence = _class_note_sequence(quantized)
    if not any(n.velocity for n in class_sequence.notes):
      result.skipped['no_drums'] += 1
      return result
    tracks = _extract_class_tracks(
        class_sequence, gap_bars=self.gap_bars, max_bars=self.max_bars, pad_end=True,
        pad_to_total_time=False, min_bars=1, skipped=result.skipped)
    windows = []
    for track in tracks:
      track_windows = base.slice_windows(track[:, None], self.max_seq_len, self.steps_per_bar)
      if not track_windows:
        result.skipped['drum_track_shorter_than_window'] += 1
      windows.extend(track_windows)
    # Magenta dedupes the windows of one piece with a set (arbitrary order); we keep the first
    # occurrence of each, in track order, so the result is deterministic.
    result.windows = base.dedupe_in_order(windows)
    return result

  # ---- windows <-> tensors ------------------------------------------------------------------
  def labels_to_tensors(self, labels_TxP: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, outputs): inputs the [T, 10] roll + NOR bit (or the one-hot), outputs [T, 512]."""
    labels = np.asarray(labels_TxP).reshape(self.max_seq_len)
    outputs = np.eye(NUM_LABELS, dtype=np.float32)[labels]
    if not self.roll_input:
      return outputs, outputs
    roll = labels_to_roll(labels)
    nor = (roll.sum(axis=-1, keepdims=True) == 0).astype(np.float32)
    return np.concatenate([roll, nor], axis=-1), outputs

  # ---- windows <-> NoteSequence -------------------------------------------------------------
  def from_labels(self, labels_TxP: np.ndarray, *,
                  qpm: float = note_seq.DEFAULT_QUARTERS_PER_MINUTE) -> NoteSequence:
    """One window as drums: each hit class at its exemplar pitch, one step long, at ``qpm``.

    Like Magenta's decode (DrumTrack.to_sequence, velocity 80, instrument 9), except that
    ``total_time`` is the whole window (Magenta ends it at the last hit), so trailing silence is
    kept.
    """
    labels = np.asarray(labels_TxP).reshape(-1)
    events = [frozenset(CLASS_EXEMPLAR_PITCHES[c]
                        for c in _CLASS_ENCODING.decode_event(int(label)))
              for label in labels]
    track = drums_lib.DrumTrack(events=events, steps_per_bar=self.steps_per_bar,
                                steps_per_quarter=self.steps_per_quarter)
    sequence = track.to_sequence(velocity=OUTPUT_VELOCITY, instrument=DRUM_INSTRUMENT, qpm=qpm)
    sequence.total_time = len(labels) * 60.0 / qpm / self.steps_per_quarter
    return sequence

  def to_labels(self, note_sequence: NoteSequence) -> np.ndarray:
    """One window's labels [T, 1] from a NoteSequence: the exact inverse of ``from_labels``.

    Quantizes, and sets per step 0..T-1 the class bit of every mapped drum onset (velocity > 0)
    on that step; no gap splitting, bar alignment or window search.
    """
    quantized = sequences_lib.quantize_note_sequence(note_sequence, self.steps_per_quarter)
    labels = np.zeros(self.max_seq_len, dtype=np.int64)
    for note in quantized.notes:
      if not (note.is_drum and note.velocity and note.pitch in PITCH_TO_CLASS):
        continue
      step = note.quantized_start_step
      if 0 <= step < self.max_seq_len:
        labels[step] |= 1 << PITCH_TO_CLASS[note.pitch]
    return labels.astype(np.int16)[:, None]
