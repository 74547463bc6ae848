"""Chord-conditioned melody windows (cat-mel_2bar_med_chords): melody labels plus one chord a step.

A window is ``labels_Tx2`` int16: column 0 the 90-way melody class (as ``melody.py``), column 1
the chord of that step in Magenta's ``TriadChordOneHotEncoding`` (49 classes, ``CHORD_CLASSES``):
0 no chord, 1-12 major triads on C..B, 13-24 minor, 25-36 augmented, 37-48 diminished. The
model decodes the melody; the chord column is its per-step control, concatenated to the encoder
input and to every decoder step input.

Extraction follows Magenta's ``OneHotMelodyConverter(chord_encoding=TriadChordOneHotEncoding())``
per time-change piece:

* a piece without chord-symbol annotations gets chords from note_seq's
  ``infer_chords_for_sequence`` (default arguments: two chords per 4/4 bar), run on the piece's
  valid notes after quantization; a piece whose inference fails gives nothing;
* melodies are cut and windowed as ``melody.MelodyConverter`` does; each step's chord is the chord
  active at that step (note_seq's ``event_list_chords``; past the last chord the last one holds);
  a piece with two chords at one step gives nothing;
* windows are deduplicated as (melody, chord symbols) pairs, so one melody window can appear
  with different chords, or with one triad spelled two ways;
* a piece with a chord that is not a major, minor, augmented or diminished triad gives nothing.
"""

from __future__ import annotations

import warnings

import numpy as np

from musicvae_jax import errors
from musicvae_jax.converters import base
from musicvae_jax.converters import melody

with warnings.catch_warnings():
  warnings.simplefilter('ignore', RuntimeWarning)
  import note_seq
  from note_seq import chord_inference
  from note_seq import chord_symbols_lib
  from note_seq import chords_encoder_decoder
  from note_seq import chords_lib
  from note_seq import sequences_lib

NoteSequence = base.NoteSequence
CHORD_SYMBOL = NoteSequence.TextAnnotation.CHORD_SYMBOL
ENCODING = chords_encoder_decoder.TriadChordOneHotEncoding()
CHORD_CLASSES = ENCODING.num_classes  # 49
NO_CHORD = note_seq.NO_CHORD


class ChordError(ValueError):
  """A chord symbol that does not reduce to one of the encoding's triads."""


def chord_class(symbol: str) -> int:
  """The triad class (0..48) of a chord symbol such as 'Am', 'G7' or 'N.C.'."""
  try:
    return int(ENCODING.encode_event(symbol))
  except (chord_symbols_lib.ChordSymbolError, chords_encoder_decoder.ChordEncodingError) as e:
    raise ChordError(f'chord {symbol!r} is not a major, minor, augmented or diminished triad '
                     f'({e})') from e


class ChordProgressionError(errors.UserError, ValueError):
  """A chord progression given to a chord-conditioned model that it cannot take."""


