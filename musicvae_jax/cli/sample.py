"""musicvae-sample: new music drawn from a trained model's prior.

  musicvae-sample [--workdir=<dir>] [--num_outputs=5] [--temperature=0.5] [--seed=N]
      [--output_dir=musicvae_output] [--qpm=120] [--chords="C G Am F" [--play_chords]]

Without --workdir it uses the bundled cat-mel_2bar_small model. Each sample is decoded from its
own z ~ N(0, I) (--same_z: one z for all, so they differ only by the decoder's sampling). Writes
<config>_sample_<time>-NNN-of-MMM.mid with a piano-roll .png (and a .wav with FluidSynth),
decoding a batch at a time and writing each batch as it is done (a progress bar counts them); a
--seed gives the same music whatever the count's batching. A chord-conditioned model
(cat-mel_2bar_med_chords) needs --chords, one chord a bar: a progression longer than the model's
bars is decoded window after window from the same z and joined.
"""

import itertools
import sys

from absl import flags

from musicvae_jax.cli import chord_flags
from musicvae_jax.cli import entry
from musicvae_jax.cli import generate_flags as gf

_NUM = flags.DEFINE_integer('num_outputs', 5, 'How many sequences to sample.')
_SAME_Z = flags.DEFINE_bool('same_z', False, 'Decode every output from one latent code.')
_QPM = flags.DEFINE_float('qpm', 120.0, 'Tempo of the outputs, quarter notes per minute.')
flags.register_validator('qpm', lambda q: 10 <= q <= 1000,
                         'give a tempo from 10 to 1000 quarter notes per minute.')

PROG = 'musicvae-sample'


def main(argv):
  entry.require(PROG, argv)
  if _NUM.value < 1:
    entry.die(PROG, f'--num_outputs={_NUM.value}: ask for at least one.')
  gf.check_output_dir()
  model = gf.load_model()
  chords = chord_flags.progression(model)
  batches = model.sample_batches(_NUM.value, key=gf.key(PROG), temperature=gf.TEMPERATURE.value,
                                 same_z=_SAME_Z.value, qpm=_QPM.value, chords_WxT=chords)
  gf.report(PROG, gf.writer().write_all(itertools.chain.from_iterable(batches),
                                        gf.stem(model, 'sample'), total=_NUM.value))


def run():
  entry.run(main, sys.modules[__name__], PROG, shared=(gf, chord_flags))


if __name__ == '__main__':
  run()
