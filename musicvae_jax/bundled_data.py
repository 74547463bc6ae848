"""Where the MIDI that ships with the toolkit lives (the repository's data/ folder).

A source checkout (including ``pip install -e .``) reads ``<repo>/data``; a regular install reads
the copy that setup.py places under ``<prefix>/share/musicvae_jax/data``.
"""

from __future__ import annotations

import pathlib
import sys
import sysconfig

#: Bundled MIDI folder for each converter kind.
KIND_FOLDERS = {'melody': 'melody', 'drums': 'drums', 'trio': 'multitrack'}


def data_dir() -> pathlib.Path:
  candidates = [
      pathlib.Path(__file__).resolve().parents[1] / 'data',
      pathlib.Path(sysconfig.get_path('data')) / 'share' / 'musicvae_jax' / 'data',
      pathlib.Path(sys.prefix) / 'share' / 'musicvae_jax' / 'data',
  ]
  for path in candidates:
    if (path / 'midi').is_dir():
      return path
  raise FileNotFoundError(
      'The bundled data folder was not found (looked in: '
      + ', '.join(str(c) for c in candidates)
      + '). Reinstall with `pip install -e .` from the repository, or pass --input=<MIDI folder>.')


def midi_dir(kind: str) -> pathlib.Path:
  """The bundled MIDI folder for a converter kind ('melody', 'drums' or 'trio')."""
  return data_dir() / 'midi' / KIND_FOLDERS[kind]
