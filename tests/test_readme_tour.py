"""The README's five-minute tour, run command by command as a new user types it.

The commands are read from README.md (section "A five-minute tour"), in order, and run through
bash with the installed console scripts, in a scratch folder where ``data/`` is the repository's
bundled data (the tour runs from the top of the repository). One thing is changed: the training
run is cut to a few steps, so the test takes a minute instead of five. Each step's output is
checked, and so are the figures the README quotes for the attribute step.
"""

import json
import os
import pathlib
import re
import shutil
import subprocess
import warnings

import pytest

from conftest import REPO

with warnings.catch_warnings():
  warnings.simplefilter('ignore', RuntimeWarning)
  import note_seq

HEADING = '## A five-minute tour'
TEST_STEPS = 20


def tour() -> tuple[str, list[str]]:
  """(the section's text, its commands in order: one per line of its ```bash blocks)."""
  text = (REPO / 'README.md').read_text(encoding='utf-8')
  start = text.index('\n' + HEADING + '\n') + 1
  end = text.find('\n## ', start + len(HEADING))
  section = text[start:end if end != -1 else len(text)]
  blocks = re.findall(r'^```bash\n(.*?)^```', section, re.M | re.S)
  return section, [l.strip() for b in blocks for l in b.splitlines() if l.strip()]


def _flag(command: str, name: str) -> str:
  match = re.search(rf'--{name}=(\S+)', command)
  assert match, f'{command!r} has no --{name}'
  return match.group(1)


def _midis(folder: pathlib.Path, count: int, *, notes: bool = True) -> list:
  midis = sorted(folder.glob('*.mid'))
  assert len(midis) == count, midis
  out = []
  for midi in midis:
    assert midi.with_suffix('.png').read_bytes()[:4] == b'\x89PNG'
    ns = note_seq.midi_file_to_note_sequence(str(midi))
    assert ns.notes or not notes, f'{midi} has no notes'
    out.append(ns)
  return out


@pytest.fixture(scope='module')
def ran(tmp_path_factory):
  """Runs every tour command; {program: (command, completed process)}."""
  missing = [p for p in ('musicvae-sample', 'musicvae-train') if not shutil.which(p)]
  assert not missing, f'{missing} not on PATH: install the package first (pip install -e .)'
  cwd = tmp_path_factory.mktemp('tour')
  (cwd / 'data').symlink_to(REPO / 'data')
  env = {k: v for k, v in os.environ.items() if k != 'XLA_FLAGS'}  # a user's one CPU device
  env['JAX_PLATFORMS'] = 'cpu'
  results = {}
  for command in tour()[1]:
    if command.startswith('musicvae-train'):
      assert '--config.train.num_steps=' in command
      command = re.sub(r'--config\.train\.num_steps=\d+',
                       f'--config.train.num_steps={TEST_STEPS}', command)
    proc = subprocess.run(['bash', '-c', command], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900, check=False)
    assert proc.returncode == 0, (f'{command}\nexit {proc.returncode}\n{proc.stdout[-2000:]}\n'
                                  f'{proc.stderr[-3000:]}')
    assert 'Traceback' not in proc.stderr
    program = command.split()[0]
    if program in results:  # the second musicvae-sample samples the trained model
      program += ' --workdir'
    results[program] = (command, proc)
  return cwd, results


def test_the_tour_covers_the_first_hour():
  programs = [c.split()[0] for c in tour()[1]]
  assert programs == ['musicvae-sample', 'musicvae-interpolate', 'musicvae-attributes',
                      'musicvae-prepare', 'musicvae-train', 'musicvae-evaluate',
                      'musicvae-sample']


def test_sample_interpolate_and_steer_write_music(ran):
  cwd, results = ran
  for program in ('musicvae-sample', 'musicvae-interpolate', 'musicvae-attributes'):
    command, _ = results[program]
    count = (int(_flag(command, 'num_outputs')) if program != 'musicvae-attributes'
             else len(_flag(command, 'amounts').split(',')))
    _midis(cwd / _flag(command, 'output_dir'), count)


def test_steering_prints_what_the_readme_quotes(ran):
  _, results = ran
  command, proc = results['musicvae-attributes']
  printed = [float(v) for v in re.findall(r'x vector: ([0-9.]+)', proc.stdout)]
  assert len(printed) == len(_flag(command, 'amounts').split(','))
  assert printed == sorted(printed) and printed[-1] > printed[0] + 0.3  # denser with k
  quoted = re.search(r'\(here ([0-9.,\s]+) onsets', tour()[0])
  assert quoted, 'the tour quotes the measured note densities'
  want = [float(v) for v in quoted.group(1).split(',')]
  assert printed == pytest.approx(want, abs=0.03)


def test_prepare_train_evaluate_and_sample_your_own(ran):
  cwd, results = ran
  prepare_cmd, _ = results['musicvae-prepare']
  data = cwd / _flag(prepare_cmd, 'output')
  info = json.loads((data / 'dataset.json').read_text())
  assert info['splits']['train']['windows'] > 0 and info['splits']['eval']['windows'] > 0
  train_cmd, _ = results['musicvae-train']
  workdir = cwd / _flag(train_cmd, 'workdir')
  assert (workdir / 'checkpoints' / str(TEST_STEPS)).is_dir()
  _, evaluated = results['musicvae-evaluate']
  row = re.search(r'^eval\s+(\d+)\s+([0-9.]+)\s+([0-9.]+)', evaluated.stdout, re.M)
  assert row and int(row.group(1)) == info['splits']['eval']['windows'], evaluated.stdout
  assert 0.0 < float(row.group(2)) <= 1.0
  command, _ = results['musicvae-sample --workdir']
  assert _flag(command, 'workdir') == _flag(train_cmd, 'workdir')
  # A model trained for a few steps may well sample silence: valid MIDI is all it owes.
  _midis(cwd / _flag(command, 'output_dir'), int(_flag(command, 'num_outputs')), notes=False)
