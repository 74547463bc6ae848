"""``--help`` of a musicvae-* command: its own docstring and exactly its flags.

absl would otherwise describe the console-script wrapper; this lists the command module's flags
(and those of the shared flag modules it names), each with its help and default.
"""

from __future__ import annotations

import types

from absl import flags

from musicvae_jax import config_lib


# Flags of Magenta's music_vae_generate that only musicvae-generate takes.
MAGENTA_FLAGS = ('config', 'checkpoint_file', 'run_dir', 'mode')


def unknown_flag(prog: str, flag: str) -> str | None:
  """The pointer for a Magenta user's flag that ``prog`` does not take, or None."""
  if flag not in MAGENTA_FLAGS or prog == 'musicvae-generate':
    return None
  return (f"--{flag} is a flag of Magenta's music_vae_generate: musicvae-generate takes its "
          'flags (e.g. musicvae-generate --config=cat-mel_2bar_big --checkpoint_file=<.tar> '
          f'--mode=sample); {prog} takes --workdir=<model folder or bundled:<name>>.')


def help_text(module: types.ModuleType, shared=()) -> str:
  doc = (module.__doc__ or '').strip()
  own = flags.FLAGS.get_flags_for_module(module)
  for other in shared:  # flags several commands define through one module
    own = own + flags.FLAGS.get_flags_for_module(other)
  lines = [doc, '', 'flags:']
  for flag in sorted(own, key=lambda f: f.name):
    default = '' if flag.default is None else f' (default: {flag.default_as_str})'
    lines.append(f'  --{flag.name}: {flag.help}{default}')
  if any(flag.name == 'config' for flag in own):
    lines.append('  --config.<group>.<key>=<value>: override one config field, e.g. '
                 '--config.train.batch_size=64')
    lines.append(f'\nconfigs: {", ".join(config_lib.config_names())} (append :tiny for the '
                 'CPU test variant)')
  return '\n'.join(lines)
