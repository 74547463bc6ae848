"""Test set-up: 8 fake CPU devices (so sharded code really runs) and the shared real MIDI."""

import os

os.environ.setdefault('XLA_FLAGS', '--xla_force_host_platform_device_count=8')
os.environ.setdefault('JAX_PLATFORMS', 'cpu')
# One persistent XLA cache for the whole run, shared by both xdist workers and by every command
# a test starts as a subprocess: the same tiny model compiled in forty tests is compiled once.
# (Keys hash the program, flags and devices, so a stale entry is never used for new code.)
if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
  import tempfile  # noqa: E402  pylint: disable=g-import-not-at-top
  os.environ['JAX_COMPILATION_CACHE_DIR'] = os.path.join(
      tempfile.gettempdir(), f'musicvae-tests-xla-cache-{os.getuid()}')
  os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0')
  os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES', '0')

import pathlib  # noqa: E402

import pytest  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get('MUSICVAE_SHARED', REPO.parent / 'shared'))
SHARED_MIDI = SHARED / 'data' / 'midi'
MAGENTA_WINDOWS = SHARED / 'reference' / 'magenta_windows'
MAGENTA_CHECKPOINTS = SHARED / 'reference' / 'magenta_checkpoints'
CHECKPOINT_FILES = ('checkpoint', 'model.ckpt-3.index', 'model.ckpt-3.data-00000-of-00001',
                    'reference.json', 'reference.npz')


def pytest_configure(config):
  config.addinivalue_line('markers', 'slow: runs over a whole folder of the shared MIDI set')


@pytest.fixture(scope='session')
def shared_midi() -> pathlib.Path:
  if not SHARED_MIDI.is_dir():
    pytest.fail(f'The shared MIDI set is missing at {SHARED_MIDI}; set MUSICVAE_SHARED to the '
                'folder that holds data/midi and reference/.')
  return SHARED_MIDI


def require_shared(*paths: pathlib.Path) -> None:
  """Fails the calling test if a fixture under SHARED is missing; skips it only without SHARED.

  Where the shared folder is there, the Magenta comparisons must run: a lost or misnamed
  fixture is an error to see, not a skip to overlook. A bare clone (no shared folder) skips.
  """
  missing = [str(p) for p in paths if not p.exists()]
  if not missing:
    return
  if SHARED.is_dir():
    pytest.fail(f'missing fixture(s), though {SHARED} exists: ' + ', '.join(missing),
                pytrace=False)
  pytest.skip(f'no shared folder at {SHARED} (needs {missing[0]})')


def magenta_checkpoint(name: str) -> pathlib.Path:
  """The folder of one Magenta checkpoint fixture, its files checked by ``require_shared``."""
  folder = MAGENTA_CHECKPOINTS / name
  require_shared(*(folder / f for f in CHECKPOINT_FILES))
  return folder


def magenta_tar(name: str, path: pathlib.Path) -> pathlib.Path:
  """A Magenta-style ``.tar`` at ``path`` of one checkpoint fixture (its TF files under name/)."""
  import tarfile  # pylint: disable=g-import-not-at-top
  folder = magenta_checkpoint(name)
  with tarfile.open(path, 'w') as tar:
    for f in CHECKPOINT_FILES[:3]:  # checkpoint, index, data: what Magenta's .tar holds
      tar.add(folder / f, arcname=f'{name}/{f}')
  return path


@pytest.fixture(scope='session')
def magenta_windows_dir() -> pathlib.Path:
  require_shared(MAGENTA_WINDOWS)
  return MAGENTA_WINDOWS


@pytest.fixture(scope='session')
def melody_dataset(tmp_path_factory, shared_midi) -> pathlib.Path:
  """cat-mel_2bar_small shards of 40 real Nottingham reels (eval fraction 0.25)."""
  import shutil  # pylint: disable=import-outside-toplevel

  from musicvae_jax import config_boundary  # pylint: disable=import-outside-toplevel
  from musicvae_jax import config_lib  # pylint: disable=import-outside-toplevel
  from musicvae_jax.input_pipeline.prepare import prepare  # pylint: disable=import-outside-toplevel
  src = tmp_path_factory.mktemp('reels')
  for p in sorted(shared_midi.joinpath('melody').glob('nottingham_reels*.mid'))[:40]:
    shutil.copy(p, src / p.name)
  config = config_lib.get_config('cat-mel_2bar_small')
  config.data.eval_fraction = 0.25
  out = tmp_path_factory.mktemp('prepared') / 'reels'
  prepare(config_boundary.run_spec(config), src, out, workers=1, progress=False)
  return out


def held_out_midi(run, kind: str) -> list[pathlib.Path]:
  """The bundled MIDI files of ``kind`` that prepare puts in the eval split under ``run``.

  What a model trained on the bundled data never saw: its tests measure it on these.
  """
  from musicvae_jax import bundled_data  # pylint: disable=import-outside-toplevel
  from musicvae_jax.input_pipeline import prepare  # pylint: disable=import-outside-toplevel
  data = run.data
  return sorted(p for p in bundled_data.midi_dir(kind).glob('*.mid')
                if prepare.split_of(p.name, data.split_seed, data.eval_fraction) == 'eval')
