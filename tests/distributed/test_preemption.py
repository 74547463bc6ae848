"""SIGTERM (a preemption notice) mid-run: the run saves, exits with status 75, and resumes.

The resumed run must end with exactly the parameters, optimizer state and data position of a
run that was never interrupted.
"""

import signal
import subprocess
import time

import pytest

from musicvae_jax.distributed import preemption
from musicvae_jax.training import metrics_io

from tests import cli_process
from tests import run_state

TINY = 'cat-mel_2bar_small:tiny'


def _train(data, workdir, num_steps, *extra):
  # Checkpoints only at the end (and on SIGTERM), so a saved step below num_steps can only
  # be the preemption save.
  return cli_process.argv(
      'musicvae-train', f'--config={TINY}', f'--data={data}', f'--workdir={workdir}',
      '--progress=false', f'--config.train.num_steps={num_steps}',
      '--config.train.checkpoint_every_steps=100000', '--config.train.eval_every_steps=100000',
      '--config.train.log_every_steps=5', *extra)


def _saved_steps(workdir):
  return sorted(int(p.name) for p in (workdir / 'checkpoints').iterdir() if p.name.isdigit())


def test_sigterm_saves_then_resume_matches_an_uninterrupted_run(melody_dataset, tmp_path):
  stopped = tmp_path / 'stopped'
  proc = subprocess.Popen(_train(melody_dataset, stopped, 100_000), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
  deadline = time.time() + 300
  metrics = stopped / metrics_io.METRICS_FILE
  while not (metrics.exists() and metrics.read_text().count('\n') >= 2):
    assert proc.poll() is None, proc.stderr.read()[-3000:]
    assert time.time() < deadline, 'no training step logged within 300 s'
    time.sleep(0.01)
  proc.send_signal(signal.SIGTERM)
  out, err = proc.communicate(timeout=300)
  assert proc.returncode == preemption.EXIT_PREEMPTED == 75, err[-3000:]
  assert 'Traceback' not in err
  saved = _saved_steps(stopped)
  assert len(saved) == 1 and 10 <= saved[0] < 100_000, saved
  at = saved[0]
  assert f'preempted: saved step {at} in {stopped}; run the same command to resume.' in out

  # The same command again (here with a run length just past the save) resumes and finishes.
  n = at + 7
  proc = subprocess.run(_train(melody_dataset, stopped, n), capture_output=True, text=True,
                        timeout=600, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert f'resuming {stopped} from step {at}' in proc.stdout
  straight = tmp_path / 'straight'
  proc = subprocess.run(_train(melody_dataset, straight, n), capture_output=True, text=True,
                        timeout=600, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]

  run_state.assert_same_final_state(straight, stopped, n)


def test_the_guard_reports_a_signal_and_restores_the_previous_handler():
  before = signal.getsignal(signal.SIGTERM)
  with preemption.PreemptionGuard() as guard:
    assert not guard.reached(1)
    signal.raise_signal(signal.SIGTERM)
    assert guard.reached(2)
  assert signal.getsignal(signal.SIGTERM) is before


def test_ctrl_c_asks_to_save_once_and_a_second_one_aborts():
  before = signal.getsignal(signal.SIGINT)
  with preemption.PreemptionGuard() as guard:
    assert not guard.reached(1) and not guard.interrupted
    signal.raise_signal(signal.SIGINT)
    assert guard.reached(2) and guard.interrupted
    with pytest.raises(KeyboardInterrupt):
      signal.raise_signal(signal.SIGINT)
  assert signal.getsignal(signal.SIGINT) is before
