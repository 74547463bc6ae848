"""The MIDI that ships in data/: unchanged copies of the shared set, and the main job on them."""

import csv
import hashlib

import note_seq
import pytest

from musicvae_jax import bundled_data, config_lib
from musicvae_jax.input_pipeline.prepare import prepare


@pytest.mark.parametrize('kind', ['melody', 'drums', 'trio'])
def test_bundled_files_are_the_shared_files_byte_for_byte(kind, shared_midi):
  folder = bundled_data.midi_dir(kind)
  rows = list(csv.DictReader(open(folder / 'MANIFEST.csv', encoding='utf-8')))
  assert sorted(r['file'] for r in rows) == sorted(p.name for p in folder.glob('*.mid'))
  for row in rows:
    data = (folder / row['file']).read_bytes()
    assert hashlib.sha1(data).hexdigest() == row['sha1'], row['file']
    assert data == (shared_midi / folder.name / row['file']).read_bytes()


def test_licences_travel_with_the_data():
  licences = {p.name for p in (bundled_data.data_dir() / 'LICENSES').iterdir()}
  assert {'nottingham-LICENSE-GPL-3.0.txt', 'groove-midi-dataset-LICENSE-CC-BY-4.0.txt',
          'freedoom-COPYING.txt', 'openmsx-LICENSE-GPL-2.0.txt'} <= licences


def test_main_job_on_the_bundled_melodies_writes_midi_and_piano_rolls(tmp_path):
  """What the README's first command runs: prepare cat-mel_2bar_small with --preview=8."""
  config = config_lib.get_config('cat-mel_2bar_small')
  info = prepare(config, bundled_data.midi_dir('melody'), tmp_path, workers=2, preview=8,
                 progress=False)
  assert info['counts']['files_with_windows'] > 400
  assert info['splits']['train']['windows'] > 6000 and info['splits']['eval']['windows'] > 300
  previews = sorted((tmp_path / 'preview').glob('*.mid'))
  assert len(previews) == 8
  for path in previews:
    ns = note_seq.midi_file_to_note_sequence(str(path))
    assert len(ns.notes) > 0 and ns.total_time == pytest.approx(4.0, abs=0.01)  # 2 bars, 120 qpm
    assert path.with_suffix('.png').stat().st_size > 5000
