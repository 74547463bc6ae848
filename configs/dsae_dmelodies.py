"""dsae-dmelodies: the vanilla disentangled sequential autoencoder on dMelodies (the control).

  musicvae-dmelodies --output=<dir> --items=1 --dataset=<dataset dir> --train_items=100000
  musicvae-train --config=dsae-dmelodies --data=<dataset dir> --workdir=<dir>

Global v (128) from a bidirectional LSTM [64], local z_t (16 each) from another with an LSTM
prior [64], an MLP decoder [256] of [v, z_t]; p(v) = N(0, I) (the plain ELBO: v's KL at weight
1), one stage, no swap terms; 48 free bits on z_1:T's KL; Adam at 3e-3, batch 64, 3,000 steps
(about 6 minutes on 2 CPU cores). The network is tsdsae-dmelodies'.
"""
from musicvae_jax import config_lib as c


def get_config(arg=None):
  config = c.build('dsae-dmelodies', c.dmelodies_data(),
                   c.dsae_model(enc_rnn_size=64, v_size=128, free_bits=48.0),
                   c.train(batch_size=64), arg)
  if arg != 'tiny':
    config.train.update(num_steps=3000, eval_every_steps=1000, learning_rate=3e-3)
  return config
