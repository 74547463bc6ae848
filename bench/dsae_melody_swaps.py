"""A DSAE / TS-DSAE model's global swaps on held-out real melodies: whose line and whose key.

  python bench/dsae_melody_swaps.py --workdir=<tsdsae-mel_2bar workdir> --data=<its dataset>

Every window of the split is encoded; window i's z_1:T is decoded with v of a random other
window j (greedy). Printed: reconstruction (steps, whole windows); the share of steps whose onset
(a note starting or not) is the z donor's; where the swap has as many notes as the z donor, the
share of note-to-note directions (up, down, same) that are the z donor's; how often the swap's
mean pitch is nearer the v donor's than the z donor's; and the share of the swap's notes whose
pitch class the v donor's window uses, against the z donor's.
"""

import argparse

from array_record.python.array_record_module import ArrayRecordReader
import numpy as np

from musicvae_jax.input_pipeline import pipeline
from musicvae_jax.input_pipeline import records
from musicvae_jax.training import dsae_model

FIRST_PITCH = 2   # melody classes: 0 hold, 1 note off, then the pitches from MIN_PITCH
MIN_PITCH = 21


def directions(tokens):
  pitches = tokens[tokens >= FIRST_PITCH]
  return np.sign(np.diff(pitches))


def pitch_classes(tokens):
  return (tokens[tokens >= FIRST_PITCH] - FIRST_PITCH + MIN_PITCH) % 12


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--workdir', required=True)
  parser.add_argument('--data', required=True)
  parser.add_argument('--split', default='eval')
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args()
  x = []
  for shard in pipeline.shard_paths(args.data, args.split):
    reader = ArrayRecordReader(str(shard))
    x += [records.decode(r)['labels'][:, 0] for r in reader.read_all()]
    reader.close()
  x = np.stack(x).astype(np.int32)
  model = dsae_model.DsaeModel(args.workdir)
  v, z = model.encode(x)
  recon = model.decode(v, z)
  j = np.random.default_rng(args.seed).permutation(len(x))
  swap = model.decode(v[j], z)
  onsets = np.mean((swap >= FIRST_PITCH) == (x >= FIRST_PITCH))
  same_count = [i for i in range(len(x)) if len(directions(swap[i])) == len(directions(x[i]))
                and len(directions(x[i]))]
  contour = np.mean([np.mean(directions(swap[i]) == directions(x[i])) for i in same_count])
  mean = lambda t: t[t >= FIRST_PITCH].mean()
  pairs = [i for i in range(len(x)) if (swap[i] >= FIRST_PITCH).any()
           and mean(x[i]) != mean(x[j[i]])]
  nearer = np.mean([abs(mean(swap[i]) - mean(x[j[i]])) < abs(mean(swap[i]) - mean(x[i]))
                    for i in pairs])
  in_set = lambda i, donor: np.mean(np.isin(pitch_classes(swap[i]), pitch_classes(donor)))
  print(f'{len(x)} {args.split} windows; reconstruction {np.mean(recon == x):.3f} of steps, '
        f'{np.mean(np.all(recon == x, 1)):.3f} of windows whole')
  print(f"global swap (v of j, z of i): onsets as z's {onsets:.3f}; "
        f"directions as z's {contour:.3f} (the {len(same_count)} swaps with z's note count); "
        f"mean pitch nearer v's {nearer:.3f}; pitch classes in v's window "
        f"{np.mean([in_set(i, x[j[i]]) for i in pairs]):.3f}, in z's "
        f"{np.mean([in_set(i, x[i]) for i in pairs]):.3f}")


if __name__ == '__main__':
  main()
