"""Training-time augmentation of windows: random transposition of the pitched parts.

Magenta's melody configs transpose every NoteSequence by a uniform random number of semitones
in ``transpose_range`` (``(-5, 5)`` for cat-mel_2bar_*) before extracting windows. Here the
shift is applied to the stored labels, per example and per epoch, seeded by the pipeline's seed
and the example's position in the stream, so it is deterministic and resumes exactly.

Two deliberate differences from Magenta:

* Magenta caches the dataset after augmentation, so each window keeps the transposition drawn
  in the first epoch; here it is drawn again every epoch.
* Magenta deletes notes that leave the pitch range; here the shift is drawn only among those
  that keep every note of the window in range (21..108), so no window loses a note.

Chord-conditioned windows (cat-mel_2bar_med_chords) carry a chord column after the melody; its
triad classes move with the melody (the root by ``shift`` semitones mod 12, the kind kept), as
Magenta's transposed NoteSequence has its chords inferred, or its chord symbols transposed.

Multi-instrument performance windows (hier-multiperf) move the note-ons and note-offs of their
pitched tracks (drums stay), with the chords of a _chords window: the converter's own
``transpose``, which refuses a shift that would take a note out of range. Chord/key beat windows
are moved by their converter too (pitch-class features rolled, chord roots and key tonics moved).
"""

from __future__ import annotations

import numpy as np

from musicvae_jax import errors
from musicvae_jax.converters import vocabulary

_MELODY = vocabulary.MELODY
FIRST_PITCH_LABEL = _MELODY.FIRST_PITCH_LABEL  # labels below it are no-event and note-off
NUM_MELODY_CLASSES = _MELODY.depth

#: Parts of each converter kind whose labels are melody classes (and so can be transposed).
PITCHED_PARTS = {
    kind: tuple(i for i, v in enumerate(vocab.parts if hasattr(vocab, 'parts') else (vocab,))
                if isinstance(v, vocabulary.MelodyVocabulary))
    for kind, vocab in (('melody', vocabulary.MELODY), ('drums', vocabulary.DRUMS),
                        ('trio', vocabulary.TRIO))}
PITCHED_PARTS['groove'] = ()  # drum classes with velocities and offsets: nothing to transpose
PITCHED_PARTS['multiperf'] = (0,)  # event tokens; moved by the converter (``converter=``)
# dMelodies tokens are numbered by first appearance, not pitch; tonic is one of its factors.
PITCHED_PARTS['dmelodies'] = ()
# Piano-roll frames: MusiCoder's pretraining reads them as they are.
PITCHED_PARTS['pianoroll'] = ()
# Chord/key beat windows: pitch-class features and labels, moved by their converter.
PITCHED_PARTS['chordkey'] = (0,)
# Converters that move their own windows (``converter.transpose``).
OWN_TRANSPOSE = ('multiperf', 'chordkey')


def valid_shifts(labels_TxP: np.ndarray, low: int, high: int, parts) -> np.ndarray:
  """Every shift in [low, high] that keeps each note-on of ``parts`` inside the 90 classes."""
  pitched = labels_TxP[:, list(parts)]
  notes = pitched[pitched >= FIRST_PITCH_LABEL]
  shifts = np.arange(low, high + 1)
  if notes.size == 0:
    return shifts
  ok = (notes.min() + shifts >= FIRST_PITCH_LABEL) & (notes.max() + shifts < NUM_MELODY_CLASSES)
  return shifts[ok]


def transpose(labels_TxP: np.ndarray, shift: int, parts) -> np.ndarray:
  """``labels_TxP`` with every note-on of ``parts`` moved by ``shift`` semitones."""
  out = np.array(labels_TxP, copy=True)
  for p in parts:
    col = out[:, p]
    col[col >= FIRST_PITCH_LABEL] += shift
  return out


def transpose_chords(classes_T: np.ndarray, shift: int) -> np.ndarray:
  """Triad classes (0 no chord, 1 + 12 * kind + root) with every root moved by ``shift``."""
  classes = np.asarray(classes_T)
  moved = (classes - 1) // 12 * 12 + (classes - 1 + shift) % 12 + 1
  return np.where(classes > 0, moved, 0).astype(classes.dtype)


class TransposeRangeError(errors.UserError, ValueError):
  """A transpose_range that cannot apply to the windows."""


class RandomTranspose:
  """A grain random map: a uniform shift from the valid ones in ``[low, high]`` per example."""

  def __init__(self, transpose_range, converter_kind: str, chord_column: int | None = None,
               converter=None):
    low, high = (int(v) for v in transpose_range)
    if low > high:
      raise TransposeRangeError(f'config.data.transpose_range={tuple(transpose_range)} has '
                                'low > high.')
    parts = PITCHED_PARTS.get(converter_kind)
    if parts is None or (not parts and (low, high) != (0, 0)):
      raise TransposeRangeError(f'{converter_kind} windows have no pitched part to transpose; '
                                'set config.data.transpose_range to (0, 0).')
    if converter_kind in OWN_TRANSPOSE and converter is None:
      raise ValueError(f'{converter_kind} windows are transposed by their converter: pass '
                       'converter=.')
    self.low, self.high, self.parts = low, high, parts
    self.chord_column = chord_column
    # A converter that moves its own windows (chords included): transpose(labels, shift) ->
    # the moved window, or None where the shift does not fit.
    self.converter = converter if converter_kind in OWN_TRANSPOSE else None

  @property
  def active(self) -> bool:
    return (self.low, self.high) != (0, 0) and bool(self.parts)

  def __call__(self, example: dict, rng: np.random.Generator) -> dict:
    labels = example['labels']
    if self.converter is not None:
      moved = {s: self.converter.transpose(labels, s) for s in range(self.low, self.high + 1)}
      shifts = [s for s, m in moved.items() if m is not None]
      shift = int(rng.choice(shifts)) if shifts else 0
      window = moved[shift] if shifts else labels
      return {**example, 'labels': window.astype(labels.dtype).reshape(labels.shape),
              'transpose': np.int32(shift)}
    shifts = valid_shifts(labels, self.low, self.high, self.parts)
    shift = int(rng.choice(shifts)) if shifts.size else 0
    moved = transpose(labels, shift, self.parts)
    if self.chord_column is not None:
      moved[:, self.chord_column] = transpose_chords(labels[:, self.chord_column], shift)
    return {**example, 'labels': moved, 'transpose': np.int32(shift)}
