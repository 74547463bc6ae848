"""Melody identification on real POP909 songs: targets are the MELODY track's notes, the
skyline rule is scored as the baseline, and fine-tuning is seeded, trains what its mode says
and beats a head on random features."""

import jax
from flax import nnx
import note_seq
import numpy as np
import pytest

from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax.converters import pianoroll
from musicvae_jax.models import musicoder
from musicvae_jax.musicoder import finetune
from musicvae_jax.musicoder import tasks

import musicoder_workdirs
from conftest import SHARED

SONGS = SHARED / 'data' / 'pop909' / 'songs'


@pytest.fixture(scope='module')
def split_csv(tmp_path_factory):
  """Eight real songs for training, three for testing."""
  return musicoder_workdirs.pop909_split(tmp_path_factory.mktemp('split') / 'split.csv', 8, 3)


@pytest.fixture(scope='module')
def data(split_csv):
  return tasks.load('melody', split_csv)


def _encoder(seed=0):
  return musicoder.build(config_boundary.model_spec(config_lib.get_config('musicoder:tiny')),
                         seed)


def test_targets_are_exactly_the_melody_tracks_notes():
  path = SONGS / '001' / '001.mid'
  converter = pianoroll.PianoRollConverter(slice_bars=4, min_notes=4)
  windows, targets = tasks.melody_windows(path, converter)
  assert windows.shape == targets.shape and len(windows) > 10
  assert np.all(windows[targets] >= pianoroll.FIRST_ONSET)  # every target is a note onset
  sequence = note_seq.midi_file_to_note_sequence(str(path))
  melody = {i.instrument for i in sequence.instrument_infos if i.name == 'MELODY'}
  cells = {(round(pianoroll.quarters_of(sequence, [n.start_time])[0] * 4), n.pitch)
           for n in sequence.notes if n.instrument in melody}
  in_windows = {(t, p) for t, p in cells if t < len(windows) * 64}  # hop = window: all kept
  assert int(targets.sum()) == len(in_windows)
  assert 0.1 < targets.sum() / (windows >= 2).sum() < 0.6  # melody is a share of the notes
  again, same, tracks = tasks.melody_windows(path, converter, with_tracks=True)
  assert np.array_equal(again, windows) and np.array_equal(same, targets)
  assert np.array_equal(tracks == tasks.TRACK_CODES['MELODY'], targets)
  assert np.array_equal(tracks > 0, windows >= pianoroll.FIRST_ONSET)
  assert np.count_nonzero(tracks == tasks.TRACK_CODES['BRIDGE']) > 100  # 001 has a BRIDGE part


def test_skyline_keeps_the_top_onset_of_a_frame_and_scores_between_chance_and_perfect(data):
  test = data['test']
  sky = tasks.skyline(test.windows)
  assert np.all(test.windows[sky] >= pianoroll.FIRST_ONSET)
  assert sky.sum(axis=-1).max() == 1  # at most one note a frame
  f1 = tasks.note_f1(tasks.note_counts(sky, test.labels, test.windows))
  assert 0.3 < f1 < 0.95


def test_subsampling_keeps_whole_songs(data):
  part = tasks.subsample_groups(data['train'], 0.25, seed=1)
  songs = np.unique(part.groups)
  assert len(songs) == 2
  for song in songs:
    assert (part.groups == song).sum() == (data['train'].groups == song).sum()
  again = tasks.subsample_groups(data['train'], 0.25, seed=1)
  assert np.array_equal(part.groups, again.groups)


def test_transposition_moves_notes_and_melody_together_and_drops_what_leaves_the_keys(data):
  train = data['train']
  windows, targets = train.windows[:6], train.labels[:6]
  shifts = np.array([0, 5, -5, 12, -12, 3])
  moved_w, moved_t = finetune.transposed(windows, targets, shifts)
  assert moved_w.shape == windows.shape and moved_t.dtype == bool
  for i, k in enumerate(shifts):
    for before, after in ((windows[i], moved_w[i]), (targets[i], moved_t[i])):
      cells = {(t, p + k) for t, p in zip(*np.nonzero(before)) if 0 <= p + k < 88}
      assert set(zip(*np.nonzero(after))) == cells
      assert all(after[t, p] == before[t, p - k] for t, p in cells)
    assert np.all(moved_w[i][moved_t[i]] >= pianoroll.FIRST_ONSET)  # melody stays on onsets
  labels = np.arange(6)
  assert finetune.transposed(windows, labels, shifts)[1] is labels  # a class is not moved


