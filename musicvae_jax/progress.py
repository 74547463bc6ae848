"""The progress bars of long jobs (prepare, train, evaluate, encode): one helper for all.

In a terminal a bar is tqdm's, redrawn in place; a bar inside another (evaluation inside
training) gets its own line and goes away when done. Anywhere else (a log file, a pipe, a
notebook cell) there is one bar at a time: a bar opened while another is showing stays hidden,
and the one shown prints a plain line when it starts, at most every ``QUIET_INTERVAL`` seconds,
and when it ends, with no carriage returns or escape codes. ``MUSICVAE_PROGRESS=0`` turns every
bar off.
"""

from __future__ import annotations

import os
import sys

from tqdm import tqdm

ENV = 'MUSICVAE_PROGRESS'
QUIET_INTERVAL = 30.0  # seconds between lines outside a terminal
_LINE_FORMAT = '{desc}: {n_fmt}/{total_fmt} {unit} [{elapsed}<{remaining}, {rate_fmt}{postfix}]'


def wanted() -> bool:
  """False when the environment turns progress bars off (MUSICVAE_PROGRESS=0)."""
  return os.environ.get(ENV, '1').strip().lower() not in ('0', 'false', 'no', 'off')


def _is_terminal(stream) -> bool:
  try:
    return stream.isatty()
  except (AttributeError, ValueError):  # no isatty, or closed
    return False


class _Lines:
  """A stream for tqdm that turns each in-place redraw into one plain line."""

  def __init__(self, stream):
    self._stream = stream

  def write(self, text: str) -> None:
    line = text.replace('\r', '').strip()
    if line:
      self._stream.write(line + '\n')

  def flush(self) -> None:
    self._stream.flush()


class _QuietBar(tqdm):
  """A bar outside a terminal: a new postfix or description waits for the next line."""

  def set_postfix(self, ordered_dict=None, refresh=True, **kwargs):
    super().set_postfix(ordered_dict, refresh=False, **kwargs)

  def set_postfix_str(self, s='', refresh=True):
    super().set_postfix_str(s, refresh=False)

  def set_description(self, desc=None, refresh=True):
    super().set_description(desc, refresh=False)


def bar(iterable=None, *, desc: str | None = None, total=None, unit: str = 'it',
        leave: bool = True, enabled: bool = True, file=None, **kwargs) -> tqdm:
  """A tqdm bar over ``iterable`` (or updated by hand), shown as the module docstring says.

  ``enabled=False`` (the caller's own --progress flag, or a process other than the first)
  returns a disabled bar with the same methods, so callers never branch on it.
  """
  file = file if file is not None else sys.stderr
  terminal = _is_terminal(file)
  nested = bool(tqdm._instances)  # pylint: disable=protected-access  (bars showing now)
  disable = not enabled or not wanted() or (nested and not terminal)
  if terminal:
    kwargs.setdefault('dynamic_ncols', True)
    return tqdm(iterable, desc=desc, total=total, unit=unit, leave=leave, file=file,
                disable=disable, **kwargs)
  # A log keeps the last line of every bar (it cannot be erased there).
  kwargs.update(mininterval=QUIET_INTERVAL, maxinterval=QUIET_INTERVAL, bar_format=_LINE_FORMAT)
  return _QuietBar(iterable, desc=desc, total=total, unit=unit, leave=True, file=_Lines(file),
                   disable=disable, **kwargs)
