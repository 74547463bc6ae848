"""musicvae-prepare: a folder of MIDI files -> train/eval ArrayRecord shards for one config.

  musicvae-prepare --config=cat-mel_2bar_small --input=<MIDI folder> --output=<dir>
      [--config.data.eval_fraction=0.2] [--workers=N] [--records_per_shard=65536]
      [--preview=8] [--overwrite] [--runner=beam --beam_options=--direct_num_workers=4,...]
      [--midi_parser=note_seq] [--split_csv=MANIFEST.csv --split_column=gmd_split]

Without --input the bundled MIDI folder for the config's converter kind is used. Unusable
files are skipped, counted in dataset.json and listed in skipped.jsonl. One run at a time
writes an --output folder: another run on it is refused while the first holds its lock.
"""

import os
import sys

from absl import flags
from ml_collections import config_flags

from musicvae_jax import bundled_data
from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax.cli import entry
from musicvae_jax.converters import midi_io
from musicvae_jax.input_pipeline import prepare
from musicvae_jax.input_pipeline import prepare_beam

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Config name, e.g. cat-mel_2bar_small or cat-mel_2bar_small:tiny.')
_INPUT = flags.DEFINE_string('input', None, 'MIDI folder, searched recursively (default: the '
                             "bundled folder for the config's converter).")
_OUTPUT = flags.DEFINE_string('output', None, 'Folder to write the dataset to.')
_WORKERS = flags.DEFINE_integer('workers', os.cpu_count(), 'Worker processes with --runner=local '
                                '(1: in-process; default: one per CPU).')
_PER_SHARD = flags.DEFINE_integer('records_per_shard', 65_536, 'Windows per shard file.')
_PREVIEW = flags.DEFINE_integer('preview', 0, 'Write N windows (one per file) to '
                                'output/preview/ as MIDI + PNG.')
_RUNNER = flags.DEFINE_enum('runner', 'local', ['local', 'beam'], 'local: a process pool; beam: '
                            'an Apache Beam pipeline, same files (pip install -e ".[beam]").')
_BEAM_OPTIONS = flags.DEFINE_list(
    'beam_options', [], 'Beam pipeline options for --runner=beam, comma-separated, each written '
    'whole with its own "=", e.g. --beam_options=--direct_num_workers=2,--direct_running_mode='
    'multi_processing; double-quote one that holds a comma. Default: the DirectRunner.')
_OVERWRITE = flags.DEFINE_bool('overwrite', False, 'Replace a dataset already in --output.')
_SPLIT_CSV = flags.DEFINE_string('split_csv', None, "A CSV giving each file its split (a 'file' "
                                  'column, and train/validation/test in --split_column); files '
                                  'it leaves out are counted. Default: a hash split by file.')
_SPLIT_COLUMN = flags.DEFINE_string('split_column', 'split', 'The split column of --split_csv.')
_D = midi_io.MidiLimits()
_MAX_MB = flags.DEFINE_float('max_file_mb', _D.max_file_bytes / 2**20, 'Skip larger files.')
_MAX_NOTES = flags.DEFINE_integer('max_num_notes', _D.max_num_notes, 'Skip files with more.')
_MAX_TIME = flags.DEFINE_float('max_total_time', _D.max_total_time, 'Skip longer files (s).')
_CHORD_SOURCE = flags.DEFINE_enum('chord_source', 'file', ['file', 'model'], 'Chord configs: '
    "file: a file's chord symbols, else note-seq's HMM; model: musicvae-chords' triads instead.")
_CHORD_MODEL = flags.DEFINE_string('chord_model', None, '--chord_source=model: its model folder.')
_PARSER = flags.DEFINE_enum('midi_parser', 'fast', midi_io.PARSERS, 'fast (default): the '
                            'compiled reader, same notes and windows as note-seq on every shared '
                            'file, several times faster; note_seq: mido + pretty_midi, as Magenta.')


def _die(message) -> None:
  entry.die('musicvae-prepare', message)


def main(argv):
  if len(argv) > 1:
    _die(f'unexpected arguments {argv[1:]}; every option is a --flag=value.')
  config = _CONFIG.value
  if config is None:
    _die('--config is required, e.g. --config=cat-mel_2bar_small; known configs: '
         + ', '.join(config_lib.config_names()))
  if not _OUTPUT.value:
    _die('--output=<folder> is required (where the shards and dataset.json go).')
  input_dir = _INPUT.value or bundled_data.midi_dir(config.data.converter)
  limits = midi_io.MidiLimits(max_file_bytes=int(_MAX_MB.value * 2**20),
                              max_num_notes=_MAX_NOTES.value, max_total_time=_MAX_TIME.value,
                              parser=_PARSER.value)
  if _CHORD_SOURCE.value == 'model' and _RUNNER.value == 'beam':
    _die('--chord_source=model runs with --runner=local only.')
  if _BEAM_OPTIONS.value and _RUNNER.value != 'beam':
    _die('--beam_options needs --runner=beam.')
  common = dict(records_per_shard=_PER_SHARD.value, preview=_PREVIEW.value,
                overwrite=_OVERWRITE.value, limits=limits, split_csv=_SPLIT_CSV.value,
                split_column=_SPLIT_COLUMN.value)
  run = config_boundary.run_spec(config)
  if _RUNNER.value == 'beam':
    info = prepare_beam.prepare_beam(run, input_dir, _OUTPUT.value,
                                     beam_options=_BEAM_OPTIONS.value, **common)
  else:
    info = prepare.prepare(run, input_dir, _OUTPUT.value, workers=_WORKERS.value,
                           chord_source=_CHORD_SOURCE.value, chord_model=_CHORD_MODEL.value,
                           **common)
  print(prepare.format_report(info, _OUTPUT.value))


def run():
  entry.run(main, sys.modules[__name__], 'musicvae-prepare')


if __name__ == '__main__':
  run()
