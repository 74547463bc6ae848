"""What every musicvae-* command shares: config names, --help, one-line errors, Ctrl-C.

``run(main, module, prog)`` maps ``--config=<name>`` to its config file, prints the command's
own docstring and flags for ``--help``/``-h``/``--helpshort`` (absl would otherwise describe
the console-script wrapper), turns flag and config mistakes and every ``errors.UserError`` into
one line ``<prog>: error: ...`` (exit 2) and Ctrl-C into ``<prog>: interrupted`` (exit 130,
never lost: ``ctrl_c``). Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import re
import sys
import types
from typing import Callable, NoReturn

from absl import app
from absl import flags
from absl import logging

from musicvae_jax import config_lib
from musicvae_jax import errors
from musicvae_jax.cli import ctrl_c
from musicvae_jax.cli import help_text

HELP_FLAGS = ('--help', '-h', '--helpshort', '-?')


def die(prog: str, message) -> NoReturn:
  print(f'{prog}: error: {message}', file=sys.stderr)
  sys.exit(2)


def require(prog: str, argv: list[str], *required) -> None:
  """Exits with one line if positional arguments were given or a required flag is unset."""
  if len(argv) > 1:
    die(prog, f'unexpected arguments {argv[1:]}; every option is a --flag=value.')
  for flag in required:
    if not flag.value:
      die(prog, f'--{flag.name} is required.')


def _overrides(args, error) -> str:
  """The --config.* flags of ``args`` that ``error`` (a missing key, ...) is about."""
  given = [a.split('=', 1)[0] for a in args if a.startswith('--config.')]
  keys = set(re.findall(r"'(\w+)'", str(error)))
  return (', '.join([g for g in given if keys & set(g.split('.')[1:])] or given)
          or 'the --config.* overrides')


def run(main: Callable[[list[str]], None], module: types.ModuleType, prog: str,
        shared=()) -> None:
  """Parses the command line and runs ``main``, as a console script's entry point."""
  if any(a in HELP_FLAGS for a in sys.argv[1:]):
    print(help_text.help_text(module, shared))
    sys.exit(0)
  try:
    argv = config_lib.rewrite_config_argv(sys.argv)
  except config_lib.UnknownConfigError as e:
    die(prog, e)

  def parse(args):
    try:
      return flags.FLAGS(args)
    except flags.UnrecognizedFlagError as e:
      if (e.flagname.startswith('config.') and 'config' in flags.FLAGS
          and not any(a == '--config' or a.startswith('--config=') for a in args)):
        die(prog, f'--{e.flagname} overrides a field of a config: pass --config=<name> too, '
            'e.g. --config=cat-mel_2bar_small.')
      die(prog, help_text.unknown_flag(prog, e.flagname) or e)
    except (flags.Error, config_lib.UnknownConfigError) as e:
      # A config file's own refusal (an unknown ':variant') comes back from ml_collections
      # re-raised with a whole traceback as its text; the user needs only the original.
      die(prog, errors.innermost(e, config_lib.UnknownConfigError) or e)
    except (AttributeError, KeyError, TypeError, ValueError) as e:  # a --config.* override
      die(prog, f'cannot apply {_overrides(args, e)} ({e}): a key the config lacks, or a value '
          'of the wrong type.')

  def quiet_main(args):
    # Libraries (Orbax, grain) log every save and read at INFO; a user sees warnings and the
    # command's own output unless they ask for more with --verbosity.
    if not flags.FLAGS['verbosity'].present:
      logging.set_verbosity(logging.WARNING)
    try:
      return main(args)
    except KeyboardInterrupt:  # Ctrl-C: what was written whole stays; no traceback
      ctrl_c.stop(prog)
    except errors.UserError as e:
      die(prog, e)
    except Exception:  # pylint: disable=broad-except
      if ctrl_c.received():  # a Ctrl-C that a library turned into an error of its own
        ctrl_c.stop(prog)
      raise

  ctrl_c.keep()
  app.run(quiet_main, argv=argv, flags_parser=parse)
