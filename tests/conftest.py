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


@pytest.fixture(scope='session')
def melody_dataset(tmp_path_factory, shared_midi) -> pathlib.Path:
  """cat-mel_2bar_small shards of 40 real Nottingham reels (eval fraction 0.25)."""
  import shutil  # pylint: disable=import-outside-toplevel

  from musicvae_jax import config_lib  # pylint: disable=import-outside-toplevel
  from musicvae_jax.input_pipeline.prepare import prepare  # pylint: disable=import-outside-toplevel
  src = tmp_path_factory.mktemp('reels')
  for p in sorted(shared_midi.joinpath('melody').glob('nottingham_reels*.mid'))[:40]:
    shutil.copy(p, src / p.name)
  config = config_lib.get_config('cat-mel_2bar_small')
  config.data.eval_fraction = 0.25
  out = tmp_path_factory.mktemp('prepared') / 'reels'
  prepare(config, src, out, workers=1, progress=False)
  return out


def held_out_midi(config, kind: str) -> list[pathlib.Path]:
  """The bundled MIDI files of ``kind`` that prepare puts in the eval split under ``config``.

  What a model trained on the bundled data never saw: its tests measure it on these.
  """
  from musicvae_jax import bundled_data  # pylint: disable=import-outside-toplevel
  from musicvae_jax.input_pipeline import prepare  # pylint: disable=import-outside-toplevel
  data = config.data
  return sorted(p for p in bundled_data.midi_dir(kind).glob('*.mid')
                if prepare.split_of(p.name, data.split_seed, data.eval_fraction) == 'eval')
