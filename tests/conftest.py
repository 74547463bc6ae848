"""Test set-up: 8 fake CPU devices (so sharded code really runs) and the shared real MIDI."""

import os

os.environ.setdefault('XLA_FLAGS', '--xla_force_host_platform_device_count=8')
os.environ.setdefault('JAX_PLATFORMS', 'cpu')

import pathlib  # noqa: E402

import pytest  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get('MUSICVAE_SHARED', REPO.parent / 'shared'))
SHARED_MIDI = SHARED / 'data' / 'midi'
MAGENTA_WINDOWS = SHARED / 'reference' / 'magenta_windows'


def pytest_configure(config):
  config.addinivalue_line('markers', 'slow: runs over a whole folder of the shared MIDI set')


@pytest.fixture(scope='session')
def shared_midi() -> pathlib.Path:
  if not SHARED_MIDI.is_dir():
    pytest.fail(f'The shared MIDI set is missing at {SHARED_MIDI}; set MUSICVAE_SHARED to the '
                'folder that holds data/midi and reference/.')
  return SHARED_MIDI


@pytest.fixture(scope='session')
def magenta_windows_dir() -> pathlib.Path:
  if not MAGENTA_WINDOWS.is_dir():
    pytest.fail(f'The Magenta reference windows are missing at {MAGENTA_WINDOWS}.')
  return MAGENTA_WINDOWS
