"""A Ctrl-C that lands inside a garbage-collector callback still stops the command."""

import gc
import sys
import time

import pytest

from musicvae_jax.cli import ctrl_c


def _interrupt_inside_a_gc_callback():
  def callback(phase, info):
    del info
    if phase == 'start':
      raise KeyboardInterrupt  # what SIGINT does when it arrives during JAX's gc callback
  gc.callbacks.append(callback)
  try:
    gc.collect()  # the interpreter prints "Exception ignored in ..." and goes on
  finally:
    gc.callbacks.remove(callback)


def _spin(seconds=2.0):
  end = time.monotonic() + seconds
  turns = 0
  while time.monotonic() < end:  # the main thread checks for pending interrupts on loops
    turns += 1
  return turns


def test_a_keyboard_interrupt_swallowed_by_a_gc_callback_is_raised_again(monkeypatch):
  monkeypatch.setattr(sys, 'unraisablehook', lambda unraisable: None)
  _interrupt_inside_a_gc_callback()
  assert _spin(0.3) > 0  # the control: without the hook the interrupt is simply lost

  ctrl_c.keep()
  ctrl_c.keep()  # idempotent: one wrapper, not two
  assert sys.unraisablehook.keeps_ctrl_c
  with pytest.raises(KeyboardInterrupt):
    _interrupt_inside_a_gc_callback()
    _spin()


def test_other_unraisable_errors_still_reach_the_previous_hook(monkeypatch):
  seen = []
  monkeypatch.setattr(sys, 'unraisablehook', seen.append)
  ctrl_c.keep()
  def callback(phase, info):
    del info
    if phase == 'start':
      raise ValueError('not an interrupt')
  gc.callbacks.append(callback)
  try:
    gc.collect()
  finally:
    gc.callbacks.remove(callback)
  assert [type(u.exc_value) for u in seen] == [ValueError]


_COMMAND = '''
import os, signal, sys, time, types
from musicvae_jax.cli import entry

def main(argv):
  del argv
  print('ready', flush=True)
  try:
    time.sleep(60)
  except KeyboardInterrupt:
    # What matplotlib's drawing code does when the interrupt lands inside it.
    raise ValueError('Invalid affine transformation matrix') from None

def bug(argv):
  del argv
  raise ValueError('a real bug')

sys.argv = ['musicvae-demo']
entry.run({'interrupt': main, 'bug': bug}[os.environ['WHICH']],
          types.ModuleType('demo', 'Demo command.'), 'musicvae-demo')
'''


def _run(which, interrupt):
  import os  # pylint: disable=g-import-not-at-top
  import signal  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  proc = subprocess.Popen([sys.executable, '-c', _COMMAND], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env={**os.environ, 'WHICH': which})
  if interrupt:
    assert proc.stdout.readline().strip() == 'ready'
    proc.send_signal(signal.SIGINT)
  stdout, stderr = proc.communicate(timeout=120)
  del stdout
  return proc.returncode, stderr


def test_a_ctrl_c_a_library_turned_into_its_own_error_still_stops_as_interrupted():
  code, stderr = _run('interrupt', interrupt=True)
  assert code == 130, stderr
  assert stderr.strip() == 'musicvae-demo: interrupted'
  # The control: the same error without a Ctrl-C is a bug and keeps its traceback.
  code, stderr = _run('bug', interrupt=False)
  assert code == 1
  assert 'Traceback' in stderr and 'ValueError: a real bug' in stderr
