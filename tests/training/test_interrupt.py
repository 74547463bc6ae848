"""Runs that are never lost: Ctrl-C saves, a clock saves, and a workdir alone extends a run.

Every run is ``musicvae-train`` in a fresh interpreter on the prepared Nottingham reels, and
every run that finishes is compared bit for bit with one uninterrupted run of the same length.
"""

import json
import signal
import subprocess
import time

import pytest

from musicvae_jax.distributed import preemption
from musicvae_jax.training import metrics_io

from tests import cli_process
from tests import run_state

TINY = 'cat-mel_2bar_small:tiny'
N = 6


def _train(*args, **kwargs):
  return subprocess.run(cli_process.argv('musicvae-train', '--progress=false', *args),
                        capture_output=True, text=True, timeout=600, check=False, **kwargs)


def _ok(proc):
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc


def _saved_steps(workdir):
  return sorted(int(p.name) for p in (workdir / 'checkpoints').iterdir() if p.name.isdigit())


@pytest.fixture(scope='module')
def straight(melody_dataset, tmp_path_factory):
  """An uninterrupted run of N steps (the tiny config checkpoints only at the end)."""
  workdir = tmp_path_factory.mktemp('straight') / 'run'
  _ok(_train(f'--config={TINY}', f'--data={melody_dataset}', f'--workdir={workdir}',
             f'--config.train.num_steps={N}'))
  assert _saved_steps(workdir) == [N]
  return workdir


def test_ctrl_c_saves_at_the_step_says_so_in_one_line_and_the_run_resumes(melody_dataset,
                                                                          tmp_path):
  workdir = tmp_path / 'run'
  # A user's terminal: SIGINT at its default (a test runner started in the background may
  # pass it on ignored).
  proc = subprocess.Popen(
      cli_process.argv('musicvae-train', f'--config={TINY}', f'--data={melody_dataset}',
                       f'--workdir={workdir}', '--progress=false',
                       '--config.train.num_steps=100000',
                       '--config.train.checkpoint_every_steps=100000',
                       '--config.train.eval_every_steps=100000',
                       '--config.train.log_every_steps=5'),
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
      preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
  metrics = workdir / metrics_io.METRICS_FILE
  deadline = time.time() + 300
  while not (metrics.exists() and metrics.read_text().count('\n') >= 2):
    assert proc.poll() is None, proc.stderr.read()[-3000:]
    assert time.time() < deadline, 'no training step logged within 300 s'
    time.sleep(0.01)
  proc.send_signal(signal.SIGINT)
  _, err = proc.communicate(timeout=300)
  assert proc.returncode == preemption.EXIT_INTERRUPTED == 130, err[-3000:]
  saved = _saved_steps(workdir)
  # Nothing else saves below 100000 steps: the one checkpoint is the interrupted step's.
  assert len(saved) == 1 and 10 <= saved[0] < 100_000, saved
  at = saved[0]
  lines = [line for line in err.splitlines() if line.strip()]
  assert lines == [f'musicvae-train: interrupted at step {at}; saved in {workdir}; run the '
                   'same command to resume.'], err[-3000:]

  # Re-run (the workdir alone, a little further): it resumes from the interrupted step.
  proc = _ok(_train(f'--workdir={workdir}', f'--config.train.num_steps={at + 2}'))
  assert f'resuming {workdir} from step {at}' in proc.stdout
  assert _saved_steps(workdir) == [at, at + 2]


def test_a_time_interval_saves_between_step_intervals_and_changes_no_result(
    melody_dataset, straight, tmp_path):
  workdir = tmp_path / 'run'
  _ok(_train(f'--config={TINY}', f'--data={melody_dataset}', f'--workdir={workdir}',
             f'--config.train.num_steps={N}', '--config.train.checkpoint_every_secs=1e-9'))
  # Due after every step; the step interval (10) never is. Three checkpoints are kept.
  assert _saved_steps(workdir) == [N - 2, N - 1, N]
  run_state.assert_same_final_state(straight, workdir, N)


def test_a_finished_run_extends_from_its_workdir_alone(melody_dataset, straight, tmp_path):
  workdir = tmp_path / 'run'
  # An override of the first run's own (one that changes no parameter): the extension keeps it.
  _ok(_train(f'--config={TINY}', f'--data={melody_dataset}', f'--workdir={workdir}',
             '--config.train.num_steps=3', '--config.train.log_every_steps=2'))
  done = _ok(_train(f'--workdir={workdir}'))
  assert (f'{workdir} is already at step 3 (train.num_steps=3); nothing to do. To train '
          f'longer: musicvae-train --workdir={workdir} --config.train.num_steps=<more than 3>'
          in done.stdout)
  # The command the message gives: no --config, no --data.
  proc = _ok(_train(f'--workdir={workdir}', f'--config.train.num_steps={N}'))
  assert f'resuming {workdir} from step 3' in proc.stdout
  config = json.loads((workdir / 'config.json').read_text())
  assert config['train']['num_steps'] == N and config['train']['log_every_steps'] == 2
  train_rows = [r for r in metrics_io.read_metrics(workdir) if r['split'] == 'train']
  assert [r['step'] for r in train_rows] == [2, 3, 4, 6]
  run_state.assert_same_final_state(straight, workdir, N)
