"""musicvae-chords with the bundled POP909 model on real files: held-out POP909 songs, a song of
another collection, a corrupt file among them; what each output file holds."""

import json
import shutil
import subprocess

import mir_eval
import numpy as np
import pretty_midi
import pytest

import broken_midi
from cli_process import argv
from conftest import SHARED
from musicvae_jax.chordkey import annotate, pop909, scoring, vocabulary

POP909 = SHARED / 'data' / 'pop909'
SONG = SHARED / 'data' / 'midi' / 'multitrack' / 'freedoom_d_e1m1.mid'


def _test_songs(n):
  return pop909.split(pop909.song_ids(POP909))['test'][:n]


def test_bundled_model_reads_held_out_songs_well():
  """The library call on POP909 test-split songs (never trained on): mir_eval majmin and key."""
  est = annotate.Estimator.load()
  assert 'POP909 train split' in est.info['trained_on']
  per_song, weights, keys = [], [], []
  for song_id in _test_songs(3):
    song = pop909.load_song(song_id, POP909)
    result = est.estimate(POP909 / 'songs' / song_id / f'{song_id}.mid')
    assert len(result.chords_b) == song.num_beats   # read on the song's beat_midi.txt grid
    per_song.append(scoring.song_chord_scores(song, result.chords_b))
    weights.append(song.beat_times_b1[-1] - song.beat_times_b1[0])
    keys.append(scoring.key_score(song.main_key(), result.global_key))
  pooled = scoring.pool(per_song, weights)
  assert pooled['majmin'] > 0.85 and pooled['root'] > 0.85, pooled
  assert np.mean(keys) >= 0.6, keys


def test_folder_with_a_corrupt_file(tmp_path):
  src = tmp_path / 'in'
  (src / 'pop').mkdir(parents=True)
  song_id = _test_songs(1)[0]
  # A POP909 song folder (its beat_midi.txt gives the grid), another collection's song, and a
  # corrupt file.
  shutil.copytree(POP909 / 'songs' / song_id, src / 'pop' / song_id)
  shutil.copy(SONG, src / SONG.name)
  broken_midi.make('corrupt', src / 'broken.mid')
  out = tmp_path / 'out'
  proc = subprocess.run(argv('musicvae-chords', f'--input_midi={src}', f'--output_dir={out}'),
                        capture_output=True, text=True, timeout=600, check=False)
  assert proc.returncode == 0, proc.stderr
  assert '2 of 3 files annotated' in proc.stdout
  assert 'skipped 1 of 3 files' in proc.stderr and 'broken.mid: not a readable MIDI' in proc.stderr

  for folder, stem in ((out / 'pop' / song_id, song_id), (out, SONG.stem)):
    info = json.loads((folder / f'{stem}.json').read_text())
    intervals, labels = mir_eval.io.load_labeled_intervals(str(folder / f'{stem}.chords.lab'))
    assert [lab for lab in labels] == [c['label'] for c in info['chords']]
    assert all(vocabulary.chord_index(lab) >= 0 for lab in labels)
    np.testing.assert_allclose(intervals[1:, 0], intervals[:-1, 1])   # contiguous
    key_intervals, key_labels = mir_eval.io.load_labeled_intervals(
        str(folder / f'{stem}.keys.lab'))
    assert info['global_key'] in map(vocabulary.key_label, range(24))
    # One beat entry per grid beat; the segments are the beats' runs.
    assert len(info['beats']) >= len(labels)
    assert labels[0] == info['beats'][0]['chord'] and labels[-1] == info['beats'][-1]['chord']
    midi = pretty_midi.PrettyMIDI(str(folder / f'{stem}.mid'))
    chord_events = [e for e in midi.text_events if e.text.startswith('chord:')]
    assert [e.text[len('chord:'):] for e in chord_events] == list(labels)
    np.testing.assert_allclose([e.time for e in chord_events], intervals[:, 0], atol=2e-3)
    assert [vocabulary.key_label(k.key_number) for k in midi.key_signature_changes] == list(
        key_labels)
    assert (folder / f'{stem}.png').stat().st_size > 10_000
  pop = json.loads((out / 'pop' / song_id / f'{song_id}.json').read_text())
  assert pop['roles'] == {'MELODY': ['MELODY'], 'BRIDGE': ['BRIDGE'], 'PIANO': ['PIANO']}
  assert len(pop['beats']) == pop909.load_song(song_id, POP909).num_beats
  other = json.loads((out / f'{SONG.stem}.json').read_text())
  assert other['roles']['PIANO'] and len(other['roles']['MELODY']) == 1


def test_single_corrupt_file_is_one_line(tmp_path):
  bad = broken_midi.make('corrupt', tmp_path / 'broken.mid')
  proc = subprocess.run(argv('musicvae-chords', f'--input_midi={bad}',
                             f'--output_dir={tmp_path / "out"}'),
                        capture_output=True, text=True, timeout=300, check=False)
  assert proc.returncode == 2
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith(
      f'musicvae-chords: error: {bad}: not a readable MIDI file ('), proc.stderr
  assert not (tmp_path / 'out').exists()
  with pytest.raises(Exception, match='not a readable MIDI file'):
    annotate.Estimator.load().estimate(bad)
