"""Magenta MusicVAE variable names ↔ this package's parameter paths.

The parameters keep Magenta's layout (LSTM kernels [input + H, 4H] with gate blocks i, j, f, o,
dense kernels [in, out]), so a checkpoint maps onto a model by renaming alone. A hierarchical
encoder (hier-*, multiperf) keeps each level's bidirectional encoder under
``encoder/hierarchical_level_<k>/``. Optimizer slots
(``*/Adam``, ``*/Adam_1``, ``beta*_power``) and ``global_step`` are not model variables.
"""

from __future__ import annotations

import re
from typing import Iterator

from musicvae_jax import errors
from musicvae_jax.models.vae import ModelSpec

Path = tuple  # a path in nnx.state(model), e.g. ('encoder', 'fw', 0, 'kernel')
TRAINING_ONLY = re.compile(r'(^|/)(global_step|beta[12]_power)$|/Adam(_1)?$')


def _pair(magenta: str, path: Path) -> Iterator[tuple[str, Path]]:
  yield f'{magenta}/kernel', path + ('kernel',)
  yield f'{magenta}/bias', path + ('bias',)


def _flat_decoder(scope: str, path: Path, num_layers: int):
  yield from _pair(f'{scope}/z_to_initial_state', path + ('z_to_initial_state',))
  for l in range(num_layers):
    yield from _pair(f'{scope}/multi_rnn_cell/cell_{l}/lstm_cell', path + ('stack', 'layers', l))
  yield from _pair(f'{scope}/output_projection', path + ('output_projection',))


def name_map(spec: ModelSpec) -> dict[str, Path]:
  """Every Magenta model variable of ``spec``'s model → its path in ``nnx.state(model)``."""
  out: dict[str, Path] = {}

  def add(pairs):
    out.update(pairs)

  if spec.encoder.kind == 'hierarchical_lstm':  # one bidirectional encoder per level
    encoders = [(f'encoder/hierarchical_level_{k}', ('encoder', 'levels', k))
                for k in range(len(spec.encoder.level_lengths))]
  else:
    encoders = [('encoder', ('encoder',))]
  for scope, path in encoders:
    for l in range(len(spec.enc_rnn_size)):
      for d in ('fw', 'bw'):
        add(_pair(f'{scope}/cell_{l}/bidirectional_rnn/{d}/multi_rnn_cell/cell_0/lstm_cell',
                  path + (d, l)))
  add(_pair('encoder/mu', ('latent', 'mu')))
  add(_pair('encoder/sigma', ('latent', 'sigma')))
  layers = len(spec.dec_rnn_size)
  if not spec.hierarchical:
    add(_flat_decoder('decoder', ('decoder',), layers))
    if spec.decoder.kind == 'nade_lstm':  # the NADE's weights, [D, 1, H] and [D, H, 1]
      out.update({f'decoder/nade/{w}': ('decoder', 'nade', w) for w in ('w_enc', 'w_dec_t')})
    return out
  add(_pair('decoder/hierarchical_level_0/initial_state', ('decoder', 'conductor_initial_state')))
  for l in range(layers):
    add(_pair(f'decoder/hierarchical_level_0/cell_{l}/lstm_cell',
              ('decoder', 'conductor', 'layers', l)))
  if spec.decoder.split_parts:
    for i in range(len(spec.part_depths)):
      add(_flat_decoder(f'core_decoder/core_decoder_{i}/decoder', ('decoder', 'cores', i),
                        layers))
  else:
    add(_flat_decoder('core_decoder/decoder', ('decoder', 'cores', 0), layers))
  return out


class VariableMismatchError(errors.UserError, ValueError):
  pass


def assign(model, variables: dict, *, source: str = 'checkpoint') -> None:
  """Loads Magenta-named arrays into ``model`` in place; every name and shape must match."""
  import jax.numpy as jnp
  from flax import nnx

  names = name_map(model.spec)
  given = {k: v for k, v in variables.items() if not TRAINING_ONLY.search(k)}
  missing = sorted(set(names) - set(given))
  extra = sorted(set(given) - set(names))
  if missing or extra:
    raise VariableMismatchError(
        f'{source} does not fit this model ({model.spec.decoder.kind} decoder, enc {list(model.spec.enc_rnn_size)}'
        f', dec {list(model.spec.dec_rnn_size)}, z {model.spec.z_size}): '
        f'missing {missing[:4]}{"..." if len(missing) > 4 else ""}, '
        f'unexpected {extra[:4]}{"..." if len(extra) > 4 else ""}. Use the config the '
        'checkpoint was trained with.')
  state = nnx.state(model, nnx.Param)
  flat = dict(nnx.to_flat_state(state))
  values = {}
  for name, path in names.items():  # every shape is checked before anything is written
    param = flat[path]
    value = jnp.asarray(given[name], dtype=param[...].dtype)
    if value.shape != param[...].shape:
      raise VariableMismatchError(
          f'{source}: {name} has shape {tuple(value.shape)}, this model expects '
          f'{tuple(param[...].shape)}. Use the config the checkpoint was trained with.')
    values[path] = value
  for path, value in values.items():
    flat[path][...] = value
  nnx.update(model, nnx.from_flat_state(flat))
