"""musicvae-groove as a user runs it, on real MIDI files and Magenta's groove2 checkpoint."""

from __future__ import annotations

import subprocess

import pytest

from musicvae_jax.converters import midi_io
from musicvae_jax.generation import groove
from musicvae_jax.generation.trained_model import TrainedModel
from tests import cli_process
from tests.generation.test_groove_ops import DRUMS
from tests.generation.test_groove_ops import QUANTISED
from tests.generation.test_groove_ops import TEMPO_CHANGES
from tests.generation.test_groove_ops import grid_of
from tests.generation.test_groove_ops import workdirs  # noqa: F401  (a fixture)

PROG = 'musicvae-groove'
SHORT_QUANTISED = DRUMS / 'freedoom_d_dm03_drumtrack.mid'


def groove_cli(*args):
  return subprocess.run(cli_process.argv(PROG, *args), capture_output=True, text=True,
                        timeout=600)


def test_humanize_writes_the_input_and_each_output_with_piano_rolls(workdirs, tmp_path):
  out = tmp_path / 'out'
  workdir = workdirs['groovae_2bar_humanize']
  r = groove_cli('--mode=humanize', f'--input_midi={QUANTISED}', f'--workdir={workdir}',
                 f'--output_dir={out}', '--num_outputs=2', '--seed=3', '--nowav')
  assert r.returncode == 0, r.stderr
  mids = sorted(out.glob('*.mid'))
  assert len(mids) == 3 and sum(p.name.endswith('_input.mid') for p in mids) == 1
  assert all(p.with_suffix('.png').stat().st_size > 1000 for p in mids)
  model = TrainedModel.from_workdir(workdir)
  piece = groove.read_drums(model, QUANTISED)
  for p in mids:
    back = grid_of(model, midi_io.read_midi(p))
    assert (back[:, :9] == piece.hits[:len(back)]).all()


def test_tap2drum_from_tap_times(workdirs, tmp_path):
  out = tmp_path / 'taps'
  r = groove_cli('--mode=tap2drum', '--taps=0,0.5,0.75,1.0,1.5,2.25,2.5,3.0,3.5',
                 f'--workdir={workdirs["groovae_2bar_tap_fixed_velocity"]}',
                 f'--output_dir={out}', '--seed=1', '--nowav', '--qpm=100')
  assert r.returncode == 0, r.stderr
  result = [p for p in out.glob('*.mid') if not p.name.endswith('_input.mid')]
  assert len(result) == 1
  ns = midi_io.read_midi(result[0])
  assert ns.notes and all(n.is_drum for n in ns.notes)
  assert ns.tempos[0].qpm == pytest.approx(100)


@pytest.mark.parametrize('case', ['tempo', 'not_groove', 'wrong_config'])
def test_refusals_are_one_line_and_write_nothing(workdirs, tmp_path, case):
  out = tmp_path / 'never'
  args = dict(
      tempo=('--mode=humanize', f'--input_midi={TEMPO_CHANGES}',
             f'--workdir={workdirs["groovae_2bar_humanize"]}'),
      not_groove=('--mode=humanize', f'--input_midi={SHORT_QUANTISED}',
                  '--workdir=bundled:cat-mel_2bar_small'),
      wrong_config=('--mode=add_hihat', f'--input_midi={SHORT_QUANTISED}',
                    f'--workdir={workdirs["groovae_2bar_humanize"]}'))[case]
  r = groove_cli(*args, f'--output_dir={out}', '--seed=0')
  assert r.returncode == 2
  lines = r.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith(f'{PROG}: error: ')
  want = dict(tempo=f'{TEMPO_CHANGES}: has tempo changes',
              not_groove='bundled:cat-mel_2bar_small: cat-mel_2bar_small is not a GrooVAE '
                         'model; this command needs a GrooVAE model',
              wrong_config='add_hihat needs a groovae_2bar_add_closed_hh model')[case]
  assert want in lines[0]
  assert not out.exists() or not any(out.iterdir())
