"""musicvae-swap on two real Nottingham reels it never saw with a TS-DSAE trained (tiny) on real reels:
six MIDI files with piano rolls, the swaps exactly the model's decodes of (v_a, z_b) and
(v_b, z_a), and the inputs exactly the windows the converter reads."""

import subprocess

import note_seq
import numpy as np
import pytest

from musicvae_jax import config_lib
from musicvae_jax.converters import midi_io
from musicvae_jax.training import dsae_model
from musicvae_jax.training import loop

import cli_process


@pytest.fixture(scope='module')
def ts_workdir(melody_dataset, tmp_path_factory):
  workdir = tmp_path_factory.mktemp('tsdsae_mel') / 'run'
  loop.train_and_evaluate(config_lib.get_config('tsdsae-mel_2bar:tiny'), melody_dataset,
                          workdir, progress=False, log=lambda *a: None)
  return workdir


def test_swap_writes_both_swaps_of_two_real_melodies(ts_workdir, shared_midi, tmp_path):
  a = shared_midi / 'melody' / 'nottingham_reelsa-c52.mid'
  b = shared_midi / 'melody' / 'nottingham_reelsa-c74.mid'
  out = tmp_path / 'out'
  proc = subprocess.run(cli_process.argv(
      'musicvae-swap', f'--workdir={ts_workdir}', f'--global_midi={a}', f'--local_midi={b}',
      '--window=1', f'--output_dir={out}', '--nowav'), capture_output=True, text=True,
      timeout=600, check=False)
  assert proc.returncode == 0, proc.stderr
  stems = ('nottingham_reelsa-c52_input', 'nottingham_reelsa-c74_input',
           'nottingham_reelsa-c52_reconstruction', 'nottingham_reelsa-c74_reconstruction',
           'global_nottingham_reelsa-c52_local_nottingham_reelsa-c74',
           'global_nottingham_reelsa-c74_local_nottingham_reelsa-c52')
  assert sorted(p.stem for p in out.glob('*.mid')) == sorted(stems)
  assert all((out / f'{s}.png').stat().st_size > 0 for s in stems)
  assert 'global_a_local_b:' in proc.stdout and "keep the z donor's onsets" in proc.stdout
  model = dsae_model.DsaeModel(ts_workdir)
  read = lambda p: model.converter.extract(midi_io.read_midi(p)).windows
  win_a, win_b = read(a)[1][:, 0], read(b)[1][:, 0]
  assert np.array_equal(read(out / f'{stems[0]}.mid')[0][:, 0], win_a)
  expected = model.swap(win_a[None], win_b[None])
  for stem, key in ((stems[4], 'global_a_local_b'), (stems[5], 'global_b_local_a')):
    # The written notes are exactly the decode's onsets (none, if the tiny model decoded rests).
    written = note_seq.midi_file_to_note_sequence(str(out / f'{stem}.mid'))
    onsets = [int(t) for t in expected[key][0] if t >= 2]
    assert [n.pitch for n in sorted(written.notes, key=lambda n: n.start_time)] == [
        model.converter.vocabulary.onset_pitch(t) for t in onsets], stem
