"""Two processes on this machine form one JAX job (jax.distributed, localhost coordinator).

Each process has 2 CPU devices; the mesh spans all 4, with the state split across both
processes (FSDP), so batches, gradients and checkpoints really cross process boundaries.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from musicvae_jax.distributed import preemption
from musicvae_jax.training import metrics_io

from tests import cli_process

TINY = 'cat-mel_2bar_small:tiny'
WORKER = os.path.join(os.path.dirname(__file__), 'process_worker.py')
ENV = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=2',
           JAX_PLATFORMS='cpu')


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _start(cmds):
  return [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=ENV) for c in cmds]


def _finish(procs, timeout=300):
  try:
    return [p.communicate(timeout=timeout) for p in procs]
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()


def test_two_processes_train_together_stop_together_and_resume_exactly(melody_dataset, tmp_path):
  workdir = tmp_path / 'run'
  port = _free_port()
  train = [cli_process.argv(
      'musicvae-train', '--multihost', f'--coordinator_address=127.0.0.1:{port}',
      '--num_processes=2', f'--process_id={i}', f'--config={TINY}', f'--data={melody_dataset}',
      f'--workdir={workdir}', '--progress=false', '--config.train.fsdp=True',
      '--config.train.num_steps=100000', '--config.train.checkpoint_every_steps=100000',
      '--config.train.eval_every_steps=100000', '--config.train.log_every_steps=5')
           for i in range(2)]
  procs = _start(train)
  try:
    metrics = workdir / metrics_io.METRICS_FILE
    deadline = time.time() + 300
    while not (metrics.exists() and metrics.read_text().count('\n') >= 2):
      assert all(p.poll() is None for p in procs), [p.stderr.read()[-2000:] for p in procs]
      assert time.time() < deadline, 'no step logged within 300 s'
      time.sleep(0.02)
    # The notice reaches one host only; both must save the same step and stop.
    procs[1].send_signal(signal.SIGTERM)
    outs = _finish(procs)
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
  codes = [p.returncode for p in procs]
  assert codes == [preemption.EXIT_PREEMPTED] * 2, [e[-2000:] for _, e in outs]
  saved = sorted(int(p.name) for p in (workdir / 'checkpoints').iterdir() if p.name.isdigit())
  assert len(saved) == 1 and saved[0] >= 10, saved
  at = saved[0]
  lead_out, other_out = outs[0][0], outs[1][0]
  assert '2 processes, 4 devices (cpu), mesh data=1 fsdp=4' in lead_out
  assert f'preempted: saved step {at}' in lead_out
  # Only process 0 talks (the CPU collectives library prints its own connection lines, e.g.
  # "[Gloo] Rank 1 is connected to 1 peer ranks. Expected number of connected peer ranks is :
  # 3", which its unbuffered writes sometimes break in two).
  gloo = lambda l: l.startswith('[Gloo]') or 'peer ranks' in l
  assert [l for l in other_out.splitlines() if l.strip() and not gloo(l)] == []

  # Both processes resume from the saved step, finish, and hold identical parameters, the
  # same as two processes that ran from step 0 to the end without a stop.
  n = at + 6
  straight = tmp_path / 'straight'
  straight.mkdir()
  shutil.copy(workdir / 'config.json', straight / 'config.json')
  for name, run in (('resumed', workdir), ('straight', straight)):
    port = _free_port()
    procs = _start([[sys.executable, WORKER, f'127.0.0.1:{port}', '2', str(i),
                     str(melody_dataset), str(run), str(n), str(tmp_path / f'{name}{i}.npz')]
                    for i in range(2)])
    outs = _finish(procs)
    assert [p.returncode for p in procs] == [0, 0], [e[-3000:] for _, e in outs]
    if name == 'resumed':
      assert f'resuming {workdir} from step {at}' in outs[0][0]
  loaded = [np.load(tmp_path / f) for f in ('resumed0.npz', 'resumed1.npz', 'straight0.npz')]
  assert all(sorted(x.files) == sorted(loaded[0].files) for x in loaded)
  assert len(loaded[0].files) > 10
  for k in loaded[0].files:
    for other in loaded[1:]:
      np.testing.assert_array_equal(loaded[0][k], other[k], err_msg=k)
  rows = [r['step'] for r in metrics_io.read_metrics(workdir) if r['split'] == 'train']
  assert len(rows) == len(set(rows)) and rows[-1] == n  # one writer, no duplicate rows


@pytest.mark.parametrize('args, message', [
    (('--process_id=0',), 'need --multihost'),
    (('--multihost', '--num_processes=2'), 'give all three of --coordinator_address'),
    (('--multihost', '--coordinator_address=127.0.0.1:1', '--num_processes=2',
      '--process_id=2'), '--process_id=2 is not in [0, --num_processes=2)'),
])
def test_multihost_flag_mistakes_get_one_line(tmp_path, args, message):
  proc = subprocess.run(cli_process.argv('musicvae-train', f'--config={TINY}', '--data=x',
                                         f'--workdir={tmp_path}', *args),
                        capture_output=True, text=True, timeout=120, check=False)
  assert proc.returncode == 2
  assert message in proc.stderr and 'Traceback' not in proc.stderr
