"""GrooVAE drums: NoteSequence <-> per-step hits, velocities and microtiming, as Magenta's
``GrooveConverter``.

A window is a float32 array [T, 27]: for each 16th-note step and each of 9 drum classes (kick,
snare, closed hi-hat, open hi-hat, low, mid and high tom, crash, ride) the columns
``hits (9) | velocities (9) | offsets (9)``:

* hit 1 where a note of the class starts on the step (its quantized onset), else 0;
* velocity = MIDI velocity / 127;
* offset = 2 * (quantized onset - true onset) / step length, in (-1, 1]: positive = played early.

Where several notes of one class start on one step, the loudest wins (the first of equal ones).
Empty cells are 0, 0, 0. This is the decoder's target; the window is what ``extract`` returns and
what prepare stores. The encoder's input is derived from it (``input_from_target``), as Magenta
derives it, by the config's transformations, in Magenta's order:

1. ``max_note_dropout_probability``: p ~ U(0, max) per sequence, then each cell dropped with
   probability ``max(0.2, 1 - velocity) * p`` (random: needs an explicit numpy ``rng``);
2. ``tapify``: everything moved to class 3 (open hi-hat): per step the hit, velocity and offset of
   the target's class at the argmax of the (dropped-out) input velocities;
3. ``humanize``: input velocities and offsets zeroed;
4. ``fixed_velocities``: input velocities zeroed;
5. ``add_instruments``: the listed classes zeroed in the input.

``hits_as_controls`` adds the target's 9 hits as per-step controls.

Extraction (Magenta's ``GrooveConverter.to_tensors``): no split at tempo or time-signature
changes (a sequence with one gives nothing), quantized at ``steps_per_quarter``, 16 steps a bar
required; every note, drum or not, is looked up in the training class map (``pitch_classes``,
Roland by default); the grid covers the whole bars up to the last onset; windows of ``split_bars``
bars, ``hop_size`` steps apart (default: the window, so they do not overlap), from step 0, a
trailing partial window dropped, not deduplicated, not subsampled (Magenta's
``max_tensors_per_notesequence`` never applies to this converter). Where Magenta raises
``KeyError`` on a pitch outside the class map, the sequence is skipped and counted as
``unmapped_pitch``.

Inference (``for_inference()``) reads and writes the ``inference_pitch_classes`` instead (the
General MIDI map in Magenta's configs). Decoding (``from_window``): hit where the value is over 0.5,
velocity ``round(v * 127)`` clipped to 0..127, onset ``(step - clip(offset / 2, -0.5, 0.5))``
steps, one step long, the class's first pitch, instrument 9, at 120 qpm unless told. Two
deliberate differences from Magenta, so that what is decoded reads back as it was: an early hit on
step 0 would start before the window, at a negative time no MIDI file can hold, so it starts at 0;
and a hit half a step late (offset -1, common where MIDI onsets fall exactly between two steps) is
written a millionth of a step earlier, on its own side of the boundary the quantizer rounds up.

Not carried over (no shipped config uses them): categorical velocity/offset bins and
``split_instruments``; and ``split_bars=None`` (the whole sequence as one window), since every
window here has one fixed length.

Framework-free: numpy and note-seq only.
"""

from __future__ import annotations

import copy
import dataclasses
import warnings
from typing import Sequence

import numpy as np

from musicvae_jax import errors
from musicvae_jax.converters import base
from musicvae_jax.converters import vocabulary

with warnings.catch_warnings():
  warnings.simplefilter('ignore', RuntimeWarning)
  import note_seq
  from note_seq import sequences_lib

NoteSequence = base.NoteSequence

DRUM_INSTRUMENT = 9
#: Columns per class: hit, velocity, offset.
FEATURES = ('hit', 'velocity', 'offset')
#: The class every hit moves to under ``tapify`` (open hi-hat).
TAP_CLASS = 3
#: The least weight a note has in note dropout (Magenta's floor for loud notes).
MIN_DROPOUT_WEIGHT = 0.2
#: The latest a decoded hit starts after its step, in steps: just under the half step at which
#: the quantizer moves it to the next step.
LATEST_DECODED_OFFSET = 0.5 - 1e-6

