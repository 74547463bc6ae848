"""The peer programs of shared/reference/peers, run as subprocesses beside the project's rows.

  python bench/train.py --peers_python=/path/to/venv/bin/python ...
  MUSICVAE_PEERS_PYTHON=/path/to/venv/bin/python python bench/sample.py ...

The peers need TensorFlow, torch and a second JAX/Flax, which are not dependencies of the
project: install them in a separate virtualenv and name its interpreter with ``--peers_python``
or ``MUSICVAE_PEERS_PYTHON``. Each peer prints one ``RESULT {json}`` line (its README); a peer
whose framework is missing from that interpreter is listed as not run, with the reason.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
PEERS_DIR = pathlib.Path(os.environ.get('MUSICVAE_SHARED', REPO.parent / 'shared')) / \
    'reference/peers'
ENV_VAR = 'MUSICVAE_PEERS_PYTHON'


@dataclasses.dataclass(frozen=True)
class Peer:
  label: str
  script: str
  needs: str  # the module whose import says the peer can run
  args: tuple = ()
  env: tuple = ()


PEERS = (
    Peer('Magenta TF graph', 'magenta_tf_musicvae.py', 'tf_slim',
         ('--magenta-src', str(PEERS_DIR / 'magenta_src')), (('TF_USE_LEGACY_KERAS', '1'),)),
    Peer('PyTorch eager + FTZ', 'torch_musicvae.py', 'torch', ('--flush-denormal',)),
    Peer('Flax linen port', 'jax_flax_musicvae.py', 'flax'),
)


def add_flag(parser) -> None:
  parser.add_argument(
      '--peers_python', default=os.environ.get(ENV_VAR, ''),
      help=f'interpreter of a virtualenv with the peers\' frameworks (or ${ENV_VAR}); '
           'empty: no peers run')
  parser.add_argument('--peers', default='all',
                      help='comma-separated subset of: tf, torch, flax (default all)')


def _key(peer: Peer) -> str:
  return {'tf_slim': 'tf', 'torch': 'torch', 'flax': 'flax'}[peer.needs]


def available(python: str, which: str = 'all') -> tuple[list[Peer], list[str]]:
  """(peers that can run under ``python``, one 'label: reason' line for each that cannot)."""
  chosen = [p for p in PEERS if which == 'all' or _key(p) in which.split(',')]
  if not python:
    return [], [f'{p.label}: not run (no --peers_python / ${ENV_VAR})' for p in chosen]
  if not PEERS_DIR.is_dir():
    return [], [f'{p.label}: not run ({PEERS_DIR} is missing)' for p in chosen]
  ok, missing = [], []
  for peer in chosen:
    probe = subprocess.run([python, '-c', f'import {peer.needs}'], capture_output=True,
                           text=True, check=False)
    if probe.returncode == 0:
      ok.append(peer)
    else:
      last = (probe.stderr.strip().splitlines() or ['failed'])[-1]
      missing.append(f'{peer.label}: not run ({python}: {last})')
  return ok, missing


def version(python: str, peer: Peer) -> str:
  module = {'tf_slim': 'tensorflow', 'torch': 'torch', 'flax': 'flax'}[peer.needs]
  out = subprocess.run([python, '-c', f'import {module}; print({module}.__version__)'],
                       capture_output=True, text=True, check=False)
  return f'{module} {out.stdout.strip() or "?"}'


def run(python: str, peer: Peer, *, config: str, batch: int, steps: int, train: bool = True,
        sample: bool = False, sample_batch: int = 64, sample_reps: int = 3,
        extra: tuple = (), timeout: float = 1800) -> dict:
  """One run of ``peer``; returns its RESULT dict (or {'error': ...})."""
  cmd = [python, str(PEERS_DIR / peer.script), '--config', config, '--batch', str(batch),
         '--steps', str(steps), '--sample-batch', str(sample_batch),
         '--sample-reps', str(sample_reps), *peer.args, *extra]
  if not train:
    cmd.append('--no-train')
  if not sample:
    cmd.append('--no-sample')
  env = {**os.environ, **dict(peer.env)}
  env.pop('XLA_FLAGS', None)  # the project's bench settings are not the peer's
  try:
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout,
                         check=False, cwd=str(PEERS_DIR))
  except subprocess.TimeoutExpired:
    return {'error': f'timed out after {timeout:.0f} s'}
  for line in out.stdout.splitlines():
    if line.startswith('RESULT '):
      return json.loads(line[len('RESULT '):])
  tail = (out.stderr.strip().splitlines() or ['no output'])[-1]
  return {'error': f'exit {out.returncode}: {tail}'}


if __name__ == '__main__':  # quick check: which peers run under the given interpreter
  ok_peers, not_run = available(sys.argv[1] if len(sys.argv) > 1 else os.environ.get(ENV_VAR, ''))
  for p in ok_peers:
    print(f'{p.label}: runs')
  print('\n'.join(not_run))
