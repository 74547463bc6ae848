"""z_input='contour': z_t's encoder reads rests, holds and pitch directions, never the key."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax.converters import dmelodies
from musicvae_jax.converters import dmelodies_windows
from musicvae_jax.models import dsae
from musicvae_jax.training import family

PITCHES = tuple(int(p) for p in dmelodies_windows.DMelodiesVocabulary().pitch_of_token)


def _items(**factors):
  """dMelodies items with the given factors (each a list of values), every combination."""
  grids = [factors.get(name, [0]) for name in dmelodies.FACTOR_NAMES]
  combos = np.array(list(itertools.product(*grids)))
  return dmelodies.generate(np.ravel_multi_index(combos.T, dmelodies.SIZES)).tokens


def _model(z_input):
  config = config_lib.get_config('tsdsae-dmelodies:tiny')
  config.model.z_input = z_input
  return family.for_spec(config_boundary.run_spec(config)).build(0)


def test_contour_of_an_item_reads_its_rests_and_arpeggio_directions():
  tokens = _items(arp_chord1=[0, 1])   # chord 1 up, then down; rhythm 0: slots 6, 7 rest
  features = np.asarray(dsae.contour(jax.nn.one_hot(tokens, len(PITCHES)), PITCHES))
  rest, hold, up, down, same, first = np.moveaxis(features, -1, 0)
  np.testing.assert_array_equal(rest[0], (tokens[0] == 0).astype(np.float32))
  assert not hold.any() and not same.any()
  np.testing.assert_array_equal(first[:, 0], [1, 1])
  np.testing.assert_array_equal(up[0, 1:3], [1, 1])     # C4 E4 G4
  np.testing.assert_array_equal(down[1, 1:3], [1, 1])   # G4 E4 C4
  np.testing.assert_array_equal(up[:, 3], [0, 1])   # G4 -> F4 falls, C4 -> F4 rises
  np.testing.assert_array_equal(features[0, 4:], features[1, 4:])  # the rest alike


def test_contour_is_the_same_in_every_key_and_differs_with_rhythm_and_direction():
  keys = _items(tonic=[0, 5, 11], octave=[0, 2], scale=[0, 1, 2], rhythm_bar1=[7])
  features = np.asarray(dsae.contour(jax.nn.one_hot(keys, len(PITCHES)), PITCHES))
  assert len(np.unique(keys, axis=0)) == len(keys) == 18
  np.testing.assert_array_equal(features, np.broadcast_to(features[:1], features.shape))
  others = _items(rhythm_bar1=[7, 8], arp_chord3=[0, 1])
  features = np.asarray(dsae.contour(jax.nn.one_hot(others, len(PITCHES)), PITCHES))
  assert len(np.unique(features.reshape(len(others), -1), axis=0)) == 4


def test_contour_of_soft_rows_is_the_expectation_over_every_sequence():
  """Steps drawn independently from their rows: the features equal the probability-weighted
  mean of every sequence's one-hot features (rest, two pitches and a hold, three steps)."""
  support = np.array([0, 1, 2, 9])   # rest, hold, C4, D5
  rows = np.asarray(jax.nn.softmax(jax.random.normal(jax.random.key(3), (3, 4))))
  probs = np.zeros((1, 3, len(PITCHES)), np.float32)
  probs[0][:, support] = rows
  expected = np.zeros((3, dsae.CONTOUR_FEATURES))
  for picks in itertools.product(range(4), repeat=3):
    weight = np.prod([rows[t, k] for t, k in enumerate(picks)])
    one_hot = jax.nn.one_hot(support[list(picks)][None], len(PITCHES))
    expected += weight * np.asarray(dsae.contour(one_hot, PITCHES))[0]
  np.testing.assert_allclose(dsae.contour(jnp.asarray(probs), PITCHES)[0], expected, atol=1e-5)


def test_a_contour_model_codes_every_key_of_a_line_alike_and_a_token_model_does_not():
  keys = _items(tonic=[0, 7], scale=[0, 2], rhythm_bar2=[3], arp_chord2=[1])
  for z_input, alike in (('contour', True), ('tokens', False)):
    model = _model(z_input)
    mu, _ = model.encode_z(model.one_hot(jnp.asarray(keys)))
    assert np.allclose(mu, mu[:1], atol=1e-6) == alike
  grads = jax.grad(lambda p: jnp.sum(_model('contour').encode_z(p)[0]))(
      jax.nn.softmax(jax.random.normal(jax.random.key(0), (2, 16, len(PITCHES)))))
  assert float(jnp.abs(grads).sum()) > 0   # a decode's softmax re-encodes differentiably


def test_z_input_names_its_choices_and_melody_tokens_get_their_pitches():
  config = config_lib.get_config('tsdsae-dmelodies:tiny')
  config.model.z_input = 'intervals'
  with pytest.raises(config_boundary.ModelConfigError, match="'tokens'.*'contour'"):
    config_boundary.run_spec(config)
  melody = config_lib.get_config('tsdsae-mel_2bar:tiny')
  melody.model.z_input = 'contour'
  pitches = config_boundary.run_spec(melody).model.dsae.token_pitches
  assert pitches[:3] == (-1, -1, 21) and pitches[-1] == 108


def test_contour_recipe_is_tsdsae_dmelodies_but_z_input_heavier_v_swaps_and_more_steps():
  """BENCHMARKS.md measures the recipe as tsdsae-dmelodies plus four bench flags; keep them one."""
  base = config_lib.get_config('tsdsae-dmelodies')
  contour = config_lib.get_config('tsdsae-dmelodies_contour')
  changed = {(section, key): (base[section][key], contour[section][key])
             for section in ('data', 'model', 'train') for key in base[section]
             if base[section][key] != contour[section][key]}
  assert changed == {
      ('model', 'z_input'): ('tokens', 'contour'),
      ('model', 'swap_weights'): ((1.0, 1.0, 1.0, 1.0), (4.0, 1.0, 4.0, 1.0)),
      ('model', 'swap_warmup_steps'): (1000, 2000),
      ('train', 'num_steps'): (3000, 6000),
      ('train', 'eval_every_steps'): (1000, 2000)}
  tiny = config_boundary.run_spec(config_lib.get_config('tsdsae-dmelodies_contour:tiny'))
  assert tiny.model.dsae.z_input == 'contour'
