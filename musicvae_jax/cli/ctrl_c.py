"""Ctrl-C that is never lost.

Python raises ``KeyboardInterrupt`` at whatever bytecode the main thread is running when SIGINT
arrives. When that happens inside a garbage-collector callback (JAX registers one that runs on
every collection), the interpreter reports "Exception ignored in ..." and carries on: the
command never stops. ``keep()`` installs an unraisable-exception hook that, for a swallowed
``KeyboardInterrupt``, delivers the interrupt to the main thread again a moment later, from
another thread (delivered from the hook itself it would be raised inside the hook and swallowed
once more); should it land in a callback again, the hook sends it again.

A library can also turn the interrupt into an error of its own: matplotlib's drawing code,
interrupted while it converts a transform, raises ``ValueError: Invalid affine transformation
matrix``. ``keep()`` therefore also notes every SIGINT (``received()``), so the command can
tell such an error from a bug and still stop as interrupted.
"""

from __future__ import annotations

import _thread
import signal
import sys
import threading
from typing import NoReturn

RESEND_AFTER_S = 0.02
_RECEIVED = threading.Event()


def _on_sigint(signum, frame):
  _RECEIVED.set()
  signal.default_int_handler(signum, frame)


def stop(prog: str) -> NoReturn:
  """``<prog>: interrupted`` and the shell's status for a command stopped by SIGINT."""
  print(f'{prog}: interrupted', file=sys.stderr)
  sys.exit(130)


def received() -> bool:
  """Whether a Ctrl-C reached this process since ``keep()``."""
  return _RECEIVED.is_set()


def _hook(previous):
  def hook(unraisable):
    if isinstance(unraisable.exc_value, KeyboardInterrupt) or (
        unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt)):
      resend = threading.Timer(RESEND_AFTER_S, _thread.interrupt_main)
      resend.daemon = True
      resend.start()
      return
    previous(unraisable)
  hook.keeps_ctrl_c = True
  return hook


def keep() -> None:
  """Makes a Ctrl-C swallowed by a callback reach the main thread anyway (idempotent).

  In the main thread it also notes each Ctrl-C for ``received()``, where SIGINT still has
  Python's own handler (not under ``nohup``, nor where a caller installed its own).
  """
  _RECEIVED.clear()
  if (threading.current_thread() is threading.main_thread()
      and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
    signal.signal(signal.SIGINT, _on_sigint)
  if not getattr(sys.unraisablehook, 'keeps_ctrl_c', False):
    sys.unraisablehook = _hook(sys.unraisablehook)
