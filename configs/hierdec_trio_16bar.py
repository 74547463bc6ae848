"""hierdec-trio_16bar: 16-bar melody + bass + drums, conductor + three bar decoders.

  musicvae-prepare --config=hierdec-trio_16bar --input=<MIDI folder> --output=<dir>
"""
from musicvae_jax import config_lib as c


def get_config(arg=None):
  return c.build(
      'hierdec-trio_16bar',
      c.trio_data(slice_bars=16),
      c.model(decoder='hierarchical_split', enc_rnn_size=[2048, 2048],
              dec_rnn_size=[1024, 1024], z_size=512,
              free_bits=256, max_beta=0.2),
      c.train(batch_size=256), arg)
