"""A Magenta checkpoint imported once into the user's cache, for commands that take it directly.

``workdir_for(checkpoint, config)`` returns a musicvae_jax workdir for a Magenta checkpoint (a
``.tar`` bundle, a ``model.ckpt-N`` prefix, its folder, or an ``http(s)://`` / ``gs://`` URL of a
published ``.tar``): ``cache_dir()/imported/<key>``, where the key hashes the config name and the
source (a URL as written; a local checkpoint by its absolute path, sizes and modification
times, so a changed file is imported again). The first call imports (``importer``) into a
temporary folder and renames it into place when complete; later calls reuse it.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil
import sys
import tempfile

from musicvae_jax import errors
from musicvae_jax.magenta import download

# checkpointing.CONFIG_FILE and importer.RECORD_FILE; those modules load jax, so they are imported
# only to import a checkpoint, and a refused command line is answered at once.
CONFIG_FILE = 'config.json'
RECORD_FILE = 'magenta_import.json'


def _stat_files(path: pathlib.Path) -> list[pathlib.Path]:
  if path.is_file():
    return [path]
  if path.is_dir():
    return sorted(p for p in path.iterdir() if p.is_file())
  return sorted(path.parent.glob(path.name + '.*'))  # a checkpoint prefix


def source_key(checkpoint, config_name: str) -> str:
  """The cache key of ``checkpoint`` imported as ``config_name``."""
  if download.is_url(checkpoint):
    source = [download.https_url(str(checkpoint))]
  else:
    path = pathlib.Path(checkpoint).expanduser().resolve()
    source = [str(path)] + [(p.name, p.stat().st_size, p.stat().st_mtime_ns)
                            for p in _stat_files(path)]
  text = json.dumps([config_name, source])
  return hashlib.sha256(text.encode()).hexdigest()[:16]


def workdir_for(checkpoint, config, *, log=lambda msg: print(msg, file=sys.stderr)
                ) -> pathlib.Path:
  """The cached workdir of ``checkpoint`` under ``config`` (a ConfigDict), imported if missing."""
  root = download.cache_dir() / 'imported'
  workdir = root / source_key(checkpoint, config.name)
  if (workdir / RECORD_FILE).is_file():
    log(f'{checkpoint}: using its import as {config.name} cached in {workdir}')
    return workdir
  from musicvae_jax.magenta import importer  # pylint: disable=g-import-not-at-top
  root.mkdir(parents=True, exist_ok=True)
  staging = pathlib.Path(tempfile.mkdtemp(prefix=f'.{workdir.name}-', dir=root))
  try:
    log(f'{checkpoint}: importing it as {config.name} into {workdir} (once; later runs reuse it)')
    importer.import_checkpoint(checkpoint, config, staging / 'workdir', log=log)
    try:
      os.rename(staging / 'workdir', workdir)
    except OSError:  # another run finished the same import first
      if not (workdir / RECORD_FILE).is_file():
        raise
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  return workdir


class SourceError(errors.UserError, ValueError):
  """No model given, or a Magenta checkpoint without the config it was trained with."""


def _is_workdir(path: str) -> bool:
  return path.startswith('bundled:') or (pathlib.Path(path) / CONFIG_FILE).is_file()


def model_dir(*, checkpoint_file=None, run_dir=None, workdir=None, config=None,
              log=lambda msg: print(msg, file=sys.stderr)) -> str:
  """The workdir for music_vae_generate's flags: ``--run_dir`` (a workdir, or a Magenta run
  whose ``train/`` folder holds its checkpoints; it wins over ``--checkpoint_file``, as in
  Magenta), else ``--checkpoint_file`` (a workdir, or a Magenta checkpoint or URL, imported
  through the cache), else ``--workdir``."""
  if run_dir:
    source = run_dir if _is_workdir(run_dir) else str(pathlib.Path(run_dir) / 'train')
  else:
    source = checkpoint_file or workdir
  if not source:
    name = config.name if config is not None else 'cat-mel_2bar_big'
    urls = download.published_urls(name) or download.published_urls('cat-mel_2bar_big')
    raise SourceError(f'give the model: --checkpoint_file=<Magenta .tar, model.ckpt-N prefix or '
                      f'URL, or a musicvae_jax workdir>, e.g. --checkpoint_file={urls[0]}, or '
                      '--run_dir=<dir>; BUILD.md lists Magenta\'s published checkpoints.')
  if not download.is_url(source) and _is_workdir(source):
    return source
  if not download.is_url(source) and not _stat_files(pathlib.Path(source).expanduser()):
    raise SourceError(f'{source}: no such workdir, checkpoint or file.')
  if config is None:
    raise SourceError(f'{source} is a Magenta checkpoint: pass --config=<the Magenta config it '
                      'was trained with>, e.g. --config=cat-mel_2bar_big.')
  return str(workdir_for(source, config, log=log))
