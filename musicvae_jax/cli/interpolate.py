"""musicvae-interpolate: morph one MIDI file into another through the latent space.

  musicvae-interpolate --input_midi_1=<a.mid> --input_midi_2=<b.mid> [--num_outputs=5]
      [--method=slerp|lerp] [--workdir=<dir>] [--temperature=0.5] [--seed=N] [--output_dir=...]
      [--qpm=<tempo>] [--strict_monophony] [--chords="C G Am F"] [--play_chords]

Both inputs are encoded (their mu), --num_outputs codes are spaced along the path between them
(ends included) and decoded; the first and last outputs are reconstructions of the inputs.
Inputs longer than the model's window are cut into consecutive windows and window k of the
first is morphed into window k of the second (as many as the shorter input has); each output
joins its windows into one piece, at the first input's tempo unless --qpm is given. Chords given
to a melody model keep the highest note of each onset (as Magenta) and the count of dropped notes
is printed; --strict_monophony refuses them. Without --workdir the bundled cat-mel_2bar_small
model is used. A chord-conditioned model decodes every step under the first input's chords, or
--chords="C G Am F" (one a bar, repeated to the length).
"""

import sys

from absl import flags

from musicvae_jax.cli import chord_flags
from musicvae_jax.cli import entry
from musicvae_jax.cli import generate_flags as gf

_INPUT_1 = flags.DEFINE_string('input_midi_1', None, 'The MIDI file to start from.')
_INPUT_2 = flags.DEFINE_string('input_midi_2', None, 'The MIDI file to end at.')
_NUM = flags.DEFINE_integer('num_outputs', 5, 'Steps along the path, both ends included.')
_METHOD = flags.DEFINE_enum('method', 'slerp', ['slerp', 'lerp'],
                            'Spherical (as Magenta) or straight-line interpolation.')
_QPM = flags.DEFINE_float('qpm', None, 'Tempo of the outputs (default: the first input\'s).')
flags.register_validator('qpm', lambda q: q is None or 10 <= q <= 1000,
                         'give a tempo from 10 to 1000 quarter notes per minute.')

PROG = 'musicvae-interpolate'


def main(argv):
  entry.require(PROG, argv, _INPUT_1, _INPUT_2)
  if _NUM.value < 2:
    entry.die(PROG, f'--num_outputs={_NUM.value}: an interpolation needs at least its two ends.')
  gf.check_output_dir()
  model = gf.load_model()
  first = gf.windows(model, _INPUT_1.value)
  a, b = first.labels, gf.windows(model, _INPUT_2.value).labels
  if len(a) != len(b):
    print(f'{PROG}: the inputs give {len(a)} and {len(b)} windows; morphing the first '
          f'{min(len(a), len(b))}.', file=sys.stderr)
  chords = chord_flags.progression(model, min(len(a), len(b)))
  pieces = model.interpolate_windows(a, b, _NUM.value, key=gf.key(PROG), method=_METHOD.value,
                                     temperature=gf.TEMPERATURE.value,
                                     qpm=first.qpm if _QPM.value is None else _QPM.value,
                                     chords_WxT=chords)
  titles = [f'{model.name} {_METHOD.value} step {s + 1}/{_NUM.value}' for s in range(_NUM.value)]
  gf.report(PROG, gf.writer().write_all(pieces, gf.stem(model, 'interpolate'), titles))


def run():
  entry.run(main, sys.modules[__name__], PROG, shared=(gf, chord_flags))


if __name__ == '__main__':
  run()
