"""The MIDI that ships in data/: unchanged copies of the shared set, and the main job on them."""

import csv
import hashlib
import re

import note_seq
import pytest

from musicvae_jax import config_boundary
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
  info = prepare(config_boundary.run_spec(config), bundled_data.midi_dir('melody'), tmp_path, workers=2, preview=8,
                 progress=False)
  assert info['counts']['files_with_windows'] > 400
  assert info['splits']['train']['windows'] > 6000 and info['splits']['eval']['windows'] > 300
  previews = sorted((tmp_path / 'preview').glob('*.mid'))
  assert len(previews) == 8
  for path in previews:
    ns = note_seq.midi_file_to_note_sequence(str(path))
    assert len(ns.notes) > 0 and ns.total_time == pytest.approx(4.0, abs=0.01)  # 2 bars, 120 qpm
    assert path.with_suffix('.png').stat().st_size > 5000


def test_every_bundled_file_has_its_source_and_licence_written_down():
  """data/README.md and the MANIFESTs account for every file that ships in data/."""
  root = bundled_data.data_dir()
  readme = (root / 'README.md').read_text(encoding='utf-8')
  manifests = {}
  for manifest in root.glob('midi/*/MANIFEST.csv'):
    for row in csv.DictReader(open(manifest, encoding='utf-8')):
      manifests[manifest.parent / row['file']] = row
  unaccounted = []
  for path in sorted(p for p in root.rglob('*') if p.is_file()):
    rel = path.relative_to(root)
    if rel.parts[0] == 'midi' and path.name != 'MANIFEST.csv':
      row = manifests.get(path)
      if not row or not row['source'] or not row['license']:
        unaccounted.append(f'{rel}: no MANIFEST row with source and licence')
    elif rel.parts[0] == 'models':
      # Each model folder has its own section naming its data and its licence.
      heading = re.search(rf'^## .*`models/{re.escape(rel.parts[1])}/`.*$', readme, re.M)
      section = readme[heading.end():].split('\n## ', 1)[0] if heading else ''
      if 'licen' not in section.lower():
        unaccounted.append(f'{rel}: data/README.md has no section on models/{rel.parts[1]}/ '
                           'with its licence')
    elif rel.parts[0] == 'LICENSES' and path.name.split('-')[0] not in readme:
      unaccounted.append(f'{rel}: no source in data/README.md refers to it')
  assert not unaccounted, '\n'.join(unaccounted)
  # Every licence a MANIFEST names has its text in LICENSES/.
  texts = ' '.join(p.name.lower() for p in (root / 'LICENSES').iterdir())
  for row in manifests.values():
    licence = row['license'].split()[0].lower()  # e.g. 'gpl-3.0', 'cc-by-4.0', 'bsd-3-clause'
    assert licence in texts or row['source'] in texts, (row['file'], row['license'])


def test_every_bundled_model_has_a_card_and_fits_the_size_budget():
  """Each model folder: a card (data, training, held-out figures per style, weaknesses) that
  musicvae-evaluate --card prints, at most 15 MB; data/ at most 60 MB in all."""
  from musicvae_jax.generation import model_card  # pylint: disable=import-outside-toplevel
  root = bundled_data.data_dir()
  folders = sorted(p.parent for p in (root / 'models').rglob('params.npz'))
  assert len(folders) >= 5
  for folder in folders:
    card = model_card.load(folder)
    for field in model_card.FIELDS + ('heldout', 'weaknesses'):
      assert card.get(field), (folder.name, field)
    for row in card['heldout']:
      assert row['style'] and any(isinstance(v, float) and 0 < v for v in row.values()), row
    text = model_card.text(f'bundled:{folder.relative_to(root / "models")}')
    assert 'held out' in text and 'weakness' in text
    size = sum(p.stat().st_size for p in folder.rglob('*') if p.is_file())
    assert size <= 15 * 2**20, (folder.name, size)
  assert sum(p.stat().st_size for p in root.rglob('*') if p.is_file()) <= 60 * 2**20
