"""The chord/key VAE on real POP909 songs: the language models' expectations, the transformer
classifier, the semi-supervised loss (unlabelled labels never reach it), training, files."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from musicvae_jax.chordkey import (attention_classifier, classifier, language_models as lm, vae,
                                   vocabulary)
from tests.chordkey.pop909_songs import pop909_dir, songs  # noqa: F401  (fixtures)

C, K = vocabulary.NUM_CHORDS, vocabulary.NUM_KEYS


@pytest.fixture(scope='module')
def examples(songs):
  return [classifier.example(s) for s in songs]


def _one_hot(ex):
  return (jax.nn.one_hot(ex.chords_b[None], C), jax.nn.one_hot(ex.keys_b[None], K))


def test_expectations_equal_the_models_on_one_hot_labels(examples):
  """Exact where q is one-hot: the mean-field chord terms and the key term give the models'
  own log-probabilities of the song's labels, beat by beat."""
  seqs = [lm.relative(ex.chords_b, ex.keys_b) for ex in examples]
  ex, seq = examples[1], seqs[1]   # the song with a key change
  chord_p, key_p = _one_hot(ex)
  rel, mode = lm.relative_distribution(chord_p, key_p)
  np.testing.assert_array_equal(np.argmax(rel[0], -1), seq.chords)
  np.testing.assert_array_equal(np.argmax(mode[0], -1), seq.modes)

  trans = lm.Transition.fit(seqs[:1] + seqs[2:])
  np.testing.assert_allclose(lm.transition_expectation(jnp.asarray(trans.log_p), rel, mode)[0],
                             trans.step_log_probs(seq), rtol=1e-5)

  trainer, state = lm.make_recurrent(hidden_size=16, seed=0)
  state, _ = lm.train_recurrent(trainer, state, seqs, steps=3, batch_size=4, length=32)
  want = lm.recurrent_step_log_probs(trainer, state['params'], seq, bucket=len(seq.chords))
  got = lm.recurrent_expectation(nnx.merge(trainer.graphdef, state['params']), rel, mode)[0]
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)

  keys = lm.KeyTransition.fit([e.keys_b for e in examples])
  np.testing.assert_allclose(np.exp(keys.log_p).sum(-1), 1.0, rtol=1e-6)
  prev = np.concatenate([[K], ex.keys_b[:-1]])
  np.testing.assert_allclose(keys.expectation(key_p)[0], keys.log_p[prev, ex.keys_b], rtol=1e-5)
  # A key change is rarer than staying: the beat of the change scores lowest.
  change = int(np.nonzero(np.diff(ex.keys_b))[0][0]) + 1
  assert np.argmin(np.asarray(keys.expectation(key_p)[0, 1:])) + 1 == change


def test_transformer_sees_only_its_reach_and_ignores_padding(examples):
  model = attention_classifier.TransformerClassifier(32, num_layers=2, heads=4, reach=8,
                                                     rngs=nnx.Rngs(0))
  x = np.zeros((1, 96, classifier.NUM_FEATURES), np.float32)
  x[0, :80] = examples[0].x_bf[:80]
  mask = np.zeros((1, 96), np.float32)
  mask[0, :80] = 1.0
  chords, keys = model(jnp.asarray(x), jnp.asarray(mask))
  assert chords.shape == (1, 96, C) and keys.shape == (1, 96, K)
  # Changing the padding does not move a real beat; changing beat 79 moves beats within two
  # layers' reach (16) of it and no others.
  x2 = x.copy()
  x2[0, 80:] = 1.0
  np.testing.assert_allclose(model(jnp.asarray(x2), jnp.asarray(mask))[0][0, :80],
                             chords[0, :80], atol=1e-5)
  x3 = x.copy()
  x3[0, 79] = 1.0 - x3[0, 79]
  moved = np.abs(np.asarray(model(jnp.asarray(x3), jnp.asarray(mask))[0] - chords)[0, :80]).max(-1)
  assert moved[79 - 16:80].min() > 0 and moved[:79 - 16].max() < 1e-5


def test_unlabelled_chunks_labels_never_reach_the_loss(examples):
  settings = vae.Settings(hidden=16, latent=4, embed=8)
  priors = vae.Priors.fit(examples[:2], settings)
  model = vae.ChordKeyVAE(settings, rngs=nnx.Rngs(0))
  batch = vae.sample_batch(examples[:2], examples[2:], np.random.default_rng(0), 2, 64)
  assert batch['labelled'].tolist() == [1, 1, 0, 0]
  rng = jax.random.key(0)
  loss, metrics = vae.loss_fn(model, batch, rng, settings, priors)
  scrambled = dict(batch, chords=batch['chords'].copy(), keys=batch['keys'].copy())
  scrambled['chords'][2:] = (scrambled['chords'][2:] + 7) % C
  scrambled['keys'][2:] = (scrambled['keys'][2:] + 5) % K
  loss2, _ = vae.loss_fn(model, scrambled, rng, settings, priors)
  np.testing.assert_allclose(float(loss2), float(loss), rtol=1e-6)
  # ...while a labelled chunk's labels do, and the unlabelled features do.
  scrambled['chords'][0] = (scrambled['chords'][0] + 7) % C
  assert abs(float(vae.loss_fn(model, scrambled, rng, settings, priors)[0]) - float(loss)) > 1e-3
  noisy = dict(batch, x=batch['x'].copy())
  noisy['x'][3] = 1.0 - noisy['x'][3]
  assert abs(float(vae.loss_fn(model, noisy, rng, settings, priors)[0]) - float(loss)) > 1e-3
  # The classifier alone ignores the unlabelled chunks entirely.
  alone = vae.Settings(hidden=16, latent=4, embed=8, vae=False)
  a = float(vae.loss_fn(model, batch, rng, alone, None)[0])
  assert abs(float(vae.loss_fn(model, noisy, rng, alone, None)[0]) - a) < 1e-6
  assert set(metrics) >= {'supervised', 'recon_labelled', 'recon_latent', 'kl_labels'}


