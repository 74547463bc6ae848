"""--chord_source=model: the chord/key model's chords become a chord-conditioned dataset's chords,
on real files (a POP909 song on its beat grid and a song of another collection)."""

import json
import shutil

import numpy as np
import pytest

from conftest import SHARED
from musicvae_jax import config_boundary, config_lib
from musicvae_jax.chordkey import annotate, model_chords, vocabulary
from musicvae_jax.converters import chords as chord_conv
from musicvae_jax.input_pipeline import convert_files, prepare
from tests.chordkey.pop909_songs import pop909_dir  # noqa: F401  (fixture)

CONFIG = 'cat-mel_2bar_med_chords'


@pytest.fixture(scope='module')
def inputs(tmp_path_factory, pop909_dir):
  src = tmp_path_factory.mktemp('model_chords')
  shutil.copytree(pop909_dir / 'songs' / '001', src / '001')
  shutil.copy(SHARED / 'data' / 'midi' / 'multitrack' / 'freedoom_d_e1m1.mid', src)
  return src


def test_triads_follow_the_estimate(inputs):
  result = annotate.Estimator.load().estimate(inputs / '001' / '001.mid')
  changes = model_chords.chord_changes(result)
  assert changes[0][0] == pytest.approx(result.beat_times_b1[0], abs=1e-4)
  assert all(a[1] != b[1] for a, b in zip(changes, changes[1:]))   # changes only
  # Every beat's reduced chord is the one whose change came last.
  times = np.array([t for t, _ in changes])
  for start, chord in zip(result.beat_times_b1[:-1], result.chords_b):
    figure = changes[int(np.searchsorted(times, start + 1e-6)) - 1][1]
    assert figure == vocabulary.triad_figure(chord)


def test_model_chords_replace_the_hmm_in_the_windows(inputs):
  converter = prepare.get_converter(config_boundary.run_spec(config_lib.get_config(CONFIG)).data)
  path = str(inputs / 'freedoom_d_e1m1.mid')   # in 4/4 (POP909's MIDI declares 2/4: no windows)
  changes = model_chords.chord_changes(annotate.Estimator.load().estimate(path))
  hmm = convert_files.process_file(path, converter)
  model = convert_files.process_file(path, converter, chords=changes)
  assert not hmm.reason and not model.reason, (hmm.message, model.message)
  # The melodies are the same; the chord column is the model's triads, not the HMM's (windows
  # are unique (melody, chords) pairs, so their counts differ with the chords).
  assert ({w[:, 0].tobytes() for w in hmm.windows}
          == {w[:, 0].tobytes() for w in model.windows})
  given = {chord_conv.chord_class(f) for _, f in changes}
  assert set(np.unique(model.windows[..., 1]).tolist()) <= given
  assert ({w.tobytes() for w in hmm.windows} != {w.tobytes() for w in model.windows})


def test_prepare_records_the_source_and_refuses_configs_without_chords(inputs, tmp_path):
  run = config_boundary.run_spec(config_lib.get_config(CONFIG))
  info = prepare.prepare(run, inputs, tmp_path / 'data', workers=1, progress=False,
                         chord_source='model')
  assert info['run']['chord_source'] == 'model'
  assert info['run']['files_with_model_chords'] == 2
  assert json.loads((tmp_path / 'data' / 'run.json').read_text())['chord_model'] == 'bundled'
  assert sum(info['splits'][s]['windows'] for s in info['splits']) > 0
  plain = config_boundary.run_spec(config_lib.get_config('cat-mel_2bar_small'))
  with pytest.raises(prepare.PrepareError, match="config 'cat-mel_2bar_small' takes no chords"):
    prepare.prepare(plain, inputs, tmp_path / 'plain', workers=1, progress=False,
                    chord_source='model')
  assert not (tmp_path / 'plain').exists()   # refused before anything is written
