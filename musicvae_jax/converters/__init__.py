"""NoteSequence <-> numpy windows for melody, drums and trio (no jax in this package)."""

from __future__ import annotations

from musicvae_jax.converters.base import Converter, Extraction, Tensors


def get_converter(data_config) -> Converter:
  """The converter named by a config's ``data`` section ('melody', 'drums' or 'trio')."""
  kind = data_config.converter
  if kind == 'melody':
    from musicvae_jax.converters.melody import MelodyConverter
    return MelodyConverter.from_config(data_config)
  if kind == 'drums':
    from musicvae_jax.converters.drums import DrumsConverter
    return DrumsConverter.from_config(data_config)
  if kind == 'trio':
    from musicvae_jax.converters.trio import TrioConverter
    return TrioConverter.from_config(data_config)
  raise ValueError(f"Unknown converter {kind!r} in the config's data section; "
                   "expected 'melody', 'drums' or 'trio'.")


__all__ = ['Converter', 'Extraction', 'Tensors', 'get_converter']
