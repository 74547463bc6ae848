"""groovae_2bar_hits_control: 2-bar drums; the target hits are given as 9-d controls and
the model learns velocities and offsets (Magenta names it groovae_2bar_hits_control_tfds too).

  musicvae-prepare --config=groovae_2bar_hits_control --input=<MIDI folder> --output=<dir>
"""
from musicvae_jax import config_lib as c


def get_config(arg=None):
  return c.build(
      'groovae_2bar_hits_control',
      c.groove_data(slice_bars=2, hits_as_controls=True),
      c.model(decoder='groove_lstm', enc_rnn_size=[512], dec_rnn_size=[256, 256], z_size=256,
              free_bits=48, max_beta=0.2, dropout_keep_prob=0.3),
      c.train(batch_size=512), arg)
