"""groovae_2bar_humanize: 2-bar drums; the encoder sees the hits only (velocities and
offsets zeroed) and the decoder adds the feel.

  musicvae-prepare --config=groovae_2bar_humanize --input=<MIDI folder> --output=<dir>
"""
from musicvae_jax import config_lib as c


def get_config(arg=None):
  return c.build(
      'groovae_2bar_humanize',
      c.groove_data(slice_bars=2, humanize=True),
      c.model(decoder='groove_lstm', enc_rnn_size=[512], dec_rnn_size=[256, 256], z_size=256,
              free_bits=48, max_beta=0.2, dropout_keep_prob=0.3),
      c.train(batch_size=512), arg)
