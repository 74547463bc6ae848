"""cat-mel_2bar_med_chords: 2-bar melodies conditioned on one triad chord per step (49 classes),
BiLSTM [1024] encoder, LSTM [512, 512, 512] decoder, z 256; chords from the MIDI's chord
symbols, else inferred (two per 4/4 bar) as Magenta does.

  musicvae-prepare --config=cat-mel_2bar_med_chords --input=<MIDI folder> --output=<dir>
"""
from musicvae_jax import config_lib as c


def get_config(arg=None):
  data = c.melody_data(slice_bars=2, valid_programs=None, transpose_range=(-3, 3))
  data.chord_encoding = 'triad'  # Magenta's TriadChordOneHotEncoding: the [T, 2] windows' chords
  return c.build(
      'cat-mel_2bar_med_chords', data,
      c.model(enc_rnn_size=[1024], dec_rnn_size=[512, 512, 512], z_size=256,
              free_bits=0, max_beta=1.0),
      c.train(batch_size=512), arg)
