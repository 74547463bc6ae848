"""tsdsae-dmelodies: TS-DSAE on dMelodies: two stages, informed prior on v, four swap terms.

  musicvae-dmelodies --output=<dir> --dataset=<dataset dir> --train_items=100000
  musicvae-train --config=tsdsae-dmelodies --data=<dataset dir> --workdir=<dir>
  python bench/dsae_dmelodies.py --data=<dataset dir> --out=<dir>   # LDA / F1 after swaps

The network of dsae-dmelodies; for the first stage1_steps steps only v's encoder and the
decoder train (z_t masked); then v's prior is a frozen copy of v's encoder and the global and
local swap terms (weights 1, 1, 1, 1) train with everything else.
"""
from musicvae_jax import config_lib as c


def get_config(arg=None):
  config = c.build('tsdsae-dmelodies', c.dmelodies_data(),
                   c.dsae_model(stage1_steps=2000, swap_weights=(1.0, 1.0, 1.0, 1.0)),
                   c.train(batch_size=256), arg)
  if arg != 'tiny':
    config.train.num_steps = 6000
    config.train.eval_every_steps = 1000
  return config
