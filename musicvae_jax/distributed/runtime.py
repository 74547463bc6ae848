"""Joining a multi-process JAX job (``jax.distributed``), before any JAX computation.

On a TPU pod slice every worker runs the same command with ``--multihost`` and no addresses:
JAX finds the coordinator and its own rank from the TPU metadata (as it does under Slurm and
Open MPI). On GPU clusters, or for several processes on one machine, every process names the
coordinator (process 0's ``host:port``), the number of processes and its own id.
"""

from __future__ import annotations

import dataclasses

import jax

from musicvae_jax import errors


class RuntimeSetupError(errors.UserError, RuntimeError):
  pass


@dataclasses.dataclass(frozen=True)
class ProcessSpec:
  """How this process joins the job; all None means "detect from the cluster"."""
  coordinator_address: str | None = None
  num_processes: int | None = None
  process_id: int | None = None

  def check(self) -> None:
    given = [v is not None for v in dataclasses.astuple(self)]
    if any(given) and not all(given):
      raise RuntimeSetupError(
          'give all three of --coordinator_address, --num_processes and --process_id (GPU '
          'clusters, several processes on one machine), or none of them (TPU pods, Slurm, '
          'Open MPI: detected).')
    if self.num_processes is not None and not 0 <= self.process_id < self.num_processes:
      raise RuntimeSetupError(f'--process_id={self.process_id} is not in '
                              f'[0, --num_processes={self.num_processes}).')


def initialize(spec: ProcessSpec = ProcessSpec()) -> None:
  """``jax.distributed.initialize`` with a message that says what to check when it fails."""
  spec.check()
  try:
    jax.distributed.initialize(coordinator_address=spec.coordinator_address,
                               num_processes=spec.num_processes, process_id=spec.process_id)
  except (RuntimeError, ValueError) as e:
    where = spec.coordinator_address or 'the address the cluster gives'
    raise RuntimeSetupError(
        f'could not join the multi-process job ({e}). Check that every process runs the same '
        f'command, that process 0 is up and {where} is reachable, or drop --multihost for a '
        'single machine.') from e


def is_lead() -> bool:
  """Process 0: the one that writes logs, metrics, samples and config files."""
  return jax.process_index() == 0
