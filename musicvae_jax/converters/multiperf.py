"""Multi-instrument performance windows (hier-multiperf_vel_1bar_*), as Magenta's
``MultiInstrumentPerformanceConverter``.

A window is ``labels_Tx1`` int16 (``labels_Tx2`` with chords), T = ``max_num_instruments`` x
``max_events_per_instrument`` rows (8 x 64 = 512) per chunk of ``chunk_size_bars`` in the hop:
rows 64k .. 64k + 63 hold track slot k. Column 0 is the token of the row (``vocabulary.MULTIPERF``:
a performance event at 24 steps a quarter with 8 velocity bins, a program token 360 + program or
the drum token 488, the end token 489), -1 for an all-zero padding row. A track is its program
token, its events and the end token; an empty slot is one end token. With ``chord_encoding``
column 1 is the row's chord (``chords.CHORD_CLASSES``: 0 on a program token and on an empty
slot, the chord at the event's step on an event, the last chord again on the end token, -1 on a
padding row). ``track_lengths`` gives a window's rows per slot (Magenta's ``lengths``).

Extraction follows Magenta per time-change piece (its presplit): sustain pedals applied; with
chords and no chord symbols, chords inferred on the piece quantized at 24 steps a quarter; the
piece cut into hops of ``hop_size_bars`` bars in seconds at its first tempo and each hop
quantized (a hop that does not quantize into 96-step bars ends the piece and drops its earlier
windows too, as in Magenta); per hop, one performance per instrument, sorted by drum flag, then
program, cut to the hop and split into chunks, each chunk written out as notes and read back (so
a note held across a boundary ends there, and a chunk without notes reads as drums). A hop gives
a window when it has ``min_num_instruments``..``max_num_instruments`` instruments, every track at
most ``max_events_per_instrument`` - 2 events and ``min_total_events`` in all, every pitch in
0..127 and, with chords, no two chords on one step and only triads. Windows are neither
deduplicated nor subsampled; every hop that gives none is counted by reason in
``Extraction.skipped``. The performances are note_seq's ``MetricPerformance`` logic redone on
plain tuples (several times faster); the windows equal Magenta's on every shared file
(bench/multiperf_windows.py).

Where this deliberately differs from Magenta: where Magenta's sort of the tracks raises
``TypeError`` (an instrument mixing drum and pitched notes, or one of several pitched
instruments holding notes of more than one program; MIDI files give neither, as pretty_midi
splits instruments by program and channel), the hop is skipped and counted as
'instrument_with_several_programs'. ``from_labels`` never raises on a sampled window: as in
Magenta a slot without a program token is program 0 and tokens after the end token and
note-offs without a note-on are ignored; -1 rows and chord classes out of range are ignored too,
and chords are written only when the window has events (Magenta fails on one without). A
decoded window lasts its whole hop (``total_time``; Magenta ends it at its last note), so
windows joined into a piece keep their bars aligned (``join_windows`` also keeps each part on
one instrument).

The windows need the sustain pedal, so the MIDI must be read with note-seq's parser
(``midi_io.read_midi``'s default; the 'fast' parser drops control changes, and 6 of the 83
multitrack files have pedals).

Framework-free: numpy and note-seq only.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np

from musicvae_jax.converters import base
from musicvae_jax.converters import vocabulary

with warnings.catch_warnings():
  warnings.simplefilter('ignore', RuntimeWarning)
  import note_seq
  from note_seq import chord_inference
  from note_seq import chord_symbols_lib
  from note_seq import chords_encoder_decoder
  from note_seq import chords_lib
  from note_seq import performance_lib
  from note_seq import sequences_lib

NoteSequence = base.NoteSequence
CHORD_SYMBOL = NoteSequence.TextAnnotation.CHORD_SYMBOL
PerformanceEvent = performance_lib.PerformanceEvent
CHORD_ENCODING = chords_encoder_decoder.TriadChordOneHotEncoding()
CHORD_CLASSES = CHORD_ENCODING.num_classes  # 49
PAD = -1  # an all-zero row
SUSTAIN_PEDAL = 64  # the control note_seq's apply_sustain_control_changes reads
# Performance event kinds (note_seq's PerformanceEvent types); an event is (kind, value).
ON, OFF, SHIFT, VELOCITY = (PerformanceEvent.NOTE_ON, PerformanceEvent.NOTE_OFF,
                            PerformanceEvent.TIME_SHIFT, PerformanceEvent.VELOCITY)


class MultiPerformanceConverter(base.Converter):
  """Magenta's ``MultiInstrumentPerformanceConverter`` under its argument names.

  ``slice_bars`` is the project-wide name of ``hop_size_bars`` (what ``DataSpec`` passes); give
  either. ``chord_encoding``: None or 'triad' (Magenta's ``TriadChordOneHotEncoding``).
  ``max_windows_per_sequence`` (None: all) keeps the first windows.
  """

  kind = 'multiperf'
  #: Sustain-pedal control changes lengthen notes before the events are made, so files are read
  #: with note-seq (the fast reader keeps no control changes; ``convert_files``).
  reads_control_changes = True

  def __init__(self, *, hop_size_bars: int | None = None, slice_bars: int | None = None,
               num_velocity_bins: int = 8, chunk_size_bars: int = 1, steps_per_quarter: int = 24,
               quarters_per_bar: int = 4, min_num_instruments: int = 2,
               max_num_instruments: int = 8, min_total_events: int = 8,
               max_events_per_instrument: int = 64, min_pitch: int = 0, max_pitch: int = 127,
               chord_encoding: str | None = None, presplit_on_time_changes: bool = True,
               max_windows_per_sequence: int | None = None):
    if hop_size_bars is None:
      hop_size_bars = 1 if slice_bars is None else slice_bars
    elif slice_bars is not None and slice_bars != hop_size_bars:
      raise ValueError(f'hop_size_bars={hop_size_bars} and slice_bars={slice_bars} name the '
                       'same hop; give one')
    if chunk_size_bars < 1 or hop_size_bars % chunk_size_bars:
      raise ValueError(f'hop_size_bars={hop_size_bars} must be a whole number of chunks of '
                       f'chunk_size_bars={chunk_size_bars}')
    if chord_encoding not in (None, 'triad'):
      raise ValueError(f"chord_encoding={chord_encoding!r}: None or 'triad' (Magenta's "
                       'TriadChordOneHotEncoding).')
    if not 1 <= min_num_instruments <= max_num_instruments:
      raise ValueError(f'min_num_instruments={min_num_instruments} and max_num_instruments='
                       f'{max_num_instruments}: need 1 <= min <= max')
    if max_events_per_instrument < 3:
      raise ValueError('max_events_per_instrument must leave room for a program token, an '
                       'event and the end token (>= 3)')
    super().__init__(slice_bars=hop_size_bars, steps_per_quarter=steps_per_quarter,
                     quarters_per_bar=quarters_per_bar,
                     presplit_on_time_changes=presplit_on_time_changes,
                     max_windows_per_sequence=max_windows_per_sequence)
    self.hop_size_bars = hop_size_bars
    self.chunk_size_bars = chunk_size_bars
    self.num_velocity_bins = num_velocity_bins
    self.min_num_instruments = min_num_instruments
    self.max_num_instruments = max_num_instruments
    self.min_total_events = min_total_events
    self.max_events_per_instrument = max_events_per_instrument
    self.min_pitch, self.max_pitch = min_pitch, max_pitch
    self.chord_encoding = chord_encoding
    self.max_shift_steps = performance_lib.DEFAULT_MAX_SHIFT_QUARTERS * steps_per_quarter
    self.vocabulary = vocabulary.PerformanceVocabulary(
        num_velocity_bins=num_velocity_bins, max_shift_steps=self.max_shift_steps,
        min_pitch=min_pitch, max_pitch=max_pitch)
    self._encoding = note_seq.PerformanceOneHotEncoding(
        num_velocity_bins=num_velocity_bins, max_shift_steps=self.max_shift_steps,
        min_pitch=min_pitch, max_pitch=max_pitch)

  # ---- shapes -------------------------------------------------------------------------------
  @property
  def num_chunks(self) -> int:
    return self.hop_size_bars // self.chunk_size_bars

  @property
  def chunk_steps(self) -> int:
    return self.chunk_size_bars * self.steps_per_bar

  @property
  def num_tracks(self) -> int:
    """Track slots per window: Magenta's length vector (chunks x instruments)."""
    return self.num_chunks * self.max_num_instruments

  @property
  def level_lengths(self) -> tuple[int, int]:
    """(track slots, rows per slot): the decoder's levels, (8, 64) in Magenta's configs."""
    return (self.num_tracks, self.max_events_per_instrument)

  @property
  def max_seq_len(self) -> int:
    return self.num_tracks * self.max_events_per_instrument

  @property
  def num_parts(self) -> int:  # stored columns: token (, chord)
    return 2 if self.chord_encoding else 1

  @property
  def control_depth(self) -> int:
    return CHORD_CLASSES if self.chord_encoding else 0

  # ---- NoteSequence -> windows --------------------------------------------------------------
  def extract(self, note_sequence: NoteSequence) -> base.Extraction:
    """Every window of ``note_sequence``, in time order, as Magenta's eval mode gives them."""
    if self.presplit_on_time_changes:
      pieces = sequences_lib.split_note_sequence_on_time_changes(note_sequence)
    else:
      pieces = [note_sequence]
    result = base.Extraction()
    for piece in pieces:
      result.extend(self._extract_piece(piece, note_sequence))
    if self.max_windows_per_sequence is not None:
      result.windows = result.windows[:self.max_windows_per_sequence]
    return result

  def _extract_quantized(self, quantized: NoteSequence) -> base.Extraction:
    raise NotImplementedError('multiperf cuts each piece into hops in seconds, then quantizes '
                              'every hop: see extract')

  def timed_windows(self, note_sequence: NoteSequence) -> tuple[base.Extraction, list[float]]:
    """``extract`` (all windows) and the start of each window in ``note_sequence``, seconds:
    what reconstructing or interpolating a piece needs to lay its windows out again."""
    pieces = (sequences_lib.split_note_sequence_on_time_changes(note_sequence)
              if self.presplit_on_time_changes else [note_sequence])
    result, starts = base.Extraction(), []
    for piece in pieces:
      offset = (piece.subsequence_info.start_time_offset
                if piece.HasField('subsequence_info') else 0.0)
      piece_starts = []
      result.extend(self._extract_piece(piece, note_sequence, piece_starts))
      starts += [offset + s for s in piece_starts]
    return result, starts

  def _extract_piece(self, piece: NoteSequence, caller_sequence,
                     starts: list | None = None) -> base.Extraction:
    """The windows of one time-change piece; ``starts`` (if given) gains each window's start
    in the piece, seconds."""
    result = base.Extraction()
    if any(cc.control_number == SUSTAIN_PEDAL for cc in piece.control_changes):
      piece = sequences_lib.apply_sustain_control_changes(piece)  # a copy
    elif self.chord_encoding and piece is caller_sequence:
      piece = copy.deepcopy(piece)  # inferred chords are added to it
    if self.chord_encoding and not any(ta.annotation_type == CHORD_SYMBOL
                                       for ta in piece.text_annotations):
      quantized, reason = self.quantize(piece)
      if quantized is None:
        result.skipped[reason] += 1
        return result
      try:
        chord_inference.infer_chords_for_sequence(quantized)
      except chord_inference.ChordInferenceError:
        result.skipped['chord_inference_failed'] += 1
        return result
      for qta in quantized.text_annotations:
        if qta.annotation_type == CHORD_SYMBOL:
          piece.text_annotations.add(time=qta.time, text=qta.text, annotation_type=CHORD_SYMBOL)
    qpm = piece.tempos[0].qpm if piece.tempos else note_seq.DEFAULT_QUARTERS_PER_MINUTE
    hop_seconds = 60.0 * self.quarters_per_bar * self.hop_size_bars / qpm
    hop_starts = []
    for k, hop in enumerate(sequences_lib.split_note_sequence(piece, hop_seconds)):
      quantized, reason = self.quantize(hop)
      if quantized is None:  # Magenta gives nothing for the whole piece
        result.skipped[reason] += 1
        return base.Extraction(skipped=result.skipped)
      window, reason = self._hop_window(quantized)
      if window is None:
        result.skipped[reason] += 1
      else:
        result.windows.append(window)
        hop_starts.append(k * hop_seconds)
    if starts is not None:
      starts += hop_starts
    return result

  def _hop_window(self, quantized: NoteSequence) -> tuple[np.ndarray | None, str]:
    """One hop's window, or (None, why Magenta gives none)."""
    notes = [(n.instrument, n.start_time, n.pitch, n.quantized_start_step, n.quantized_end_step,
              n.velocity, n.program, n.is_drum) for n in quantized.notes]
    if any(not self.min_pitch <= n[2] <= self.max_pitch for n in notes):
      return None, 'pitch_out_of_range'
    instruments = list(set(n[0] for n in notes))  # one track each, in Magenta's (set) order
    if len(instruments) < self.min_num_instruments:
      return None, 'too_few_instruments'
    if len(instruments) > self.max_num_instruments:
      return None, 'too_many_instruments'
    hop_steps = self.hop_size_bars * self.steps_per_bar
    tracks = []  # (is_drum, program, events)
    for instrument in instruments:
      own = [n for n in notes if n[0] == instrument]
      events = _performance_events(own, 0, self.num_velocity_bins, self.max_shift_steps)
      drums = {n[7] for n in own}
      programs = {n[6] for n in own}
      is_drum = drums.pop() if len(drums) == 1 else None
      program = programs.pop() if not is_drum and len(programs) == 1 else None
      tracks.append((is_drum, program, _set_length(events, hop_steps, self.max_shift_steps)))
    pitched = [t for t in tracks if t[0] is False]
    if any(t[0] is None for t in tracks) or (
        len(pitched) > 1 and any(t[1] is None for t in pitched)):
      return None, 'instrument_with_several_programs'
    tracks.sort(key=lambda t: (t[0], -1 if t[1] is None else t[1]))
    chunks = [[] for _ in range(self.num_chunks)]  # per chunk: (is_drum, program, events)
    total = 0
    for is_drum, program, events in tracks:
      for i, chunk in enumerate(self._split_chunks(events, is_drum, program)):
        if len(chunk[2]) > self.max_events_per_instrument - 2:
          return None, 'too_many_events'
        total += len(chunk[2])
        chunks[i].append(chunk)
    if total < self.min_total_events:
      return None, 'too_few_events'
    chord_rows = None
    if self.chord_encoding:
      chord_rows, reason = self._chord_rows(quantized, chunks)
      if chord_rows is None:
        return None, reason
    return self._window(chunks, chord_rows), ''

  def _split_chunks(self, events, is_drum, program) -> list[tuple]:
    """A track cut into chunks of ``chunk_steps``, each (is_drum, program, events), as
    Magenta's ``split_performance`` with ``clip_tied_notes``: at a boundary note-offs stay before
    it, other events go after; then each chunk is written out as notes and read back, so a note
    held across a boundary ends there, and a chunk without notes reads as drums."""
    size = self.chunk_steps
    segments = [[]]
    step = 0
    for kind, value in events:
      if kind != SHIFT:
        if step == size and kind != OFF:
          segments.append([])
          step = 0
        segments[-1].append((kind, value))
      elif step + value <= size:
        segments[-1].append((kind, value))
        step += value
      else:
        if size - step > 0:
          segments[-1].append((SHIFT, size - step))
        segments.append([])
        step = value - (size - step)
        if step > 0:
          segments[-1].append((SHIFT, step))
    if not _num_steps(segments[-1]):
      segments.pop()
    chunks = []
    for segment in segments:
      notes = [(0, start, pitch, start, end, velocity, program or 0, bool(is_drum))
               for start, end, pitch, velocity in _performance_notes(segment,
                                                                     self.num_velocity_bins)]
      events = _set_length(_performance_events(notes, 0, self.num_velocity_bins,
                                               self.max_shift_steps),
                           size, self.max_shift_steps)
      chunks.append((bool(is_drum) if notes else True, (program or 0) if notes else None,
                     events))
    return chunks

  def _chord_rows(self, quantized, chunks):
    """Each chunk's tracks' chord classes, a row each (program, events, end), or (None, why)."""
    progression = chords_lib.ChordProgression()
    try:
      if quantized.total_quantized_steps > 0:
        progression.from_quantized_sequence(quantized, 0, quantized.total_quantized_steps)
    except chords_lib.CoincidentChordsError:
      return None, 'coincident_chords'
    pad = progression[-1] if len(progression) else note_seq.NO_CHORD
    rows = []
    for c, chunk_tracks in enumerate(chunks):
      chunk_rows = []
      for _, _, events in chunk_tracks:
        steps = _event_steps(events, c * self.chunk_steps)
        try:
          classes = [CHORD_ENCODING.encode_event(progression[s] if s < len(progression) else pad)
                     for s in steps]
        except (chord_symbols_lib.ChordSymbolError, chords_encoder_decoder.ChordEncodingError):
          return None, 'chord_not_a_triad'
        chunk_rows.append([0] + classes + [classes[-1] if classes else 0])
      rows.append(chunk_rows)
    return rows, ''

  def _window(self, chunks, chord_rows) -> np.ndarray:
    vocab = self.vocabulary
    rows = self.max_events_per_instrument
    window = np.full((self.max_seq_len, self.num_parts), PAD, np.int16)
    for c, chunk_tracks in enumerate(chunks):
      for i in range(self.max_num_instruments):
        start = (c * self.max_num_instruments + i) * rows
        if i >= len(chunk_tracks):
          window[start] = vocab.end if not chord_rows else (vocab.end, 0)
          continue
        is_drum, program, events = chunk_tracks[i]
        tokens = ([vocab.program_token(program or 0, is_drum)]
                  + [self._token(kind, value) for kind, value in events] + [vocab.end])
        window[start:start + len(tokens), 0] = tokens
        if chord_rows:
          window[start:start + len(tokens), 1] = chord_rows[c][i]
    return window

  def _token(self, kind: int, value: int) -> int:
    vocab = self.vocabulary
    if kind == ON:
      return vocab.note_on + value - self.min_pitch
    if kind == OFF:
      return vocab.note_off + value - self.min_pitch
    if kind == SHIFT:
      return vocab.time_shift + value - 1
    return vocab.velocity + value - 1

  # ---- windows <-> tensors ------------------------------------------------------------------
  def _rows(self, labels_TxP: np.ndarray) -> np.ndarray:
    return np.asarray(labels_TxP).reshape(self.max_seq_len, -1)

  def track_lengths(self, labels_TxP: np.ndarray) -> np.ndarray:
    """Rows of each track slot that are not padding: Magenta's ``lengths``, int32 [slots]."""
    tokens = self._rows(labels_TxP)[:, 0].reshape(self.num_tracks, -1)
    return (tokens != PAD).sum(-1).astype(np.int32)

  def part_one_hots(self, labels_TxP: np.ndarray) -> list[np.ndarray]:
    tokens = self._rows(labels_TxP)[:, 0]
    return [_one_hot(tokens, self.vocabulary.depth)]

  def controls(self, labels_Tx2: np.ndarray) -> np.ndarray:
    """The window's chord controls, one-hot [T, 49] float32 (zero rows for padding)."""
    return _one_hot(self._rows(labels_Tx2)[:, 1], CHORD_CLASSES)

  def to_tensors(self, note_sequence: NoteSequence) -> base.Tensors:
    """Magenta's ``to_tensors``: one-hot inputs/outputs and per-slot lengths per window."""
    windows = self.extract(note_sequence).windows
    outputs = [self.labels_to_tensors(w)[1] for w in windows]
    return base.Tensors(inputs=outputs, outputs=outputs,
                        lengths=[self.track_lengths(w) for w in windows])

  def tensors_to_labels(self, outputs_TxD: np.ndarray) -> np.ndarray:
    """Argmax per row -> labels_Tx1; an all-zero row (padding) -> -1."""
    outputs = np.asarray(outputs_TxD)
    tokens = np.where(outputs.any(-1), outputs.argmax(-1), PAD)
    return tokens.astype(np.int16)[:, None]

  # ---- augmentation -------------------------------------------------------------------------
  def transpose(self, labels_TxP: np.ndarray, shift: int) -> np.ndarray | None:
    """The window with every pitched (not drum) note-on and note-off moved by ``shift``
    semitones, and with chords their roots; None where a note would leave min..max_pitch. What
    Magenta extracts from the transposed NoteSequence (its augmenter leaves drums alone), for
    every shift that keeps the notes in range."""
    vocab = self.vocabulary
    labels = np.array(labels_TxP, copy=True).reshape(self.max_seq_len, -1)
    tokens = labels[:, 0]
    programs = tokens[::self.max_events_per_instrument]
    pitched = np.repeat(programs != vocab.drum_program, self.max_events_per_instrument)
    rows = pitched & (tokens >= vocab.note_on) & (tokens < vocab.time_shift)
    pitches = (tokens[rows] - vocab.note_on) % vocab.num_pitches + self.min_pitch
    if ((pitches + shift < self.min_pitch) | (pitches + shift > self.max_pitch)).any():
      return None
    tokens[rows] += shift
    if labels.shape[1] > 1:
      chords = labels[:, 1]
      moved = (chords - 1) // 12 * 12 + (chords - 1 + shift) % 12 + 1
      labels[:, 1] = np.where(chords > 0, moved, chords)
    return labels

  # ---- windows -> NoteSequence --------------------------------------------------------------
  def from_labels(self, labels_TxP: np.ndarray, *,
                  qpm: float = note_seq.DEFAULT_QUARTERS_PER_MINUTE) -> NoteSequence:
    """One window back to a NoteSequence at ``qpm`` (Magenta decodes at 120): each slot up to its
    end token, its first program token giving the program (drums: is_drum, program 0), as
    Magenta's ``from_tensors``; with a chord column, a chord symbol at each chord change."""
    rows = self._rows(labels_TxP)
    vocab = self.vocabulary
    seconds_per_step = 60.0 / (self.steps_per_quarter * qpm)
    tracks = [[] for _ in range(self.max_num_instruments)]
    timed_chords = []
    for c in range(self.num_chunks):
      for i in range(self.max_num_instruments):
        start = (c * self.max_num_instruments + i) * self.max_events_per_instrument
        slot = rows[start:start + self.max_events_per_instrument]
        tokens = [int(t) for t in slot[:, 0]]
        if vocab.end in tokens:
          slot = slot[:tokens.index(vocab.end)]
          tokens = tokens[:len(slot)]
        programs = [t for t in tokens if vocab.first_program <= t <= vocab.drum_program]
        events = [k for k, t in enumerate(tokens) if 0 <= t < vocab.num_events]
        is_drum = bool(programs) and programs[0] == vocab.drum_program
        program = 0 if not programs or is_drum else programs[0] - vocab.first_program
        track = performance_lib.MetricPerformance(
            steps_per_quarter=self.steps_per_quarter, num_velocity_bins=self.num_velocity_bins,
            program=program, is_drum=is_drum)
        for k in events:
          track.append(self._encoding.decode_event(tokens[k]))
        if rows.shape[1] > 1:
          offset = c * self.chunk_steps
          for k, step in zip(events, track.steps):
            if step < self.chunk_steps and 0 <= slot[k, 1] < CHORD_CLASSES:
              timed_chords.append(((offset + step) * seconds_per_step,
                                   CHORD_ENCODING.decode_event(int(slot[k, 1]))))
        track.set_length(self.chunk_steps)
        tracks[i].append(track)
    sequence = NoteSequence(ticks_per_quarter=note_seq.STANDARD_PPQ)
    sequence.tempos.add(qpm=qpm)
    for instrument, chunks in enumerate(tracks):
      track = chunks[0]
      for chunk in chunks[1:]:
        for event in chunk:
          track.append(event)
      sequence.notes.extend(track.to_sequence(instrument=instrument, qpm=qpm).notes)
    # The whole window, as the other converters' (Magenta ends it at the last note): windows
    # joined into a piece keep their bars aligned.
    sequence.total_time = self.hop_size_bars * self.steps_per_bar * seconds_per_step
    if timed_chords:
      times, symbols = zip(*sorted(timed_chords))
      chords_lib.add_chords_to_sequence(sequence, symbols, times)
    return sequence


def join_windows(sequences) -> NoteSequence:
  """Decoded windows (``from_labels``) joined into one piece, each part on one instrument.

  A window numbers its tracks by slot, and slots hold different programs from bar to bar; here a
  track's instrument is its program (drums: 128) and its rank among the window's tracks of that
  program, numbered in order of first appearance, so a part keeps its MIDI track across bars.
  """
  numbers = {}
  renumbered = []
  for ns in sequences:
    ns = copy.deepcopy(ns)
    slots = sorted({(n.instrument, 128 if n.is_drum else n.program) for n in ns.notes})
    rank, mapping = {}, {}
    for slot, part in slots:
      rank[part] = rank.get(part, -1) + 1
      mapping[slot] = numbers.setdefault((part, rank[part]), len(numbers))
    for note in ns.notes:
      note.instrument = mapping[note.instrument]
    renumbered.append(ns)
  return sequences_lib.concatenate_sequences(renumbered)


def _one_hot(tokens_T: np.ndarray, depth: int) -> np.ndarray:
  """[T, depth] float32, a zero row for -1 (and any token out of range)."""
  tokens = np.asarray(tokens_T).astype(np.int64)
  valid = (tokens >= 0) & (tokens < depth)
  out = np.zeros((len(tokens), depth), np.float32)
  out[np.nonzero(valid)[0], tokens[valid]] = 1.0
  return out


# ---- note_seq's MetricPerformance on plain tuples (the same events, a fraction of the time) ----
def _performance_events(notes, start_step: int, num_velocity_bins: int, max_shift: int):
  """``MetricPerformance(quantized, instrument=...)``'s events of ``notes`` (tuples
  (instrument, start_time, pitch, start_step, end_step, velocity, program, is_drum)): notes
  sorted by (start time, pitch), onsets and offsets by (step, note, offset last), a velocity
  event before an onset whose bin differs from the last one, shifts of at most ``max_shift``."""
  ordered = sorted(notes, key=lambda n: (n[1], n[2]))
  bin_size = -(-(performance_lib.MAX_MIDI_VELOCITY - performance_lib.MIN_MIDI_VELOCITY + 1)
               // num_velocity_bins) if num_velocity_bins else 0
  marks = sorted([(n[3], i, False) for i, n in enumerate(ordered)]
                 + [(n[4], i, True) for i, n in enumerate(ordered)])
  events = []
  step, velocity_bin = start_step, 0
  for at, i, is_off in marks:
    if at > step:
      while at > step + max_shift:
        events.append((SHIFT, max_shift))
        step += max_shift
      events.append((SHIFT, at - step))
      step = at
    if num_velocity_bins and not is_off:
      new_bin = (ordered[i][5] - performance_lib.MIN_MIDI_VELOCITY) // bin_size + 1
      if new_bin != velocity_bin:
        velocity_bin = new_bin
        events.append((VELOCITY, velocity_bin))
    events.append((OFF if is_off else ON, ordered[i][2]))
  return events


def _num_steps(events) -> int:
  return sum(value for kind, value in events if kind == SHIFT)


def _event_steps(events, start_step: int) -> list[int]:
  """The step at each event (before it moves time), as ``BasePerformance.steps``."""
  steps, step = [], start_step
  for kind, value in events:
    steps.append(step)
    if kind == SHIFT:
      step += value
  return steps


def _set_length(events, length: int, max_shift: int):
  """``BasePerformance.set_length``: pads with shifts (growing a last non-maximal one first)
  or drops events from the end, shortening the last shift that crosses ``length``."""
  events = list(events)
  steps = _num_steps(events)
  if steps < length:
    missing = length - steps
    if events and events[-1][0] == SHIFT and events[-1][1] < max_shift:
      added = min(missing, max_shift - events[-1][1])
      events[-1] = (SHIFT, events[-1][1] + added)
      missing -= added
    while missing >= max_shift:
      events.append((SHIFT, max_shift))
      missing -= max_shift
    if missing > 0:
      events.append((SHIFT, missing))
  elif steps > length:
    excess, trimmed = steps - length, 0
    while events and trimmed < excess:
      kind, value = events[-1]
      if kind != SHIFT:
        events.pop()
      elif trimmed + value > excess:
        events[-1] = (SHIFT, value - excess + trimmed)
        trimmed = excess
      else:
        trimmed += value
        events.pop()
  return events


def _performance_notes(events, num_velocity_bins: int) -> list[tuple[int, int, int, int]]:
  """``BasePerformance.to_sequence``'s notes (start step, end step, pitch, velocity), in its
  order: a note-off ends the oldest open note of its pitch (none open: ignored), zero-length
  notes are dropped, notes still open end at the last step."""
  velocity = 100
  open_notes = {}  # pitch -> [(start step, velocity)], in the order pitches first appear
  notes = []
  step = 0
  for kind, value in events:
    if kind == ON:
      open_notes.setdefault(value, []).append((step, velocity))
    elif kind == OFF:
      started = open_notes.setdefault(value, [])
      if started:
        start, v = started.pop(0)
        if step != start:
          notes.append((start, step, value, v))
    elif kind == SHIFT:
      step += value
    else:
      velocity = performance_lib.velocity_bin_to_velocity(value, num_velocity_bins)
  for pitch, started in open_notes.items():
    notes.extend((start, step, pitch, v) for start, v in started if start != step)
  return notes
