"""musicvae-attributes: attribute vectors (MusicVAE paper, 5.5): compute them, then steer with them.

  musicvae-attributes compute --data=<musicvae-prepare output> [--workdir=<dir>]
      [--split=train] [--max_windows=20000] [--output=<file.npz>]
  musicvae-attributes apply --input_midi=<a.mid> --attribute=note_density
      [--amounts=-1.5,-1,-0.5,0,0.5,1,1.5] [--vectors=<file.npz>] [--workdir=<dir>]
      [--temperature=0.5] [--seed=N] [--output_dir=...]

compute: encodes the dataset's windows (mu), ranks them by each attribute (melody: note_density,
average_interval, syncopation_16th, syncopation_8th, pitch_range, c_diatonic; drums:
note_density, syncopation_16th, syncopation_8th) and writes mean(mu of the top quarter) - mean(mu
of the bottom quarter) per attribute (default file: <workdir>/attribute_vectors.npz). Where one
value fills more than a quarter (no syncopation at all), the other group is every window beyond
it; the table gives each group's mean attribute and size.
apply: encodes the input's windows, adds amount × vector to each mu, decodes, and writes one
MIDI (+ piano roll) per amount, printing the attribute measured on each result. Without
--vectors it uses the model's own file (the bundled model ships one).
"""

import pathlib
import sys

from absl import flags

from musicvae_jax.cli import entry
from musicvae_jax.cli import generate_flags as gf

_DATA = flags.DEFINE_string('data', None, 'compute: a dataset folder written by musicvae-prepare.')
_SPLIT = flags.DEFINE_enum('split', 'train', ['train', 'eval'], 'compute: which split to read.')
_MAX = flags.DEFINE_integer('max_windows', 20000, 'compute: read at most this many windows.')
_OUTPUT = flags.DEFINE_string('output', None, 'compute: where to write the vectors (default: '
                              '<workdir>/attribute_vectors.npz, or ./attribute_vectors.npz for '
                              'the bundled model).')
_VECTORS = flags.DEFINE_string('vectors', None, 'apply: a file written by compute (default: '
                               'the model\'s own attribute_vectors.npz).')
_INPUT = flags.DEFINE_string('input_midi', None, 'apply: the MIDI file to steer.')
_ATTRIBUTE = flags.DEFINE_string('attribute', None, 'apply: which attribute vector to add.')
_AMOUNTS = flags.DEFINE_list('amounts', ['-1.5', '-1', '-0.5', '0', '0.5', '1', '1.5'],
                             'apply: multiples of the vector to add, one output each.')

PROG = 'musicvae-attributes'
COMMANDS = ('compute', 'apply')


def _model_dir(model) -> pathlib.Path:
  return pathlib.Path(model.info['workdir'])


