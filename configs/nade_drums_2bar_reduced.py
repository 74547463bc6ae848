"""nade-drums_2bar_reduced: 2-bar drum rolls (9 classes, multi-hot), BiLSTM [1024], LSTM-NADE
[512]x2 with 128 NADE hidden units, z 256.

  musicvae-prepare --config=nade-drums_2bar_reduced --input=<MIDI folder> --output=<dir>
"""
from musicvae_jax import config_lib as c


def get_config(arg=None):
  return c.build(
      'nade-drums_2bar_reduced',
      c.drum_roll_data(slice_bars=2),
      c.model(decoder='multi_label_rnn_nade', enc_rnn_size=[1024], dec_rnn_size=[512, 512],
              z_size=256, free_bits=48, max_beta=0.2, sampling_schedule='inverse_sigmoid',
              sampling_rate=1000, nade_num_hidden=128),
      c.train(batch_size=512), arg)
