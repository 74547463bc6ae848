"""musicvae-chords: per-beat chords and keys of MIDI files, from the joint chord/key model.

  musicvae-chords --input_midi=<file.mid or folder> --output_dir=<dir> [--model=<folder>]

For each file writes <stem>.chords.lab and <stem>.keys.lab (mir_eval's lab format: start, end,
label), <stem>.json (every beat's chord, key and chord probability, the segments, the global
key), <stem>.mid (the input with chord text events and key signatures) and <stem>.png (the
piano roll with chord and key lanes). A folder is searched recursively; each file's outputs go
to the same relative place under --output_dir. A file that cannot be read is skipped, counted
and named at the end (exit status 1 if every file failed); a single file that cannot be read
is an error.

--model: a training workdir of the chordkey_vae config, or a folder written by
bench/chordkey_vae.py --save_dir; without it the bundled model trained on POP909's train split. Beats: a POP909 beat_midi.txt beside a file is its grid;
otherwise the file's tempo map and time signatures give it.
"""

import pathlib
import sys

from absl import flags

from musicvae_jax import output_paths, progress
from musicvae_jax.cli import entry

_INPUT = flags.DEFINE_string('input_midi', None, 'A MIDI file, or a folder of them.')
_OUTPUT = flags.DEFINE_string('output_dir', None, 'The folder to write.')
_MODEL = flags.DEFINE_string('model', None, 'A chordkey_vae workdir or chord/key model folder '
                             '(default: the bundled POP909 model).')

PROG = 'musicvae-chords'


def _inputs(given: str) -> tuple[pathlib.Path, list[str]]:
  from musicvae_jax.input_pipeline import prepare  # pylint: disable=g-import-not-at-top
  path = pathlib.Path(given)
  if path.is_file():
    return path.parent, [path.name]
  if not path.exists():
    entry.die(PROG, f'--input_midi={given} does not exist; pass a .mid file or a folder of them.')
  try:
    return path, prepare.find_midi_files(path)
  except prepare.PrepareError as e:
    entry.die(PROG, str(e).replace('--input=', '--input_midi='))


def main(argv):
  entry.require(PROG, argv, _INPUT, _OUTPUT)
  output_paths.check_dir(_OUTPUT.value, 'output_dir')
  root, files = _inputs(_INPUT.value)
  from musicvae_jax.chordkey import annotate, midi_input  # pylint: disable=g-import-not-at-top
  estimator = annotate.Estimator.load(_MODEL.value)
  out = pathlib.Path(_OUTPUT.value)
  failed = []
  for rel in progress.bar(files, desc='chords', unit='file', enabled=len(files) > 1):
    try:
      result = estimator.estimate(root / rel)
    except midi_input.MidiInputError as e:
      if len(files) == 1:
        raise   # one line from entry.run
      failed.append(str(e))
      continue
    paths = annotate.write(result, (out / rel).parent)
    if len(files) == 1:
      print(f'{PROG}: {rel}: global key {result.global_key}, '
            f'{len(result.segments(result.chords_b))} chord segments; wrote '
            + ', '.join(str(p) for p in paths.values()))
  done = len(files) - len(failed)
  if failed:
    print(f'{PROG}: skipped {len(failed)} of {len(files)} files:', file=sys.stderr)
    for line in failed[:20]:
      print(f'  {line}', file=sys.stderr)
  if len(files) > 1 or failed:
    print(f'{PROG}: {done} of {len(files)} files annotated in {out}')
  if not done:
    sys.exit(1)


def run():
  entry.run(main, sys.modules[__name__], PROG)


if __name__ == '__main__':
  run()
