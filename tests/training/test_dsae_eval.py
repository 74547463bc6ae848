"""The disentanglement evaluation tells a disentangled model from a collapsed one.

Two stand-in models over real dMelodies items, each exact by construction so the scores are
known: one keeps tonic, octave and scale in v and rhythm and arpeggios in z (TS-DSAE's aim);
the other keeps everything in z and noise in v (the DSAE's collapse). The first must score 1.0
in all three conditions and keep rhythm and arpeggios exactly through a global swap; the second
must score at chance, and its "swapped" items must carry the tonic of the wrong donor.
"""

import numpy as np
import pytest

from musicvae_jax.converters import dmelodies
from musicvae_jax.input_pipeline import dmelodies_dataset
from musicvae_jax.training import dsae_eval

T = dmelodies.SLOTS


class Oracle:
  """encode: v = one-hots of (tonic, octave, scale) + small noise, z_t = the local factors
  (or, ``collapsed``, z_t = all nine factors and v = noise); decode: the item those factors
  make. Both read the tokens exactly with ``dmelodies.parse``."""

  def __init__(self, collapsed: bool):
    self.collapsed = collapsed
    self.rng = np.random.default_rng(0)
    self.step = 0

  def encode(self, tokens_NxT):
    f = dmelodies.parse(np.asarray(tokens_NxT))
    assert np.all(f >= 0), 'the stand-in reads only valid items'
    n = len(f)
    onehots = np.concatenate([np.eye(s)[f[:, k]] for k, s in enumerate(dmelodies.SIZES[:3])], 1)
    noise = 0.05 * self.rng.standard_normal(onehots.shape)
    v = noise if self.collapsed else onehots + noise
    z_factors = f if self.collapsed else f[:, 3:]
    return v, np.repeat(z_factors[:, None, :].astype(np.float64), T, axis=1)

  def decode(self, v_NxV, z_NxTxZ):
    z = np.rint(z_NxTxZ[:, 0]).astype(np.int64)
    if self.collapsed:
      factors = z
    else:
      sizes = np.cumsum((0,) + dmelodies.SIZES[:3])
      glob = [np.argmax(v_NxV[:, lo:hi], axis=1) for lo, hi in zip(sizes[:-1], sizes[1:])]
      factors = np.concatenate([np.stack(glob, 1), z], axis=1)
    index = np.ravel_multi_index(factors.T, dmelodies.SIZES)
    return dmelodies.generate(index).tokens


@pytest.fixture(scope='module')
def dm_data(tmp_path_factory):
  out = tmp_path_factory.mktemp('dmelodies_eval') / 'data'
  dmelodies_dataset.write(out, train_items=3000, eval_items=1000)
  return out


@pytest.mark.parametrize('collapsed', [False, True])
def test_swap_scores_tell_disentangled_from_collapsed(dm_data, monkeypatch, collapsed):
  monkeypatch.setattr(dsae_eval, 'DsaeModel', lambda workdir, step=None: Oracle(collapsed))
  r = dsae_eval.evaluate('unused', dm_data, lda_items=3000)
  assert r['test_items'] == 1000 and r['train_items'] == 3000
  assert r['reconstruction_accuracy'] == r['reconstruction_exact'] == 1.0
  glob, loc = r['parse']['global_swap'], r['parse']['local_swap']
  assert glob['valid'] == loc['valid'] == 1.0
  if not collapsed:
    for cond in dsae_eval.CONDITIONS:
      assert all(r['f1'][cond][f] == 1.0 for f in dsae_eval.GLOBAL_FACTORS), cond
    # A global swap keeps i's rhythm and arpeggios and takes j's tonic, octave and scale.
    assert all(glob[k] == 1.0 for k in ('rhythm', 'arpeggio', 'tonic', 'octave', 'scale'))
    assert all(loc[k] == 1.0 for k in ('rhythm', 'arpeggio', 'tonic', 'octave', 'scale'))
    assert glob['target_exact'] == loc['target_exact'] == glob['target_tokens'] == 1.0
  else:
    chance = {f: 1.5 / s for f, s in zip(dsae_eval.GLOBAL_FACTORS, dmelodies.SIZES)}
    # v holds nothing: LDA on it is at chance before a swap and after either swap ...
    for cond in dsae_eval.CONDITIONS:
      assert all(r['f1'][cond][f] < chance[f] for f in dsae_eval.GLOBAL_FACTORS), cond
    # ... and the decoder follows z alone: a global swap gives back item i (not j's tonic),
    # a local swap item j (not i's tonic).
    assert glob['rhythm'] == glob['arpeggio'] == loc['rhythm'] == loc['arpeggio'] == 1.0
    assert glob['tonic'] < 0.2 and loc['tonic'] < 0.2
    # Item i back instead of the swap: right only where the two items agree (rests, shared
    # pitches), whole items almost never.
    assert glob['target_exact'] < 0.2 and glob['target_tokens'] < 0.6
