"""flat-trio_16bar: 16-bar melody + bass + drums, flat multi-output LSTM [2048]x3 decoder.

  musicvae-prepare --config=flat-trio_16bar --input=<MIDI folder> --output=<dir>
"""
from musicvae_jax import config_lib as c


def get_config(arg=None):
  return c.build(
      'flat-trio_16bar',
      c.trio_data(slice_bars=16),
      c.model(decoder='multi_categorical_lstm', enc_rnn_size=[2048, 2048],
              dec_rnn_size=[2048, 2048, 2048], z_size=512),
      c.train(batch_size=256), arg)
