"""What TS-DSAE's first stage leaves in v, per size of v and weight of its KL (``v_beta``).

  python bench/dsae_stage1_geometry.py --data=runs/dsae/data --out=runs/dsae/geometry \
      --variants=16:1,16:4,16:16,16:0.1,64:1,128:1,128:0.1,128:0.01,256:0.01,128:0.001

Each variant trains tsdsae-dmelodies for its first stage only (``--steps``, z_t masked, the
decoder a bag of tokens) and scores v's means: LDA macro-F1 per global factor (fitted on 20,000
training items, scored on the eval items, as ``training/dsae_eval.py``) and the share of 2,000
eval items whose nearest training item by v has the same key (tonic, octave and scale at once).
The second tells whether v holds the key at all; the first whether a linear read-out finds each
factor in it. ``<out>/results.jsonl`` keeps one line per variant (a finished one is skipped).
"""

import json
import pathlib
import time

from absl import app
from absl import flags
import numpy as np

from musicvae_jax import config_lib
from musicvae_jax.converters import dmelodies
from musicvae_jax.generation import disentanglement
from musicvae_jax.input_pipeline import dmelodies_dataset
from musicvae_jax.training import dsae_eval
from musicvae_jax.training import dsae_model
from musicvae_jax.training import loop

_DATA = flags.DEFINE_string('data', None, 'A dMelodies dataset (musicvae-dmelodies --dataset).')
_OUT = flags.DEFINE_string('out', None, 'Folder for the workdirs and results.jsonl.')
_VARIANTS = flags.DEFINE_list('variants', ['16:1', '128:0.01'], 'v_size:v_beta pairs.')
_STEPS = flags.DEFINE_integer('steps', 1000, 'First-stage steps.')
_LDA = flags.DEFINE_integer('lda_items', 20000, 'Training items the LDA is fitted on.')


def scores(workdir, data_dir, lda_items: int) -> dict:
  model = dsae_model.DsaeModel(workdir)
  rng = np.random.default_rng(0)
  train = dmelodies_dataset.items(data_dir, 'train')
  train = dmelodies.generate(np.sort(rng.choice(train, min(lda_items, len(train)), False)))
  test = dmelodies.generate(dmelodies_dataset.items(data_dir, 'eval'))
  v_train, _ = model.encode(train.tokens)
  v_test, _ = model.encode(test.tokens)
  out = {}
  for k, f in enumerate(dsae_eval.GLOBAL_FACTORS):
    lda = disentanglement.LDA().fit(v_train, train.factors[:, k])
    out[f] = disentanglement.macro_f1(test.factors[:, k], lda.predict(v_test),
                                      num_classes=dmelodies.SIZES[k])
  key = lambda f: np.ravel_multi_index(f[:, :3].T, dmelodies.SIZES[:3])
  near = ((v_train ** 2).sum(-1)[None] - 2 * v_test[:2000] @ v_train.T).argmin(1)
  out['key_nearest'] = float(np.mean(key(train.factors)[near] == key(test.factors[:2000])))
  return out


def main(argv):
  del argv
  out = pathlib.Path(_OUT.value)
  out.mkdir(parents=True, exist_ok=True)
  path = out / 'results.jsonl'
  done = {json.loads(line)['variant'] for line in path.read_text().splitlines()} \
      if path.exists() else set()
  for variant in _VARIANTS.value:
    if variant in done:
      continue
    v_size, v_beta = variant.split(':')
    config = config_lib.get_config('tsdsae-dmelodies')
    config.model.update(v_size=int(v_size), v_beta=float(v_beta), stage1_steps=_STEPS.value)
    config.train.update(num_steps=_STEPS.value, eval_every_steps=_STEPS.value,
                        checkpoint_every_steps=_STEPS.value)
    workdir = out / f'v{v_size}_beta{v_beta}'
    start = time.time()
    loop.train_and_evaluate(config, _DATA.value, workdir, progress=False, log=lambda *a: None)
    row = dict(variant=variant, **scores(workdir, _DATA.value, _LDA.value),
               wall_s=round(time.time() - start, 1))
    with path.open('a') as f:
      f.write(json.dumps(row) + '\n')
    print(json.dumps(row), flush=True)


if __name__ == '__main__':
  flags.mark_flags_as_required(['data', 'out'])
  app.run(main)
