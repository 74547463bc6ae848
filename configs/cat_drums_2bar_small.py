"""cat-drums_2bar_small: 2-bar drum grooves (9 classes, 512-way one-hot), BiLSTM [512], z 256.

  musicvae-prepare --config=cat-drums_2bar_small --input=<MIDI folder> --output=<dir>
"""
from musicvae_jax import config_lib as c


def get_config(arg=None):
  return c.build(
      'cat-drums_2bar_small',
      c.drums_data(slice_bars=2),
      c.model(enc_rnn_size=[512], dec_rnn_size=[256, 256], z_size=256,
              free_bits=48, max_beta=0.2, sampling_schedule='inverse_sigmoid',
              sampling_rate=1000),
      c.train(batch_size=512), arg)
