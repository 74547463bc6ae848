"""A Magenta MusicVAE checkpoint -> a workdir every musicvae-* command reads.

The checkpoint is read with this package's own tensor-bundle reader (no TensorFlow). Its model
variables map onto the model by name (``models.magenta_names``: same layout, so no transposes);
the optimizer slots and ``beta*_power`` are not imported. The sizes (encoder and decoder widths,
z) are read from the checkpoint's shapes, so a checkpoint trained with a config's architecture
at other widths imports under that config's name; the layout itself (flat or hierarchical
decoder, number of parts, input and output depths) must be the config's, else the import stops
with a message naming both.

The checkpoint may also be an ``http(s)://`` or ``gs://`` URL of a published ``.tar``: it is
downloaded once into the user's cache (``download.fetch``, resumable) and imported from there.

The workdir gets ``config.json``, an Orbax checkpoint at Magenta's ``global_step`` (parameters,
a fresh Adam state) and ``magenta_import.json`` (where it came from): sampling, interpolation,
evaluation, and fine-tuning with musicvae-train all start from it.
"""

from __future__ import annotations

import json
import pathlib
import re

import jax.numpy as jnp
from flax import nnx

from musicvae_jax import checkpointing
from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax import errors
from musicvae_jax.magenta import download
from musicvae_jax.magenta import tf_checkpoint
from musicvae_jax.models import magenta_names
from musicvae_jax.models import vae
from musicvae_jax.training import optimizer

RECORD_FILE = 'magenta_import.json'
# A flat encoder's layers, or (hier-*, multiperf) those of the first level of a hierarchical one.
_ENC = re.compile(r'^encoder/(?:hierarchical_level_0/)?cell_(\d+)/bidirectional_rnn/fw/'
                  r'multi_rnn_cell/cell_0/lstm_cell/kernel$')
_DEC = (re.compile(r'^decoder/multi_rnn_cell/cell_(\d+)/lstm_cell/kernel$'),
        re.compile(r'^decoder/hierarchical_level_0/cell_(\d+)/lstm_cell/kernel$'))


class ImportMismatchError(errors.UserError, ValueError):
  pass


def _layer_sizes(shapes: dict, pattern) -> list[int]:
  found = {int(m.group(1)): shape[1] // 4 for name, shape in shapes.items()
           if (m := pattern.match(name))}
  return [found[i] for i in sorted(found)]


def infer_sizes(shapes: dict) -> dict:
  """enc_rnn_size, dec_rnn_size and z_size (and a NADE's nade_num_hidden) from the variables'
  shapes ({} if not a MusicVAE)."""
  enc = _layer_sizes(shapes, _ENC)
  dec = _layer_sizes(shapes, _DEC[0]) or _layer_sizes(shapes, _DEC[1])
  if not enc or not dec or 'encoder/mu/kernel' not in shapes:
    return {}
  sizes = dict(enc_rnn_size=enc, dec_rnn_size=dec, z_size=int(shapes['encoder/mu/kernel'][1]))
  if 'decoder/nade/w_enc' in shapes:  # nade-drums: w_enc is [D, 1, nade_num_hidden]
    sizes['nade_num_hidden'] = int(shapes['decoder/nade/w_enc'][2])
  return sizes


def import_checkpoint(checkpoint, config, workdir, *, log=print) -> dict:
  """Writes the workdir; returns its import record. Raises ImportMismatchError on a mismatch."""
  workdir = pathlib.Path(workdir)
  if checkpointing.config_path(workdir).exists() or (workdir / 'checkpoints').exists():
    raise ImportMismatchError(f'{workdir} already holds a run; import into a new --workdir.')
  if isinstance(config, str):
    config = config_lib.get_config(config)
  config = config.copy_and_resolve_references()
  config_name = config.name
  source = str(checkpoint)
  checkpoint = download.resolve(checkpoint, log=log)
  with tf_checkpoint.open_checkpoint(checkpoint) as ckpt:
    names = [n for n in ckpt.keys() if not magenta_names.TRAINING_ONLY.search(n)]
    shapes = {n: ckpt.shape(n) for n in names}
    sizes = infer_sizes(shapes)
    if not sizes:
      raise ImportMismatchError(
          f'{checkpoint} is not a MusicVAE checkpoint with a bidirectional LSTM encoder and an '
          f'LSTM decoder (no encoder/cell_0/... or decoder/... LSTM kernels among its '
          f'{len(names)} variables), so it cannot be read as {config_name}.')
    stated = lambda k: list(config.model[k]) if k.endswith('_rnn_size') else config.model.get(k)
    differ = {k: (stated(k), v) for k, v in sizes.items() if stated(k) != v}
    for k, v in sizes.items():
      config.model[k] = v
    run = config_boundary.run_spec(config)
    model = vae.build_model(run.model)
    variables = ckpt.read_all(lambda n: not magenta_names.TRAINING_ONLY.search(n))
    global_step = int(ckpt.read('global_step')) if 'global_step' in ckpt.keys() else 0
    prefix = str(ckpt.prefix)
  try:
    magenta_names.assign(model, variables, source=str(checkpoint))
  except magenta_names.VariableMismatchError as e:
    raise ImportMismatchError(
        f'config {config_name}: {e} (For Magenta\'s published checkpoints the config has the '
        'file\'s name, e.g. cat-mel_2bar_big; the drum lokl/hikl ones use '
        'cat-drums_2bar_small.)') from e
  if differ:
    log(f'{checkpoint}: sizes differ from {config_name}\'s defaults; the workdir records the '
        'checkpoint\'s: ' + ', '.join(f'{k} {a} -> {b}' for k, (a, b) in differ.items()))
  params = nnx.to_pure_dict(nnx.state(model, nnx.Param))
  state = dict(params=params,
               opt_state=optimizer.init(optimizer.make(run.train), params, global_step),
               step=jnp.asarray(global_step, jnp.int32))
  checkpointing.check_or_write_config(workdir, config, write=True)
  mgr = checkpointing.manager(workdir)
  checkpointing.save(mgr, global_step, state)
  mgr.close()
  record = dict(source=source, prefix=prefix, config=config_name,
                global_step=global_step, variables=len(variables), sizes=sizes,
                sizes_differ_from_config={k: list(v) for k, v in differ.items()})
  (workdir / RECORD_FILE).write_text(json.dumps(record, indent=2, sort_keys=True) + '\n')
  return record
