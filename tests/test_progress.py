"""Progress bars: one at a time and no redraw codes outside a terminal, off by MUSICVAE_PROGRESS=0.

The end-to-end case runs a tiny musicvae-train that evaluates twice with its stderr piped (as a
log file or CI sees it); the rest drive ``progress.bar`` into a pipe-like stream and into a real
pseudo-terminal.
"""

import io
import os
import fcntl
import select
import struct
import subprocess
import termios
import time

import pytest

from tests.cli_process import argv
from musicvae_jax import progress


@pytest.fixture(scope='module')
def piped_train(melody_dataset, tmp_path_factory):
  workdir = tmp_path_factory.mktemp('progress') / 'run'
  env = {k: v for k, v in os.environ.items() if k != progress.ENV}
  t0 = time.perf_counter()
  proc = subprocess.run(argv('musicvae-train', '--config=cat-mel_2bar_small:tiny',
                             f'--data={melody_dataset}', f'--workdir={workdir}',
                             '--config.train.num_steps=10', '--config.train.eval_every_steps=5'),
                        capture_output=True, text=True, env=env, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc, time.perf_counter() - t0


def test_training_outside_a_terminal_prints_a_few_plain_lines(piped_train):
  proc, seconds = piped_train
  err = proc.stderr
  assert '\r' not in err and '\x1b[' not in err, repr(err[-500:])
  bar_lines = [l for l in err.splitlines() if ' step [' in l]
  # The training bar was shown: its first line, its last, and at most one per interval between.
  assert bar_lines[0].startswith('cat-mel_2bar_small:tiny: 0/10 step')
  assert bar_lines[-1].startswith('cat-mel_2bar_small:tiny: 10/10 step')
  assert len(bar_lines) <= 2 + seconds / progress.QUIET_INTERVAL + 1, bar_lines
  # The evaluations inside it (eval and train splits, at steps 5 and 10) show no bar of their own.
  assert not [l for l in err.splitlines() if l.startswith('evaluate')], err


def test_a_lone_bar_in_a_pipe_prints_its_start_and_end_only():
  out = io.StringIO()
  with progress.bar(total=500, desc='prepare', unit='file', file=out) as bar:
    for _ in range(500):
      bar.update(1)
      bar.set_postfix_str('windows=3')
  lines = out.getvalue().splitlines()
  assert len(lines) == 2, lines
  assert lines[0].startswith('prepare: 0/500 file') and lines[1].startswith('prepare: 500/500 file')
  assert 'windows=3' in lines[1] and '\r' not in out.getvalue()


def test_a_nested_bar_in_a_pipe_is_hidden_and_the_outer_one_still_shows():
  out = io.StringIO()
  with progress.bar(total=2, desc='train', unit='step', file=out) as outer:
    inner = progress.bar(total=3, desc='evaluate eval', file=out, leave=False)
    assert inner.disable
    for _ in range(3):
      inner.update(1)
    inner.close()
    outer.update(2)
  assert 'evaluate' not in out.getvalue()
  assert out.getvalue().splitlines()[-1].startswith('train: 2/2 step')
  # With the outer bar closed, the next bar is shown again.
  assert not progress.bar(total=1, desc='evaluate eval', file=io.StringIO()).disable


def test_in_a_terminal_bars_redraw_and_nest():
  leader, follower = os.openpty()
  # 24 rows of 100 columns: a fresh pseudo-terminal has none, and a bar fits its width.
  fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack('HHHH', 24, 100, 0, 0))
  with os.fdopen(follower, 'w') as tty:
    assert tty.isatty()
    outer = progress.bar(total=2, desc='train', unit='step', file=tty)
    inner = progress.bar(total=3, desc='evaluate eval', file=tty, leave=False)
    assert not outer.disable and not inner.disable
    inner.update(3)
    inner.close()
    outer.update(2)
    outer.close()
  shown = b''
  try:
    while select.select([leader], [], [], 0.5)[0]:
      shown += os.read(leader, 65536)
  except OSError:  # Linux: EIO once the terminal's other end is closed and read out
    pass
  os.close(leader)
  shown = shown.decode()
  # Both shown; the inner one on the line below, reached by moving the cursor up and down.
  assert 'evaluate eval:   0%' in shown and 'train: 100%' in shown, repr(shown)
  assert '\x1b[A' in shown, repr(shown)


@pytest.mark.parametrize('value, shown', [('0', False), ('false', False), ('1', True)])
def test_the_environment_turns_every_bar_off(monkeypatch, value, shown):
  monkeypatch.setenv(progress.ENV, value)
  out = io.StringIO()
  with progress.bar(total=2, desc='encode', file=out) as bar:
    bar.update(2)
  assert bool(out.getvalue()) == shown
