"""cat-mel_2bar_big: 2-bar melodies, BiLSTM [2048] encoder, LSTM [2048]x3 decoder, z 512.

  musicvae-prepare --config=cat-mel_2bar_big --input=<MIDI folder> --output=<dir>
"""
from musicvae_jax import config_lib as c


def get_config(arg=None):
  return c.build(
      'cat-mel_2bar_big',
      c.melody_data(slice_bars=2, valid_programs=c.MEL_PROGRAMS, transpose_range=(-5, 5)),
      c.model(enc_rnn_size=[2048], dec_rnn_size=[2048, 2048, 2048], z_size=512,
              max_beta=0.5, beta_rate=0.99999, sampling_schedule='inverse_sigmoid',
              sampling_rate=1000),
      c.train(batch_size=512), arg)
