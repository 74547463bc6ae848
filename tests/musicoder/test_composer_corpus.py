"""The composer corpus export (real music21 pieces, 2 per class) and the histogram baseline."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys

import music21
import numpy as np
import pytest

from musicvae_jax.converters import pianoroll
from musicvae_jax.musicoder import composer_corpus as cc
from musicvae_jax.musicoder import histogram_baseline as hb
from musicvae_jax.musicoder import tasks

PER_CLASS = 2
PC, MELODIC, VERTICAL = slice(0, 12), slice(12, 37), slice(37, 49)


class BrokenRepeats(Exception):
  """Stands for music21's ExpanderException and its kin in the failure test."""


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
  out = tmp_path_factory.mktemp('composer')
  return out, cc.export(out, per_class=PER_CLASS, progress=False)


@pytest.fixture
def export_copy(exported, tmp_path):
  """A copy of the module's export, free to change."""
  out = tmp_path / 'copy'
  shutil.copytree(exported[0], out)
  return out


def _rows(out) -> list[dict]:
  with open(out / 'split.csv', newline='', encoding='utf-8') as f:
    return list(csv.DictReader(f))


def _real_window(out, min_onset_frames: int = 8) -> np.ndarray:
  """A real window with chords and a melody, and nothing at the top pitch (for transposing)."""
  for row in _rows(out):
    for w in cc.windows_of(out / row['path']):
      onset = w >= pianoroll.FIRST_ONSET
      frames = onset.sum(1)
      if (frames > 0).sum() >= min_onset_frames and frames.max() >= 3 and not w[:, -1].any():
        return w
  raise AssertionError('no window with chords among the exported pieces')


# ---- the selection and the split -------------------------------------------------------------
def test_pieces_take_the_first_per_class_in_sha1_order_of_scores_only():
  few, more = cc.pieces(PER_CLASS), cc.pieces(5)
  assert few == cc.pieces(PER_CLASS)
  for label in cc.CLASSES:
    first = [p for p, c in more if c == label][:PER_CLASS]
    assert [p for p, c in few if c == label] == first
  every = cc.pieces(10**6)
  paths = [p for p, _ in every]
  stems = [p.rsplit('.', 1)[0] for p in paths]
  assert len(set(stems)) == len(stems)  # one file per piece
  assert not [p for p in paths if p.endswith('.rntxt')]
  assert all((cc.corpus_dir() / p).is_file() for p in paths)
  composers = {p.split('/')[0] for p, c in every if c == 'classical'}
  assert composers == {'mozart', 'haydn', 'beethoven'}


def test_split_is_deterministic_and_about_a_fifth_test():
  paths = [p for p, _ in cc.pieces(10**6)]
  splits = [cc.split_of(p) for p in paths]
  share = splits.count('test') / len(splits)
  assert set(splits) == {'train', 'test'} and 0.15 < share < 0.25, share
  # Another process with another hash seed agrees (no dependence on Python's hash()).
  code = ('import sys; from musicvae_jax.musicoder import composer_corpus as cc; '
          'print(" ".join(cc.split_of(p) for p in sys.stdin.read().splitlines()))')
  env = dict(os.environ, PYTHONHASHSEED='7')
  again = subprocess.run([sys.executable, '-c', code], input='\n'.join(paths[:200]), env=env,
                         capture_output=True, text=True, check=True).stdout.split()
  assert again == splits[:200]


# ---- export ------------------------------------------------------------------------------------
def test_export_writes_midi_per_class_and_a_split_csv_of_them(exported):
  out, counts = exported
  rows = _rows(out)
  written = {(cc.midi_path(out, p, c).relative_to(out).as_posix(), c, cc.split_of(p))
             for p, c in cc.pieces(PER_CLASS)}
  assert {(r['path'], r['label'], r['split']) for r in rows} <= written
  assert len(rows) + sum(counts['skipped'].values()) == counts['pieces'] == len(written)
  for label in cc.CLASSES:
    mine = [r for r in rows if r['label'] == label]
    assert mine, f'no {label} piece written'
    assert sum(counts['written'][label].values()) == len(mine)
  for row in rows:
    assert row['path'].startswith(row['label'] + '/')
    assert cc.windows_of(out / row['path'])  # a real MIDI file with a window
  assert {s: sum(r['split'] == s for r in rows) for s in cc.SPLITS} == counts['split']
  assert not list(out.rglob('.*.mid'))  # no partial file left behind
  readme = (out / 'README.md').read_text()
  assert 'license.txt' in readme and '| all |' in readme


