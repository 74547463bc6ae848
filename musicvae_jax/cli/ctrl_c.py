"""Ctrl-C that is never lost.

Python raises ``KeyboardInterrupt`` at whatever bytecode the main thread is running when SIGINT
arrives. When that happens inside a garbage-collector callback (JAX registers one that runs on
every collection), the interpreter reports "Exception ignored in ..." and carries on: the
command never stops. ``keep()`` installs an unraisable-exception hook that, for a swallowed
``KeyboardInterrupt``, delivers the interrupt to the main thread again a moment later, from
another thread (delivered from the hook itself it would be raised inside the hook and swallowed
once more); should it land in a callback again, the hook sends it again.
"""

from __future__ import annotations

import _thread
import sys
import threading

RESEND_AFTER_S = 0.02


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
  """Makes a Ctrl-C swallowed by a callback reach the main thread anyway (idempotent)."""
  if not getattr(sys.unraisablehook, 'keeps_ctrl_c', False):
    sys.unraisablehook = _hook(sys.unraisablehook)
