"""MusiCoder fine-tuned with few labels against the same transformer from scratch and baselines.

  python bench/musicoder_tasks.py --task=melody --split_file=runs/musicoder/pop909_split.csv \
      --pretrained both=runs/musicoder/pre_both --fractions=0.1 --seeds=0,1,2 --transpose=6 \
      --out=runs/musicoder/bench_melody
  python bench/musicoder_tasks.py --task=composer --split_file=runs/musicoder/composer/split.csv \
      --pretrained both=runs/musicoder/pre_both cfm=runs/musicoder/pre_cfm ... --out=...

For each labels fraction and seed it fine-tunes every --pretrained encoder and, as the control,
the same transformer (``--config``) freshly initialised, all with the same steps, batch,
learning rates (1e-3, ``--encoder_lr``), file subsample and batch order (the seed's), and for
melody the same transposition (``--transpose``) and loss (``--melody_loss``).
``--modes=probe`` adds linear probes. The baseline is scored on the same test split: the
skyline rule (melody) or pitch-class and interval histograms with logistic regression on the
same train files (composer). Every run is one line of
``results.jsonl`` (a rerun skips the lines there), and ``results.md`` holds the table: mean and
standard deviation over seeds, with each seed's figure.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _args():
  p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  p.add_argument('--task', choices=('melody', 'composer'), required=True)
  p.add_argument('--split_file', required=True)
  p.add_argument('--pretrained', nargs='*', default=[], help='name=workdir pairs')
  p.add_argument('--config', default='musicoder', help='the from-scratch control')
  p.add_argument('--no_scratch', action='store_true')
  p.add_argument('--fractions', default='0.1')
  p.add_argument('--seeds', default='0,1,2')
  p.add_argument('--modes', default='finetune')
  p.add_argument('--steps', type=int, default=600)
  p.add_argument('--batch_size', type=int, default=32)
  p.add_argument('--transpose', type=int, default=0,
                 help='train windows shifted by up to this many semitones (melody)')
  p.add_argument('--melody_loss', default='frame', choices=('frame', 'cells'))
  p.add_argument('--encoder_lr', type=float, default=1e-3)
  p.add_argument('--out', required=True)
  return p.parse_args()


def _baseline(task, data, fraction, seed):
  from musicvae_jax.musicoder import tasks  # pylint: disable=g-import-not-at-top
  test = data['test']
  if task == 'melody':
    counts = tasks.note_counts(tasks.skyline(test.windows), test.labels, test.windows)
    return dict(note_f1=tasks.note_f1(counts), notes=counts['notes'], windows=len(test))
  from musicvae_jax.musicoder import histogram_baseline  # pylint: disable=g-import-not-at-top
  train = tasks.subsample_groups(data['train'], fraction, seed)
  return histogram_baseline.fit_and_score(train, test)


def _table(rows, figures):
  groups = {}
  for r in rows:
    groups.setdefault((r['labels_fraction'], r['encoder'], r['mode']), []).append(r)
  head = ' | '.join(f'{f} mean ± std | per seed' for f in figures)
  lines = [f'| labels | encoder | mode | {head} | train files |',
           '| ---: | --- | --- |' + ' ---: | --- |' * len(figures) + ' ---: |']
  for (fraction, encoder, mode), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1])):
    rs = sorted(rs, key=lambda r: r['seed'])
    cells = []
    for figure in figures:
      values = np.array([r[figure] for r in rs])
      cells.append(f'{values.mean():.3f} ± {values.std():.3f} | '
                   f'{", ".join(f"{v:.3f}" for v in values)}')
    lines.append(f'| {fraction:.0%} | {encoder} | {mode} | {" | ".join(cells)} | '
                 f'{rs[0].get("train_files", "")} |')
  return '\n'.join(lines)


def main():
  a = _args()
  import jax  # pylint: disable=g-import-not-at-top
  from musicvae_jax import config_boundary, config_lib  # pylint: disable=g-import-not-at-top
  from musicvae_jax.models import musicoder  # pylint: disable=g-import-not-at-top
  from musicvae_jax.musicoder import finetune, tasks  # pylint: disable=g-import-not-at-top
  out = pathlib.Path(a.out)
  out.mkdir(parents=True, exist_ok=True)
  results = out / 'results.jsonl'
  done = [json.loads(l) for l in results.read_text().splitlines()] if results.exists() else []
  key = lambda r: (r['encoder'], r['mode'], r['labels_fraction'], r['seed'])
  seen = {key(r) for r in done}
  t0 = time.time()
  data = tasks.load(a.task, a.split_file, progress=True)
  print(f'read {a.split_file}: ' + ', '.join(f'{k} {len(v)} windows from '
                                              f'{len(np.unique(v.groups))} files'
                                              for k, v in data.items()) +
        f' ({time.time() - t0:.0f} s)', flush=True)
  encoders = dict(p.split('=', 1) for p in a.pretrained)
  if not a.no_scratch:
    encoders['scratch'] = ''
  spec = config_boundary.model_spec(config_lib.get_config(a.config))
  for fraction in [float(f) for f in a.fractions.split(',')]:
    for seed in [int(s) for s in a.seeds.split(',')]:
      row = dict(encoder='baseline', mode='-', labels_fraction=fraction, seed=seed)
      if key(row) not in seen:
        row.update(_baseline(a.task, data, fraction, seed))
        done.append(row)
        with results.open('a') as f:
          f.write(json.dumps(row) + '\n')
      for name, workdir in encoders.items():
        for mode in a.modes.split(','):
          row = dict(encoder=name, mode=mode, labels_fraction=fraction, seed=seed)
          if key(row) in seen or (name == 'scratch' and mode == 'probe'):
            continue
          start = time.time()
          if workdir:
            encoder = finetune.load_encoder(workdir)
          else:
            encoder = musicoder.build(spec, seed)
          settings = finetune.Settings(mode=mode, steps=a.steps, batch_size=a.batch_size,
                                       seed=seed, transpose=a.transpose,
                                       melody_loss=a.melody_loss, encoder_lr=a.encoder_lr)
          row.update(finetune.run(a.task, data, encoder=encoder, settings=settings,
                                  labels_fraction=fraction), encoder=name, workdir=workdir,
                     seconds=round(time.time() - start, 1), device=str(jax.devices()[0]))
          done.append(row)
          with results.open('a') as f:
            f.write(json.dumps(row) + '\n')
          figure = 'note_f1' if a.task == 'melody' else 'macro_f1'
          print(f'{name} {mode} {fraction:.0%} seed {seed}: {figure} {row[figure]:.4f} '
                f'({row["seconds"]:.0f} s)', flush=True)
  figures = ('note_f1',) if a.task == 'melody' else ('piece_macro_f1', 'macro_f1')
  table = _table(done, figures)
  (out / 'results.md').write_text(table + '\n')
  print(table)


if __name__ == '__main__':
  main()
