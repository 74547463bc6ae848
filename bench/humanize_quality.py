"""Humanize quality on held-out Groove MIDI performances: the model against two baselines.

  python bench/humanize_quality.py [--workdir=bundled:groovae_2bar_humanize] [--data=<prepared>]
      [--split=eval] [--json=out.json]

Without --data, the Groove MIDI performances of ../shared/data/midi/drums are prepared for
groovae_2bar_humanize into a temporary folder with their own split
(``--split_csv=MANIFEST.csv --split_column=gmd_split``: 896 train / 124 validation performances,
split by performance, never by window). The baselines take their means from the train split;
everything is scored on the eval split (the validation performances). See
``musicvae_jax.training.humanize_quality`` for the players and the errors.

``--oracles`` adds rows no user could have, to show where the timing error lives: tables
that know the held-out takes. "this take's own" tables are fitted on the other half of the
same performance's windows (each performance's windows alternate between two halves, each
half scored by the table of the other), so they know the drummer's habit that day; the pooled
table is fitted on all held-out windows and scored on them (in-sample: a ceiling for any
table by drum class and place in the bar). A second table then asks whether that habit is the
drummer's or the take's: each performance played by the same table fitted on the drummer's
*other* held-out takes (and on those in the same style), scored beside the class means and the
model on the same performances.
"""

import argparse
import csv
import json
import pathlib
import sys
import tempfile
import time

import jax
import numpy as np
from array_record.python.array_record_module import ArrayRecordReader

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED_DRUMS = REPO.parent / 'shared' / 'data' / 'midi' / 'drums'

from musicvae_jax import config_boundary  # pylint: disable=wrong-import-position
from musicvae_jax import config_lib  # pylint: disable=wrong-import-position
from musicvae_jax.generation import trained_model  # pylint: disable=wrong-import-position
from musicvae_jax.input_pipeline import pipeline  # pylint: disable=wrong-import-position
from musicvae_jax.input_pipeline import prepare  # pylint: disable=wrong-import-position
from musicvae_jax.input_pipeline import records  # pylint: disable=wrong-import-position
from musicvae_jax.training import humanize_quality as hq  # pylint: disable=wrong-import-position


def windows(data_dir, split: str):
  """(targets [N, T, 27], source file of each) of one split of a prepared dataset."""
  sources = (pathlib.Path(data_dir) / 'sources.txt').read_text().split('\n')
  out, files = [], []
  for shard in pipeline.shard_paths(data_dir, split):
    reader = ArrayRecordReader(str(shard))
    for record in reader.read_all():
      rec = records.decode(record)
      out.append(rec['labels'])
      files.append(sources[int(rec['source'])])
    reader.close()
  return np.stack(out).astype(np.float32), files


def ms_per_step(files, manifest=SHARED_DRUMS / 'MANIFEST.csv'):
  """A 16th-note step in ms at each file's tempo (the manifest's bpm), or None without it."""
  if not manifest.is_file():
    return None
  bpm = {r['file']: r['bpm'] for r in csv.DictReader(manifest.open())}
  if not all(bpm.get(f.rsplit('/', 1)[-1]) for f in files):
    return None
  return np.array([60000.0 / float(bpm[f.rsplit('/', 1)[-1]]) / 4 for f in files])


