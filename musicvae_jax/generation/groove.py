"""What people do with GrooVAE: humanize, tap2drum, drumify, add_hihat and transfer.

Each operation reads its input onto the model's grid (a ``Piece``: [S, 27] hits | velocities |
offsets over the whole bars up to the last onset, in the General MIDI drum classes), cuts it
into the model's windows (2 or 4 bars; the last one padded with silence), encodes every window,
decodes it and joins the windows again in order, cut back to the input's S steps, at the input's
tempo. Output r draws its code from the posterior, z = mu + sigma·eps with eps from
``fold_in(key, r)``, and its decoding noise from ``fold_in(key, 1000 + r)``.

* ``humanize`` (groovae_2bar_humanize): a quantised drum part played with human velocity and
  timing. The input's hits are kept: the decoder is given them inside its loop, so it plays
  (and feeds back) exactly the input's hits and chooses only each hit's velocity and offset.
* ``tap2drum`` (groovae_2bar_tap_fixed_velocity[_note_dropout]): every onset of a file (any
  instrument) or a list of tap times is a tap; the model decodes a whole kit from them, choosing
  its own hits at ``temperature``.
* ``drumify``: the same, from the onsets of one part of a file (a bass line, a melody).
* ``add_hihat`` (groovae_2bar_add_closed_hh): the input's other drums are kept as read; the
  model adds a closed hi-hat (its hits sampled at ``temperature``) played along with them.
* ``transfer`` (groovae_2bar_hits_control): the pattern's hits as controls, z from the groove
  performance (window k of the pattern takes the groove's window k, cycling a shorter groove);
  the pattern's hits are kept as in humanize, and the groove sets velocities and timing.

A file the operations cannot use raises ``GrooveInputError`` ('<file>: <reason>'): tempo or
time-signature changes, no 4/4, nothing to read. Drum notes whose pitch is in no drum class are
skipped and counted (``Piece.notice``). A model that is not the operation's GrooVAE config raises
``NotAGrooveModel``.
"""

from __future__ import annotations

import dataclasses
import warnings

import jax
import numpy as np

from musicvae_jax import errors
from musicvae_jax.converters import groove as groove_converter
from musicvae_jax.converters import midi_io
from musicvae_jax.generation import inputs

with warnings.catch_warnings():
  warnings.simplefilter('ignore', RuntimeWarning)
  import note_seq

HIHAT_CLASS = 2  # closed hi-hat
#: mode -> (what the model's converter must do, the configs that do it)
NEEDS = {
    'humanize': (lambda c: c.humanize, 'groovae_2bar_humanize'),
    'tap2drum': (lambda c: c.tapify, 'groovae_2bar_tap_fixed_velocity'),
    'drumify': (lambda c: c.tapify, 'groovae_2bar_tap_fixed_velocity'),
    'add_hihat': (lambda c: HIHAT_CLASS in c.add_instruments, 'groovae_2bar_add_closed_hh'),
    'transfer': (lambda c: c.hits_as_controls, 'groovae_2bar_hits_control'),
}
MODES = tuple(NEEDS)
_QUANTIZE_REASONS = {
    'multiple_tempos': 'has tempo changes; GrooVAE reads one tempo: cut the file where the '
                       'tempo changes',
    'multiple_time_signatures': 'has time-signature changes; GrooVAE reads 4/4 only',
    'bad_time_signature': 'has a time signature other than 4/4; GrooVAE reads 4/4 only',
    'non_integer_steps_per_bar': 'has a time signature other than 4/4; GrooVAE reads 4/4 only',
    'steps_per_bar_not_16': 'is not in 4/4; GrooVAE reads 4/4 only',
    'negative_time': 'has notes before time 0',
}


class GrooveInputError(errors.UserError, ValueError):
  """An input a GrooVAE operation cannot use: '<file>: <reason>'."""


class NotAGrooveModel(errors.UserError, ValueError):
  """A model that is not GrooVAE, or not the GrooVAE config an operation needs."""


