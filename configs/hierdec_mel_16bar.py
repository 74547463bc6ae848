"""hierdec-mel_16bar: 16-bar melodies, BiLSTM [2048, 2048] encoder, conductor + bar decoder.

The conductor LSTM [1024, 1024] emits one embedding per bar (16 bars x 16 steps); each bar is
decoded by an LSTM [1024, 1024] initialised from its embedding.

  musicvae-prepare --config=hierdec-mel_16bar --input=<MIDI folder> --output=<dir>
"""
from musicvae_jax import config_lib as c


def get_config(arg=None):
  return c.build(
      'hierdec-mel_16bar',
      c.melody_data(slice_bars=16, valid_programs=None),
      c.model(decoder='hierarchical', enc_rnn_size=[2048, 2048], dec_rnn_size=[1024, 1024],
              z_size=512, free_bits=256, max_beta=0.2),
      c.train(batch_size=512), arg)
