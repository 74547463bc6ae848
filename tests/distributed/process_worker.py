"""One process of a multi-process training job, run by test_multiprocess.py.

  python process_worker.py <coordinator host:port> <num_processes> <process_id> <data> <workdir>
      <num_steps> <out.npz>

Joins the job, trains the workdir's config to num_steps through the public API, then gathers
the full parameters from every process and saves this process's copy, so the test can check
that all processes hold the same model.
"""

import sys

from musicvae_jax.distributed import runtime


def main(coordinator, num_processes, process_id, data, workdir, num_steps, out):
  runtime.initialize(runtime.ProcessSpec(coordinator, int(num_processes), int(process_id)))
  import jax  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  from jax.experimental import multihost_utils  # pylint: disable=import-outside-toplevel
  from musicvae_jax import checkpointing  # pylint: disable=import-outside-toplevel
  from musicvae_jax.training import loop  # pylint: disable=import-outside-toplevel
  config = checkpointing.load_config(workdir)
  config.train.num_steps = int(num_steps)
  loop.train_and_evaluate(config, data, workdir, progress=False)
  _, params, _ = loop.restore_params(workdir)
  full = multihost_utils.process_allgather(params, tiled=True)
  flat = jax.tree_util.tree_flatten_with_path(full)[0]
  np.savez(out, **{jax.tree_util.keystr(k): np.asarray(v) for k, v in flat})


if __name__ == '__main__':
  main(*sys.argv[1:])
