"""musicvae-groove: what GrooVAE does to drums (velocity and microtiming), with a GrooVAE model.

  musicvae-groove --mode=humanize --input_midi=<drums.mid> --workdir=<groovae_2bar_humanize>
  musicvae-groove --mode=tap2drum --input_midi=<any.mid> | --taps=0,0.5,0.75,... [--qpm=120]
      --workdir=<groovae_2bar_tap_fixed_velocity>
  musicvae-groove --mode=drumify --input_midi=<song.mid> [--instrument=N] --workdir=<tap model>
  musicvae-groove --mode=add_hihat --input_midi=<drums.mid> --workdir=<groovae_2bar_add_closed_hh>
  musicvae-groove --mode=transfer --input_midi=<pattern.mid> --groove_midi=<performance.mid>
      --workdir=<groovae_2bar_hits_control>
  [--num_outputs=1] [--temperature=0.5] [--seed=N] [--output_dir=musicvae_output]

humanize keeps the input's hits and adds velocity and timing; tap2drum and drumify turn taps
(every note of a file, the onsets of one part, or tap times in seconds) into a kit groove;
add_hihat keeps the input's drums and adds a closed hi-hat; transfer plays the pattern's hits
with the groove of another performance. Inputs of any length are cut into the model's windows
and joined again. Writes <config>_<mode>_<time>_<input>_input.mid (the input as the model reads
it) and --num_outputs results, each with a piano roll (steps, velocity shades and timing
strokes) and a WAV with FluidSynth.
"""

import pathlib
import sys

from absl import flags

from musicvae_jax.cli import entry
from musicvae_jax.cli import generate_flags as gf

_MODE = flags.DEFINE_enum('mode', None, ['humanize', 'tap2drum', 'drumify', 'add_hihat',
                                         'transfer'], 'What to do.')
_INPUT = flags.DEFINE_string('input_midi', None, 'The input MIDI (transfer: the pattern).')
_GROOVE = flags.DEFINE_string('groove_midi', None, 'transfer: the performance whose groove '
                              '(velocity and timing) the pattern takes.')
_TAPS = flags.DEFINE_list('taps', None, 'tap2drum: tap times in seconds, comma-separated, in '
                          'place of --input_midi.')
flags.register_validator('taps', lambda v: v is None or gf.are_numbers(v),
                         'give tap times in seconds, e.g. --taps=0,0.5,0.75.')
_QPM = flags.DEFINE_float('qpm', 120.0, 'Tempo of --taps, quarter notes per minute.')
flags.register_validator('qpm', lambda q: 10 <= q <= 1000,
                         'give a tempo from 10 to 1000 quarter notes per minute.')
_INSTRUMENT = flags.DEFINE_integer('instrument', None, 'drumify: the part (its instrument '
                                   'number) whose rhythm becomes drums; needed where a file has '
                                   'several.')
_NUM = flags.DEFINE_integer('num_outputs', 1, 'Results per input.')

PROG = 'musicvae-groove'


def read_input(ops, model):
  mode, path = _MODE.value, _INPUT.value
  if mode == 'tap2drum' and _TAPS.value:
    return ops.taps_from_times(model, map(float, _TAPS.value), qpm=_QPM.value), 'taps'
  if not path:
    entry.die(PROG, f'--mode={mode} needs --input_midi' + (' or --taps.' if mode == 'tap2drum'
                                                           else '.'))
  read = dict(tap2drum=ops.read_taps,
              drumify=lambda m, p: ops.read_part(m, p, _INSTRUMENT.value)).get(mode,
                                                                               ops.read_drums)
  return read(model, path), pathlib.Path(path).stem


def main(argv):
  entry.require(PROG, argv, _MODE)
  if _NUM.value < 1:
    entry.die(PROG, f'--num_outputs={_NUM.value}: ask for at least one.')
  if _MODE.value == 'transfer' and not _GROOVE.value:
    entry.die(PROG, '--mode=transfer needs --groove_midi (the performance to take the groove of).')
  if not gf.WORKDIR.value:
    entry.die(PROG, '--workdir is required: a GrooVAE model (e.g. musicvae-import-magenta '
              '--config=groovae_2bar_humanize ...).')
  gf.check_output_dir()
  from musicvae_jax.generation import groove as ops  # pylint: disable=g-import-not-at-top
  model = gf.load_model()
  ops.check_model(model, _MODE.value, gf.WORKDIR.value)
  piece, name = read_input(ops, model)  # every input read before anything is written
  extra = (ops.read_drums(model, _GROOVE.value),) if _MODE.value == 'transfer' else ()
  for p in (piece,) + extra:
    if p.notice():
      print(p.notice(), file=sys.stderr)
  op = getattr(ops, 'tap2drum' if _MODE.value == 'drumify' else _MODE.value)
  results = op(model, piece, *extra, key=gf.key(PROG), num_outputs=_NUM.value,
               temperature=gf.TEMPERATURE.value)
  writer, stem = gf.writer(), f'{gf.stem(model, _MODE.value)}_{name}'
  writer.write(ops.input_sequence(model, piece), f'{stem}_input',
               f'{name} as the model reads it')
  writer.write_all(results, stem, [f'{name}: {_MODE.value} {i + 1}' for i in range(_NUM.value)])
  gf.report(PROG, writer.written)


def run():
  entry.run(main, sys.modules[__name__], PROG, shared=(gf,))


if __name__ == '__main__':
  run()
