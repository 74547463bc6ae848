"""musicoder_ccm: MusiCoder pretrained with CCM only (the ablation of configs/musicoder.py).

  musicvae-pretrain --config=musicoder_ccm --data=<dataset dir> --workdir=<dir>
"""
from musicvae_jax import config_lib as c


def get_config(arg=None):
  return c.musicoder_config('musicoder_ccm', arg, objectives=('ccm',))
