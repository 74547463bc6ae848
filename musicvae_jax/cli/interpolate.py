"""musicvae-interpolate: morph one MIDI file into another through the latent space.

  musicvae-interpolate --input_midi_1=<a.mid> --input_midi_2=<b.mid> [--num_outputs=5]
      [--method=slerp|lerp] [--workdir=<dir>] [--temperature=0.5] [--seed=N] [--output_dir=...]

Both inputs are encoded (their mu), --num_outputs codes are spaced along the path between them
(ends included) and decoded; the first and last outputs are reconstructions of the inputs.
Inputs longer than the model's window are cut into consecutive windows and window k of the
first is morphed into window k of the second (as many as the shorter input has); each output
joins its windows into one piece. Without --workdir the bundled cat-mel_2bar_small model is used.
"""

import sys

from absl import flags

from musicvae_jax.cli import entry
from musicvae_jax.cli import generate_flags as gf

_INPUT_1 = flags.DEFINE_string('input_midi_1', None, 'The MIDI file to start from.')
_INPUT_2 = flags.DEFINE_string('input_midi_2', None, 'The MIDI file to end at.')
_NUM = flags.DEFINE_integer('num_outputs', 5, 'Steps along the path, both ends included.')
_METHOD = flags.DEFINE_enum('method', 'slerp', ['slerp', 'lerp'],
                            'Spherical (as Magenta) or straight-line interpolation.')

PROG = 'musicvae-interpolate'


def main(argv):
  entry.require(PROG, argv, _INPUT_1, _INPUT_2)
  if _NUM.value < 2:
    entry.die(PROG, f'--num_outputs={_NUM.value}: an interpolation needs at least its two ends.')
  temperature = gf.check_temperature(PROG)
  model = gf.load_model(PROG)
  a = gf.windows(PROG, model, _INPUT_1.value)
  b = gf.windows(PROG, model, _INPUT_2.value)
  n = min(len(a.labels), len(b.labels))
  if len(a.labels) != len(b.labels):
    print(f'{PROG}: the inputs give {len(a.labels)} and {len(b.labels)} windows; morphing the '
          f'first {n}.', file=sys.stderr)
  key = gf.key(PROG)
  from musicvae_jax.generation import interpolation  # pylint: disable=g-import-not-at-top
  from note_seq import sequences_lib  # pylint: disable=g-import-not-at-top
  _, mu_a, _ = model.encode_labels(a.labels[:n])
  _, mu_b, _ = model.encode_labels(b.labels[:n])
  # [num_outputs, windows, Z]: step s of every window's path, decoded in one batch.
  paths = [interpolation.path(mu_a[w], mu_b[w], _NUM.value, _METHOD.value) for w in range(n)]
  z = [paths[w][s] for s in range(_NUM.value) for w in range(n)]
  decoded = model.decode(z, key=key, temperature=temperature)
  pieces = [sequences_lib.concatenate_sequences(decoded[s * n:(s + 1) * n])
            for s in range(_NUM.value)]
  titles = [f'{model.name} {_METHOD.value} step {s + 1}/{_NUM.value}' for s in range(_NUM.value)]
  gf.report(PROG, gf.writer().write_all(pieces, gf.stem(model, 'interpolate'), titles))


def run():
  entry.run(main, sys.modules[__name__], PROG, shared=(gf,))


if __name__ == '__main__':
  run()
