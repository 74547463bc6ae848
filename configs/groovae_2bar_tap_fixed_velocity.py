"""groovae_2bar_tap_fixed_velocity: 2-bar drums from a tapped rhythm: every hit on one
channel (open hi-hat), input velocities zeroed.

  musicvae-prepare --config=groovae_2bar_tap_fixed_velocity --input=<MIDI folder> --output=<dir>
"""
from musicvae_jax import config_lib as c


def get_config(arg=None):
  return c.build(
      'groovae_2bar_tap_fixed_velocity',
      c.groove_data(slice_bars=2, tapify=True, fixed_velocities=True),
      c.model(decoder='groove_lstm', enc_rnn_size=[512], dec_rnn_size=[256, 256], z_size=256,
              free_bits=48, max_beta=0.2, dropout_keep_prob=0.3),
      c.train(batch_size=512), arg)
