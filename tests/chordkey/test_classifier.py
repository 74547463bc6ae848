"""The BiLSTM chord/key classifier: shapes, masks, label transposition, and it learns."""

import collections

import numpy as np

from musicvae_jax.chordkey import classifier, scoring, vocabulary
from tests.chordkey.pop909_songs import pop909_dir, songs  # noqa: F401  (fixtures)


def test_outputs_have_the_right_shapes_and_padding_is_ignored(songs):
  trainer, state = classifier.make_trainer(hidden_size=16)
  batch = classifier.sample_batch([classifier.example(s) for s in songs],
                                  np.random.default_rng(0), 3, 64)
  assert batch['x'].shape == (3, 64, classifier.NUM_FEATURES)
  assert batch['chords'].shape == batch['keys'].shape == batch['mask'].shape == (3, 64)
  ex = classifier.example(songs[0])
  chord_lp, key_lp = classifier.predict_song(trainer, state['params'], ex, bucket=128)
  n = songs[0].num_beats
  assert chord_lp.shape == (n, vocabulary.NUM_CHORDS) and key_lp.shape == (n, vocabulary.NUM_KEYS)
  np.testing.assert_allclose(np.exp(chord_lp).sum(1), 1.0, rtol=1e-4)
  # More padding (another bucket) leaves the real beats' outputs unchanged, both directions.
  chord_lp2, key_lp2 = classifier.predict_song(trainer, state['params'], ex, bucket=512)
  np.testing.assert_allclose(chord_lp2, chord_lp, atol=1e-4)
  np.testing.assert_allclose(key_lp2, key_lp, atol=1e-4)
  chords_b, keys_b, global_key = classifier.decode(chord_lp, key_lp)
  assert len(chords_b) == len(keys_b) == n and global_key in map(vocabulary.key_label, range(24))


def test_label_transposition():
  all_c = np.arange(vocabulary.NUM_CHORDS)
  all_k = np.arange(vocabulary.NUM_KEYS)
  np.testing.assert_array_equal(classifier.transpose_chords(all_c, 12), all_c)
  np.testing.assert_array_equal(classifier.transpose_keys(all_k, 12), all_k)
  for k in range(12):  # a permutation, undone by -k
    assert sorted(classifier.transpose_chords(all_c, k)) == list(all_c)
    np.testing.assert_array_equal(
        classifier.transpose_chords(classifier.transpose_chords(all_c, k), 12 - k), all_c)
  c = lambda lab: vocabulary.chord_index(lab)  # noqa: E731
  assert classifier.transpose_chords(np.array([c('C:maj')]), 2)[0] == c('D:maj')
  assert classifier.transpose_chords(np.array([c('A:min7')]), 5)[0] == c('D:min7')
  assert classifier.transpose_chords(np.array([c('N')]), 7)[0] == 0
  key = vocabulary.key_index
  assert classifier.transpose_keys(np.array([key('C:maj')]), 2)[0] == key('D:maj')
  assert classifier.transpose_keys(np.array([key('B:min')]), 3)[0] == key('D:min')
  # Features roll with the labels: a C major triad's chroma moved by 2 is D major's.
  x = np.zeros((1, classifier.NUM_FEATURES), np.float32)
  x[0, [0, 4, 7]] = 1.0
  x[0, 12] = 1.0
  x[0, -1] = 0.5
  y = classifier.transpose_features(x, 2)
  assert set(np.nonzero(y[0, :12])[0]) == {2, 6, 9} and y[0, 14] == 1.0 and y[0, -1] == 0.5
  np.testing.assert_array_equal(classifier.transpose_features(x, 12), x)


def test_short_training_fits_the_songs(songs):
  train = songs[:3]
  exs = [classifier.example(s) for s in train]
  trainer, state = classifier.make_trainer(hidden_size=32, learning_rate=1e-2, seed=0)
  state, losses = classifier.train(trainer, state, exs, steps=120, batch_size=8, length=64,
                                   seed=0)
  assert trainer.traces['train_step'] == 1
  assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:10])
  for song, ex in zip(train, exs):
    chords_b, _, _ = classifier.decode(*classifier.predict_song(trainer, state['params'], ex))
    common = collections.Counter(song.chord_labels_b).most_common(1)[0][0]
    const = scoring.song_chord_scores(song, [common] * song.num_beats)['majmin']
    assert scoring.song_chord_scores(song, chords_b)['majmin'] > const + 0.2, song.song_id
