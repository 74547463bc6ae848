"""groovae_4bar: 4-bar drum performances with velocity and microtiming (9 Roland
classes, hits | velocities | offsets per step), BiLSTM [512], z 256; the input is the groove itself.

  musicvae-prepare --config=groovae_4bar --input=<MIDI folder> --output=<dir>
"""
from musicvae_jax import config_lib as c


def get_config(arg=None):
  return c.build(
      'groovae_4bar',
      c.groove_data(slice_bars=4),
      c.model(decoder='groove_lstm', enc_rnn_size=[512], dec_rnn_size=[256, 256], z_size=256,
              free_bits=48, max_beta=0.2, dropout_keep_prob=0.3),
      c.train(batch_size=512), arg)
