"""hier-multiperf_vel_1bar_big: one bar of up to 8 instruments as performance events
(24 steps a quarter, 8 velocity bins, 64 rows a track), hierarchical BiLSTM [2048] encoder
(the 64 rows of each track, then the 8 tracks), conductor and track decoder LSTM
[1024, 1024, 1024], z 512.

  musicvae-prepare --config=hier-multiperf_vel_1bar_big --input=<MIDI folder> --output=<dir>
"""
from musicvae_jax import config_lib as c


def get_config(arg=None):
  return c.build(
      'hier-multiperf_vel_1bar_big',
      c.multiperf_data(),
      c.model(encoder='hierarchical_lstm', decoder='hierarchical', enc_rnn_size=[2048],
              dec_rnn_size=[1024, 1024, 1024], z_size=512, free_bits=0, max_beta=1.0),
      c.train(batch_size=256), arg)
