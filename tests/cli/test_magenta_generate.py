"""musicvae-generate: Magenta's music_vae_generate flags on a Magenta checkpoint, as typed.

The checkpoint is a .tar of the real (small) Magenta cat-mel_2bar_small fixture in
shared/reference/magenta_checkpoints/mel2; the interpolation inputs are real Nottingham tunes.
Each command runs in a fresh interpreter with its own per-user cache ($XDG_CACHE_HOME), and the
runs several tests read are made once in module fixtures.
"""

import os
import pathlib
import re
import subprocess
import warnings

import jax
import pytest

from conftest import REPO
from conftest import magenta_tar
from musicvae_jax.generation.trained_model import TrainedModel
from musicvae_jax.magenta import importer
from tests import cli_process

with warnings.catch_warnings():  # note_seq's pydub warns that there is no ffmpeg
  warnings.simplefilter('ignore', RuntimeWarning)
  import note_seq

PROG = 'musicvae-generate'
CONFIG = 'cat-mel_2bar_small'
TUNE_A = 'nottingham_hpps11.mid'
TUNE_B = 'nottingham_morris19.mid'


class Cli:
  """Runs musicvae-generate in a fresh interpreter with a private cache folder."""

  def __init__(self, root: pathlib.Path):
    self.cache = root / 'cache'
    self.env = dict(os.environ, XDG_CACHE_HOME=str(self.cache),
                    JAX_COMPILATION_CACHE_DIR=str(root / 'xla_cache'),
                    JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS='0',
                    JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES='0')

  @property
  def imported(self) -> list[pathlib.Path]:
    return sorted((self.cache / 'musicvae_jax' / 'magenta' / 'imported').glob('*'))

  def __call__(self, *args, expect=0) -> subprocess.CompletedProcess:
    proc = subprocess.run(cli_process.argv(PROG, *args), capture_output=True, text=True,
                          cwd=REPO, env=self.env, timeout=600, check=False)
    assert proc.returncode == expect, (
        f'{PROG} {" ".join(map(str, args))}: exit {proc.returncode}\n{proc.stderr[-3000:]}')
    return proc


def _error(proc) -> str:
  lines = [l for l in proc.stderr.splitlines() if l.strip()]
  assert len(lines) == 1 and lines[0].startswith(f'{PROG}: error: '), proc.stderr
  return lines[0]


def _notes(midi) -> list[tuple[int, float, float]]:
  ns = midi if not isinstance(midi, pathlib.Path) else note_seq.midi_file_to_note_sequence(
      str(midi))
  return sorted((n.pitch, round(n.start_time, 4), round(n.end_time, 4)) for n in ns.notes)


def _names(folder, mode, n):
  pattern = re.compile(rf'{CONFIG}_{mode}_\d{{4}}-\d\d-\d\d_\d{{6}}-(\d{{3}})-of-{n:03d}\.mid')
  names = sorted(p.name for p in pathlib.Path(folder).glob('*.mid'))
  assert [int(pattern.fullmatch(m).group(1)) for m in names] == list(range(1, n + 1)), names
  return sorted(pathlib.Path(folder).glob('*.mid'))


@pytest.fixture(scope='module')
def cli(tmp_path_factory) -> Cli:
  return Cli(tmp_path_factory.mktemp('generate'))


@pytest.fixture(scope='module')
def tar_file(tmp_path_factory):
  return magenta_tar('mel2', tmp_path_factory.mktemp('tar') / 'cat-mel_2bar_small.tar')


@pytest.fixture(scope='module')
def two_samples(cli, tar_file, tmp_path_factory):
  """The same sample command twice; between them, the cached import's record and its mtime."""
  out = tmp_path_factory.mktemp('samples')
  args = (f'--config={CONFIG}', f'--checkpoint_file={tar_file}', '--mode=sample',
          '--num_outputs=2', '--seed=7', '--nowav')
  first = cli(*args, f'--output_dir={out / "first"}')
  imported = cli.imported
  record = imported[0] / importer.RECORD_FILE if imported else None
  mtime = record.stat().st_mtime_ns if record else None
  second = cli(*args, f'--output_dir={out / "second"}')
  return out, first, second, imported, mtime


