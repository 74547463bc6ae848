"""dsae-dmelodies: the vanilla disentangled sequential autoencoder on dMelodies (the control).

  musicvae-dmelodies --output=<dir> --dataset=<dataset dir> --train_items=100000
  musicvae-train --config=dsae-dmelodies --data=<dataset dir> --workdir=<dir>

Global v (16) from a bidirectional LSTM [256], local z_t (16 each) with an LSTM prior [64],
an MLP decoder [256] of [v, z_t]; p(v) = N(0, I), one stage, no swap terms; 16 free bits on
z_1:T's KL.
"""
from musicvae_jax import config_lib as c


def get_config(arg=None):
  config = c.build('dsae-dmelodies', c.dmelodies_data(), c.dsae_model(), c.train(batch_size=256),
                   arg)
  if arg != 'tiny':
    config.train.num_steps = 6000
    config.train.eval_every_steps = 1000
  return config
