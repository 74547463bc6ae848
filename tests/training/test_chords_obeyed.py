"""Chords obeyed: the bundled chord model's samples land on the chords they are told.

The progressions are real ones: the chords Magenta's own converter gives the multitrack songs
(shared/reference/magenta_windows/cat-mel_2bar_med_chords__multitrack.jsonl.gz) of the files the
bundled model held out (its data's hashed eval split). The chord model samples a melody under
each progression; the same codes are decoded under another window's progression, and the bundled
unconditioned melody model samples as many. All are scored against the progressions with
``training.chord_fit``: the share of note onsets on the sounding triad's tones.
"""

import gzip
import json

import jax
import numpy as np
import pytest

from musicvae_jax.generation import model_files
from musicvae_jax.generation import trained_model
from musicvae_jax.input_pipeline import splits
from musicvae_jax.training import chord_fit

MODEL = 'cat-mel_2bar_med_chords'


@pytest.fixture(scope='module')
def held_out_progressions(magenta_windows_dir):
  if MODEL not in model_files.bundled_names():
    pytest.fail(f'data/models/{MODEL} is not installed')
  data = json.loads((model_files.bundled_model_dir(MODEL) / 'config.json').read_text())['data']
  out = []
  with gzip.open(magenta_windows_dir / f'{MODEL}__multitrack.jsonl.gz', 'rt') as f:
    for line in f:
      row = json.loads(line)
      held = splits.hashed_split(f"multitrack/{row['file']}", data['split_seed'],
                                 data['eval_fraction']) == 'eval'
      if held and row['status'] == 'ok':
        out += [np.asarray(w, np.int32).reshape(-1, 2)[:, 1] for w in row['windows']]
  progressions = chord_fit.progressions(np.stack(out))
  return progressions[::max(1, len(progressions) // 256)][:256]


def test_samples_follow_the_chords_they_are_told(held_out_progressions):
  chords = trained_model.TrainedModel.from_workdir(f'bundled:{MODEL}')
  melody = trained_model.TrainedModel.from_workdir('bundled:cat-mel_2bar_small')
  assert len(held_out_progressions) >= 100
  result = chord_fit.score(chords, held_out_progressions, key=jax.random.PRNGKey(0),
                           temperature=1.0, unconditioned_model=melody)
  told, shuffled, free = (result[k]['share'] for k in ('conditioned', 'shuffled',
                                                        'unconditioned'))
  assert min(r['onsets'] for r in result.values()) > 5 * len(held_out_progressions), result
  assert told > shuffled + 0.15 and told > free + 0.15, result