@dataclasses.dataclass(frozen=True)
class Piece:
  """An input on the model's grid."""
  targets: np.ndarray  # [S, 27] float32: hits | velocities | offsets, S whole bars of steps
  qpm: float
  source: str
  skipped_notes: int = 0  # drum notes left out: their pitch is in no drum class
  skipped_pitches: tuple[int, ...] = ()

  @property
  def hits(self) -> np.ndarray:
    return self.targets[:, :self.targets.shape[1] // 3]

  def notice(self) -> str | None:
    """One line saying which notes were skipped, or None."""
    if not self.skipped_notes:
      return None
    pitches = ', '.join(map(str, self.skipped_pitches))
    return (f'{self.source}: skipped {self.skipped_notes} drum note(s) whose pitch is in no '
            f'drum class (pitch {pitches})')


def check_model(model, mode: str, where: str = '') -> None:
  """Raises NotAGrooveModel unless ``model`` is a GrooVAE config that does ``mode``."""
  where = f'{where}: ' if where else ''
  if not model.groove:
    raise NotAGrooveModel(f'{where}{model.name} is not a GrooVAE model; this command needs a '
                          'GrooVAE model (use --config=groovae_... with musicvae-train or '
                          'musicvae-import-magenta)')
  does, config = NEEDS[mode]
  if not does(model.converter):
    raise NotAGrooveModel(f'{where}{mode} needs a {config} model; {model.name} is another '
                          f'GrooVAE config (use --config={config})')


def _on_grid(model, ns, source: str, skipped=0, skipped_pitches=()) -> Piece:
  if not ns.notes:
    raise GrooveInputError(f'{source}: no notes to read')
  quantized, reason = model.converter.quantize(ns)
  if quantized is None:
    raise GrooveInputError(f'{source}: {_QUANTIZE_REASONS.get(reason, reason)}')
  targets, reason = model.converter.grid(quantized)
  if targets is None:
    raise GrooveInputError(f'{source}: {reason}')
  return Piece(targets.astype(np.float32), inputs.qpm_of(ns), source, skipped,
               tuple(skipped_pitches))


def read_drums(model, path) -> Piece:
  """A drum part (the file's drum notes, channel 10) on the grid; unknown pitches skipped."""
  ns = midi_io.read_midi(path)
  classes = model.converter.pitch_to_class
  drums = [n for n in ns.notes if n.is_drum]
  if not drums:
    raise GrooveInputError(f'{path}: no drum notes (MIDI channel 10) to read')
  unknown = [n for n in drums if n.pitch not in classes]
  if len(unknown) == len(drums):
    raise GrooveInputError(f'{path}: none of its drum pitches '
                           f'({", ".join(map(str, sorted({n.pitch for n in drums})))}) is in '
                           'a drum class')
  kept = note_seq.NoteSequence()
  kept.CopyFrom(ns)
  del kept.notes[:]
  kept.notes.extend(n for n in drums if n.pitch in classes)
  return _on_grid(model, kept, str(path), len(unknown), sorted({n.pitch for n in unknown}))


def _as_taps(model, ns, notes, source: str) -> Piece:
  """Every onset of ``notes`` as a hit of the tap class (where tapify puts every hit)."""
  if not notes:
    raise GrooveInputError(f'{source}: no notes to tap')
  pitch = model.converter.pitch_classes[groove_converter.TAP_CLASS][0]
  taps = [dict(start_time=n.start_time, end_time=n.end_time, velocity=n.velocity) for n in notes]
  del ns.notes[:]
  for tap in taps:
    ns.notes.add(pitch=pitch, instrument=groove_converter.DRUM_INSTRUMENT, is_drum=True, **tap)
  return _on_grid(model, ns, source)


def read_taps(model, path) -> Piece:
  """Every note of a MIDI file (any instrument) as a tap."""
  ns = midi_io.read_midi(path)
  return _as_taps(model, ns, list(ns.notes), str(path))


def taps_from_times(model, times, *, qpm: float = inputs.DEFAULT_QPM,
                    source: str = '--taps') -> Piece:
  """Tap times in seconds (at ``qpm``, 4/4) as a Piece."""
  times = np.asarray(list(times), np.float64)
  if not len(times):
    raise GrooveInputError(f'{source}: no tap times given')
  if not np.all(np.isfinite(times)) or times.min() < 0:
    raise GrooveInputError(f'{source}: tap times must be seconds >= 0')
  ns = note_seq.NoteSequence(ticks_per_quarter=note_seq.STANDARD_PPQ)
  ns.tempos.add(qpm=qpm)
  ns.time_signatures.add(numerator=4, denominator=4)
  step = 60.0 / qpm / model.converter.steps_per_quarter
  notes = [note_seq.NoteSequence.Note(start_time=t, end_time=t + step, velocity=100)
           for t in np.sort(times)]
  ns.total_time = float(times.max() + step)
  return _as_taps(model, ns, notes, source)


def parts(ns) -> list[tuple[int, int]]:
  """(instrument, program) of each pitched part."""
  return sorted({(n.instrument, n.program) for n in ns.notes if not n.is_drum})


def read_part(model, path, instrument: int | None = None) -> Piece:
  """The onsets of one pitched part (``instrument``; may be left out where there is one) as
  taps: a bass line or melody to drumify."""
  ns = midi_io.read_midi(path)
  found = parts(ns)
  listed = ', '.join(f'instrument {i} (program {p})' for i, p in found)
  if not found:
    raise GrooveInputError(f'{path}: no pitched part to drumify (only drums)')
  if instrument is None:
    if len(found) > 1:
      raise GrooveInputError(f'{path}: has {len(found)} parts ({listed}); pick one with '
                             '--instrument')
    instrument = found[0][0]
  notes = [n for n in ns.notes if not n.is_drum and n.instrument == instrument]
  if not notes:
    raise GrooveInputError(f'{path}: no pitched part is instrument {instrument}; its parts are '
                           f'{listed}')
  return _as_taps(model, ns, notes, f'{path} (instrument {instrument})')


# ---- windows ----------------------------------------------------------------------------------
def to_windows(array_SxD: np.ndarray, steps: int, fill: float = 0.0) -> np.ndarray:
  """[N, steps, D]: consecutive windows, the last one padded with ``fill``."""
  n = -(-len(array_SxD) // steps)
  out = np.full((n * steps,) + array_SxD.shape[1:], fill, np.float32)
  out[:len(array_SxD)] = array_SxD
  return out.reshape((n, steps) + array_SxD.shape[1:])


def _encoder_inputs(model, targets_SxD):
  """The model's encoder inputs and controls of a piece, windowed (no note dropout)."""
  c, t = model.converter, model.spec.max_seq_len
  enc = c.input_from_target(targets_SxD, np.random.default_rng(0), dropout_probability=0.0)
  controls = c.controls_from_target(targets_SxD) if c.control_depth else None
  return to_windows(enc, t), None if controls is None else to_windows(controls, t)


def decode_piece(model, z_source: Piece, length: int, *, key, num_outputs: int = 1,
                 temperature: float = 0.5, hits_SxH=None, controls_SxC=None) -> np.ndarray:
  """[R, length, 27]: R outputs decoded window by window from ``z_source``'s codes.

  ``hits_SxH`` (1, 0, nan = free) fixes hits; ``controls_SxC`` are the decoder's controls.
  Window k takes code k of ``z_source`` (cycling when it has fewer windows).
  """
  t = model.spec.max_seq_len
  enc, enc_controls = _encoder_inputs(model, z_source.targets)
  _, mu, sigma = model.encode_labels(enc, controls_NxTxC=enc_controls)
  n = -(-length // t)
  mu, sigma = mu[np.arange(n) % len(mu)], sigma[np.arange(n) % len(mu)]
  z = np.concatenate([mu + sigma * np.asarray(jax.random.normal(jax.random.fold_in(key, r),
                                                                mu.shape))
                      for r in range(num_outputs)])
  tile = lambda w: None if w is None else np.tile(w, (num_outputs, 1, 1))  # noqa: E731
  hits = None if hits_SxH is None else tile(to_windows(np.asarray(hits_SxH), t, fill=0.0))
  controls = None if controls_SxC is None else tile(to_windows(np.asarray(controls_SxC), t))
  out = model.decode_labels(z, key=jax.random.fold_in(key, 1000), temperature=temperature,
                            controls_NxTxC=controls, hits_NxTxH=hits)
  return out.reshape(num_outputs, n * t, -1)[:, :length]


def to_sequences(model, outputs_RxSxD, qpm: float) -> list:
  return [model.converter.from_window(o, qpm=qpm) for o in outputs_RxSxD]


# ---- the operations ---------------------------------------------------------------------------
def humanize(model, piece: Piece, *, key, num_outputs: int = 1, temperature: float = 0.5):
  check_model(model, 'humanize')
  out = decode_piece(model, piece, len(piece.targets), key=key, num_outputs=num_outputs,
                     temperature=temperature, hits_SxH=piece.hits)
  return to_sequences(model, out, piece.qpm)


def tap2drum(model, taps: Piece, *, key, num_outputs: int = 1, temperature: float = 0.5):
  """Also drumify's: ``taps`` from ``read_taps``, ``taps_from_times`` or ``read_part``."""
  check_model(model, 'tap2drum')
  free = np.full(taps.hits.shape, np.nan, np.float32)
  out = decode_piece(model, taps, len(taps.targets), key=key, num_outputs=num_outputs,
                     temperature=temperature, hits_SxH=free)
  return to_sequences(model, out, taps.qpm)


def add_hihat(model, piece: Piece, *, key, num_outputs: int = 1, temperature: float = 0.5):
  check_model(model, 'add_hihat')
  n = piece.hits.shape[1]
  hits = piece.hits.copy()
  hits[:, HIHAT_CLASS] = np.nan
  out = decode_piece(model, piece, len(piece.targets), key=key, num_outputs=num_outputs,
                     temperature=temperature, hits_SxH=hits)
  kept = np.repeat(piece.targets[None], num_outputs, axis=0)
  columns = [HIHAT_CLASS + k * n for k in range(3)]  # its hit, velocity and offset
  kept[..., columns] = out[..., columns]
  return to_sequences(model, kept, piece.qpm)


def transfer(model, pattern: Piece, groove: Piece, *, key, num_outputs: int = 1,
             temperature: float = 0.5):
  check_model(model, 'transfer')
  out = decode_piece(model, groove, len(pattern.targets), key=key, num_outputs=num_outputs,
                     temperature=temperature, hits_SxH=pattern.hits,
                     controls_SxC=model.converter.controls_from_target(pattern.targets))
  return to_sequences(model, out, pattern.qpm)


def input_sequence(model, piece: Piece):
  """The input as the model reads it (its grid, decoded as the outputs are)."""
  return model.converter.from_window(piece.targets, qpm=piece.qpm)
