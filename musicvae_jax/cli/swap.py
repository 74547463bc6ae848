"""musicvae-swap: the global character of one melody with the step-by-step line of another.

  musicvae-swap --workdir=<DSAE or TS-DSAE workdir> --global_midi=<a.mid> --local_midi=<b.mid>
      [--window=0] [--output_dir=...]

Reads one window of each file (the --window-th the model's converter cuts: two bars for the
melody configs), encodes both, and decodes v of --global_midi with z_1:T of --local_midi (and
the other way round), greedily. Writes, each as MIDI with a piano roll beside it (and a WAV when
FluidSynth is installed): both inputs as the model reads them, their reconstructions, and the
two swaps; prints the share of steps of each swap whose onsets (a note starting or not) are
the z donor's.
"""

import pathlib
import sys

from absl import flags
import numpy as np

from musicvae_jax import errors
from musicvae_jax.cli import entry
from musicvae_jax.cli import generate_flags as gf

_GLOBAL = flags.DEFINE_string('global_midi', None, 'The MIDI file whose global latent v is kept.')
_LOCAL = flags.DEFINE_string('local_midi', None, 'The MIDI file whose local latents z are kept.')
_WINDOW = flags.DEFINE_integer('window', 0, 'Which window of each file (0: the first).',
                               lower_bound=0)

PROG = 'musicvae-swap'


def _window(model, path: str) -> np.ndarray:
  from musicvae_jax.converters import midi_io  # pylint: disable=g-import-not-at-top
  found = model.converter.extract(midi_io.read_midi(path))
  if len(found.windows) <= _WINDOW.value:
    reasons = ', '.join(f'{k} {v}' for k, v in sorted(found.skipped.items())) or 'none'
    raise errors.UserError(f'{path} gives {len(found.windows)} window(s) this model reads '
                           f'(skipped: {reasons}); --window={_WINDOW.value} needs more.')
  return np.asarray(found.windows[_WINDOW.value])[:, 0]


def main(argv):
  entry.require(PROG, argv, gf.WORKDIR, _GLOBAL, _LOCAL)
  gf.check_output_dir()
  from musicvae_jax.training import dsae_model  # pylint: disable=g-import-not-at-top
  model = dsae_model.DsaeModel(gf.WORKDIR.value, step=gf.STEP.value)
  a, b = _window(model, _GLOBAL.value), _window(model, _LOCAL.value)
  out = {k: v[0] for k, v in model.swap(a[None], b[None]).items()}
  name_a, name_b = pathlib.Path(_GLOBAL.value).stem, pathlib.Path(_LOCAL.value).stem
  writer = gf.writer()
  onset = lambda tokens: tokens >= 2  # both vocabularies: 0 and 1 start no note
  for stem, tokens, title in (
      (f'{name_a}_input', a, f'{name_a} as the model reads it'),
      (f'{name_b}_input', b, f'{name_b} as the model reads it'),
      (f'{name_a}_reconstruction', out['a'], f'{name_a} reconstructed'),
      (f'{name_b}_reconstruction', out['b'], f'{name_b} reconstructed'),
      (f'global_{name_a}_local_{name_b}', out['global_a_local_b'],
       f'v of {name_a}, z of {name_b}'),
      (f'global_{name_b}_local_{name_a}', out['global_b_local_a'],
       f'v of {name_b}, z of {name_a}')):
    writer.write(model.converter.from_labels(tokens[:, None]), stem, title)
  for key, z_of in (('global_a_local_b', b), ('global_b_local_a', a)):
    kept = float(np.mean(onset(out[key]) == onset(z_of)))
    print(f'{PROG}: {key}: {kept:.0%} of steps keep the z donor\'s onsets')
  gf.report(PROG, writer.written)


def run():
  entry.run(main, sys.modules[__name__], PROG, shared=(gf,))


if __name__ == '__main__':
  run()
