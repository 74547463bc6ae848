"""A user's MIDI file read into a model's windows, or refused in one line that names it.

``read_windows`` is what the generating commands do with each --input_midi, and what a Python
caller holding a file path can do with ``TrainedModel.read_windows``. Both refusals are
``errors.UserError``s, so the commands print them as they are: a file that is no usable MIDI
(``midi_io.MidiReadError``), or one whose music the model cannot encode (``CannotEncode``).
Chords are read as Magenta reads them (the highest note of each onset), and the windows count
the notes that dropped (``Windows.polyphony_notice``); ``strict_monophony`` refuses them instead.
"""

from __future__ import annotations

from musicvae_jax.converters import midi_io
from musicvae_jax.generation import inputs


class CannotEncode(inputs.UnencodableInput):
  """An ``UnencodableInput`` that is a file: 'cannot encode <file>: <why>'."""

  def __str__(self) -> str:
    return f'cannot encode {super().__str__()}'


def read_windows(converter, path, *, strict_monophony: bool = False) -> inputs.Windows:
  """The consecutive windows of a MIDI file (``inputs.split_windows``). For a chord model, the
  file's text events that name chords ('Am', 'G7', 'N.C.', as this toolkit writes them) become
  its chord symbols, so a generated file read back keeps its chords instead of inferring them
  (Magenta's MIDI reader drops text events; ``musicvae-prepare`` keeps its behaviour)."""
  note_sequence = midi_io.read_midi(path)
  if converter.kind == 'melody_chords':
    add_text_chords(path, note_sequence)
  try:
    return inputs.split_windows(note_sequence, converter, source=str(path),
                                strict_monophony=strict_monophony)
  except inputs.UnencodableInput as e:
    # Said as a step that failed, so a refusal to encode reads apart from a file that is no
    # MIDI at all ('<file>: not a MIDI file').
    raise CannotEncode(e.source, e.reason) from None


def add_text_chords(path, note_sequence) -> int:
  """Adds the MIDI file's text events that parse as chords to ``note_sequence`` as chord
  symbols, at their times (ticks through the file's tempo map); returns how many. A file that
  already has chord symbols, or whose text names no chord, is left as it is."""
  import pretty_midi  # pylint: disable=g-import-not-at-top
  from musicvae_jax.converters import chords  # pylint: disable=g-import-not-at-top
  if any(ta.annotation_type == chords.CHORD_SYMBOL for ta in note_sequence.text_annotations):
    return 0
  try:
    events = pretty_midi.PrettyMIDI(str(path)).text_events
  except Exception:  # pylint: disable=broad-except  # read_midi has accepted the file already
    return 0
  added = 0
  for event in sorted(events, key=lambda e: e.time):
    text = event.text.strip()
    try:
      chords.chord_class(text)
    except chords.ChordError:
      continue
    ta = note_sequence.text_annotations.add(time=event.time, text=text)
    ta.annotation_type = chords.CHORD_SYMBOL
    added += 1
  return added
