"""cat-drums_2bar_big: 2-bar drum grooves, BiLSTM [2048] encoder, LSTM [2048]x3, z 512.

  musicvae-prepare --config=cat-drums_2bar_big --input=<MIDI folder> --output=<dir>
"""
from musicvae_jax import config_lib as c


def get_config(arg=None):
  return c.build(
      'cat-drums_2bar_big',
      c.drums_data(slice_bars=2),
      c.model(enc_rnn_size=[2048], dec_rnn_size=[2048, 2048, 2048], z_size=512,
              free_bits=48, max_beta=0.2, sampling_schedule='inverse_sigmoid',
              sampling_rate=1000),
      c.train(batch_size=512), arg)
