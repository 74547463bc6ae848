"""When a run saves between its step intervals: a preemption notice, Ctrl-C, and the clock.

One process: SIGTERM and SIGINT handlers set flags that the training loop reads after each step.
Several processes: the notice may reach only some hosts, and every host must save at the same
step. JAX's preemption sync service (started by ``jax.distributed.initialize``, listening for
SIGTERM itself) agrees on that step in the background, so asking costs no collective per step;
a Ctrl-C is passed on to it as a SIGTERM to this process. A second Ctrl-C aborts at once.

``SaveClock`` makes a checkpoint due every ``every_secs`` seconds (Magenta saves every 60 s).
Processes' clocks differ, so with several processes process 0's clock decides, broadcast to all
at the steps that log metrics (which wait for the device anyway).
"""

from __future__ import annotations

import os
import signal
import threading
import time

import jax
import numpy as np
from jax.experimental import multihost_utils

# The process exit status after a preemption save: EX_TEMPFAIL, "try again later". Restart
# loops (``until musicvae-train ...; do :; done``) and job schedulers then run the same command
# again, which resumes from the checkpoint; 0 would tell them the run had finished.
EXIT_PREEMPTED = 75
# After a Ctrl-C save: the shell's status for a command stopped by SIGINT (128 + 2).
EXIT_INTERRUPTED = 130


class PreemptionGuard:
  """``with PreemptionGuard() as guard: ... if guard.reached(step): save; stop``.

  ``guard.interrupted`` then tells a Ctrl-C (SIGINT) here from a preemption notice.
  """

  def __init__(self):
    self._flag = threading.Event()
    self.interrupted = False
    self._previous = {}
    self._multi = jax.process_count() > 1

  def __enter__(self) -> 'PreemptionGuard':
    if threading.current_thread() is threading.main_thread():
      if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # nohup, `&` in a script
        self._previous[signal.SIGINT] = signal.signal(signal.SIGINT, self._on_interrupt)
      if not self._multi:
        self._previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, self._on_signal)
    return self

  def __exit__(self, *exc) -> None:
    for signum, handler in self._previous.items():
      signal.signal(signum, handler)
    self._previous = {}

  def _on_signal(self, signum, frame) -> None:
    del signum, frame
    self._flag.set()

  def _on_interrupt(self, signum, frame) -> None:
    # The next Ctrl-C is the one before ours: KeyboardInterrupt, at once.
    signal.signal(signal.SIGINT, self._previous.get(signal.SIGINT, signal.default_int_handler))
    self.interrupted = True
    if self._multi:
      os.kill(os.getpid(), signal.SIGTERM)  # to JAX's notifier: every process agrees the step
    else:
      self._on_signal(signum, frame)

  def reached(self, step: int) -> bool:
    """True when the run should save at ``step`` (already taken) and stop."""
    if self._multi:
      return multihost_utils.reached_preemption_sync_point(int(step))
    return self._flag.is_set()


class SaveClock:
  """``clock.due(synced)``: whether ``every_secs`` (0: never) have passed since the
  clock started or was last ``reset()``. ``synced`` marks the steps where several processes
  may compare clocks (each such call is a collective: every process must make it)."""

  def __init__(self, every_secs: float):
    self._every = float(every_secs or 0)
    self._multi = jax.process_count() > 1
    self.reset()

  def reset(self) -> None:
    self._start = time.monotonic()

  def due(self, synced: bool) -> bool:
    if self._every <= 0 or (self._multi and not synced):
      return False
    due = time.monotonic() - self._start >= self._every
    if self._multi:
      due = bool(multihost_utils.broadcast_one_to_all(np.bool_(due)))
    return due
