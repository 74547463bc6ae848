"""The converter contract: NoteSequence <-> fixed-shape integer windows and one-hot tensors.

Shapes: T = window length in steps (``max_seq_len``), P = number of parts (1 for melody and
drums, 3 for trio: melody, bass, drums).

A window is stored as integer class labels ``labels_TxP`` (int16): for melody the 90-way class
(no-event, note-off or the onset of a pitch), for drums the 512-way label (sum of 2**class), for
trio one column per part; ``vocabulary.py`` says what each label means. Labels are the compact,
exact form that prepare writes to disk; ``labels_to_tensors`` expands them into the one-hot (and
for drums, roll) tensors that Magenta's MusicVAE feeds its encoder and decoder.

This package is framework-free: numpy and note-seq only, no jax.
"""

from __future__ import annotations

import abc
import collections
import dataclasses
import warnings
from typing import Sequence

import numpy as np

from musicvae_jax.converters.vocabulary import Vocabulary

with warnings.catch_warnings():
  # pydub (pulled in by note-seq's audio helpers) warns about ffmpeg at import time; the
  # converters never touch audio.
  warnings.simplefilter('ignore', RuntimeWarning)
  import note_seq
  from note_seq import sequences_lib

NoteSequence = note_seq.NoteSequence


@dataclasses.dataclass
class Extraction:
  """What one NoteSequence gave: its windows, and why the parts that gave none were dropped.

  ``skipped`` counts reasons (e.g. 'steps_per_bar_not_16', 'no_melody') per time-change piece or
  per dropped candidate, so prepare can report exactly where the data went.
  """

  windows: list[np.ndarray] = dataclasses.field(default_factory=list)  # each labels_TxP int16
  skipped: collections.Counter = dataclasses.field(default_factory=collections.Counter)

  def extend(self, other: 'Extraction') -> None:
    self.windows.extend(other.windows)
    self.skipped.update(other.skipped)


@dataclasses.dataclass(frozen=True)
class Tensors:
  """Magenta-style tensors for a batch of windows (numpy, one entry per window)."""

  inputs: list[np.ndarray]  # each [T, input_depth] float32
  outputs: list[np.ndarray]  # each [T, output_depth] float32
  lengths: list[int]