def progression_classes(text: str, *, bars: int, steps_per_bar: int,
                        windows: int | None = None) -> np.ndarray:
  """The chord class of every step of a progression such as 'C G Am F', one chord a bar, as
  windows [W, bars * steps_per_bar]: as many windows of ``bars`` bars as the chords need, the
  progression repeated from its start to fill the last one (or the only one). ``windows``: that
  many windows instead (a piece's own length), the progression repeated to fill them."""
  symbols = str(text).replace(',', ' ').split()
  if not symbols:
    raise ChordProgressionError('--chords is empty: give one chord a bar, e.g. "C G Am F".')
  classes = []
  for symbol in symbols:
    try:
      classes.append(chord_class(symbol))
    except ChordError:
      raise ChordProgressionError(f'--chords: chord {symbol!r} is not a major, minor, '
                                  'augmented or diminished triad (or N.C.).') from None
  if windows is None:
    windows = -(-len(classes) // bars)
  per_bar = [classes[i % len(classes)] for i in range(windows * bars)]
  return np.repeat(np.asarray(per_bar, np.int32), steps_per_bar).reshape(windows, -1)


def chord_symbol(index: int) -> str:
  """The chord symbol of a triad class (0 -> 'N.C.')."""
  return ENCODING.decode_event(int(index))


def step_chords(quantized: NoteSequence) -> list[str]:
  """The chord active at each step of a quantized piece (note_seq's ChordProgression)."""
  progression = chords_lib.ChordProgression()
  if quantized.total_quantized_steps > 0:
    progression.from_quantized_sequence(quantized, 0, quantized.total_quantized_steps)
  return list(progression)


class ChordMelodyConverter(melody.MelodyConverter):
  """Magenta's ``OneHotMelodyConverter`` with ``TriadChordOneHotEncoding`` chord controls."""

  kind = 'melody_chords'
  control_depth = CHORD_CLASSES

  def __init__(self, *, slice_bars: int, chord_encoding: str = 'triad',
               max_bars: int | None = 100, gap_bars: float | None = 1.0,
               min_pitch: int = melody.MELODY.min_pitch, max_pitch: int = melody.MELODY.max_pitch,
               valid_programs=None, skip_polyphony: bool = False, steps_per_quarter: int = 4,
               quarters_per_bar: int = 4, presplit_on_time_changes: bool = True,
               max_windows_per_sequence: int | None = None):
    if chord_encoding != 'triad':
      raise ValueError(f"chord_encoding={chord_encoding!r}: only 'triad' (Magenta's "
                       'TriadChordOneHotEncoding) exists.')
    super().__init__(slice_bars=slice_bars, max_bars=max_bars, gap_bars=gap_bars,
                     min_pitch=min_pitch, max_pitch=max_pitch, valid_programs=valid_programs,
                     skip_polyphony=skip_polyphony, steps_per_quarter=steps_per_quarter,
                     quarters_per_bar=quarters_per_bar,
                     presplit_on_time_changes=presplit_on_time_changes,
                     max_windows_per_sequence=max_windows_per_sequence)
    self.chord_encoding = chord_encoding

  @property
  def num_parts(self) -> int:  # stored columns: melody, chord
    return 2

  # ---- NoteSequence -> windows --------------------------------------------------------------
  def _extract_quantized(self, quantized: NoteSequence) -> base.Extraction:
    result = base.Extraction()
    notes = melody.filter_notes(quantized, min_pitch=self.min_pitch, max_pitch=self.max_pitch,
                                valid_programs=self.valid_programs)
    if not any(ta.annotation_type == CHORD_SYMBOL for ta in notes.text_annotations):
      try:
        chord_inference.infer_chords_for_sequence(notes)
      except chord_inference.ChordInferenceError:
        result.skipped['chord_inference_failed'] += 1
        return result
    max_steps = self.steps_per_bar * self.max_bars if self.max_bars else None
    melodies = melody.extract_melodies(notes, gap_bars=self.gap_bars,
                                       max_steps_truncate=max_steps, skipped=result.skipped)
    if not melodies:
      if not result.skipped:
        result.skipped['no_melody'] += 1
      return result
    try:
      chords = step_chords(notes)
    except chords_lib.CoincidentChordsError:
      result.skipped['coincident_chords'] += 1
      return result
    pad = chords[-1] if chords else NO_CHORD
    classes = {}
    windows, seen = [], set()
    t = self.max_seq_len
    for mel in melodies:
      labels = melody.melody_events_to_labels(mel)
      for start in range(0, len(labels) - t + 1, self.steps_per_bar):
        window = melody.clean_leading_note_offs(labels[start:start + t])
        steps = range(mel.start_step + start, mel.start_step + start + t)
        symbols = [chords[s] if s < len(chords) else pad for s in steps]
        try:
          codes = [classes[s] if s in classes else classes.setdefault(s, chord_class(s))
                   for s in symbols]
        except ChordError:
          result.skipped['chord_not_a_triad'] += 1
          return base.Extraction(skipped=result.skipped)
        # Deduplicated on the chord symbols, as Magenta does: one triad spelled two ways
        # ('F#m', 'Gbm', as inference names it by key) keeps both windows.
        key = (window.tobytes(), tuple(symbols))
        if key not in seen:
          seen.add(key)
          windows.append(np.stack([window, np.asarray(codes, np.int16)], axis=-1))
    if not windows:
      result.skipped['melody_shorter_than_window'] += 1
    result.windows = windows
    return result

  # ---- windows <-> tensors and NoteSequences ------------------------------------------------
  def part_one_hots(self, labels_TxP: np.ndarray) -> list[np.ndarray]:
    labels = np.asarray(labels_TxP).reshape(self.max_seq_len, 2)
    return [np.eye(melody.NUM_CLASSES, dtype=np.float32)[labels[:, 0]]]

  def controls(self, labels_Tx2: np.ndarray) -> np.ndarray:
    """The window's chord controls, one-hot [T, 49] float32."""
    labels = np.asarray(labels_Tx2).reshape(self.max_seq_len, 2)
    return np.eye(CHORD_CLASSES, dtype=np.float32)[labels[:, 1]]

  def from_labels(self, labels_TxP: np.ndarray, *, instrument: int = 0, program: int = 0,
                  qpm: float = note_seq.DEFAULT_QUARTERS_PER_MINUTE) -> NoteSequence:
    """The melody at ``qpm``, with a chord-symbol annotation at every chord change when the
    window carries its chord column (as Magenta's ``from_tensors`` with controls)."""
    labels = np.asarray(labels_TxP).reshape(self.max_seq_len, -1)
    sequence = super().from_labels(labels[:, :1], instrument=instrument, program=program,
                                   qpm=qpm)
    if labels.shape[1] > 1:
      seconds_per_step = 60.0 / qpm / self.steps_per_quarter
      chords_lib.add_chords_to_sequence(
          sequence, [chord_symbol(c) for c in labels[:, 1]],
          [s * seconds_per_step for s in range(len(labels))])
    return sequence

  def to_labels(self, note_sequence: NoteSequence) -> np.ndarray:
    """One window's labels [T, 2] from a NoteSequence that fits one window: the melody (as
    ``MelodyConverter.to_labels``) and the chord class of every step, from the sequence's chord
    symbols, else inferred from its notes as the extraction does (over this window only, so the
    inferred key has this window's notes to go on, not the whole piece's). A chord symbol that is
    no triad raises ``ChordError``, and chords that cannot be inferred raise ``ChordError`` too."""
    melody_T = super().to_labels(note_sequence)[:, 0]
    quantized = sequences_lib.quantize_note_sequence(note_sequence, self.steps_per_quarter)
    notes = melody.filter_notes(quantized, min_pitch=self.min_pitch, max_pitch=self.max_pitch,
                                valid_programs=self.valid_programs)
    if not any(ta.annotation_type == CHORD_SYMBOL for ta in notes.text_annotations):
      try:
        chord_inference.infer_chords_for_sequence(notes)
      except chord_inference.ChordInferenceError as e:
        raise ChordError(f'its chords cannot be inferred ({e}); give them (--chords)') from e
    symbols = step_chords(notes)[:self.max_seq_len]
    symbols += [symbols[-1] if symbols else NO_CHORD] * (self.max_seq_len - len(symbols))
    return np.stack([melody_T, [chord_class(s) for s in symbols]], -1).astype(melody_T.dtype)