def test_a_chunk_latent_is_one_z_per_chunk_and_padding_does_not_move_it(examples):
  settings = vae.Settings(hidden=16, latent=4, embed=8, latent_scope='chunk')
  model = vae.ChordKeyVAE(settings, rngs=nnx.Rngs(0))
  batch = vae.sample_batch(examples[:2], [], np.random.default_rng(0), 2, 64)
  batch['x'][1, 40:] = 0.0   # as a song's end is padded
  args = (jnp.asarray(batch['x']), jax.nn.one_hot(batch['chords'], C),
          jax.nn.one_hot(batch['keys'], K), jax.random.key(3))
  mask = np.ones((2, 64), np.float32)
  mask[1, 40:] = 0.0
  _, kl = model.elbo_terms(*args, jnp.asarray(mask))
  kl = np.asarray(kl)
  np.testing.assert_allclose(kl[0], kl[0, 0], rtol=1e-6)   # one KL, spread over the beats
  np.testing.assert_allclose(kl[1, :40], kl[1, 0], rtol=1e-6)
  # The second chunk's 40 beats alone give the same z and the same KL in all.
  short = [a[1:2, :40] if a.ndim == 3 else a for a in args[:3]]
  recon_s, kl_s = model.elbo_terms(*short, args[3], jnp.ones((1, 40)))
  np.testing.assert_allclose(float(kl_s.sum()), float(kl[1, :40].sum()), rtol=1e-5)
  assert abs(float(kl[0].sum()) - float(kl[1, :40].sum())) > 1e-4   # chunks differ
  # Per beat, KL and recognition follow each beat.
  _, kl_beat = vae.ChordKeyVAE(vae.Settings(hidden=16, latent=4, embed=8),
                               rngs=nnx.Rngs(0)).elbo_terms(*args, jnp.asarray(mask))
  assert np.std(np.asarray(kl_beat)[0]) > 1e-4
  with pytest.raises(ValueError, match="'beat' or 'chunk'"):
    vae.Settings(latent_scope='song')


@pytest.mark.parametrize('kind,chord_lm', [('bilstm', 'transition'), ('transformer', 'recurrent')])
def test_training_learns_once_compiled_and_is_deterministic(examples, kind, chord_lm):
  settings = vae.Settings(classifier=kind, hidden=16, num_layers=2, latent=4, embed=8,
                          chord_lm=chord_lm, learning_rate=3e-3)
  priors = vae.Priors.fit(examples[:3], settings, steps=5)
  runs = []
  for _ in range(2):
    trainer, state = vae.make_trainer(settings, priors, seed=0)
    state, losses = vae.train(trainer, state, examples[:3], examples[3:], 30, batch_size=4,
                              length=64, seed=0)
    runs.append((state, losses))
    assert trainer.traces['train_step'] == 1
  (state, losses), (state2, losses2) = runs
  assert np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5]), losses
  assert losses == losses2
  jax.tree.map(np.testing.assert_array_equal, state['params'], state2['params'])


def test_saved_model_predicts_the_same_and_bad_folders_say_why(examples, tmp_path):
  settings = vae.Settings(hidden=16, latent=4, embed=8, vae=False)
  trainer, state = vae.make_trainer(settings, seed=3)
  state, _ = vae.train(trainer, state, examples, [], 2, batch_size=2, length=32)
  vae.save(tmp_path / 'm', trainer, state['params'], {'trained_on': 'four test songs'})
  loaded, params, info = vae.load(tmp_path / 'm')
  assert info['trained_on'] == 'four test songs' and info['settings']['hidden'] == 16
  want = vae.predict_song(trainer, state['params'], examples[0].x_bf)
  got = vae.predict_song(loaded, params, examples[0].x_bf)
  np.testing.assert_allclose(got[0], want[0], atol=1e-5)
  with pytest.raises(vae.ModelFileError, match='has no params.npz'):
    vae.load(tmp_path)
  (tmp_path / 'm' / 'model.json').write_text(
      (tmp_path / 'm' / 'model.json').read_text().replace('"hidden": 16', '"hidden": 24'))
  with pytest.raises(vae.ModelFileError, match='does not match its model.json'):
    vae.load(tmp_path / 'm')
  with pytest.raises(ValueError, match="classifier must be 'bilstm' or 'transformer'"):
    vae.Settings(classifier='crf')
