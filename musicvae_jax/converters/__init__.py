"""NoteSequence <-> numpy windows for melody, drums (labels or rolls), trio, GrooVAE drums and
multi-instrument performances (no jax in this package); the chord/key model's beat windows are
named here and live in ``musicvae_jax.chordkey.windows``."""

from __future__ import annotations

import importlib
import inspect

from musicvae_jax import errors
from musicvae_jax.converters.base import Converter, Extraction, Tensors

# Converter name (a config's data.converter) -> (module, class).
CONVERTERS = {'melody': ('melody', 'MelodyConverter'), 'drums': ('drums', 'DrumsConverter'),
              'trio': ('trio', 'TrioConverter'), 'groove': ('groove', 'GrooveConverter'),
              'multiperf': ('multiperf', 'MultiPerformanceConverter'),
              'dmelodies': ('dmelodies_windows', 'DMelodiesConverter'),
              'pianoroll': ('pianoroll', 'PianoRollConverter'),
              # Numpy-only too, but living with its model family (it reads POP909's label files
              # beside each MIDI file): named by its full module path.
              'chordkey': ('musicvae_jax.chordkey.windows', 'ChordKeyConverter')}
# The drums converter with ``roll_output=True`` (the nade-drums configs): [T, D] drum rolls.
ROLL_OUTPUT = ('drum_roll', 'DrumRollConverter')
# The melody converter with ``chord_encoding`` (cat-mel_2bar_med_chords): [T, 2] melody + chord.
CHORD_MELODY = ('chords', 'ChordMelodyConverter')


class ConverterConfigError(errors.UserError, ValueError):
  """A data section naming an unknown converter, or an option its converter does not take."""


def get_converter(data_spec) -> Converter:
  """The converter a ``specs.DataSpec`` names, built with its options."""
  if data_spec.converter not in CONVERTERS:
    raise ConverterConfigError(
        f'config.data.converter={data_spec.converter!r}: expected one of '
        f'{", ".join(repr(k) for k in CONVERTERS)}.')
  module, name = CONVERTERS[data_spec.converter]
  if data_spec.converter == 'drums' and dict(data_spec.converter_options).get('roll_output'):
    module, name = ROLL_OUTPUT  # Magenta's DrumsConverter(roll_output=True): multi-hot targets
  if data_spec.converter == 'melody' and dict(data_spec.converter_options).get('chord_encoding'):
    module, name = CHORD_MELODY  # Magenta's OneHotMelodyConverter(chord_encoding=...)
  path = module if '.' in module else f'musicvae_jax.converters.{module}'
  cls = getattr(importlib.import_module(path), name)
  options = dict(data_spec.converter_options, slice_bars=data_spec.slice_bars,
                 steps_per_quarter=data_spec.steps_per_quarter,
                 quarters_per_bar=data_spec.quarters_per_bar)
  accepted = [p for p in inspect.signature(cls.__init__).parameters if p != 'self']
  unknown = sorted(set(options) - set(accepted))
  if unknown:
    raise ConverterConfigError(
        f'config.data.{unknown[0]} is not an option of the {data_spec.converter} converter; '
        f'it takes {", ".join(sorted(accepted))}.')
  try:
    return cls(**options)
  except ValueError as e:  # the converter's own check of an option's value
    raise ConverterConfigError(f'config.data: {e}') from e


__all__ = ['Converter', 'ConverterConfigError', 'Extraction', 'Tensors', 'get_converter']
