"""Multi-instrument bars from the command line: musicvae-sample, -reconstruct and -interpolate on
a hier-multiperf model (Magenta's own small checkpoint, imported), with real multitrack MIDI in.

What is checked is what a user gets: MIDI with a PNG beside it, several programs and drums in
one file, the input as the model reads it (every bar the converter could encode, re-extracted
to the same windows), and a clear line for a file with no bar to read.
"""

import subprocess

import note_seq
import numpy as np
import pytest

from conftest import magenta_checkpoint
from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax.magenta import importer
from tests import cli_process
from tests.converters.test_multiperf import _repacked

CONFIG = 'hier-multiperf_vel_1bar_med'


@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
  out = tmp_path_factory.mktemp('multiperf') / 'run'
  importer.import_checkpoint(magenta_checkpoint('multiperf'), CONFIG, out, log=lambda _: None)
  return out


@pytest.fixture(scope='module')
def songs(shared_midi):
  """Two multitrack songs with many encodable bars (so the test is about music, not skips)."""
  converter = config_boundary.converter_of(config_lib.get_config(CONFIG))
  found = []
  for path in sorted((shared_midi / 'multitrack').glob('*.mid')):
    windows = converter.extract(note_seq.midi_file_to_note_sequence(str(path))).windows
    if len(windows) >= 4:
      found.append((path, windows))
    if len(found) == 2:
      return converter, found
  pytest.fail('fewer than two multitrack songs with 4 encodable bars')


def _run(prog, workdir, out, *args):
  argv = cli_process.argv(prog, f'--workdir={workdir}', '--seed=5', '--wav=false',
                          f'--output_dir={out}', *args)
  return subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)


def _written(folder):
  midis = sorted(folder.glob('*.mid'))
  for midi in midis:
    assert midi.with_suffix('.png').read_bytes()[:4] == b'\x89PNG', midi
  return [note_seq.midi_file_to_note_sequence(str(m)) for m in midis], midis


def test_sample_writes_multi_instrument_bars(workdir, tmp_path):
  proc = _run('musicvae-sample', workdir, tmp_path / 's', '--num_outputs=3', '--temperature=0.8')
  assert proc.returncode == 0, proc.stderr[-2000:]
  sequences, _ = _written(tmp_path / 's')
  assert len(sequences) == 3
  for ns in sequences:  # an untrained (3-step) model: any tokens, still a valid file of 1 bar
    assert ns.total_time <= 2.0 + 1e-6  # one 4/4 bar at 120 qpm
  tracks = {(n.instrument, n.program, n.is_drum) for ns in sequences for n in ns.notes}
  assert len({t[1] for t in tracks}) > 1  # several programs across the bars


def test_reconstruct_keeps_every_bar_it_can_read(workdir, songs, tmp_path):
  converter, [(path, windows), _] = songs
  proc = _run('musicvae-reconstruct', workdir, tmp_path / 'r', f'--input_midi={path}')
  assert proc.returncode == 0, proc.stderr[-2000:]
  sequences, midis = _written(tmp_path / 'r')
  assert len(midis) == 2
  seen = sequences[[m.name.endswith('_input.mid') for m in midis].index(True)]
  # The input as the model reads it: its bars, decoded, joined and re-read, are the song's
  # windows (less the tracks with no note, which decode to nothing: test_multiperf._repacked).
  again = converter.extract(seen).windows
  want = [w for w in map(_repacked, windows) if w is not None]
  assert len(again) == len(want) >= 4
  for got, w in zip(again, want):
    np.testing.assert_array_equal(got, w)
  programs = {(n.program, n.is_drum) for n in seen.notes}
  assert len(programs) >= 2


def test_interpolate_between_two_songs(workdir, songs, tmp_path):
  _, [(a, _), (b, _)] = songs
  proc = _run('musicvae-interpolate', workdir, tmp_path / 'i', f'--input_midi_1={a}',
              f'--input_midi_2={b}', '--num_outputs=3', '--temperature=0')
  assert proc.returncode == 0, proc.stderr[-2000:]
  sequences, _ = _written(tmp_path / 'i')
  assert len(sequences) == 3 and all(ns.notes for ns in sequences)


def test_a_file_with_no_readable_bar_is_one_line(workdir, tmp_path):
  solo = note_seq.NoteSequence(ticks_per_quarter=220)  # one instrument: no bar has 2 to 8
  solo.tempos.add(qpm=120)
  for i in range(16):
    solo.notes.add(pitch=60 + i % 5, start_time=i * 0.25, end_time=i * 0.25 + 0.2, velocity=80)
  solo.total_time = 4.0
  path = tmp_path / 'solo.mid'
  note_seq.sequence_proto_to_midi_file(solo, str(path))
  proc = _run('musicvae-reconstruct', workdir, tmp_path / 'none', f'--input_midi={path}')
  assert proc.returncode != 0 and 'Traceback' not in proc.stderr
  lines = [l for l in proc.stderr.splitlines() if 'error:' in l]
  assert len(lines) == 1 and 'solo.mid' in lines[0] and 'too_few_instruments' in lines[0], (
      proc.stderr[-2000:])


def test_attribute_vectors_are_refused_in_one_line(workdir, tmp_path):
  """Attributes are defined on melody, drums and trio windows: refused before any encoding."""
  argv = cli_process.argv('musicvae-attributes', 'compute', f'--workdir={workdir}',
                          f'--data={tmp_path}', f'--output={tmp_path / "v.npz"}')
  proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
  assert proc.returncode != 0 and 'Traceback' not in proc.stderr
  lines = [l for l in proc.stderr.splitlines() if 'error:' in l]
  assert len(lines) == 1 and "'multiperf' windows" in lines[0], proc.stderr[-2000:]
  assert not (tmp_path / 'v.npz').exists()
