"""musicvae-sample: new music drawn from a trained model's prior.

  musicvae-sample [--workdir=<dir>] [--num_outputs=5] [--temperature=0.5] [--seed=N]
      [--output_dir=musicvae_output]

Without --workdir it uses the bundled cat-mel_2bar_small model. Each sample is decoded from its
own z ~ N(0, I) (--same_z: one z for all, so they differ only by the decoder's sampling). Writes
<config>_sample_<time>-NNN-of-MMM.mid with a piano-roll .png (and a .wav with FluidSynth).
"""

import sys

from absl import flags

from musicvae_jax.cli import entry
from musicvae_jax.cli import generate_flags as gf

_NUM = flags.DEFINE_integer('num_outputs', 5, 'How many sequences to sample.')
_SAME_Z = flags.DEFINE_bool('same_z', False, 'Decode every output from one latent code.')

PROG = 'musicvae-sample'


def main(argv):
  entry.require(PROG, argv)
  if _NUM.value < 1:
    entry.die(PROG, f'--num_outputs={_NUM.value}: ask for at least one.')
  model = gf.load_model()
  sequences = model.sample(_NUM.value, key=gf.key(PROG), temperature=gf.TEMPERATURE.value,
                           same_z=_SAME_Z.value)
  gf.report(PROG, gf.writer().write_all(sequences, gf.stem(model, 'sample')))


def run():
  entry.run(main, sys.modules[__name__], PROG, shared=(gf,))


if __name__ == '__main__':
  run()
