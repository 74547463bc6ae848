"""mir_eval scoring on the beat grid: the reference scores 1 against itself, less when shifted."""

import pytest

from musicvae_jax.chordkey import scoring
from tests.chordkey.pop909_songs import pop909_dir, songs  # noqa: F401  (fixtures)


def test_reference_against_itself_is_one(songs):
  for song in songs:
    scores = scoring.song_chord_scores(song, song.chord_labels_b)
    assert set(scores) == set(scoring.CHORD_METRICS)
    for m, v in scores.items():
      assert v == pytest.approx(1.0, abs=1e-5), (song.song_id, m)


def test_shifted_labels_score_lower(songs):
  for song in songs:
    shifted = song.chord_labels_b[2:] + song.chord_labels_b[-1:] * 2
    scores = scoring.song_chord_scores(song, shifted)
    for m in ('root', 'majmin', 'sevenths'):
      assert scores[m] < 0.95, (song.song_id, m, scores[m])


def test_key_scores(songs):
  for song in songs:
    assert scoring.region_key_score(song, song.key_labels_b()) == pytest.approx(1.0)
  changing = songs[1]
  assert 0 < scoring.region_key_score(changing, [changing.main_key()] * changing.num_beats) < 1
  assert scoring.key_score('C:maj', 'G:maj') == 0.5
  assert scoring.key_score('C:maj', 'A:min') == pytest.approx(0.3)


def test_pool_weights_by_duration():
  pooled = scoring.pool([{'root': 1.0}, {'root': 0.0}], [3.0, 1.0])
  assert pooled['root'] == pytest.approx(0.75)
