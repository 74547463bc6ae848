"""cat-mel_2bar_small: 2-bar melodies, BiLSTM [512] encoder, LSTM [256, 256] decoder, z 256.

  musicvae-prepare --config=cat-mel_2bar_small --input=<MIDI folder> --output=<dir>
"""
from musicvae_jax import config_lib as c


def get_config(arg=None):
  return c.build(
      'cat-mel_2bar_small',
      c.melody_data(slice_bars=2, valid_programs=c.MEL_PROGRAMS, transpose_range=(-5, 5)),
      c.model(enc_rnn_size=[512], dec_rnn_size=[256, 256], z_size=256,
              max_beta=0.2, beta_rate=0.99999, sampling_schedule='inverse_sigmoid',
              sampling_rate=1000),
      c.train(batch_size=512), arg)