def test_a_second_export_parses_nothing(export_copy, exported, monkeypatch):
  calls = []

  def no_parse(*args, **kwargs):
    calls.append(args)
    raise RuntimeError('parsed again')

  monkeypatch.setattr(music21.converter, 'parse', no_parse)
  counts = cc.export(export_copy, per_class=PER_CLASS, progress=False)
  assert not calls and counts['parsed'] == 0
  assert counts['written'] == exported[1]['written'] and counts['skipped'] == {}
  assert _rows(export_copy) == _rows(exported[0])


def test_pieces_that_fail_or_give_no_window_are_skipped_counted_and_not_retried(
    export_copy, monkeypatch):
  (broken, broken_label), (empty, empty_label) = cc.pieces(PER_CLASS)[0], cc.pieces(PER_CLASS)[-1]
  for path, label in ((broken, broken_label), (empty, empty_label)):
    cc.midi_path(export_copy, path, label).unlink()
  real_parse, real_windows = cc.parse_piece, cc.windows_of
  parsed = []

  def parse(relative_path):
    parsed.append(relative_path)
    if relative_path == broken:
      raise BrokenRepeats('badly formed repeats')
    return real_parse(relative_path)

  def windows(path, converter=None):
    is_empty = path.name == '.' + cc.midi_path(export_copy, empty, empty_label).name
    return [] if is_empty else real_windows(path, converter)

  monkeypatch.setattr(cc, 'parse_piece', parse)
  monkeypatch.setattr(cc, 'windows_of', windows)
  counts = cc.export(export_copy, per_class=PER_CLASS, progress=False)
  assert sorted(parsed) == sorted([broken, empty]) and counts['parsed'] == 2
  assert counts['skipped'] == {'BrokenRepeats': 1, cc.NO_WINDOW: 1}
  assert sum(counts['skipped_by_class'].values()) == 2
  assert sum(sum(w.values()) for w in counts['written'].values()) == counts['pieces'] - 2
  listed = {r['path'] for r in _rows(export_copy)}
  for path, label in ((broken, broken_label), (empty, empty_label)):
    assert not cc.midi_path(export_copy, path, label).exists()
    assert cc.midi_path(export_copy, path, label).relative_to(export_copy).as_posix() not in listed
  assert {p: r['reason'] for p, r in cc.read_skipped(export_copy).items()} == {
      broken: 'BrokenRepeats', empty: cc.NO_WINDOW}
  assert 'BrokenRepeats 1' in (export_copy / 'README.md').read_text()
  parsed.clear()
  again = cc.export(export_copy, per_class=PER_CLASS, progress=False)
  assert not parsed and again['skipped'] == counts['skipped']


# ---- the baseline ----------------------------------------------------------------------------
def test_features_of_a_real_window_are_three_histograms(exported):
  window = _real_window(exported[0])
  features = hb.excerpt_features(window)
  assert features.shape == (hb.NUM_FEATURES,) and (features >= 0).all()
  for part in (PC, MELODIC, VERTICAL):
    assert features[part].sum() == pytest.approx(1.0)
  onsets = np.count_nonzero(window >= pianoroll.FIRST_ONSET)
  counts = features[PC] * onsets  # a histogram of the window's onsets, normalised
  np.testing.assert_allclose(counts, np.round(counts), atol=1e-9)


def test_transposing_a_real_window_rotates_pitch_classes_only(exported):
  window = _real_window(exported[0])
  up = np.zeros_like(window)
  up[:, 1:] = window[:, :-1]  # one semitone higher (the top pitch is empty)
  before, after = hb.excerpt_features(window), hb.excerpt_features(up)
  np.testing.assert_allclose(after[PC], np.roll(before[PC], 1))
  np.testing.assert_allclose(after[MELODIC], before[MELODIC])
  np.testing.assert_allclose(after[VERTICAL], before[VERTICAL])
  assert not np.allclose(after[PC], before[PC])


def test_features_of_a_written_out_window():
  """C4 E4 G4 together, then G5 alone, then (a rest) C5: the histograms by hand."""
  window = np.zeros((64, 88), np.int16)
  for frame, pitches in ((0, (60, 64, 67)), (4, (79,)), (12, (72,))):
    window[frame, [p - 21 for p in pitches]] = pianoroll.FIRST_ONSET
  window[1:4, 60 - 21] = pianoroll.SOUNDING  # held, not counted
  features = hb.excerpt_features(window)
  expected_pc = np.zeros(12)
  expected_pc[[0, 4, 7]] = [2, 1, 2]
  np.testing.assert_allclose(features[PC], expected_pc / 5)
  melodic = np.zeros(25)
  melodic[12 + 12] += 1  # G4 -> G5, clipped at 12
  melodic[12 - 7] += 1  # G5 -> C5
  np.testing.assert_allclose(features[MELODIC], melodic / 2)
  vertical = np.zeros(12)
  vertical[[4, 7, 3]] = 1  # C-E, C-G, E-G
  np.testing.assert_allclose(features[VERTICAL], vertical / 3)


