"""POP909 on its beat grid: labels line up with beats, chroma carries the note durations."""

import numpy as np
import pretty_midi

from musicvae_jax.chordkey import pop909, vocabulary
from tests.chordkey.pop909_songs import pop909_dir, songs  # noqa: F401  (fixtures)


def test_every_chord_boundary_is_a_beat(songs):
  for song in songs:
    grid = song.beat_times_b1
    for seg in song.chord_segments:
      for t in (seg.start_s, seg.end_s):
        assert np.min(np.abs(grid - t)) < 1e-4, (song.song_id, t)
    assert len(song.chord_labels_b) == song.num_beats


def test_per_beat_labels_reproduce_the_segments(songs):
  for song in songs:
    for seg in song.chord_segments:
      b0, b1 = (int(np.argmin(np.abs(song.beat_times_b1 - t))) for t in (seg.start_s, seg.end_s))
      assert b1 > b0
      assert set(song.chord_labels_b[b0:b1]) == {seg.label}
    assert song.chord_segments[0].start_s == np.round(song.beat_times_b1[0], 6)


def test_chroma_sums_to_the_note_durations_in_beats(songs, pop909_dir):
  for song in songs:
    midi = pretty_midi.PrettyMIDI(str(pop909_dir / 'songs' / song.song_id / f'{song.song_id}.mid'))
    piano = next(i for i in midi.instruments if i.name == 'PIANO')
    se_n2 = np.array([[n.start, n.end] for n in piano.notes])
    beats_n2 = np.clip(pop909.to_beats(se_n2, song.beat_times_b1), 0, song.num_beats)
    chroma_b12 = song.chroma(('PIANO',))
    np.testing.assert_allclose(chroma_b12.sum(), (beats_n2[:, 1] - beats_n2[:, 0]).sum(),
                               rtol=1e-9)
    pc_n = np.array([n.pitch % 12 for n in piano.notes])
    for pc in range(12):
      np.testing.assert_allclose(chroma_b12[:, pc].sum(),
                                 (beats_n2[pc_n == pc, 1] - beats_n2[pc_n == pc, 0]).sum(),
                                 rtol=1e-9, atol=1e-9)


def test_to_beats_is_the_grid_on_beat_times(songs):
  song = songs[-1]  # the song with the most tempo events
  idx = pop909.to_beats(song.beat_times_b1, song.beat_times_b1)
  np.testing.assert_allclose(idx, np.arange(song.num_beats + 1), atol=1e-9)


def test_notes_land_on_the_grid_where_the_chords_say(songs):
  """PIANO chroma of a major-chord beat holds the chord's root more than a random pitch class."""
  for song in songs:
    chroma_b12 = song.chroma()
    root_share, other_share = [], []
    for b, lab in enumerate(song.chord_labels_b):
      if lab.endswith(':maj') and chroma_b12[b].sum() > 0:
        root = vocabulary.pitch_class(lab.split(':')[0])
        share_12 = chroma_b12[b] / chroma_b12[b].sum()
        root_share.append(share_12[root])
        other_share.append(share_12[(root + 1) % 12])
    assert np.mean(root_share) > 3 * np.mean(other_share), song.song_id


def test_bass_chroma_is_one_hot_where_notes_sound(songs):
  song = songs[0]
  bass_b12, chroma_b12 = song.bass_chroma(), song.chroma()
  sounding_b = chroma_b12.sum(axis=1) > 0
  np.testing.assert_array_equal(bass_b12.sum(axis=1), sounding_b.astype(float))
  assert np.all(chroma_b12[bass_b12 > 0] > 0)


def test_keys(songs):
  changing = songs[1]
  assert len(changing.key_segments) > 1
  keys_b = changing.key_labels_b()
  assert len(set(keys_b)) > 1 and changing.main_key() in keys_b
  assert len(keys_b) == changing.num_beats


def test_split_is_deterministic_by_song_id(pop909_dir):
  ids = pop909.song_ids(pop909_dir)
  parts = pop909.split(ids)
  assert sorted(sum(parts.values(), [])) == ids
  assert not set(parts['train']) & set(parts['test'])
  assert 0.7 < len(parts['train']) / len(ids) < 0.9
  again = pop909.split(list(reversed(ids)))
  assert all(sorted(again[k]) == sorted(parts[k]) for k in parts)