def test_frame_choice_keeps_one_note_a_frame_and_scores_truth_above_the_skyline(data):
  test = data['test']
  truth = np.where(test.labels, 4.0, -4.0).astype(np.float32)
  picked = finetune.melody_cells(truth, test.windows, 'frame')
  assert picked.sum(axis=-1).max() == 1
  single = test.labels.sum(axis=-1) <= 1  # the melody starts at most one note in the frame
  assert np.array_equal(picked[single], test.labels[single])
  assert np.array_equal(finetune.melody_cells(truth, test.windows, 'cells'),
                        test.labels & (test.windows >= pianoroll.FIRST_ONSET))
  loss = lambda logits, kind: float(finetune.task_loss(
      'melody', jax.numpy.asarray(logits), test.labels, test.windows, None, kind))
  sky = np.where(tasks.skyline(test.windows), 4.0, -4.0).astype(np.float32)
  for kind in finetune.MELODY_LOSSES:
    assert loss(truth, kind) < 0.1 < loss(sky, kind) < loss(-truth, kind)


def test_probe_trains_only_the_head_and_finetune_also_the_encoder(data):
  for mode in ('probe', 'finetune'):
    model = finetune.TaskModel(_encoder(), 'melody', 1, rngs=nnx.Rngs(1))
    trainer = finetune.Trainer(model, finetune.Settings(mode=mode, steps=5, batch_size=8))
    before = jax.device_get({**trainer.trainable, **trainer.frozen})
    trainer.fit(data['train'])
    after = jax.device_get({**trainer.trainable, **trainer.frozen})
    moved = lambda part: any(not np.array_equal(a, b) for a, b in zip(
        jax.tree.leaves(before[part]), jax.tree.leaves(after[part])))
    assert moved('head')
    assert moved('encoder') == (mode == 'finetune'), mode


def test_finetuning_is_seeded_and_learns_the_melody(data):
  settings = finetune.Settings(mode='finetune', steps=150, batch_size=16, encoder_lr=1e-3)
  first = finetune.run('melody', data, encoder=_encoder(), settings=settings)
  again = finetune.run('melody', data, encoder=_encoder(), settings=settings)
  assert first == again
  untrained = finetune.run('melody', data, encoder=_encoder(),
                           settings=finetune.Settings(mode='probe', steps=1, batch_size=16))
  assert first['final_loss'] < 0.6 and first['note_f1'] > untrained['note_f1'] + 0.1


def test_split_files_that_cannot_serve_say_why(tmp_path, split_csv):
  bad = tmp_path / 'bad.csv'
  bad.write_text('file,split\nx.mid,train\n')
  with pytest.raises(tasks.SplitFileError, match='the header must be path,label,split'):
    tasks.load('melody', bad)
  gone = tmp_path / 'gone.csv'
  gone.write_text('path,label,split\nnowhere.mid,,train\n')
  with pytest.raises(tasks.SplitFileError, match='line 2: nowhere.mid is not a file'):
    tasks.load('melody', gone)
  train_only = tmp_path / 'train_only.csv'
  rows = split_csv.read_text().splitlines()
  train_only.write_text('\n'.join(r for r in rows if not r.endswith(',test')) + '\n')
  with pytest.raises(tasks.SplitFileError, match='no test rows'):
    finetune.run('melody', tasks.load('melody', train_only), encoder=_encoder(),
                 settings=finetune.Settings(steps=1))
  drums = tmp_path / 'drums.csv'
  song = sorted((SHARED / 'data' / 'midi' / 'multitrack').glob('*.mid'))[0]
  drums.write_text(f'path,label,split\n{song},,train\n')
  with pytest.raises(tasks.SplitFileError, match='no track named MELODY'):
    tasks.load('melody', drums)
