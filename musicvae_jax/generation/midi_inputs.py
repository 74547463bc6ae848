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
  """The consecutive windows of a MIDI file (``inputs.split_windows``)."""
  note_sequence = midi_io.read_midi(path)
  try:
    return inputs.split_windows(note_sequence, converter, source=str(path),
                                strict_monophony=strict_monophony)
  except inputs.UnencodableInput as e:
    # Said as a step that failed, so a refusal to encode reads apart from a file that is no
    # MIDI at all ('<file>: not a MIDI file').
    raise CannotEncode(e.source, e.reason) from None