def compute(model) -> None:
  import numpy as np  # pylint: disable=g-import-not-at-top
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  from musicvae_jax.generation import attribute_vectors as av  # pylint: disable=g-import-not-at-top
  from musicvae_jax.input_pipeline import pipeline  # pylint: disable=g-import-not-at-top
  from musicvae_jax.training import loop  # pylint: disable=g-import-not-at-top
  try:
    loop.check_data(model.spec, _DATA.value)
    ds = pipeline.eval_dataset(_DATA.value, batch_size=model.max_batch_size, split=_SPLIT.value)
  except (loop.DataMismatchError, pipeline.DatasetError, FileNotFoundError) as e:
    entry.die(PROG, e)
  labels, mus = [], []
  total = min(len(ds), -(-_MAX.value // model.max_batch_size))
  for i, batch in enumerate(tqdm(ds, total=total, desc='encode', unit='batch')):
    if i >= total:
      break
    real = batch['lengths'] > 0
    labels.append(batch['labels'][real])
    mus.append(model.encode_labels(batch['labels'][real])[1])
  labels = np.concatenate(labels)[:_MAX.value]
  mu = np.concatenate(mus)[:_MAX.value]
  try:
    vectors, stats = av.compute(mu, labels, av.kind_of(model.config))
  except ValueError as e:
    entry.die(PROG, e)
  default = pathlib.Path(av.FILE) if model.info.get('bundled') else _model_dir(model) / av.FILE
  output = pathlib.Path(_OUTPUT.value) if _OUTPUT.value else default
  meta = dict(config=model.name, z_size=model.spec.z_size, step=model.step,
              workdir=model.info.get('workdir'), data=str(_DATA.value), split=_SPLIT.value,
              windows=len(labels), statistics=stats)
  av.save(output, vectors, meta)
  print(f'{PROG}: {len(labels)} windows of {_DATA.value} ({_SPLIT.value}) -> {output}')
  print(f'  {"attribute":<18} {"bottom group":>19} {"top group":>19} {"|vector|":>9}')
  for name, s in stats.items():
    flag = '  (degenerate: the groups do not differ)' if s['degenerate'] else ''
    bottom = f'{s["bottom_mean"]:.3f} ({s["bottom_count"]})'
    top = f'{s["top_mean"]:.3f} ({s["top_count"]})'
    print(f'  {name:<18} {bottom:>19} {top:>19} {s["norm"]:>9.2f}{flag}')


def apply(model) -> None:
  import numpy as np  # pylint: disable=g-import-not-at-top
  from note_seq import sequences_lib  # pylint: disable=g-import-not-at-top
  from musicvae_jax.generation import attribute_metrics  # pylint: disable=g-import-not-at-top
  from musicvae_jax.generation import attribute_vectors as av  # pylint: disable=g-import-not-at-top
  path = _VECTORS.value or _model_dir(model) / av.FILE
  try:
    vectors = model.attribute_vectors(path)
    amounts = [float(a) for a in _AMOUNTS.value]
  except (FileNotFoundError, ValueError) as e:
    entry.die(PROG, e)
  if _ATTRIBUTE.value not in vectors:
    entry.die(PROG, f'--attribute={_ATTRIBUTE.value}: {path} has {", ".join(sorted(vectors))}.')
  temperature = gf.check_temperature(PROG)
  windows = gf.windows(PROG, model, _INPUT.value)
  labels = model.steer(windows.labels, vectors[_ATTRIBUTE.value], amounts, key=gf.key(PROG),
                       temperature=temperature)
  kind = av.kind_of(model.config)
  writer = gf.writer()
  stem = f'{gf.stem(model, "attribute")}_{_ATTRIBUTE.value}'
  print(f'{_INPUT.value}: {len(windows.labels)} window(s); {_ATTRIBUTE.value} of the results '
        '(mean over windows):')
  for i, (k, mine) in enumerate(zip(amounts, labels)):
    value = float(np.mean(attribute_metrics.compute(mine, kind)[_ATTRIBUTE.value]))
    piece = sequences_lib.concatenate_sequences(model.to_note_sequences(mine))
    writer.write(piece, f'{stem}-{i + 1:03d}-of-{len(amounts):03d}_{k:+g}',
                 f'{_ATTRIBUTE.value} {k:+g} x vector: {value:.3f}')
    print(f'  {k:+6g} x vector: {value:.3f}')
  gf.report(PROG, writer.written)


def main(argv):
  if len(argv) != 2 or argv[1] not in COMMANDS:
    entry.die(PROG, f'say what to do: {PROG} compute ... or {PROG} apply ... (see --help).')
  command = argv[1]
  if command == 'compute':
    entry.require(PROG, argv[:1], _DATA)
  else:
    entry.require(PROG, argv[:1], _INPUT, _ATTRIBUTE)
  model = gf.load_model(PROG)
  if command == 'compute':
    compute(model)
  else:
    apply(model)


def run():
  entry.run(main, sys.modules[__name__], PROG, shared=(gf,))


if __name__ == '__main__':
  run()