Rng = np.random.Generator | np.random.RandomState


class UnmappedPitchError(errors.UserError, ValueError):
  """A NoteSequence given as one window holds a pitch that is in no drum class."""


@dataclasses.dataclass(frozen=True)
class GrooveTensors:
  """Magenta-style tensors, one entry per window."""

  inputs: list[np.ndarray]    # each [T, 27] float32: the encoder input
  outputs: list[np.ndarray]   # each [T, 27] float32: the target
  controls: list[np.ndarray]  # each [T, 9] float32 0/1 hits with hits_as_controls, else [T, 0]
  lengths: list[int]


def _class_map(classes) -> tuple[tuple[tuple[int, ...], ...], dict[int, int]]:
  if isinstance(classes, str):
    if classes not in vocabulary.DRUM_PITCH_CLASS_MAPS:
      raise ValueError(f'pitch classes {classes!r}: expected a list of pitch lists or one of '
                       f'{", ".join(repr(k) for k in vocabulary.DRUM_PITCH_CLASS_MAPS)}')
    classes = vocabulary.DRUM_PITCH_CLASS_MAPS[classes]
  classes = tuple(tuple(int(p) for p in pitches) for pitches in classes)
  if not classes or not all(classes):
    raise ValueError(f'pitch classes {classes!r}: every class needs at least one pitch')
  return classes, {p: c for c, pitches in enumerate(classes) for p in pitches}


