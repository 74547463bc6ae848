"""The config a training workdir holds (its config.json), loaded as a config file.

  musicvae-train --workdir=<dir> --config.train.num_steps=600

Without --config, musicvae-train passes --config=<this file>:<workdir> (config_lib.resume_argv),
so --config.* overrides apply to the config the run was started with.
"""
from musicvae_jax import config_lib as c


def get_config(workdir):
  return c.workdir_config(workdir)
