"""groovae_2bar_add_closed_hh: 2-bar drums; the closed hi-hat (class 2) is left out of the
input and the decoder adds it.

  musicvae-prepare --config=groovae_2bar_add_closed_hh --input=<MIDI folder> --output=<dir>
"""
from musicvae_jax import config_lib as c


def get_config(arg=None):
  return c.build(
      'groovae_2bar_add_closed_hh',
      c.groove_data(slice_bars=2, add_instruments=[2]),
      c.model(decoder='groove_lstm', enc_rnn_size=[512], dec_rnn_size=[256, 256], z_size=256,
              free_bits=48, max_beta=0.2, dropout_keep_prob=0.3),
      c.train(batch_size=512), arg)
