"""tsdsae-dmelodies: TS-DSAE on dMelodies: two stages, informed prior on v, four swap terms.

  musicvae-dmelodies --output=<dir> --items=1 --dataset=<dataset dir> --train_items=100000
  musicvae-train --config=tsdsae-dmelodies --data=<dataset dir> --workdir=<dir>
  python bench/dsae_dmelodies.py --data=<dataset dir> --out=<dir>   # LDA / F1 after swaps

The network of dsae-dmelodies (v of 128). For the first 1,000 steps only v's encoder and the
decoder train (z_t masked), v's KL to N(0, I) weighted 0.01 (``v_beta``: a sharp v whose tonic,
octave and scale a linear read-out separates; at weight 1 and 16 dimensions v holds the key
exactly but LDA reads its scale at 0.41, BENCHMARKS.md); then v's prior is a frozen copy of v's
encoder (its KL at weight 1) and the global and local swap terms (weights 1, 1, 1, 1, reached
linearly over 1,000 steps; the z terms' targets pass gradient, ``swap_z_targets_train``, which
raised tonic and scale after a swap in each of 3 seeds, BENCHMARKS.md) train with everything
else; 3,000 steps in all (10 to 13 minutes on 2 CPU cores).
"""
from musicvae_jax import config_lib as c


def get_config(arg=None):
  config = c.build('tsdsae-dmelodies', c.dmelodies_data(),
                   c.dsae_model(enc_rnn_size=64, v_size=128, v_beta=0.01, free_bits=48.0,
                                stage1_steps=1000, swap_z_targets_train=True,
                                swap_weights=(1.0, 1.0, 1.0, 1.0), swap_warmup_steps=1000),
                   c.train(batch_size=64), arg)
  if arg != 'tiny':
    config.train.update(num_steps=3000, eval_every_steps=1000, learning_rate=3e-3)
  return config
