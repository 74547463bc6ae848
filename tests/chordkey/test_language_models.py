"""Chord language models on real POP909 songs: key-relative chords, the first-order transition
model and the LSTM, scored on a song they were not fitted on."""

import numpy as np
import pytest

from musicvae_jax.chordkey import classifier, language_models as lm, pop909, vocabulary
from tests.chordkey.pop909_songs import pop909_dir, songs  # noqa: F401  (fixtures)


def test_chords_become_relative_to_their_beats_key():
  c, k = vocabulary.chord_index, vocabulary.key_index
  seq = lm.relative([c('D:maj'), c('A:7'), c('B:min'), c('N'), c('E:min')],
                    [k('D:maj'), k('D:maj'), k('D:maj'), k('D:maj'), k('E:min')])
  assert seq.chords.tolist() == [c('C:maj'), c('G:7'), c('A:min'), 0, c('C:min')]
  assert seq.modes.tolist() == [0, 0, 0, 0, 1]
  # Moving a song and its keys together leaves the relative sequence as it was.
  chords = np.arange(vocabulary.NUM_CHORDS)
  keys = np.arange(vocabulary.NUM_CHORDS) % vocabulary.NUM_KEYS
  base = lm.relative(chords, keys)
  for shift in (1, 5, 11):
    moved = lm.relative(classifier.transpose_chords(chords, shift),
                        classifier.transpose_keys(keys, shift))
    assert np.array_equal(moved.chords, base.chords) and np.array_equal(moved.modes, base.modes)
  collapsed = lm.changes(lm.relative([c('C:maj')] * 3 + [c('F:maj')] * 2 + [c('C:maj')],
                                     [k('C:maj')] * 6))
  assert collapsed.chords.tolist() == [c('C:maj'), c('F:maj'), c('C:maj')]


def test_transition_model_is_normalised_and_counts_the_songs(songs):
  train = [lm.relative(*classifier.song_labels(s)) for s in songs[:3]]
  model = lm.Transition.fit(train, alpha=0.1)
  np.testing.assert_allclose(np.exp(model.log_p).sum(-1), 1.0, rtol=1e-9)
  # The commonest key-relative bigram of the training songs is the likeliest from its chord.
  pairs = {}
  for s in train:
    for a, b, m in zip(s.chords[:-1], s.chords[1:], s.modes[1:]):
      pairs[(m, a, b)] = pairs.get((m, a, b), 0) + 1
  (m, a, b), _ = max(pairs.items(), key=lambda kv: kv[1])
  assert np.argmax(model.log_p[m, a]) == b


@pytest.fixture(scope='module')
def split_songs(pop909_dir):
  """Key-relative chords of 24 train-split and 6 test-split songs (labels only)."""
  ids = pop909.split(pop909.song_ids(pop909_dir))
  load = lambda i: lm.relative(*classifier.song_labels(pop909.load_song(i, pop909_dir)))  # noqa
  return [load(i) for i in ids['train'][:24]], [load(i) for i in ids['test'][:6]]


def test_models_beat_the_unigram_on_held_out_songs(split_songs):
  train, held = split_songs
  uni = lm.perplexity([lm.unigram(train)[s.chords] for s in held])
  trans = lm.perplexity([lm.Transition.fit(train).step_log_probs(s) for s in held])
  # Chords last several beats: knowing the last one is worth much more than chord frequencies.
  assert trans < 0.5 * uni, (trans, uni)
  changes_train, changes_held = [lm.changes(s) for s in train], [lm.changes(s) for s in held]
  trainer, state = lm.make_recurrent(hidden_size=64, learning_rate=3e-3, seed=0)
  state, losses = lm.train_recurrent(trainer, state, changes_train, steps=200, batch_size=16,
                                     length=48, seed=0)
  assert trainer.traces['train_step'] == 1
  assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:10])
  lps = [lm.recurrent_step_log_probs(trainer, state['params'], s) for s in changes_held]
  assert all(lp.shape == s.chords.shape and np.all(lp <= 0) for lp, s in zip(lps, changes_held))
  # Padding to a longer bucket changes nothing: the model only looks back.
  lp_long = lm.recurrent_step_log_probs(trainer, state['params'], changes_held[0], bucket=1024)
  np.testing.assert_allclose(lp_long, lps[0], atol=1e-5)
  uni_changes = lm.perplexity([lm.unigram(changes_train)[s.chords] for s in changes_held])
  assert lm.perplexity(lps) < 0.8 * uni_changes, (lm.perplexity(lps), uni_changes)


@pytest.mark.parametrize('bad', [-1, vocabulary.NUM_CHORDS])
def test_transition_model_rejects_out_of_range_chords(bad):
  with pytest.raises(ValueError, match='chord classes run from 0 to 180'):
    lm.Transition.fit([lm.Sequence(np.array([1, bad]), np.array([0, 0]))])
