"""Disentanglement of a trained DSAE / TS-DSAE on dMelodies, scored as the TS-DSAE paper does.

Shapes: N = items, T = 16 slots, V_ = size of v, Z = size of z_t.

1. v's means of (up to ``lda_items``) training items fit one LDA per global factor (tonic,
   octave, scale);
2. on the eval items, macro-F1 of that LDA's prediction in three conditions:
   ``pre_swap``  v of item i        -> i's factor;
   ``global_swap`` decode(v_j, z_i), re-encode, v -> j's factor (v carries the global factor);
   ``local_swap``  decode(v_i, z_j), re-encode, v -> i's factor (z does not carry it);
   j a seeded permutation of the eval items, everything from the posterior means;
3. since the data are symbolic, the decoded tokens are also parsed exactly
   (``dmelodies.parse``): after a global swap, the share of items whose rhythm (both bars) and
   arpeggio directions (all four chords) are i's, whose tonic / octave / scale are j's, and
   the share that are valid dMelodies items at all; after a local swap the same the other way;
   and, token by token, how close each swap comes to the exact item it should give
   (``target_tokens``: share of slots, ``target_exact``: share of whole items).
"""

from __future__ import annotations

import numpy as np

from musicvae_jax.converters import dmelodies
from musicvae_jax.generation import disentanglement
from musicvae_jax.input_pipeline import dmelodies_dataset
from musicvae_jax.training import dsae_model

GLOBAL_FACTORS = ('tonic', 'octave', 'scale')
CONDITIONS = ('pre_swap', 'global_swap', 'local_swap')


DsaeModel = dsae_model.DsaeModel


def evaluate(workdir, data_dir, *, lda_items: int = 20_000, seed: int = 0, step=None) -> dict:
  """The table of one model: F1 per condition and factor, exact parses, reconstruction."""
  model = DsaeModel(workdir, step)
  rng = np.random.default_rng(seed)
  train = dmelodies_dataset.items(data_dir, 'train')
  train = np.sort(rng.choice(train, size=min(lda_items, len(train)), replace=False))
  test = dmelodies_dataset.items(data_dir, 'eval')
  train_data, test_data = dmelodies.generate(train), dmelodies.generate(test)
  v_train, _ = model.encode(train_data.tokens)
  ldas = {f: disentanglement.LDA().fit(v_train, train_data.factors[:, k])
          for k, f in enumerate(GLOBAL_FACTORS)}
  v, z = model.encode(test_data.tokens)
  recon = model.decode(v, z)
  j = rng.permutation(len(test))
  decoded = {'pre_swap': None, 'global_swap': model.decode(v[j], z),
             'local_swap': model.decode(v, z[j])}
  factors = test_data.factors
  # Whose factor each condition's v should carry: global swap j's, otherwise i's.
  targets = {'pre_swap': factors, 'global_swap': factors[j], 'local_swap': factors}
  out = {'step': model.step, 'train_items': len(train), 'test_items': len(test),
         'reconstruction_accuracy': float(np.mean(recon == test_data.tokens)),
         'reconstruction_exact': float(np.mean(np.all(recon == test_data.tokens, axis=1))),
         'f1': {}, 'parse': {}}
  for cond in CONDITIONS:
    v_cond = v if decoded[cond] is None else model.encode(decoded[cond])[0]
    out['f1'][cond] = {f: disentanglement.macro_f1(targets[cond][:, k], ldas[f].predict(v_cond),
                                                   num_classes=dmelodies.SIZES[k])
                       for k, f in enumerate(GLOBAL_FACTORS)}
  for cond, local_from, global_from in (('global_swap', factors, factors[j]),
                                        ('local_swap', factors[j], factors)):
    parsed = dmelodies.parse(decoded[cond])
    local = dmelodies.factor_matches(parsed, local_from)
    glob = dmelodies.factor_matches(parsed, global_from)
    target = swap_target(global_from, local_from)
    out['parse'][cond] = dict(valid=float(np.mean(np.all(parsed >= 0, axis=1))),
                              rhythm=float(np.mean(local['rhythm'])),
                              arpeggio=float(np.mean(local['arpeggio'])),
                              **{f: float(np.mean(glob[f])) for f in GLOBAL_FACTORS},
                              target_tokens=float(np.mean(decoded[cond] == target)),
                              target_exact=float(np.mean(np.all(decoded[cond] == target, 1))))
  return out


def swap_target(global_from_Nx9, local_from_Nx9) -> np.ndarray:
  """Tokens [N, T] of the item a perfect swap gives: tonic, octave and scale of the first
  factors, rhythms and arpeggios of the second."""
  f = np.concatenate([global_from_Nx9[:, :len(GLOBAL_FACTORS)],
                      local_from_Nx9[:, len(GLOBAL_FACTORS):]], axis=1)
  return dmelodies.generate(np.ravel_multi_index(f.T, dmelodies.SIZES)).tokens


def format_row(name: str, result: dict) -> str:
  """One markdown table row: F1 per condition and factor, then the exact parses."""
  f1 = ' | '.join(f'{result["f1"][c][f]:.3f}' for c in CONDITIONS for f in GLOBAL_FACTORS)
  g = result['parse']['global_swap']
  return (f'| {name} | {result["reconstruction_accuracy"]:.3f} | {f1} | {g["rhythm"]:.3f} | '
          f'{g["arpeggio"]:.3f} | {g["valid"]:.3f} | {g["target_tokens"]:.3f} |')


TABLE_HEAD = ('| model | recon. acc. | ' + ' | '.join(
    f'{c.replace("_", " ")} {f}' for c in CONDITIONS for f in GLOBAL_FACTORS)
    + ' | global swap: rhythm kept | arpeggio kept | valid items | slots as the exact swap |\n|'
    + ' --- |' * (2 + 3 * len(GLOBAL_FACTORS) + 4))
