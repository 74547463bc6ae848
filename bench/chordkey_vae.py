"""The chord/key VAE against its classifier trained alone, supervised and semi-supervised.

  python bench/chordkey_vae.py [--classifier=bilstm|transformer] [--vae | --no-vae]
      [--labelled=1.0] [--chord_lm=transition|recurrent] [--unlabelled_weight=0.1]
      [--latent_scope=beat|chunk]
      [--steps=2000] [--split=test|valid] [--seed=0] [--save_dir=DIR] [--cache=FILE]
  python bench/chordkey_vae.py --workdir=DIR [--split=test|valid]

Trains ``musicvae_jax.chordkey.vae`` on POP909's train split (sha1(id) % 10 in 0-7). With
``--labelled=f`` < 1, a fixed fraction f of the train songs keeps its labels (the first of a
permutation seeded by 0, the same for every model seed) and the rest are unlabelled: the
classifier alone never sees them, the VAE reads their features. The language models are fitted
on the labelled songs only. Scores every song of ``--split`` (default test) with mir_eval as
bench/chordkey_baselines.py does, and prints one row of the chord table and one of the key
table. ``--cache`` keeps the songs' features and labels in a pickle to skip reading the MIDI.
``--workdir`` scores a model trained by ``musicvae-train --config=chordkey_vae`` instead of
training one here: the same songs, the same table row.
"""

import argparse
import pathlib
import pickle
import sys
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from musicvae_jax.chordkey import classifier, joint, pop909, scoring, vae  # noqa: E402


def load_examples(ids, data_dir, cache):
  """{song id: classifier.Example}, from ``cache`` where it has them."""
  cache = pathlib.Path(cache) if cache else None
  have = pickle.loads(cache.read_bytes()) if cache and cache.exists() else {}
  missing = [i for i in ids if i not in have]
  for i in missing:
    have[i] = classifier.example(pop909.load_song(i, data_dir))
  if cache and missing:
    cache.write_bytes(pickle.dumps(have))
  return {i: have[i] for i in ids}


def labelled_subset(ids, fraction):
  """The fixed fraction of train songs that keep their labels (permutation seeded by 0)."""
  order = np.random.default_rng(0).permutation(len(ids))
  keep = set(order[:int(round(fraction * len(ids)))].tolist())
  return [i for j, i in enumerate(ids) if j in keep], [i for j, i in enumerate(ids) if j not in keep]


