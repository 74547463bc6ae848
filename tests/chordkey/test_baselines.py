"""The baselines run on real songs and beat trivial guesses."""

import collections

import numpy as np

from musicvae_jax.chordkey import baselines, scoring, vocabulary
from tests.chordkey.pop909_songs import pop909_dir, songs  # noqa: F401  (fixtures)


def _constant_guess(song):
  """The song's most frequent reference chord on every beat (an oracle constant guess)."""
  common = collections.Counter(song.chord_labels_b).most_common(1)[0][0]
  return [common] * song.num_beats


def test_template_matching_beats_a_constant_chord(songs):
  for song in songs[:3]:
    tmpl = scoring.song_chord_scores(song, baselines.template_chords(song.chroma()))
    const = scoring.song_chord_scores(song, _constant_guess(song))
    assert tmpl['majmin'] > const['majmin'] + 0.2, song.song_id
    assert tmpl['root'] > 0.6, song.song_id


def test_templates_are_the_vocabulary():
  t_c12 = baselines.chord_templates()
  assert t_c12.shape == (vocabulary.NUM_CHORDS, 12)
  c_maj = t_c12[vocabulary.chord_index('C:maj')]
  assert set(np.nonzero(c_maj)[0]) == {0, 4, 7}
  assert set(np.nonzero(t_c12[vocabulary.chord_index('A:min7')])[0]) == {9, 0, 4, 7}


def test_hmm_gives_one_chord_per_beat(songs):
  song = songs[0]
  labels_b = baselines.hmm_chords(song)
  assert len(labels_b) == song.num_beats
  scores = scoring.song_chord_scores(song, labels_b)
  assert scores['majmin'] > scoring.song_chord_scores(song, _constant_guess(song))['majmin'] + 0.2
  # Changes fall on beats, more often than once a bar: the HMM really decides per beat.
  changes = sum(a != b for a, b in zip(labels_b, labels_b[1:]))
  assert changes > song.num_beats / 8


def test_regressions_learn_from_songs(songs):
  train, held = songs[1:], songs[0]
  x = np.concatenate([baselines.chord_features(s) for s in train])
  y = np.array([vocabulary.chord_index(lab) for s in train for lab in s.chord_labels_b])
  model = baselines.SoftmaxRegression(vocabulary.NUM_CHORDS, steps=100).fit(x, y)
  assert (model.predict(x) == y).mean() > 0.5
  est = [vocabulary.chord_label(int(c)) for c in model.predict(baselines.chord_features(held))]
  assert scoring.song_chord_scores(held, est)['root'] > 0.5
  key_model = baselines.train_key_regression(train, steps=300)
  pred = key_model.predict(np.array([baselines.key_features(s) for s in train]))
  assert np.mean([vocabulary.key_label(int(p)) == s.main_key() for p, s in zip(pred, train)]) > 0.6


def test_music21_key_is_a_key(songs):
  est = baselines.music21_key(songs[0])
  assert scoring.key_score(songs[0].main_key(), est) >= 0.5
