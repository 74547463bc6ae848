"""The command line a user types, as a subprocess argv: ``argv('musicvae-train', '--x=1')``.

Each command runs in a fresh interpreter through the same ``run()`` its console script calls,
so it works from a source checkout without the scripts on PATH.
"""

import sys


def argv(prog: str, *args) -> list[str]:
  module = prog.removeprefix('musicvae-').replace('-', '_')
  code = (f'import sys; sys.argv[0] = {prog!r}; '
          f'from musicvae_jax.cli.{module} import run; run()')
  return [sys.executable, '-c', code, *map(str, args)]