def test_sample_writes_magenta_named_midi_files(two_samples):
  out, first, _, _, _ = two_samples
  midis = _names(out / 'first', 'sample', 2)
  for midi in midis:
    ns = note_seq.midi_file_to_note_sequence(str(midi))
    assert ns.total_time <= 4.0 + 1e-6  # one 2-bar window at 120 qpm
  assert str(midis[0]) in first.stdout


def test_second_run_reuses_the_cached_import(cli, two_samples):
  out, first, second, imported, mtime = two_samples
  assert len(imported) == 1 and cli.imported == imported  # one import, no staging folder left
  assert 'importing it as cat-mel_2bar_small' in first.stderr
  assert 'importing' not in second.stderr and f'cached in {imported[0]}' in second.stderr
  assert (imported[0] / importer.RECORD_FILE).stat().st_mtime_ns == mtime
  # The same seed on the same (cached) model gives the same music.
  assert ([_notes(m) for m in _names(out / 'first', 'sample', 2)]
          == [_notes(m) for m in _names(out / 'second', 'sample', 2)])


def test_a_workdir_as_checkpoint_file_needs_no_config(cli, two_samples, tmp_path):
  out, _, _, imported, _ = two_samples
  cli(f'--checkpoint_file={imported[0]}', '--num_outputs=2', '--seed=7', '--nowav',
      f'--output_dir={tmp_path}')
  assert ([_notes(m) for m in _names(tmp_path, 'sample', 2)]
          == [_notes(m) for m in _names(out / 'first', 'sample', 2)])
  proc = cli(f'--checkpoint_file={imported[0]}', '--config=cat-drums_2bar_small',
             f'--output_dir={tmp_path}', expect=2)
  assert 'holds a cat-mel_2bar_small model' in _error(proc)


def test_interpolate_morphs_two_real_tunes(cli, two_samples, tar_file, shared_midi, tmp_path):
  _, _, _, imported, _ = two_samples
  a, b = (shared_midi / 'melody' / t for t in (TUNE_A, TUNE_B))
  cli(f'--config={CONFIG}', f'--checkpoint_file={tar_file}', '--mode=interpolate',
      f'--input_midi_1={a}', f'--input_midi_2={b}', '--num_outputs=3', '--temperature=0',
      '--nowav', f'--output_dir={tmp_path}')
  written = [_notes(m) for m in _names(tmp_path, 'interpolate', 3)]
  # The same greedy interpolation through the library, on the import the command cached.
  model = TrainedModel.from_workdir(imported[0])
  first = model.read_windows(a)
  want = model.interpolate_windows(first.labels, model.read_windows(b).labels, 3,
                                   key=jax.random.key(0), temperature=0, qpm=first.qpm)
  (tmp_path / 'want').mkdir()
  for i, ns in enumerate(want):  # through a MIDI file too, so both are rounded alike
    note_seq.sequence_proto_to_midi_file(ns, str(tmp_path / 'want' / f'{i}.mid'))
  assert written == [_notes(tmp_path / 'want' / f'{i}.mid') for i in range(3)]
  assert written[0] != written[-1] and all(written)


def test_a_magenta_config_not_here_yet_is_named_as_such(cli, tar_file):
  proc = cli('--config=hier-mel_16bar', f'--checkpoint_file={tar_file}', expect=2)
  line = _error(proc)
  assert 'hier-mel_16bar is a Magenta config not in musicvae_jax yet' in line
  assert 'Did you mean' not in line


@pytest.mark.parametrize('args,message', [
    ((), 'give the model: --checkpoint_file='),
    (('--checkpoint_file={tar}',), 'is a Magenta checkpoint: pass --config='),
    (('--config=cat-mel_2bar_small', '--checkpoint_file={tar}', '--mode=interpolate'),
     '--mode=interpolate needs --input_midi_1 and --input_midi_2'),
])
def test_missing_pieces_are_one_line_errors(cli, tar_file, tmp_path, args, message):
  proc = cli(*(a.format(tar=tar_file) for a in args), f'--output_dir={tmp_path}', expect=2)
  assert message in _error(proc)


def test_the_cache_names_the_files_the_importer_writes():
  """cached_import spells these out so that a refused command line never waits for jax."""
  from musicvae_jax import checkpointing  # pylint: disable=import-outside-toplevel
  from musicvae_jax.magenta import cached_import  # pylint: disable=import-outside-toplevel
  assert cached_import.CONFIG_FILE == checkpointing.CONFIG_FILE
  assert cached_import.RECORD_FILE == importer.RECORD_FILE
