"""Turning a preemption notice (SIGTERM) into "save at the next step, then stop".

One process: a SIGTERM handler sets a flag that the training loop reads after each step.
Several processes: the notice may reach only some hosts, and every host must save at the same
step. JAX's preemption sync service (started by ``jax.distributed.initialize``, listening for
SIGTERM itself) agrees on that step in the background, so asking costs no collective per step.
"""

from __future__ import annotations

import signal
import threading

import jax
from jax.experimental import multihost_utils

# The process exit status after a preemption save: EX_TEMPFAIL, "try again later". Restart
# loops (``until musicvae-train ...; do :; done``) and job schedulers then run the same command
# again, which resumes from the checkpoint; 0 would tell them the run had finished.
EXIT_PREEMPTED = 75


class PreemptionGuard:
  """``with PreemptionGuard() as guard: ... if guard.reached(step): save; stop``."""

  def __init__(self):
    self._flag = threading.Event()
    self._previous = None
    self._multi = jax.process_count() > 1

  def __enter__(self) -> 'PreemptionGuard':
    if not self._multi and threading.current_thread() is threading.main_thread():
      self._previous = signal.signal(signal.SIGTERM, self._on_signal)
    return self

  def __exit__(self, *exc) -> None:
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)
      self._previous = None

  def _on_signal(self, signum, frame) -> None:
    del signum, frame
    self._flag.set()

  def reached(self, step: int) -> bool:
    """True when the run should save at ``step`` (already taken) and stop."""
    if self._multi:
      return multihost_utils.reached_preemption_sync_point(int(step))
    return self._flag.is_set()
