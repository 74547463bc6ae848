"""musicvae-attributes: attribute vectors (MusicVAE paper, 5.5): compute them, then steer with them.

  musicvae-attributes compute --data=<musicvae-prepare output> [--workdir=<dir>]
      [--split=train] [--max_windows=20000] [--output=<file.npz>]
  musicvae-attributes apply --input_midi=<a.mid> --attribute=note_density
      [--amounts=-1.5,-1,-0.5,0,0.5,1,1.5] [--vectors=<file.npz>] [--workdir=<dir>]
      [--temperature=0.5] [--seed=N] [--output_dir=...]

compute: encodes the dataset's windows (mu), ranks them by each attribute (melody: note_density,
average_interval, syncopation_16th, syncopation_8th, pitch_range, c_diatonic; drums:
note_density, syncopation_16th, syncopation_8th) and writes mean(mu of the top quarter) - mean(mu
of the bottom quarter) per attribute. Where one value fills more than a quarter (no syncopation
at all), the other group is every window beyond it; the table gives each group's mean and size.
apply: encodes the input's windows, adds amount × vector to each mu, decodes, and writes one
MIDI (+ piano roll) per amount, printing the attribute measured on each result. Without
--vectors it uses the model's own file (the bundled model ships one).
"""

import sys

from absl import flags

from musicvae_jax import output_paths
from musicvae_jax.cli import entry
from musicvae_jax.cli import generate_flags as gf

_DATA = flags.DEFINE_string('data', None, 'compute: a dataset folder written by musicvae-prepare.')
_SPLIT = flags.DEFINE_enum('split', 'train', ['train', 'eval'], 'compute: which split to read.')
_MAX = flags.DEFINE_integer('max_windows', 20000, 'compute: read at most this many windows.')
_OUTPUT = flags.DEFINE_string('output', None, 'compute: the file to write (default: <workdir>/'
                              'attribute_vectors.npz, or ./ for a bundled model).')
_VECTORS = flags.DEFINE_string('vectors', None, 'apply: a file written by compute (default: '
                               'the model\'s own attribute_vectors.npz).')
_INPUT = flags.DEFINE_string('input_midi', None, 'apply: the MIDI file to steer.')
_ATTRIBUTE = flags.DEFINE_string('attribute', None, 'apply: which attribute vector to add.')
_AMOUNTS = flags.DEFINE_list('amounts', ['-1.5', '-1', '-0.5', '0', '0.5', '1', '1.5'],
                             'apply: multiples of the vector to add, one output each.')
flags.register_validator('amounts', gf.are_numbers, 'give numbers, e.g. --amounts=-1,0,1.')

PROG = 'musicvae-attributes'
REQUIRED = {'compute': (_DATA,), 'apply': (_INPUT, _ATTRIBUTE)}  # the subcommands' own flags


def compute(model) -> None:
  from musicvae_jax.generation import attribute_vectors as av  # pylint: disable=g-import-not-at-top
  path, _, meta = av.from_dataset(model, _DATA.value, split=_SPLIT.value,
                                  max_windows=_MAX.value, output=_OUTPUT.value)
  print(f'{PROG}: {meta["windows"]} windows of {_DATA.value} ({_SPLIT.value}) -> {path}')
  print('\n'.join(f'  {line}' for line in av.table(meta['statistics'])))


def apply(model) -> None:
  from musicvae_jax.generation import attribute_vectors as av  # pylint: disable=g-import-not-at-top
  vector = av.vector_for(model, _ATTRIBUTE.value, _VECTORS.value)
  windows = gf.windows(model, _INPUT.value).labels
  out = av.apply(model, windows, _ATTRIBUTE.value, vector, _AMOUNTS.value, key=gf.key(PROG),
                 temperature=gf.TEMPERATURE.value)
  writer, stem = gf.writer(), f'{gf.stem(model, "attribute")}_{out.attribute}'
  print(f'{_INPUT.value}: {len(windows)} window(s); {out.attribute} of the results (mean over '
        'windows):')
  for i, (k, value, piece) in enumerate(zip(out.amounts, out.values, out.pieces)):
    writer.write(piece, f'{stem}-{i + 1:03d}-of-{len(out.amounts):03d}_{k:+g}',
                 f'{out.attribute} {k:+g} x vector: {value:.3f}')
    print(f'  {k:+6g} x vector: {value:.3f}')
  gf.report(PROG, writer.written)


def main(argv):
  if len(argv) != 2 or argv[1] not in REQUIRED:
    entry.die(PROG, f'say what to do: {PROG} compute ... or {PROG} apply ... (see --help).')
  entry.require(PROG, argv[:1], *REQUIRED[argv[1]])
  if argv[1] == 'apply':
    gf.check_output_dir()
  elif _OUTPUT.value:
    output_paths.check_file(_OUTPUT.value, 'output')
  (compute if argv[1] == 'compute' else apply)(gf.load_model())


def run():
  entry.run(main, sys.modules[__name__], PROG, shared=(gf,))


if __name__ == '__main__':
  run()