class Converter(abc.ABC):
  """Base class of the melody, drums and trio converters."""

  #: What the windows hold: 'melody', 'drums' or 'trio'.
  kind: str
  #: What each label of each part means: a vocabulary of ``vocabulary.py``.
  vocabulary: Vocabulary

  def __init__(self, *, slice_bars: int, steps_per_quarter: int = 4,
               quarters_per_bar: int = 4, presplit_on_time_changes: bool = True,
               max_windows_per_sequence: int | None = None):
    self.slice_bars = slice_bars
    self.steps_per_quarter = steps_per_quarter
    self.quarters_per_bar = quarters_per_bar
    self.steps_per_bar = steps_per_quarter * quarters_per_bar
    self.presplit_on_time_changes = presplit_on_time_changes
    self.max_windows_per_sequence = max_windows_per_sequence

  # ---- shapes -------------------------------------------------------------------------------
  @property
  def part_depths(self) -> tuple[int, ...]:
    """Each part's one-hot depth, e.g. (90,) melody, (512,) drums, (90, 90, 512) trio."""
    return self.vocabulary.part_depths

  @property
  def max_seq_len(self) -> int:
    return self.slice_bars * self.steps_per_bar

  @property
  def num_parts(self) -> int:
    return len(self.part_depths)

  @property
  def output_depth(self) -> int:
    return int(sum(self.part_depths))

  @property
  def input_depth(self) -> int:
    return self.output_depth

  # ---- NoteSequence -> windows --------------------------------------------------------------
  def extract(self, note_sequence: NoteSequence) -> Extraction:
    """Every window of ``note_sequence`` (deduplicated as the converter's Magenta twin does).

    The sequence is split at tempo and time-signature changes first (as Magenta does), each piece
    is quantized and converted on its own, and the windows are concatenated in piece order.
    ``max_windows_per_sequence`` (None = all) keeps the first windows, like Magenta's eval mode.
    """
    if self.presplit_on_time_changes:
      pieces = sequences_lib.split_note_sequence_on_time_changes(note_sequence)
    else:
      pieces = [note_sequence]
    result = Extraction()
    for piece in pieces:
      quantized, reason = self.quantize(piece)
      if quantized is None:
        result.skipped[reason] += 1
        continue
      result.extend(self._extract_quantized(quantized))
    if self.max_windows_per_sequence is not None:
      result.windows = result.windows[:self.max_windows_per_sequence]
    return result

  def quantize(self, piece: NoteSequence) -> tuple[NoteSequence | None, str]:
    """Quantizes one time-change piece; returns (None, reason) where Magenta would give nothing."""
    try:
      quantized = sequences_lib.quantize_note_sequence(piece, self.steps_per_quarter)
    except sequences_lib.BadTimeSignatureError:
      return None, 'bad_time_signature'
    except note_seq.NonIntegerStepsPerBarError:
      return None, 'non_integer_steps_per_bar'
    except sequences_lib.NegativeTimeError:
      return None, 'negative_time'
    except sequences_lib.MultipleTimeSignatureError:
      return None, 'multiple_time_signatures'
    except sequences_lib.MultipleTempoError:
      return None, 'multiple_tempos'
    if sequences_lib.steps_per_bar_in_quantized_sequence(quantized) != self.steps_per_bar:
      return None, f'steps_per_bar_not_{self.steps_per_bar}'
    return quantized, ''

  @abc.abstractmethod
  def _extract_quantized(self, quantized: NoteSequence) -> Extraction:
    """Windows of one quantized piece with a single tempo and time signature."""

  # ---- windows <-> tensors ------------------------------------------------------------------
  def part_one_hots(self, labels_TxP: np.ndarray) -> list[np.ndarray]:
    labels_TxP = np.asarray(labels_TxP).reshape(self.max_seq_len, self.num_parts)
    return [np.eye(depth, dtype=np.float32)[labels_TxP[:, p]]
            for p, depth in enumerate(self.part_depths)]

  def labels_to_tensors(self, labels_TxP: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(inputs [T, input_depth], outputs [T, output_depth]) for one window."""
    outputs = np.concatenate(self.part_one_hots(labels_TxP), axis=-1)
    return outputs, outputs

  def to_tensors(self, note_sequence: NoteSequence) -> Tensors:
    """Magenta's ``to_tensors``: one-hot inputs/outputs and lengths for every window."""
    pairs = [self.labels_to_tensors(w) for w in self.extract(note_sequence).windows]
    return Tensors(inputs=[p[0] for p in pairs], outputs=[p[1] for p in pairs],
                   lengths=[self.max_seq_len] * len(pairs))

  def tensors_to_labels(self, outputs_TxD: np.ndarray) -> np.ndarray:
    """Argmax of each part of a [T, output_depth] one-hot or logit tensor -> labels_TxP."""
    outputs_TxD = np.asarray(outputs_TxD)
    bounds = np.cumsum((0,) + tuple(self.part_depths))
    cols = [np.argmax(outputs_TxD[:, lo:hi], axis=-1) for lo, hi in zip(bounds[:-1], bounds[1:])]
    return np.stack(cols, axis=-1).astype(np.int16)

  # ---- windows -> NoteSequence --------------------------------------------------------------
  @abc.abstractmethod
  def from_labels(self, labels_TxP: np.ndarray, *,
                  qpm: float = note_seq.DEFAULT_QUARTERS_PER_MINUTE) -> NoteSequence:
    """One window back to a NoteSequence at ``qpm`` (Magenta decodes at 120), velocity 80."""

  def from_tensors(self, outputs: Sequence[np.ndarray]) -> list[NoteSequence]:
    """Magenta's ``from_tensors``: [N, T, output_depth] (one-hot or logits) -> NoteSequences."""
    return [self.from_labels(self.tensors_to_labels(o)) for o in outputs]


def dedupe_in_order(windows: list[np.ndarray]) -> list[np.ndarray]:
  """Drops repeated windows, keeping the first of each (Magenta dedupes with a set)."""
  seen = set()
  kept = []
  for w in windows:
    key = w.tobytes()
    if key not in seen:
      seen.add(key)
      kept.append(w)
  return kept


def slice_windows(events_TxP: np.ndarray, window_steps: int, hop_steps: int) -> list[np.ndarray]:
  """Windows of ``window_steps`` ending at window_steps, window_steps + hop, ... <= len."""
  total = events_TxP.shape[0]
  return [events_TxP[start:start + window_steps].astype(np.int16)
          for start in range(0, total - window_steps + 1, hop_steps)]


def cut_tracks(fill, *, steps_per_bar: int, min_bars: int, max_steps_truncate: int | None,
               pad_end: bool, skipped=None, kind: str = 'track'):
  """Magenta's track-extraction loop, shared by melodies and drum tracks.

  ``fill(search_start_step)`` returns the note_seq event sequence (a ``Melody`` or ``DrumTrack``)
  that starts at or after that step, empty when there is none. Yields each one of at least
  ``min_bars`` bars (counting '<kind>_too_short' in ``skipped`` otherwise), truncated to
  ``max_steps_truncate`` steps (to a whole bar when ``pad_end``). The next search starts on the
  first bar boundary at or after the previous track's end.
  """
  search_start_step = 0
  while True:
    track = fill(search_start_step)
    search_start_step = track.end_step + (search_start_step - track.end_step) % steps_per_bar
    if not track:
      return
    if len(track) < steps_per_bar * min_bars:
      if skipped is not None:
        skipped[f'{kind}_too_short'] += 1
      continue
    if max_steps_truncate is not None and len(track) > max_steps_truncate:
      track.set_length(max_steps_truncate
                       - (max_steps_truncate % steps_per_bar if pad_end else 0))
    yield track
