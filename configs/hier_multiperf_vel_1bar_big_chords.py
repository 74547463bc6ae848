"""hier-multiperf_vel_1bar_big_chords: one bar of up to 8 instruments as performance events
(24 steps a quarter, 8 velocity bins, 64 rows a track), hierarchical BiLSTM [2048] encoder
(the 64 rows of each track, then the 8 tracks), conductor and track decoder LSTM
[1024, 1024, 1024], z 512.
Conditioned on one triad chord per row (49 classes), inferred from the notes (two per
4/4 bar) where the MIDI has no chord symbols, as Magenta does.

  musicvae-prepare --config=hier-multiperf_vel_1bar_big_chords --input=<MIDI folder> --output=<dir>
"""
from musicvae_jax import config_lib as c


def get_config(arg=None):
  return c.build(
      'hier-multiperf_vel_1bar_big_chords',
      c.multiperf_data(chord_encoding='triad'),
      c.model(encoder='hierarchical_lstm', decoder='hierarchical', enc_rnn_size=[2048],
              dec_rnn_size=[1024, 1024, 1024], z_size=512, free_bits=0, max_beta=1.0),
      c.train(batch_size=256), arg)
