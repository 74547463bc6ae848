"""flat-mel_16bar: 16-bar melodies, BiLSTM [2048, 2048] encoder, flat LSTM [2048]x3 decoder.

  musicvae-prepare --config=flat-mel_16bar --input=<MIDI folder> --output=<dir>
"""
from musicvae_jax import config_lib as c


def get_config(arg=None):
  return c.build(
      'flat-mel_16bar',
      c.melody_data(slice_bars=16, valid_programs=None),
      c.model(enc_rnn_size=[2048, 2048], dec_rnn_size=[2048, 2048, 2048], z_size=512,
              free_bits=256, max_beta=0.2),
      c.train(batch_size=512), arg)
