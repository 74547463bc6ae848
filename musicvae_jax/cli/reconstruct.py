"""musicvae-reconstruct: encode MIDI files and decode them again (how well does the model know it?).

  musicvae-reconstruct --input_midi=<a.mid>[,<b.mid>...] [--num_outputs=1] [--workdir=<dir>]
      [--temperature=0.5] [--seed=N] [--output_dir=...] [--sample_z] [--strict_monophony]
      [--chords="C G Am F"] [--play_chords]

Each input is cut into consecutive windows of the model's length; every window is encoded (mu,
or a posterior sample with --sample_z) and decoded, and the windows are joined again. Writes,
per input, <name>_input.mid (the input as the model reads it) and --num_outputs reconstructions,
each with a piano roll, at the input's tempo, and prints how many steps the reconstruction got
right. Chords given to a melody model keep the highest note of each onset (as Magenta) and the
count of dropped notes is printed; --strict_monophony refuses them. A chord-conditioned model
decodes under the input's own chords, or --chords="C G Am F" (one a bar, repeated to the
input's length): the same melody under a new harmony.
"""

import pathlib
import sys

from absl import flags

from musicvae_jax.cli import chord_flags
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
  gf.check_output_dir()
  model = gf.load_model()
  read = [gf.windows(model, path) for path in _INPUTS.value]  # all read before writing
  from musicvae_jax.generation import reconstruction  # pylint: disable=g-import-not-at-top
  chords = [chord_flags.progression(model, len(w.labels)) for w in read]  # before decoding
  results = reconstruction.reconstruct_inputs(
      model, [w.labels for w in read], key=gf.key(PROG), num_outputs=_NUM.value,
      temperature=gf.TEMPERATURE.value, use_mean=not _SAMPLE_Z.value, chords=chords)
  writer = gf.writer()
  for path, windows, result in zip(_INPUTS.value, read, results):
    source = pathlib.Path(path)
    name = f'{gf.stem(model, "reconstruct")}_{source.stem}'
    qpm = windows.qpm  # the input's tempo
    writer.write(model.to_piece(result.inputs, qpm=qpm), f'{name}_input',
                 f'{source.name} as the model reads it')
    for r, (mine, agree) in enumerate(zip(result.labels, result.agreement)):
      writer.write(model.to_piece(mine, qpm=qpm), f'{name}-{r + 1:03d}-of-{_NUM.value:03d}',
                   f'{source.name}: reconstruction {r + 1} ({agree:.0%} of steps)')
      print(f'{path}: {len(mine)} window(s); reconstruction {r + 1} matches {agree:.1%} of the '
            'steps')
  gf.report(PROG, writer.written)


def run():
  entry.run(main, sys.modules[__name__], PROG, shared=(gf, chord_flags))


if __name__ == '__main__':
  run()
