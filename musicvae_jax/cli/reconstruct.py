"""musicvae-reconstruct: encode MIDI files and decode them again (how well does the model know it?).

  musicvae-reconstruct --input_midi=<a.mid>[,<b.mid>...] [--num_outputs=1] [--workdir=<dir>]
      [--temperature=0.5] [--seed=N] [--output_dir=...] [--sample_z]

Each input is cut into consecutive windows of the model's length; every window is encoded (mu,
or a posterior sample with --sample_z) and decoded, and the windows are joined again. Writes,
per input, <name>_input.mid (the input as the model reads it) and --num_outputs reconstructions,
each with a piano roll, and prints how many steps the reconstruction got right.
"""

import pathlib
import sys

from absl import flags

from musicvae_jax.cli import entry
from musicvae_jax.cli import generate_flags as gf

_INPUTS = flags.DEFINE_list('input_midi', None, 'MIDI file(s) to reconstruct, comma-separated.')
_NUM = flags.DEFINE_integer('num_outputs', 1, 'Reconstructions per input.')
_SAMPLE_Z = flags.DEFINE_bool('sample_z', False, 'Decode from z = mu + sigma·eps instead of mu.')

PROG = 'musicvae-reconstruct'


def main(argv):
  entry.require(PROG, argv, _INPUTS)
  if _NUM.value < 1:
    entry.die(PROG, f'--num_outputs={_NUM.value}: ask for at least one.')
  temperature = gf.check_temperature(PROG)
  model = gf.load_model(PROG)
  inputs = [(path, gf.windows(PROG, model, path)) for path in _INPUTS.value]
  key = gf.key(PROG)
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from note_seq import sequences_lib  # pylint: disable=g-import-not-at-top
  writer = gf.writer()
  for i, (path, windows) in enumerate(inputs):
    name = f'{gf.stem(model, "reconstruct")}_{pathlib.Path(path).stem}'
    n = len(windows.labels)
    original = sequences_lib.concatenate_sequences(model.to_note_sequences(windows.labels))
    writer.write(original, f'{name}_input', f'{pathlib.Path(path).name} as the model reads it')
    input_key = jax.random.fold_in(key, i)
    z, mu, _ = model.encode_labels(
        windows.labels, key=jax.random.fold_in(input_key, 1) if _SAMPLE_Z.value else None)
    codes = np.concatenate([z if _SAMPLE_Z.value else mu] * _NUM.value)
    labels = model.decode_labels(codes, key=input_key, temperature=temperature)
    for r in range(_NUM.value):
      mine = labels[r * n:(r + 1) * n]
      agree = float(np.mean(mine == windows.labels))
      piece = sequences_lib.concatenate_sequences(model.to_note_sequences(mine))
      writer.write(piece, f'{name}-{r + 1:03d}-of-{_NUM.value:03d}',
                   f'{pathlib.Path(path).name}: reconstruction {r + 1} ({agree:.0%} of steps)')
      print(f'{path}: {n} window(s); reconstruction {r + 1} matches {agree:.1%} of the steps')
  gf.report(PROG, writer.written)


def run():
  entry.run(main, sys.modules[__name__], PROG, shared=(gf,))


if __name__ == '__main__':
  run()