@pytest.fixture(scope='module')
def data(exported):
  """``tasks.load``'s splits of the module's export."""
  return tasks.load('composer', exported[0] / 'split.csv')


def _test_files(out) -> set[str]:
  return {str(out / r['path']) for r in _rows(out) if r['split'] == 'test'}


def test_fit_and_score_scores_real_test_windows_and_pieces(exported, data):
  train, test = data['train'], data['test']
  scores = hb.fit_and_score(train, test)
  assert scores['pieces'] == len(_test_files(exported[0])) > 0
  assert scores['windows'] == len(test)
  for key in ('macro_f1', 'accuracy', 'piece_macro_f1', 'piece_accuracy'):
    assert 0.0 <= scores[key] <= 1.0, (key, scores[key])
  # Precomputed features give the same scores; features of other windows are refused.
  train_x, test_x = hb.features_of(train.windows), hb.features_of(test.windows)
  assert hb.fit_and_score(train, test, train_x=train_x, test_x=test_x) == scores
  with pytest.raises(ValueError, match='test_x'):
    hb.fit_and_score(train, test, train_x=train_x, test_x=test_x[1:])


def test_fit_and_score_learns_the_training_pieces(data):
  """Scored on its own training pieces, the model tells them apart (chance is 1/5)."""
  train = data['train']
  scores = hb.fit_and_score(train, train)
  assert scores['pieces'] == len(set(train.groups))
  assert scores['macro_f1'] > 0.6 and scores['piece_macro_f1'] > 0.8, scores


def test_a_class_missing_from_training_gets_probability_zero(data, monkeypatch):
  train, test = data['train'], data['test']
  missing = int(test.labels[0])
  seen, real_scores = [], tasks.composer_scores

  def scores(probs, split):
    seen.append(probs)
    return real_scores(probs, split)

  monkeypatch.setattr(hb.tasks, 'composer_scores', scores)
  result = hb.fit_and_score(train.take(train.labels != missing), test)
  (probs,) = seen
  assert probs.shape == (len(test), len(test.classes))
  np.testing.assert_allclose(probs.sum(1), 1.0)
  assert (probs[:, missing] == 0).all()
  others = np.delete(np.arange(len(test.classes)), missing)
  assert (probs[:, others] > 0).all()  # the other columns hold the model's probabilities
  assert result['accuracy'] <= np.mean(test.labels != missing)


def test_evaluate_reports_each_fraction_and_seed(exported, data):
  split_csv = exported[0] / 'split.csv'
  train, test = data['train'], data['test']
  rows = hb.evaluate(split_csv, fractions=(1.0, 0.5), seeds=(0, 1), data=data)
  assert [r['fraction'] for r in rows] == [1.0, 0.5]
  full = rows[0]
  assert full['train_windows'] == len(train)
  assert full['train_pieces'] == len(set(train.groups))
  scores = hb.fit_and_score(train, test)
  assert full['f1'] == [scores['macro_f1']] * 2
  assert full['piece_f1'] == [scores['piece_macro_f1']] * 2
  half = [tasks.subsample_groups(train, 0.5, seed) for seed in (0, 1)]
  assert rows[1]['train_windows'] == np.mean([len(h) for h in half]) < len(train)
  assert rows[1]['train_pieces'] == np.mean([len(set(h.groups)) for h in half])
  assert rows[1]['f1'][0] == hb.fit_and_score(half[0], test)['macro_f1']
  for row in rows:
    assert row['seeds'] == [0, 1]
    assert (row['test_pieces'], row['test_windows']) == (len(_test_files(exported[0])), len(test))
    for key in ('f1', 'piece_f1'):
      assert len(row[key]) == 2 and all(0.0 <= f <= 1.0 for f in row[key])
    assert row['mean'] == pytest.approx(np.mean(row['f1']))
    assert row['std'] == pytest.approx(np.std(row['f1']))
    assert row['piece_mean'] == pytest.approx(np.mean(row['piece_f1']))
    assert row['piece_std'] == pytest.approx(np.std(row['piece_f1']))