class GrooveConverter:
  """Magenta's ``GrooveConverter`` (continuous velocities and offsets), under its argument names.

  ``slice_bars`` is the project-wide name of ``split_bars`` (what ``DataSpec`` passes); give
  either. ``pitch_classes`` / ``inference_pitch_classes`` take a list of pitch lists or a name of
  ``vocabulary.DRUM_PITCH_CLASS_MAPS`` ('roland', 'reduced'); inference defaults to the training
  map, as in Magenta. ``max_note_dropout_probability`` None or 0 means no note dropout.
  ``max_windows_per_sequence`` (None: all) keeps the first windows.
  """

  kind = 'groove'
  window_dtype = np.float32  # what extract gives and prepare stores (class labels are int16)

  def __init__(self, *, split_bars: int | None = None, steps_per_quarter: int = 4,
               quarters_per_bar: int = 4, pitch_classes='roland', inference_pitch_classes=None,
               humanize: bool = False, tapify: bool = False, add_instruments: Sequence[int] = (),
               fixed_velocities: bool = False, max_note_dropout_probability: float | None = None,
               hits_as_controls: bool = False, hop_size: int | None = None,
               max_windows_per_sequence: int | None = None, slice_bars: int | None = None):
    if split_bars is None:
      split_bars = slice_bars
    elif slice_bars is not None and slice_bars != split_bars:
      raise ValueError(f'split_bars={split_bars} and slice_bars={slice_bars} name the same '
                       'window length; give one')
    if not split_bars or split_bars < 1:
      raise ValueError('split_bars (slice_bars) must be a positive number of bars')
    self.split_bars = int(split_bars)
    self.steps_per_quarter = steps_per_quarter
    self.quarters_per_bar = quarters_per_bar
    self.steps_per_bar = steps_per_quarter * quarters_per_bar
    self.training_pitch_classes, self._train_map = _class_map(pitch_classes)
    self.inference_pitch_classes, self._infer_map = _class_map(
        pitch_classes if inference_pitch_classes is None else inference_pitch_classes)
    if len(self.training_pitch_classes) != len(self.inference_pitch_classes):
      raise ValueError(
          'training and inference pitch classes must have the same number of classes; got '
          f'{len(self.training_pitch_classes)} and {len(self.inference_pitch_classes)}')
    self.num_drums = len(self.training_pitch_classes)
    self.humanize = bool(humanize)
    self.tapify = bool(tapify)
    self.fixed_velocities = bool(fixed_velocities)
    self.add_instruments = tuple(int(i) for i in (add_instruments or ()))
    bad = [i for i in self.add_instruments if not 0 <= i < self.num_drums]
    if bad:
      raise ValueError(f'add_instruments={list(self.add_instruments)}: class {bad[0]} is not one '
                       f'of 0..{self.num_drums - 1}')
    if self.tapify and self.num_drums <= TAP_CLASS:
      raise ValueError(f'tapify needs class {TAP_CLASS}; there are {self.num_drums} classes')
    p = max_note_dropout_probability
    if p is not None and not 0.0 <= p <= 1.0:
      raise ValueError(f'max_note_dropout_probability={p}: must be within [0, 1]')
    self.max_note_dropout_probability = float(p) if p else None
    self.hits_as_controls = bool(hits_as_controls)
    self.hop_size = int(hop_size) if hop_size else self.max_seq_len
    if self.hop_size < 1:
      raise ValueError(f'hop_size={hop_size}: must be a positive number of steps')
    self.max_windows_per_sequence = max_windows_per_sequence
    self.inferring = False

  # ---- shapes and modes ---------------------------------------------------------------------
  @property
  def slice_bars(self) -> int:
    return self.split_bars

  @property
  def max_seq_len(self) -> int:
    return self.split_bars * self.steps_per_bar

  @property
  def output_depth(self) -> int:
    return len(FEATURES) * self.num_drums

  @property
  def input_depth(self) -> int:
    return self.output_depth

  @property
  def control_depth(self) -> int:
    return self.num_drums if self.hits_as_controls else 0

  @property
  def note_dropout(self) -> bool:
    return self.max_note_dropout_probability is not None

  @property
  def pitch_classes(self) -> tuple[tuple[int, ...], ...]:
    """The class map in use: the inference map after ``for_inference()``, else the training one."""
    return self.inference_pitch_classes if self.inferring else self.training_pitch_classes

  @property
  def pitch_to_class(self) -> dict[int, int]:
    return self._infer_map if self.inferring else self._train_map

  def for_inference(self) -> 'GrooveConverter':
    """A copy that reads and writes ``inference_pitch_classes`` (Magenta's 'infer' mode)."""
    other = copy.copy(self)
    other.inferring = True
    return other

  # ---- NoteSequence -> windows --------------------------------------------------------------
  def quantize(self, note_sequence: NoteSequence) -> tuple[NoteSequence | None, str]:
    """The quantized sequence, or (None, reason) where Magenta gives nothing (the drums and
    melody converters' checks and reason names: a tempo change is 'multiple_tempos')."""
    return base.Converter.quantize(self, note_sequence)

  def grid(self, quantized: NoteSequence) -> tuple[np.ndarray | None, str]:
    """[S, 27] float64 targets over every whole bar up to the last onset, or (None, reason)."""
    if not quantized.notes:
      return None, 'no_notes'
    steps, classes, velocities, starts = _note_arrays(quantized.notes, self.pitch_to_class)
    if classes is None:
      return None, 'unmapped_pitch'
    total = self.steps_per_bar * int(np.ceil((steps.max() + 1) / self.steps_per_bar))
    return self._fill(steps, classes, velocities, starts, self._step_length(quantized),
                      total), ''

  def extract(self, note_sequence: NoteSequence) -> base.Extraction:
    """Every target window of ``note_sequence`` (float32 [T, 27]) and why none, if none.

    Skip reasons: the quantizer's ('multiple_tempos', 'steps_per_bar_not_16', ...), then
    'unmapped_pitch', 'no_notes', 'shorter_than_window'.
    """
    result = base.Extraction()
    targets, reason = self._targets(note_sequence)
    if targets is None:
      result.skipped[reason] += 1
      return result
    result.windows = self._windows(targets)
    if not result.windows:
      result.skipped['shorter_than_window'] += 1
    return result

  def _targets(self, note_sequence: NoteSequence) -> tuple[np.ndarray | None, str]:
    quantized, reason = self.quantize(note_sequence)
    if quantized is None:
      return None, reason
    targets, reason = self.grid(quantized)
    return (None if targets is None else targets.astype(np.float32)), reason

  def _windows(self, array_SxD: np.ndarray) -> list[np.ndarray]:
    t = self.max_seq_len
    windows = [array_SxD[start:start + t].copy()
               for start in range(0, len(array_SxD) - t + 1, self.hop_size)]
    return windows[:self.max_windows_per_sequence]

  # ---- targets -> inputs and controls -------------------------------------------------------
  def input_from_target(self, target_SxD: np.ndarray, rng: Rng | None = None,
                        dropout_probability: float | None = None) -> np.ndarray:
    """The encoder input for a target [S, 27] (a window or a whole sequence), float32.

    Note dropout draws its probability from ``rng`` (a numpy Generator or RandomState; with a
    RandomState the draws are Magenta's, which uses numpy's global one) unless
    ``dropout_probability`` is given; it needs one of the two.
    """
    target = np.asarray(target_SxD, np.float64)
    n = self.num_drums
    hits, velocities, offsets = (target[:, i * n:(i + 1) * n] for i in range(3))
    in_hits, in_velocities, in_offsets = hits.copy(), velocities.copy(), offsets.copy()
    if self.note_dropout:
      if rng is None:
        raise ValueError('note dropout is random: pass rng (a numpy Generator or RandomState)')
      if dropout_probability is None:
        dropout_probability = rng.uniform(0.0, self.max_note_dropout_probability)
      weights = np.maximum(MIN_DROPOUT_WEIGHT, 1 - in_velocities)
      keep = 1 - rng.binomial(1, weights * dropout_probability)
      in_hits, in_velocities, in_offsets = in_hits * keep, in_velocities * keep, in_offsets * keep
    if self.tapify:
      loudest = np.argmax(in_velocities, axis=1)
      rows = np.arange(len(target))
      tapped = [a[rows, loudest] for a in (hits, velocities, offsets)]
      in_hits, in_velocities, in_offsets = (np.zeros_like(hits) for _ in range(3))
      for a, column in zip((in_hits, in_velocities, in_offsets), tapped):
        a[:, TAP_CLASS] = column
    if self.humanize:
      in_velocities = np.zeros_like(in_velocities)
      in_offsets = np.zeros_like(in_offsets)
    if self.fixed_velocities:
      in_velocities = np.zeros_like(in_velocities)
    if self.add_instruments:
      for a in (in_hits, in_velocities, in_offsets):
        a[:, list(self.add_instruments)] = 0.0
    return np.concatenate([in_hits, in_velocities, in_offsets], axis=1).astype(np.float32)

  def controls_from_target(self, target_SxD: np.ndarray) -> np.ndarray:
    """[S, 9] float32 0/1 target hits with ``hits_as_controls``, else [S, 0]."""
    target = np.asarray(target_SxD)
    if not self.hits_as_controls:
      return np.zeros((len(target), 0), np.float32)
    return (target[:, :self.num_drums] != 0).astype(np.float32)

  def window_tensors(self, window_TxD: np.ndarray, rng: Rng | None = None,
                     dropout_probability: float | None = None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inputs, outputs, controls) of one stored window.

    Equal to Magenta's tensors for that window, except that note dropout draws its probability
    per window here (Magenta: once per sequence; pass ``dropout_probability`` to share one).
    """
    target = np.asarray(window_TxD, np.float32)
    return (self.input_from_target(target, rng, dropout_probability), target,
            self.controls_from_target(target))

  def to_tensors(self, note_sequence: NoteSequence, rng: Rng | None = None) -> GrooveTensors:
    """Magenta's ``to_tensors``: inputs derived over the whole sequence (one note-dropout
    probability for it), then cut into windows."""
    targets, _ = self._targets(note_sequence)
    if targets is None:
      return GrooveTensors([], [], [], [])
    outputs = self._windows(targets)
    inputs = self._windows(self.input_from_target(targets, rng))
    controls = self._windows(self.controls_from_target(targets))
    return GrooveTensors(inputs, outputs, controls, [self.max_seq_len] * len(outputs))

  # ---- windows -> NoteSequence and back -----------------------------------------------------
  def from_window(self, window_TxD: np.ndarray, *,
                  qpm: float = note_seq.DEFAULT_QUARTERS_PER_MINUTE) -> NoteSequence:
    """One window (a target, or the decoder's hits/velocities/offsets) as drums at ``qpm``."""
    window = np.asarray(window_TxD, np.float64)
    n = self.num_drums
    step_length = 60.0 / qpm / self.steps_per_quarter
    sequence = NoteSequence()
    sequence.tempos.add(qpm=qpm)
    sequence.ticks_per_quarter = note_seq.STANDARD_PPQ
    end = len(window) * step_length
    for i, row in enumerate(window):
      for j in np.flatnonzero(row[:n] > 0.5):
        velocity = int(np.clip(int(np.round(row[n + j] * 127)), 0, 127))
        offset = float(np.clip(row[2 * n + j] / 2, -LATEST_DECODED_OFFSET, 0.5))
        start = max(0.0, (i - offset) * step_length)
        sequence.notes.add(pitch=self.pitch_classes[j][0], velocity=velocity, start_time=start,
                           end_time=start + step_length, instrument=DRUM_INSTRUMENT,
                           is_drum=True)
        end = max(end, start + step_length)
    sequence.total_time = end
    return sequence

  def from_tensors(self, outputs: Sequence[np.ndarray], *,
                   qpm: float = note_seq.DEFAULT_QUARTERS_PER_MINUTE) -> list[NoteSequence]:
    """Magenta's ``from_tensors``: [N, T, 27] -> one NoteSequence per window."""
    return [self.from_window(o, qpm=qpm) for o in outputs]

  def to_window(self, note_sequence: NoteSequence) -> np.ndarray:
    """One window [T, 27] float32 from a NoteSequence: the inverse of ``from_window``.

    Every note, onsets 0..T-1 (later ones left out); no bar or tempo checks beyond the
    quantizer's. A pitch in no class raises ``UnmappedPitchError``.
    """
    quantized = sequences_lib.quantize_note_sequence(note_sequence, self.steps_per_quarter)
    t = self.max_seq_len
    if not quantized.notes:
      return np.zeros((t, self.output_depth), np.float32)
    steps, classes, velocities, starts = _note_arrays(quantized.notes, self.pitch_to_class)
    if classes is None:
      pitch = next(n.pitch for n in quantized.notes if n.pitch not in self.pitch_to_class)
      mode = 'inference' if self.inferring else 'training'
      raise UnmappedPitchError(f'pitch {pitch} is in no class of the {mode} drum map '
                               f'{self.pitch_classes}')
    inside = steps < t
    return self._fill(steps[inside], classes[inside], velocities[inside], starts[inside],
                      self._step_length(quantized), t).astype(np.float32)

  # ---- helpers ------------------------------------------------------------------------------
  def _step_length(self, quantized: NoteSequence) -> float:
    beat_length = 60.0 / quantized.tempos[0].qpm
    return beat_length / quantized.quantization_info.steps_per_quarter

  def _fill(self, steps, classes, velocities, starts, step_length: float,
            total: int) -> np.ndarray:
    """[total, 27] float64: per (step, class) the loudest note's hit, velocity and offset."""
    n = self.num_drums
    grid = np.zeros((total, 3 * n))
    if not len(steps):
      return grid
    order = np.lexsort((np.arange(len(steps)), -velocities, classes, steps))
    steps, classes, velocities, starts = (a[order] for a in (steps, classes, velocities, starts))
    first = np.ones(len(steps), bool)
    first[1:] = (steps[1:] != steps[:-1]) | (classes[1:] != classes[:-1])
    steps, classes, velocities, starts = (a[first] for a in (steps, classes, velocities, starts))
    grid[steps, classes] = 1.0
    grid[steps, n + classes] = velocities / 127.0
    # Magenta's arithmetic, in its order: (quantized onset - true onset) / step length, times 2.
    grid[steps, 2 * n + classes] = (step_length * steps - starts) / step_length * 2
    return grid


def _note_arrays(notes, pitch_to_class):
  """(steps, classes, velocities, start times) of quantized notes; classes None when a pitch is
  in no class (Magenta's KeyError)."""
  count = len(notes)
  steps = np.fromiter((n.quantized_start_step for n in notes), np.int64, count)
  velocities = np.fromiter((n.velocity for n in notes), np.int64, count)
  starts = np.fromiter((n.start_time for n in notes), np.float64, count)
  try:
    classes = np.fromiter((pitch_to_class[n.pitch] for n in notes), np.int64, count)
  except KeyError:
    classes = None
  return steps, classes, velocities, starts
