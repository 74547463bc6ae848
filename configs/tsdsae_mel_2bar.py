"""tsdsae-mel_2bar: TS-DSAE on 2-bar melodies (16th notes, 90 classes): v the melody's global
character (key, register, scale), z_t its line step by step; swaps with musicvae-swap.

  musicvae-prepare --config=tsdsae-mel_2bar --input=<MIDI folder> --output=<dir>
  musicvae-train --config=tsdsae-mel_2bar --data=<dir> --workdir=<dir>
  musicvae-swap --workdir=<dir> --global_midi=<a.mid> --local_midi=<b.mid>

Windows as cat-mel_2bar_small's (a dataset prepared for it fits), transposed by -5..+5
semitones while training so that key is a factor the data vary.
"""
from musicvae_jax import config_lib as c


def get_config(arg=None):
  config = c.build(
      'tsdsae-mel_2bar',
      c.melody_data(slice_bars=2, valid_programs=c.MEL_PROGRAMS, transpose_range=(-5, 5)),
      c.dsae_model(stage1_steps=1000, swap_weights=(1.0, 1.0, 1.0, 1.0), free_bits=48.0,
                   swap_warmup_steps=1000),
      c.train(batch_size=128), arg)
  if arg != 'tiny':
    config.train.update(num_steps=4000, eval_every_steps=1000, learning_rate=3e-3)
  return config
