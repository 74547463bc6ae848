"""Fixtures shared by the generation tests."""

import pytest

from musicvae_jax import bundled_data

#: Two bundled Nottingham tunes of 4 and 5 two-bar windows: pieces longer than one window.
TUNES = ('nottingham_hpps11.mid', 'nottingham_morris19.mid')


@pytest.fixture(scope='module')
def pieces(model):
  """The windows [N, T, P] of each tune, cut as the commands cut them, for the module's model."""
  return [model.read_windows(bundled_data.midi_dir('melody') / name).labels for name in TUNES]
