"""The one base class of every error a user can cause and fix.

A ``UserError`` says what was wrong (naming the file, flag or config field) and what to do
instead, in one line. The command-line entry point catches exactly this class and prints its
message; anything else is a bug and keeps its traceback.

Each subclass also derives from the built-in exception a Python caller would expect
(``ValueError`` for a bad value, ``FileNotFoundError`` for a missing file), so library callers can
catch either.
"""

from __future__ import annotations


class UserError(Exception):
  """A mistake in the user's input: a bad file, flag, config or workdir. Its text is the fix."""


def innermost(error: BaseException, kind) -> BaseException | None:
  """The last ``kind`` in ``error``'s chain of causes and contexts (the original), or None."""
  found = None
  while error is not None:
    found = error if isinstance(error, kind) else found
    error = error.__cause__ or error.__context__
  return found
