"""Where a command will write, checked before it does any work.

Each check raises ``OutputPathError`` (one line naming the flag, the path and the fix) when the
output cannot be written there: a folder flag that names an existing file, a file flag that names
a folder, or a path under a file or a read-only folder. A missing folder is fine: it is made.
"""

from __future__ import annotations

import os
import pathlib

from musicvae_jax import errors


class OutputPathError(errors.UserError, ValueError):
  """An output flag that names a place nothing can be written."""


def _nearest_existing(path: pathlib.Path) -> pathlib.Path:
  while not path.exists() and path != path.parent:
    path = path.parent
  return path


def _check_writable_under(path: pathlib.Path, flag: str, given) -> None:
  found = _nearest_existing(path)
  if not found.is_dir():
    raise OutputPathError(f'--{flag}={given}: {found} is a file, so nothing can be made under '
                          'it; give a path under a folder.')
  if not os.access(found, os.W_OK | os.X_OK):
    raise OutputPathError(f'--{flag}={given}: the folder {found} is not writable; give a '
                          'folder you can write to.')


def check_dir(path, flag: str) -> pathlib.Path:
  """``path`` as a folder to write into (made later if missing); refuses a file."""
  p = pathlib.Path(path).expanduser()
  if p.exists() and not p.is_dir():
    raise OutputPathError(f'--{flag}={path} is an existing file, not a folder; give a folder '
                          '(it is made if missing).')
  _check_writable_under(p, flag, path)
  return p


def check_file(path, flag: str) -> pathlib.Path:
  """``path`` as a file to (over)write; refuses a folder or a place under a file."""
  p = pathlib.Path(path).expanduser()
  if p.is_dir():
    raise OutputPathError(f'--{flag}={path} is a folder; give a file name, e.g. '
                          f'--{flag}={p / "out"}{p.suffix or ".json"}.')
  _check_writable_under(p.parent, flag, path)
  return p