def cross_fitted(held_NxTxD, files, period: int) -> np.ndarray:
  """Each window played by the ``hq.PositionTable`` of the other half of its own performance's
  windows (see ``--oracles``)."""
  out = hq.quantised(held_NxTxD, hq.ClassMeans.of(held_NxTxD))
  files = np.asarray(files)
  for name in np.unique(files):
    index = np.flatnonzero(files == name)
    halves = index[0::2], index[1::2]
    if not len(halves[1]):
      continue   # one window: no other half to learn the take from; left on the grid
    for fit, score in (halves, halves[::-1]):
      if (held_NxTxD[fit, :, :held_NxTxD.shape[-1] // 3] > 0.5).any():
        out[score] = hq.position_table(held_NxTxD[score], hq.PositionTable.of(
            held_NxTxD[fit], period))
  return out


def drummer_and_style(path: str) -> tuple[str, str]:
  """('drummer1', 'funk') of a Groove MIDI file name (gmd_drummer1_session1_102_funk_95_...)."""
  parts = pathlib.Path(path).stem.split('_')
  at = next((i for i, p in enumerate(parts) if p.startswith('drummer')), None)
  if at is None or len(parts) <= at + 3:
    return '', ''
  return parts[at], parts[at + 3].split('-')[0]


def other_takes(held_NxTxD, files, period: int, same_style: bool):
  """(each performance played by the ``hq.PositionTable`` of its drummer's other held-out takes
  (in its style with ``same_style``), [N] bool: the windows that had such takes)."""
  files = np.asarray(files)
  who = [drummer_and_style(f) for f in files]
  key = np.array([f'{d}/{s}' if same_style else d for d, s in who])
  out, used = np.zeros_like(held_NxTxD), np.zeros(len(files), bool)
  for name in np.unique(files):
    index = np.flatnonzero(files == name)
    takes = np.flatnonzero((key == key[index[0]]) & (files != name))
    if len(takes):
      out[index] = hq.position_table(held_NxTxD[index],
                                     hq.PositionTable.of(held_NxTxD[takes], period))
      used[index] = True
  return out, used


def prepared(workdir_tmp: str) -> pathlib.Path:
  out = pathlib.Path(workdir_tmp, 'gmd')
  run = config_boundary.run_spec(config_lib.get_config('groovae_2bar_humanize'))
  prepare.prepare(run, SHARED_DRUMS, out, split_csv=SHARED_DRUMS / 'MANIFEST.csv',
                  split_column='gmd_split', progress=False)
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--workdir', default='bundled:groovae_2bar_humanize')
  parser.add_argument('--data', default=None)
  parser.add_argument('--split', default='eval')
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--oracles', action='store_true')
  parser.add_argument('--json', default=None)
  args = parser.parse_args()
  start = time.time()
  with tempfile.TemporaryDirectory() as tmp:
    data = pathlib.Path(args.data) if args.data else prepared(tmp)
    train, _ = windows(data, 'train')
    held, files = windows(data, args.split)
  means = hq.ClassMeans.of(train)
  model = trained_model.TrainedModel.from_workdir(args.workdir)
  key = jax.random.PRNGKey(args.seed)
  ms = ms_per_step(files)
  players = {
      'leave it quantised (one mean velocity)': hq.quantised(held, means),
      "each drum class's mean velocity and offset": hq.class_means(held, means),
      "each drum class's median at each place in the beat (4 steps)": hq.position_table(
          held, hq.PositionTable.of(train, 4)),
      "each drum class's median at each place in the bar (16 steps)": hq.position_table(
          held, hq.PositionTable.of(train, 16)),
      f'{model.name}, z = posterior mean': hq.model_outputs(model, held, key=key),
      f'{model.name}, z drawn from the posterior': hq.model_outputs(
          model, held, key=key, posterior_sample=True),
  }
  if args.oracles:
    players.update({
        "oracle: this take's own class medians": cross_fitted(held, files, 1),
        "oracle: this take's own class median at each place in the beat": cross_fitted(
            held, files, 4),
        'oracle: class median at each place in the bar, fitted on the held-out takes':
            hq.position_table(held, hq.PositionTable.of(held, 16)),
    })
  rows = {name: hq.errors(pred, held, ms) for name, pred in players.items()}
  names = list(players)
  model_row = names[4]  # z = posterior mean
  gains = {f'{model_row} over {base}': hq.paired_gain(players[base], players[model_row], held,
                                                       files)
           for base in names[:4]}
  gains.update({f'{name} over {names[1]}': hq.paired_gain(players[names[1]], players[name],
                                                            held, files)
                for name in names[6:]})
  performances = len(set(files))
  print(f'{len(held)} held-out windows of {performances} performances ({args.split} split of '
        f'{data if args.data else "the shared Groove MIDI set, prepared with gmd_split"}); '
        f'baseline means from {len(train)} train windows; model {args.workdir}; '
        f'{time.time() - start:.0f} s\n')
  print(hq.table(rows))
  print(f'\nHow much the model beats each baseline (baseline error - model error; > 0 is better), '
        f'with a 95% interval from a paired bootstrap over the {performances} performances:\n')
  print('| comparison | velocity (0-127) | timing (16th steps) |\n| --- | ---: | ---: |')
  for name, g in gains.items():
    cells = [f'{m:+.2f} [{lo:+.2f}, {hi:+.2f}]' for lo, m, hi in [g['velocity']]]
    cells += [f'{m:+.4f} [{lo:+.4f}, {hi:+.4f}]' for lo, m, hi in [g['timing']]]
    print(f'| {name} | ' + ' | '.join(cells) + ' |')
  if args.oracles:
    model_pred = players[model_row]
    print('\nWhose habit is it? Each performance played by the class median at each place in the '
          "beat over the drummer's other held-out takes, on the performances that have them:\n")
    print('| takes the table is fitted on | performances | velocity: table / class means / model '
          '| timing: table / class means / model | timing gain over the class means |')
    print('| --- | ---: | ---: | ---: | ---: |')
    for label, same_style in (("the drummer's other takes", False),
                              ("the drummer's other takes in the same style", True)):
      pred, used = other_takes(held, files, 4, same_style)
      e, b, m = (hq.errors(x[used], held[used]) for x in (pred, players[names[1]], model_pred))
      _, mid, _ = g = hq.paired_gain(players[names[1]][used], pred[used], held[used],
                                     np.asarray(files)[used])['timing']
      print(f"| {label} | {len(set(np.asarray(files)[used]))} | {e['velocity_mae']:.2f} / "
            f"{b['velocity_mae']:.2f} / {m['velocity_mae']:.2f} | {e['timing_mae_steps']:.4f} / "
            f"{b['timing_mae_steps']:.4f} / {m['timing_mae_steps']:.4f} | "
            f'{mid:+.4f} [{g[0]:+.4f}, {g[2]:+.4f}] |')
  if args.json:
    pathlib.Path(args.json).write_text(json.dumps(
        {'windows': len(held), 'performances': performances, 'rows': rows, 'gains': gains},
        indent=2) + '\n')


if __name__ == '__main__':
  main()