def main() -> int:
  ap = argparse.ArgumentParser(description=__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument('--data', default=str(pop909.DATA_DIR))
  ap.add_argument('--classifier', default='bilstm', choices=('bilstm', 'transformer'))
  ap.add_argument('--vae', action=argparse.BooleanOptionalAction, default=True)
  ap.add_argument('--labelled', type=float, default=1.0)
  ap.add_argument('--chord_lm', default='transition', choices=('transition', 'recurrent'))
  ap.add_argument('--unlabelled_weight', type=float, default=0.1)
  ap.add_argument('--temperature', type=float, default=0.5)
  ap.add_argument('--chord_lm_moves_keys', action=argparse.BooleanOptionalAction, default=True)
  ap.add_argument('--latent', type=int, default=8)
  ap.add_argument('--latent_scope', default='beat', choices=('beat', 'chunk'),
                  help='one z per beat, or one per chunk of --length beats')
  ap.add_argument('--hidden', type=int, default=128)
  ap.add_argument('--layers', type=int, default=0, help='0: 2 BiLSTM layers, 4 blocks')
  ap.add_argument('--steps', type=int, default=2000)
  ap.add_argument('--batch', type=int, default=16)
  ap.add_argument('--length', type=int, default=128)
  ap.add_argument('--lr', type=float, default=2e-3)
  ap.add_argument('--seed', type=int, default=0)
  ap.add_argument('--split', default='test', choices=('test', 'valid'))
  ap.add_argument('--max_songs', type=int, default=0, help='cap each split (0: all)')
  ap.add_argument('--save_dir', default='')
  ap.add_argument('--cache', default='')
  ap.add_argument('--workdir', default='', help='score this musicvae-train workdir; no training')
  args = ap.parse_args()
  if args.workdir:
    return score_workdir(args)
  t0 = time.time()
  splits = pop909.split(pop909.song_ids(args.data))
  if args.max_songs:
    splits = {k: v[:args.max_songs] for k, v in splits.items()}
  lab_ids, unlab_ids = labelled_subset(splits['train'], args.labelled)
  examples = load_examples(splits['train'], args.data, args.cache)
  labelled = [examples[i] for i in lab_ids]
  unlabelled = [examples[i] for i in unlab_ids]
  scored = [pop909.load_song(i, args.data) for i in splits[args.split]]
  print(f'{len(labelled)} labelled + {len(unlabelled)} unlabelled train songs, '
        f'{len(scored)} {args.split} songs, read in {time.time() - t0:.0f} s', file=sys.stderr)

  layers = args.layers or (2 if args.classifier == 'bilstm' else 4)
  settings = vae.Settings(classifier=args.classifier, hidden=args.hidden, num_layers=layers,
                          latent=args.latent, latent_scope=args.latent_scope,
                          vae=args.vae, chord_lm=args.chord_lm,
                          unlabelled_weight=args.unlabelled_weight,
                          temperature=args.temperature, learning_rate=args.lr,
                          chord_lm_moves_keys=args.chord_lm_moves_keys)
  t = time.time()
  priors = vae.Priors.fit(labelled, settings, seed=args.seed) if args.vae else None
  trainer, state = vae.make_trainer(settings, priors, seed=args.seed, decay_steps=args.steps)
  state, losses = vae.train(trainer, state, labelled, unlabelled, args.steps, args.batch,
                            args.length, seed=args.seed, log_every=max(args.steps // 10, 1),
                            log=lambda m: print(m, file=sys.stderr))
  train_s = time.time() - t

  t = time.time()
  estimates = [classifier.decode(*vae.predict_song(trainer, state['params'],
                                                   classifier.song_features(song)))
               for song in scored]
  sc = scoring.evaluate(scored, estimates)
  eval_s = time.time() - t

  kind = {'bilstm': f'BiLSTM {layers}x{args.hidden}',
          'transformer': f'transformer {layers}x{args.hidden}'}[args.classifier]
  how = (f'VAE, {args.chord_lm} chord LM'
         + ('' if args.chord_lm_moves_keys else ' (not moving keys)')
         + f', weight {args.unlabelled_weight}, z {args.latent}'
         + ('' if args.latent_scope == 'beat' else ' per chunk') if args.vae
         else 'classifier alone')
  name = f'{kind}, {how}, {args.labelled:.0%} labelled, seed {args.seed}'
  print(f'POP909 split by sha1(song id) % 10: {len(labelled)} labelled and {len(unlabelled)} '
        f'unlabelled train songs, scored on {len(scored)} {args.split} songs; final train loss '
        f'{np.mean(losses[-50:]):.3f}.\n')
  cols = list(scoring.CHORD_METRICS) + ['key, global', f'key, per region ({sc["region_songs"]})']
  print('| estimator | ' + ' | '.join(cols) + ' | time (s) |')
  print('| --- |' + ' ---: |' * (len(cols) + 1))
  vals = [sc[m] for m in scoring.CHORD_METRICS] + [sc['key_global'], sc['key_region']]
  print(f'| {name} | ' + ' | '.join(f'{v:.3f}' for v in vals) + f' | {train_s + eval_s:.0f} |')
  print(f'\ntrain {train_s:.0f} s, eval {eval_s:.0f} s, wall time {time.time() - t0:.0f} s; '
        'command: python ' + ' '.join(sys.argv))
  if args.save_dir:
    vae.save(args.save_dir, trainer, state['params'], dict(
        trained_on=f'POP909 train split ({len(labelled)} labelled songs'
                   + (f', {len(unlabelled)} unlabelled' if unlabelled and args.vae else '') + ')',
        steps=args.steps, seed=args.seed, command='python ' + ' '.join(sys.argv),
        scores={args.split: {k: round(v, 4) for k, v in sc.items()}}))
    print(f'saved {args.save_dir}', file=sys.stderr)
  return 0


def score_workdir(args) -> int:
  """The table row of a ``musicvae-train --config=chordkey_vae`` workdir on ``--split``."""
  t0 = time.time()
  trainer, params, info = joint.load_workdir(args.workdir)
  ids = pop909.split(pop909.song_ids(args.data))[args.split]
  scored = [pop909.load_song(i, args.data) for i in ids]
  estimates = [classifier.decode(*vae.predict_song(trainer, params,
                                                   classifier.song_features(song)))
               for song in scored]
  sc = scoring.evaluate(scored, estimates)
  cols = list(scoring.CHORD_METRICS) + ['key, global', f'key, per region ({sc["region_songs"]})']
  print(f'{info["trained_on"]}, scored on {len(scored)} {args.split} songs\n')
  print('| estimator | ' + ' | '.join(cols) + ' |')
  print('| --- |' + ' ---: |' * len(cols))
  vals = [sc[m] for m in scoring.CHORD_METRICS] + [sc['key_global'], sc['key_region']]
  print(f'| {args.workdir} | ' + ' | '.join(f'{v:.3f}' for v in vals) + ' |')
  print(f'\nwall time {time.time() - t0:.0f} s; command: python ' + ' '.join(sys.argv))
  return 0


if __name__ == '__main__':
  sys.exit(main())
