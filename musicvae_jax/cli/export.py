"""musicvae-export: a workdir's parameters as a small self-contained model folder.

  musicvae-export --workdir=<training workdir> --output=<dir> [--step=N] [--dtype=float16]

Writes config.json, params.npz (parameters only, float16 by default: half the size, and decoding
from it differs from float32 only where two logits nearly tie) and model.json (step, source).
Every generating command reads the folder as --workdir. The bundled model is such a folder.
"""

import sys

from absl import flags

from musicvae_jax import output_paths
from musicvae_jax.cli import entry

_WORKDIR = flags.DEFINE_string('workdir', None,
                                'A musicvae-train or musicvae-import-magenta workdir.')
_OUTPUT = flags.DEFINE_string('output', None, 'The folder to write.')
_STEP = flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')
_DTYPE = flags.DEFINE_enum('dtype', 'float16', ['float16', 'float32'], 'Storage precision.')

PROG = 'musicvae-export'


def main(argv):
  entry.require(PROG, argv, _WORKDIR, _OUTPUT)
  output_paths.check_dir(_OUTPUT.value, 'output')
  from musicvae_jax.generation import model_files  # pylint: disable=g-import-not-at-top
  out = model_files.export(_WORKDIR.value, _OUTPUT.value, step=_STEP.value, dtype=_DTYPE.value,
                           info=dict(source=str(_WORKDIR.value)))
  size = sum(p.stat().st_size for p in out.iterdir()) / 1e6
  print(f'{PROG}: {out} ({size:.1f} MB); use it with --workdir={out}')


def run():
  entry.run(main, sys.modules[__name__], PROG)


if __name__ == '__main__':
  run()
