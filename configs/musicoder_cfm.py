"""musicoder_cfm: MusiCoder pretrained with CFM only (the ablation of configs/musicoder.py).

  musicvae-pretrain --config=musicoder_cfm --data=<dataset dir> --workdir=<dir>
"""
from musicvae_jax import config_lib as c


def get_config(arg=None):
  return c.musicoder_config('musicoder_cfm', arg, objectives=('cfm',))
