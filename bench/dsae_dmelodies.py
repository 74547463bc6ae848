"""DSAE against TS-DSAE on dMelodies: LDA macro-F1 of v before and after swaps, per z size and
seed, with the exact parse of the swapped melodies (``training/dsae_eval.py``).

  musicvae-dmelodies --output=runs/dsae/items --items=1 --dataset=runs/dsae/data \
      --train_items=100000 --eval_items=10000
  python bench/dsae_dmelodies.py --data=runs/dsae/data --out=runs/dsae/bench \
      --models=dsae,tsdsae --z_sizes=8,16,32 --seeds=0,1,2

Each run trains ``<model>-dmelodies`` in ``<out>/<model>_z<Z>_s<seed>`` (a finished workdir is
only evaluated; an interrupted one resumes), then scores it; ``<out>/results.json`` keeps every
run's figures and ``<out>/results.md`` the table BENCHMARKS.md quotes, with the mean and the
minimum over seeds per model and z size.
"""

import json
import pathlib
import time

from absl import app
from absl import flags
import numpy as np

from musicvae_jax import config_lib
from musicvae_jax.training import dsae_eval
from musicvae_jax.training import loop

_DATA = flags.DEFINE_string('data', None, 'A dMelodies dataset (musicvae-dmelodies --dataset).')
_OUT = flags.DEFINE_string('out', None, 'Folder for the workdirs and the results.')
_MODELS = flags.DEFINE_list('models', ['dsae', 'tsdsae'], 'dsae and/or tsdsae.')
_Z = flags.DEFINE_list('z_sizes', ['8', '16', '32'], 'Sizes of z_t.')
_SEEDS = flags.DEFINE_list('seeds', ['0', '1', '2'], 'Training seeds.')
_STEPS = flags.DEFINE_integer('steps', 3000, 'Training steps of each run.')
_STAGE1 = flags.DEFINE_integer('stage1_steps', 1000, "TS-DSAE's first stage, in steps.")
_BATCH = flags.DEFINE_integer('batch_size', 64, 'Batch size.')
_ENC = flags.DEFINE_integer('enc_rnn_size', 64, 'Encoder LSTM size per direction.')
_DEC = flags.DEFINE_integer('dec_size', 256, 'Decoder MLP width.')
_FREE = flags.DEFINE_float('free_bits', 48.0, 'Free bits of z_1:T.')
_WARM = flags.DEFINE_integer('swap_warmup_steps', 1000, "TS-DSAE's swap-weight warm-up.")
_LR = flags.DEFINE_float('learning_rate', 3e-3, 'Adam learning rate.')
_V = flags.DEFINE_integer('v_size', None, "Size of v (default: the config's).")
_V_BETA = flags.DEFINE_float('v_beta', None, "Weight of v's KL term (default: the config's).")
_ST = flags.DEFINE_bool('straight_through_swaps', None, 'Swap terms re-encode greedy decodes '
                        "(default: the config's).")
_ZT = flags.DEFINE_bool('swap_z_targets_train', None, "z's swap targets pass gradient "
                        "(default: the config's).")
_ZIN = flags.DEFINE_enum('z_input', None, ['tokens', 'contour'], "What z_t's encoder reads "
                         "(default: the config's).")
_SWAP = flags.DEFINE_list('swap_weights', None, "TS-DSAE's four swap weights (default: the "
                          "config's).")
_COLLECT = flags.DEFINE_list('collect', [], 'Only merge these folders\' results.json (runs '
                             'split over several processes) into --out\'s tables.')
_LDA = flags.DEFINE_integer('lda_items', 20000, 'Training items the LDA is fitted on.')


def config_for(model: str, z: int, seed: int):
  config = config_lib.get_config(f'{model}-dmelodies')
  config.model.z_size = z
  config.model.enc_rnn_size = (_ENC.value,)
  config.model.dec_rnn_size = (_DEC.value,)
  config.model.free_bits = _FREE.value
  for field, value in (('v_size', _V.value), ('v_beta', _V_BETA.value),
                       ('straight_through_swaps', _ST.value),
                       ('swap_z_targets_train', _ZT.value), ('z_input', _ZIN.value)):
    if value is not None:
      config.model[field] = value
  if model == 'tsdsae':
    if _SWAP.value:
      config.model.swap_weights = tuple(float(w) for w in _SWAP.value)
    config.model.stage1_steps = _STAGE1.value
    config.model.swap_warmup_steps = _WARM.value
  config.train.update(seed=seed, num_steps=_STEPS.value, batch_size=_BATCH.value,
                      learning_rate=_LR.value,
                      eval_every_steps=_STEPS.value, checkpoint_every_steps=_STEPS.value,
                      log_every_steps=100)
  return config


def summary_rows(results: dict) -> list[str]:
  """Per model and z size: the mean and the minimum over seeds of every figure."""
  rows = []
  groups = {}
  for name, r in sorted(results.items()):
    groups.setdefault(name.rsplit('_s', 1)[0], []).append(r)
  for group, runs in groups.items():
    for label, reduce in (('mean', np.mean), ('min', np.min)):
      merged = json.loads(json.dumps(runs[0]))
      for key in ('f1', 'parse'):
        for cond, figures in merged[key].items():
          for f in figures:
            figures[f] = float(reduce([r[key][cond][f] for r in runs]))
      merged['reconstruction_accuracy'] = float(reduce([r['reconstruction_accuracy']
                                                        for r in runs]))
      rows.append(dsae_eval.format_row(f'{group} ({len(runs)} seeds, {label})', merged))
  return rows


def main(argv):
  del argv
  out = pathlib.Path(_OUT.value)
  out.mkdir(parents=True, exist_ok=True)
  path = out / 'results.json'
  results = json.loads(path.read_text()) if path.exists() else {}
  for folder in _COLLECT.value:
    results.update(json.loads((pathlib.Path(folder) / 'results.json').read_text()))
  for model in [] if _COLLECT.value else _MODELS.value:
    for z in map(int, _Z.value):
      for seed in map(int, _SEEDS.value):
        name = f'{model}_z{z}_s{seed}'
        start = time.time()
        loop.train_and_evaluate(config_for(model, z, seed), _DATA.value, out / name,
                                progress=False, log=lambda *a: None)
        results[name] = dict(dsae_eval.evaluate(out / name, _DATA.value,
                                                lda_items=_LDA.value, seed=seed),
                             wall_s=round(time.time() - start, 1))
        path.write_text(json.dumps(results, indent=1) + '\n')
        print(dsae_eval.format_row(name, results[name]), flush=True)
  path.write_text(json.dumps(results, indent=1) + '\n')
  table = '\n'.join([dsae_eval.TABLE_HEAD] + [dsae_eval.format_row(n, r)
                                              for n, r in sorted(results.items())])
  summary = '\n'.join([dsae_eval.TABLE_HEAD] + summary_rows(results))
  (out / 'results.md').write_text(table + '\n\n' + summary + '\n')
  print(summary)


if __name__ == '__main__':
  flags.mark_flags_as_required(['data', 'out'])
  app.run(main)
