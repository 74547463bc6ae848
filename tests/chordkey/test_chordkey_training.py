"""The chordkey_vae config through the shared machinery, on real POP909 songs: its windows, its
mir_eval scores inside the jitted evaluation, prepare -> train -> evaluate, exact resume."""

import shutil

import jax
import jax.numpy as jnp
import mir_eval
import numpy as np
import pytest
from flax import nnx

from musicvae_jax import config_boundary, config_lib, converters, errors
from musicvae_jax.chordkey import features, pop909, scoring, vocabulary
from musicvae_jax.chordkey import windows as cw
from musicvae_jax.training import chordkey_family
from tests.chordkey.pop909_songs import _pick_ids, pop909_dir, songs  # noqa: F401  (fixtures)

import run_state


def _converter(name='chordkey_vae', **data):
  config = config_lib.get_config(name)
  config.data.update(data)
  return converters.get_converter(config_boundary.data_spec(config.data))


def test_windows_hold_every_beat_once_with_the_songs_own_labels(pop909_dir, shared_midi):
  song_id = _pick_ids()[1]   # a song with a key change
  path = pop909_dir / 'songs' / song_id / f'{song_id}.mid'
  converter = _converter()
  windows = np.concatenate(converter.extract_file(path).windows)
  song = pop909.load_song(song_id, pop909_dir)
  real = windows[:, cw.REAL] > 0
  assert real.sum() == song.num_beats and not real[song.num_beats:].any()
  rows = windows[real]
  chords_b, keys_b = features.song_labels(song)
  np.testing.assert_array_equal(rows[:, cw.CHORD], chords_b)
  np.testing.assert_array_equal(rows[:, cw.KEY], keys_b)
  assert len(set(keys_b.tolist())) > 1 and rows[:, cw.HAS_LABELS].all()
  np.testing.assert_allclose(rows[:, :cw.CHORD], features.song_features(song))
  np.testing.assert_allclose(rows[:, cw.SECONDS], np.diff(song.beat_times_b1), rtol=1e-6)
  # A MIDI file with no labels beside it: read on its own tempo map, unlabelled.
  other = sorted((shared_midi / 'multitrack').glob('*.mid'))[0]
  unlabelled = np.concatenate(converter.extract_file(other).windows)
  assert unlabelled[:, cw.REAL].sum() > 0 and not unlabelled[:, cw.HAS_LABELS].any()
  assert not unlabelled[:, cw.CHORD:cw.HAS_LABELS].any()


def test_a_transposed_window_moves_features_chords_and_keys_together(pop909_dir):
  song_id = _pick_ids()[0]
  converter = _converter()
  window = converter.extract_file(pop909_dir / 'songs' / song_id / f'{song_id}.mid').windows[0]
  up = converter.transpose(window, 5)
  labels = [vocabulary.chord_label(int(c)) for c in window[:, cw.CHORD]]
  moved = [vocabulary.chord_label(int(c)) for c in up[:, cw.CHORD]]
  root = lambda lab: vocabulary.split_label(lab)[0]
  assert all(root(b) == (root(a) + 5) % 12 for a, b in zip(labels, moved) if a != 'N')
  assert np.array_equal(up[:, cw.KEY] % 12, (window[:, cw.KEY] + 5) % 12)
  np.testing.assert_array_equal(up[:, :12], np.roll(window[:, :12], 5, axis=1))
  np.testing.assert_array_equal(up[:, cw.HAS_LABELS:], window[:, cw.HAS_LABELS:])
  np.testing.assert_array_equal(converter.transpose(up, -5), window)


class _Fixed:
  """A stand-in classifier whose argmax is given per beat."""

  def __init__(self, chords_BxT, keys_BxT):
    self.chords, self.keys = chords_BxT, keys_BxT

  def __call__(self, x, mask):
    del x, mask
    return (jax.nn.one_hot(self.chords, vocabulary.NUM_CHORDS),
            jax.nn.one_hot(self.keys, vocabulary.NUM_KEYS))


