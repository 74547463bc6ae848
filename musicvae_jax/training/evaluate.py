"""Scoring a trained model on prepared windows or on a folder of MIDI (``musicvae-evaluate``).

The model is anything ``TrainedModel.from_workdir`` loads: a training workdir (its latest or a
given checkpoint), an exported folder (``params.npz``, as musicvae-export writes and the bundled
and imported models are), or ``bundled:<name>``. Nothing is written into it. Parameters only
are read (no optimiser state is built or read); the family of the model scores each split and
formats the table.

``evaluate_midi`` prepares a MIDI folder with the model's own data spec into a temporary folder,
every file's windows in one split, and scores them all.
"""

from __future__ import annotations

import dataclasses
import pathlib
import tempfile

import jax
import numpy as np

from musicvae_jax import checkpointing
from musicvae_jax import errors
from musicvae_jax.generation import model_files
from musicvae_jax.input_pipeline import prepare
from musicvae_jax.training import evaluation
from musicvae_jax.training import family as family_lib
from musicvae_jax.training import loop

MIDI_SPLIT = 'all'  # the row name of a MIDI folder's windows: every file is scored


class EvaluateError(errors.UserError, ValueError):
  pass


def load_model(workdir, *, step: int | None = None):
  """(session, params on the session's mesh, step, folder) of any model reference.

  Reads only: a training workdir without a checkpoint is refused before Orbax would create
  its checkpoints/ folder.
  """
  folder, _ = model_files.resolve(workdir)
  run = checkpointing.load_run_spec(folder)
  if model_files.is_exported(folder):
    params, at_step, _ = model_files.load_params(folder, run.model)
    if step is not None and step != at_step:
      raise EvaluateError(f'--step={step}: {folder} is an exported model; it holds the '
                          f'parameters of step {at_step} only. Omit --step.')
    session, _ = loop.new_session(run, initialize=False)
    return session, jax.device_put(params, session.state_sharding['params']), at_step, folder
  if not checkpointing.has_checkpoint(folder):
    raise checkpointing.WorkdirError(f'{folder} has no checkpoint yet; train first '
                                     f'(musicvae-train ... --workdir={folder}).')
  session, params, at_step = loop.restore_params(folder, step=step)
  return session, params, at_step, folder


def evaluate_workdir(workdir, data_dir, *, split: str = 'eval', step: int | None = None,
                     batch_size: int | None = None, progress: bool = True) -> dict:
  """The model's metrics on a prepared dataset's ``split`` ('train', 'eval' or 'all')."""
  return _score(load_model(workdir, step=step), workdir, data_dir, split=split,
                batch_size=batch_size, progress=progress)


def evaluate_midi(workdir, midi_dir, *, step: int | None = None, batch_size: int | None = None,
                  workers: int | None = None, progress: bool = True) -> dict:
  """The model's metrics on every window of a MIDI folder, prepared as the model's data spec
  says (into a temporary folder, deleted after); ``result['prepared']`` holds the counts."""
  loaded = load_model(workdir, step=step)
  run = loaded[0].run
  midi = pathlib.Path(midi_dir)
  if not midi.is_dir():
    raise EvaluateError(f'--midi={midi}: no such folder; pass a folder of .mid files.')
  every_file = dataclasses.replace(run, data=dataclasses.replace(run.data, eval_fraction=1.0))
  with tempfile.TemporaryDirectory(prefix='musicvae-evaluate-') as tmp:
    windows = pathlib.Path(tmp) / 'windows'
    try:
      info = prepare.prepare(every_file, midi, windows, workers=workers, progress=progress)
    except prepare.PrepareError as e:
      raise EvaluateError(f'--midi={midi}: {e}'.replace('--input=', '--midi=')) from None
    if info['splits']['eval']['windows'] == 0:
      skipped = ', '.join(f'{k} {v}' for k, v in info['skipped_files'].items())
      raise EvaluateError(
          f'--midi={midi}: none of its {info["counts"]["files_found"]} MIDI files gave a '
          f'{run.data.slice_bars}-bar {run.data.converter} window for {run.name}'
          + (f' (skipped: {skipped})' if skipped else '') + '.')
    result = _score(loaded, workdir, windows, split='eval', batch_size=batch_size,
                    progress=progress)
  counts = info['counts']
  result.update(data=str(midi), split=MIDI_SPLIT, splits={MIDI_SPLIT: result['splits']['eval']},
                prepared=dict(files_found=counts['files_found'],
                              files_with_windows=counts['files_with_windows'],
                              windows=info['splits']['eval']['windows'],
                              skipped_files=info['skipped_files']))
  return result


def _score(loaded, workdir, data_dir, *, split, batch_size, progress) -> dict:
  session, params, ckpt_step, folder = loaded
  run = session.run
  info = loop.check_data(run, data_dir)
  splits = ('train', 'eval') if split == 'all' else (split,)
  n_dev = session.mesh.devices.size
  batch = batch_size or run.train.batch_size
  batch = max(n_dev, batch - batch % n_dev)
  key = jax.random.fold_in(jax.random.PRNGKey(run.train.seed), evaluation.EVAL_KEY_SALT)
  per_split = {}
  for s in splits:
    if info['splits'].get(s, {}).get('windows', 0) == 0:
      raise checkpointing.WorkdirError(f'{data_dir} has no windows in its {s} split.')
    per_split.update(loop.evaluate_splits(session, params, data_dir, (s,), key=key,
                                          step=ckpt_step, batch_size=batch, progress=progress))
  if len(per_split) == 1:
    top = dict(next(iter(per_split.values())))
  else:
    top = _combine(per_split.values())
  return dict(top, config=run.name, step=ckpt_step, data=str(data_dir), split=split,
              model=str(workdir), workdir=str(folder), splits=per_split)


def _combine(rows) -> dict:
  rows = list(rows)
  n = sum(r['examples'] for r in rows)
  out = {'examples': n}
  for k, v in rows[0].items():
    if k == 'examples':
      continue
    vals = [np.asarray(r[k], np.float64) * r['examples'] for r in rows]
    mean = sum(vals) / max(n, 1)
    out[k] = mean.tolist() if np.ndim(mean) else float(mean)
  return out


def report(result: dict) -> str:
  """The header and the model family's table of every split (and 'all')."""
  table = family_lib.for_spec(checkpointing.load_run_spec(result['workdir'])).format_table
  model = result.get('model', result['workdir'])
  header = f'{model} ({result["config"]}) at step {result["step"]} on {result["data"]}'
  prepared = result.get('prepared')
  if prepared:
    header += (f'\n  {prepared["windows"]} windows from {prepared["files_with_windows"]} of '
               f'{prepared["files_found"]} MIDI files')
  rows = dict(result['splits'])
  if len(rows) > 1:
    rows['all'] = {k: v for k, v in result.items() if k not in ('splits', 'prepared')}
  return header + '\n' + table(rows)
