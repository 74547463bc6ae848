"""groovae_2bar_tap_fixed_velocity_note_dropout: as groovae_2bar_tap_fixed_velocity,
with random note dropout on the input (quiet notes dropped more often).

  musicvae-prepare --config=groovae_2bar_tap_fixed_velocity_note_dropout \\
    --input=<MIDI folder> --output=<dir>
"""
from musicvae_jax import config_lib as c


def get_config(arg=None):
  return c.build(
      'groovae_2bar_tap_fixed_velocity_note_dropout',
      c.groove_data(slice_bars=2, tapify=True, fixed_velocities=True,
                    max_note_dropout_probability=0.8),
      c.model(decoder='groove_lstm', enc_rnn_size=[512], dec_rnn_size=[256, 256], z_size=256,
              free_bits=48, max_beta=0.2, dropout_keep_prob=0.3),
      c.train(batch_size=512), arg)
