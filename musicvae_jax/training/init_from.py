"""``config.train.init_from``: start a fresh run from another model's parameters (fine-tuning).

The source is anything that holds a model's parameters: a training workdir (its latest
checkpoint), an exported model folder, or ``bundled:<name>``. Only the parameters are taken;
the optimiser starts afresh (Adam's moments at zero, the step and the learning-rate schedule at
0), as a fine-tuning run should. A run that resumes from its own checkpoint ignores it: the
checkpoint already holds everything, so a kill and a resume give the same parameters.

A melody model whose encoder is MusiCoder's (``model.encoder='musicoder'``) takes from a
``musicvae-pretrain`` workdir only the encoder's transformer; the Gaussian head and the decoder
start fresh (``place`` puts the part into the freshly initialised parameters).
"""

import jax
import numpy as np

from musicvae_jax import checkpointing
from musicvae_jax import specs
from musicvae_jax.generation import model_files


def load(source: str, spec: specs.ModelSpec) -> dict:
  """Parameters (numpy, the config's dtypes) of ``source`` for a model built from ``spec``
  (for a MusiCoder encoder: ``{'encoder': {'coder': <the pretrained transformer>}}``)."""
  if spec.encoder.kind == 'musicoder':
    from musicvae_jax.training import loop  # pylint: disable=g-import-not-at-top  (imports us)
    _, coder, _ = loop.restore_params(source)
    if coder is None:
      raise checkpointing.WorkdirError(f'config.train.init_from={source} has no checkpoint yet; '
                                       'pretrain it first (musicvae-pretrain).')
    return {'encoder': {'coder': jax.tree.map(np.asarray, coder)}}
  folder, _ = model_files.resolve(source)
  if not folder.exists():
    raise checkpointing.WorkdirError(
        f'config.train.init_from={source}: no such folder. Pass a training workdir, an exported '
        'model folder or bundled:<name>.')
  try:
    params, _, _ = model_files.load_params(folder, spec)
  except checkpointing.WorkdirError as error:
    raise checkpointing.WorkdirError(
        f'config.train.init_from={source} does not fit this config: {error} Start from a model '
        'trained with the same config and widths, or drop --config.train.init_from.') from None
  return params


def place(fresh: dict, loaded: dict) -> dict:
  """``fresh`` with every entry ``loaded`` has replaced (nested dicts are merged)."""
  out = dict(fresh)
  for key, value in loaded.items():
    out[key] = place(fresh[key], value) if isinstance(value, dict) else value
  return out
