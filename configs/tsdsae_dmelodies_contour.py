"""tsdsae-dmelodies_contour: tsdsae-dmelodies with z_t's encoder reading the melody's contour.

  musicvae-dmelodies --output=<dir> --items=1 --dataset=<dataset dir> --train_items=100000
  musicvae-train --config=tsdsae-dmelodies_contour --data=<dataset dir> --workdir=<dir>
  python bench/dsae_dmelodies.py --data=<dataset dir> --out=<dir> --models=tsdsae \
      --z_input=contour --swap_weights=4,1,4,1 --steps=6000 --swap_warmup_steps=2000

The network, two stages and informed prior of tsdsae-dmelodies, with ``z_input='contour'``:
z_t's encoder reads, per step, rest, hold and whether the pitch goes up, down, stays or is the
first (``models.dsae.contour``), not the tokens. No key can reach z, so a swap keeps i's line
exactly in j's key. This is not the TS-DSAE authors' encoder: with theirs (tsdsae-dmelodies) z
learns a key-dependent code for each note and a swap scrambles the line (BENCHMARKS.md, "DSAE
and TS-DSAE on dMelodies"). The v swap terms weigh 4 (the z terms 1), reached over 2,000 steps,
and training runs 6,000 steps (8 minutes alone on 2 CPU cores): every swap decodes to a real item,
so the v terms ask v's encoder for one v per key whatever the rhythm and arpeggios, which lifts
the linear read-out of scale from v (0.89-0.99 over 9 runs at weights 1,1,1,1 and 3,000 steps;
BENCHMARKS.md, "z reading the contour").
"""
from musicvae_jax import config_lib as c


def get_config(arg=None):
  config = c.build('tsdsae-dmelodies_contour', c.dmelodies_data(),
                   c.dsae_model(enc_rnn_size=64, v_size=128, v_beta=0.01, free_bits=48.0,
                                stage1_steps=1000, swap_z_targets_train=True,
                                swap_weights=(4.0, 1.0, 4.0, 1.0), swap_warmup_steps=2000,
                                z_input='contour'),
                   c.train(batch_size=64), arg)
  if arg != 'tiny':
    config.train.update(num_steps=6000, eval_every_steps=2000, learning_rate=3e-3)
  return config