def test_evaluation_scores_are_mir_evals_on_a_whole_song(pop909_dir, songs):
  """One window holding a whole song: the jitted sums give mir_eval.chord.evaluate's scores of
  the same per-beat labels, and the key score is mir_eval's, beat by beat, weighted by time."""
  song = songs[1]
  path = pop909_dir / 'songs' / song.song_id / f'{song.song_id}.mid'
  converter = _converter(slice_bars=-(-song.num_beats // 4))
  window = converter.extract_file(path).windows[0]
  fam = chordkey_family.ChordKeyFamily(config_boundary.run_spec(config_lib.get_config(
      'chordkey_vae')))
  example = fam.example_transform()(
      {'labels': window, 'source': np.int64(0), 'window': np.int64(0)}, None)
  batch = {k: jnp.asarray(example[k])[None] for k in fam.batch_keys}
  ref_c, ref_k = example['chords'], example['keys']
  rng = np.random.default_rng(0)
  # An estimate that is wrong in many ways: chords moved, qualities changed, late changes.
  est_c = np.where(rng.random(len(ref_c)) < 0.3, rng.integers(0, 181, len(ref_c)),
                   np.roll(ref_c, 1))
  est_k = np.where(rng.random(len(ref_k)) < 0.5, rng.integers(0, 24, len(ref_k)), ref_k)
  sums = jax.jit(lambda b: fam.eval_sums(_Fixed(jnp.asarray(est_c)[None],
                                                jnp.asarray(est_k)[None]), b, None, 0))(batch)
  got = fam.summarize(jax.device_get(sums))
  n = song.num_beats
  names = lambda classes: [vocabulary.chord_label(int(c)) for c in classes[:n]]
  ref_int, ref_lab = scoring.beat_intervals(song.beat_times_b1, names(ref_c))
  est_int, est_lab = scoring.beat_intervals(song.beat_times_b1, names(est_c))
  want = mir_eval.chord.evaluate(ref_int, ref_lab, est_int, est_lab)
  for rule in chordkey_family.CHORD_RULES + ('seg',):
    assert got[rule] == pytest.approx(want[rule], abs=1e-5), rule
  key_name = lambda k: vocabulary.mir_eval_key(vocabulary.key_label(int(k)))
  per_beat = [mir_eval.key.weighted_score(key_name(r), key_name(e))
              for r, e in zip(ref_k[:n], est_k[:n])]
  dur = np.diff(song.beat_times_b1)
  assert got['key'] == pytest.approx(np.dot(per_beat, dur) / dur.sum(), abs=1e-5)
  assert got['beats'] == n and 0.2 < got['majmin'] < 0.9


def test_chordkey_configs_refuse_what_cannot_train():
  config = config_lib.get_config('chordkey_vae:tiny')
  config.model.labelled_fraction = 0.0
  with pytest.raises(errors.UserError, match=r'labelled_fraction=0.0: .* in \(0, 1\]'):
    config_boundary.run_spec(config)
  config = config_lib.get_config('chordkey_vae:tiny')
  config.model.chord_lm = 'ngram'
  with pytest.raises(errors.UserError, match="model.chord_lm='ngram'"):
    config_boundary.run_spec(config)


@pytest.fixture(scope='module')
def mixed_folder(tmp_path_factory, pop909_dir, shared_midi):
  """Six POP909 song folders, one MIDI file without labels and one that is not MIDI."""
  root = tmp_path_factory.mktemp('chordkey_in')
  for song_id in pop909.song_ids(pop909_dir)[:6]:
    shutil.copytree(pop909_dir / 'songs' / song_id, root / song_id)
  shutil.copy(sorted((shared_midi / 'multitrack').glob('*.mid'))[0], root / 'unlabelled.mid')
  (root / 'broken.mid').write_bytes(b'not a MIDI file')
  return root


def test_tiny_run_prepares_trains_evaluates_and_resumes_bit_for_bit(mixed_folder, tmp_path):
  from musicvae_jax.input_pipeline import prepare  # pylint: disable=g-import-not-at-top
  from musicvae_jax.training import evaluate, loop  # pylint: disable=g-import-not-at-top
  config = config_lib.get_config('chordkey_vae:tiny')
  config.data.eval_fraction = 0.3
  config.model.labelled_fraction = 0.6   # semi-supervised: some songs read unlabelled
  info = prepare.prepare(config_boundary.run_spec(config), mixed_folder, tmp_path / 'data',
                         workers=1, progress=False)
  assert info['counts']['files_with_windows'] == 7
  assert info['skipped_files'] == {'not_midi': 1}
  assert info['window'] == {'dtype': 'float32', 'shape': [16, cw.COLUMNS]}
  whole = loop.train_and_evaluate(config, tmp_path / 'data', tmp_path / 'whole', progress=False,
                                  log=lambda *a, **k: None)
  assert np.isfinite(whole['train']['loss'])
  half = config_lib.get_config('chordkey_vae:tiny')
  half.data.eval_fraction, half.model.labelled_fraction = 0.3, 0.6
  half.train.num_steps = 10
  loop.train_and_evaluate(half, tmp_path / 'data', tmp_path / 'split', progress=False,
                          log=lambda *a, **k: None)
  loop.train_and_evaluate(config, tmp_path / 'data', tmp_path / 'split', progress=False,
                          log=lambda *a, **k: None)
  run_state.assert_same_final_state(tmp_path / 'whole', tmp_path / 'split', 20)
  scores = evaluate.evaluate_workdir(tmp_path / 'whole', tmp_path / 'data', progress=False)
  assert scores['beats'] > 0 and 0.0 <= scores['majmin'] <= 1.0 and 0.0 <= scores['key'] <= 1.0
  # The same figures the run logged at its last evaluation, from the same checkpoint.
  assert scores['majmin'] == pytest.approx(whole['eval_eval']['majmin'])
  assert scores['key'] == pytest.approx(whole['eval_eval']['key'])
  # musicvae-chords reads the workdir: its classifier is the checkpoint's.
  from musicvae_jax.chordkey import annotate  # pylint: disable=g-import-not-at-top
  estimator = annotate.Estimator.load(tmp_path / 'whole')
  _, state, _ = loop.restore_workdir(tmp_path / 'whole')
  saved = jax.tree.leaves(jax.device_get(state['params']['vae']))
  loaded = jax.tree.leaves(jax.device_get(nnx.to_pure_dict(estimator.params)))
  assert len(saved) == len(loaded) > 0
  for a, b in zip(saved, loaded):
    np.testing.assert_array_equal(a, b)
  result = estimator.estimate(next(mixed_folder.glob('*/*.mid')))
  assert len(result.chords_b) == len(result.beat_times_b1) - 1 and 'step 20' in (
      estimator.info['trained_on'])


def test_some_songs_are_read_unlabelled_at_a_labelled_fraction():
  kept = [chordkey_family.keeps_labels(s, 0.25) for s in range(2000)]
  assert 0.22 < np.mean(kept) < 0.28
  assert kept == [chordkey_family.keeps_labels(s, 0.25) for s in range(2000)]
  assert all(chordkey_family.keeps_labels(s, 1.0) for s in range(100))
  fam = chordkey_family.ChordKeyFamily(config_boundary.run_spec(config_lib.get_config(
      'chordkey_vae:tiny')))
  window = np.zeros((16, cw.COLUMNS), np.float32)
  window[:, cw.HAS_LABELS] = window[:, cw.REAL] = 1.0
  dropped = next(s for s in range(100) if not chordkey_family.keeps_labels(s, 0.25))
  make = chordkey_family.ChordKeyExamples(0.25)
  ex = make({'labels': window, 'source': np.int64(dropped), 'window': np.int64(0)}, None)
  assert ex['has_labels'] == 1.0 and ex['labelled'] == 0.0
  assert fam.example_transform().labelled_fraction == 1.0


def test_musicvae_chords_refuses_a_workdir_of_another_model(tmp_path):
  from musicvae_jax import checkpointing  # pylint: disable=g-import-not-at-top
  from musicvae_jax.chordkey import annotate, vae  # pylint: disable=g-import-not-at-top
  checkpointing.check_or_write_config(tmp_path, config_lib.get_config('cat-mel_2bar_small:tiny'),
                                      write=True)
  (tmp_path / 'checkpoints').mkdir()
  with pytest.raises(vae.ModelFileError, match='not a chord/key one.*--config=chordkey_vae'):
    annotate.Estimator.load(tmp_path)
  checkpointing.check_or_write_config(tmp_path / 'untrained',
                                      config_lib.get_config('chordkey_vae:tiny'), write=True)
  (tmp_path / 'untrained' / 'checkpoints').mkdir()
  with pytest.raises(vae.ModelFileError, match='no checkpoint yet'):
    annotate.Estimator.load(tmp_path / 'untrained')


def test_the_split_csv_gives_prepare_the_benchmarks_split(pop909_dir, tmp_path):
  from musicvae_jax.input_pipeline import splits  # pylint: disable=g-import-not-at-top
  counts = pop909.write_split_csv(tmp_path / 'sub' / 'split.csv', pop909_dir)
  by_song = pop909.split(pop909.song_ids(pop909_dir))
  assert counts == {'train': len(by_song['train']), 'test': len(by_song['test']),
                    '': len(by_song['valid'])}
  splitter = splits.make_splitter(0, 0.1, tmp_path / 'sub' / 'split.csv')
  for song_id in by_song['test'][:5] + by_song['train'][:5] + by_song['valid'][:5]:
    want = {'test': 'eval', 'train': 'train', 'valid': ''}[pop909.split_of(song_id)]
    assert splitter(f'{song_id}/{song_id}.mid') == want
