"""Melody identification note by note on real POP909 songs: the notes and their classes come
from the file's tracks, the features agree with the piano roll, the frozen encoder's features
are its hidden states at the notes' onsets, and the BiLSTM tagger is seeded and learns."""

import note_seq
import numpy as np
import pytest

from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax.converters import pianoroll
from musicvae_jax.models import musicoder
from musicvae_jax.musicoder import embedding
from musicvae_jax.musicoder import melody_notes
from musicvae_jax.musicoder import song_notes
from musicvae_jax.musicoder import tasks

import musicoder_workdirs
from conftest import SHARED

SONGS = SHARED / 'data' / 'pop909' / 'songs'
CONVERTER = pianoroll.PianoRollConverter(slice_bars=4, min_notes=4)


@pytest.fixture(scope='module')
def songs():
  return [melody_notes.read_song(SONGS / s / f'{s}.mid', CONVERTER)
          for s in ('001', '003', '005', '008')]


def test_notes_are_the_files_key_presses_with_their_tracks_class(songs):
  song = songs[0]
  sequence = note_seq.midi_file_to_note_sequence(str(song.path))
  names = {i.instrument: i.name for i in sequence.instrument_infos}
  notes = [n for n in sequence.notes if 21 <= n.pitch <= 108 and not n.is_drum]
  frame = lambda n: round(n.start_time / 60 * sequence.tempos[0].qpm * 4)
  presses = {}
  for n in notes:   # the best class of the notes struck at one pitch and frame
    code = {'MELODY': 2, 'BRIDGE': 1}.get(names[n.instrument], 0)
    presses[(frame(n), n.pitch)] = max(code, presses.get((frame(n), n.pitch), 0))
  assert len(song) == len(presses) < len(notes)   # the piano doubles some melody notes
  assert dict(zip(zip(song.start.tolist(), song.pitch.tolist()), song.classes.tolist())) == (
      presses)
  assert np.count_nonzero(song.classes == 2) == len({(frame(n), n.pitch) for n in notes
                                                      if names[n.instrument] == 'MELODY'})
  # Onset order, highest pitch first within an onset, one note per pitch and onset.
  assert np.all(np.diff(song.start) >= 0)
  same = np.diff(song.start) == 0
  assert np.all(np.diff(song.pitch)[same] < 0)
  # read_notes: every note of the file as it lists them, copies kept, each with its track.
  pitch, start, _, _, classes, instrument = song_notes.read_notes(song.path, CONVERTER)
  assert len(pitch) == len(notes) and instrument.tolist() == [n.instrument for n in notes]
  assert classes.tolist() == [{'MELODY': 2, 'BRIDGE': 1}.get(names[n.instrument], 0)
                              for n in notes]
  assert set(zip(start.tolist(), pitch.tolist())) == set(presses)


def test_skyline_notes_are_the_rolls_skyline_cells(songs):
  song = songs[1]
  roll = CONVERTER.roll(song.pitch, song.start, song.end, song.velocity)
  cells = np.argwhere(tasks.skyline(roll[None])[0])
  from_roll = {(int(t), int(c) + 21) for t, c in cells}
  picked = melody_notes.skyline(song)
  from_notes = set(zip(song.start[picked].tolist(), song.pitch[picked].tolist()))
  assert from_notes == from_roll
  f1 = tasks.note_f1(melody_notes.note_counts(picked, song))
  assert 0.3 < f1 < 0.8   # the rule finds much of the melody, far from all


def test_features_rank_each_onsets_notes(songs):
  song = songs[0]
  x, ints = melody_notes.note_features(song)
  assert x.shape == (len(song), len(melody_notes.NOTE_FEATURES)) and x.dtype == np.float32
  assert np.all(np.isfinite(x))
  rank = x[:, melody_notes.NOTE_FEATURES.index('rank from top')]
  first = np.r_[True, song.start[1:] != song.start[:-1]]
  assert np.all(rank[first] == 0) and np.all(rank[~first] >= 1)
  assert np.array_equal(ints[:, 0], song.pitch - 21) and np.array_equal(ints[:, 1],
                                                                        song.start % 16)
  place = x[:, melody_notes.NOTE_FEATURES.index('place in the song')]
  assert place[0] < 0.05 and np.all(np.diff(place) >= 0) and 0.95 < place[-1] <= 1
  since = x[:, melody_notes.NOTE_FEATURES.index('log bars from the start')]
  until = x[:, melody_notes.NOTE_FEATURES.index('log bars to the end')]
  assert since[0] == 0 and np.all(np.diff(since) >= 0) and np.all(np.diff(until) <= 0)
  assert np.expm1(since[-1]) == pytest.approx((song.start[-1] - song.start[0]) / 16)


def test_encoder_features_are_the_hidden_state_at_each_onset(songs):
  spec = config_boundary.model_spec(config_lib.get_config('musicoder:tiny'))
  embedder = embedding.Embedder(musicoder.build(spec, 0), CONVERTER)
  song = songs[2]
  extra = melody_notes.encoder_features(embedder, song)
  assert extra.shape == (len(song), embedder.encoder.width)
  roll = CONVERTER.roll(song.pitch, song.start, song.end, song.velocity,
                        num_frames=-(-int(song.end.max()) // 64) * 64)
  window = int(song.start[500]) // 64
  hidden = embedder.embed_windows(roll[None, 64 * window:64 * window + 64], pool=False)[0]
  at = song.start == song.start[500]
  np.testing.assert_allclose(extra[at], np.broadcast_to(hidden[song.start[500] % 64],
                                                        extra[at].shape), atol=1e-5)


def test_subsample_keeps_the_songs_the_window_tasks_keep(songs):
  split = tasks.Split(np.zeros((4, 1, 1)), np.zeros((4, 1, 1), bool),
                      np.array([s.path for s in songs]))
  for seed in (0, 1, 2):
    kept = tasks.subsample_groups(split, 0.5, seed).groups
    assert {s.path for s in melody_notes.subsample(songs, 0.5, seed)} == set(kept)


def test_tagger_is_seeded_compiles_once_and_learns(songs):
  settings = melody_notes.Settings(steps=60, batch_size=4, length=128, hidden=32,
                                   learning_rate=5e-3)
  first = melody_notes.Tagger(settings)
  losses = first.fit(songs[:3])
  again = melody_notes.Tagger(settings).fit(songs[:3])
  assert losses == again
  assert first.traces['train_step'] == 1
  assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:10])
  test = songs[3]
  called = first.predict(test)
  assert called.shape == (len(test),) and called.dtype == bool
  f1 = tasks.note_f1(melody_notes.note_counts(called, test))
  untrained = melody_notes.Tagger(settings).predict(test)
  assert f1 > tasks.note_f1(melody_notes.note_counts(untrained, test)) and f1 > 0.2
  assert np.array_equal(first.predict(test), called)
  assert first.traces['logits'] == 1


def test_attention_and_dropout_tagger_is_seeded_and_its_line_is_one_voice(songs):
  settings = melody_notes.Settings(steps=30, batch_size=2, length=128, hidden=16,
                                   attention_heads=2, dropout=0.2, learning_rate=5e-3)
  tagger = melody_notes.Tagger(settings)
  losses = tagger.fit(songs[:2])
  assert losses == melody_notes.Tagger(settings).fit(songs[:2])
  assert tagger.traces['train_step'] == 1 and np.isfinite(losses).all()
  test = songs[3]
  scores = tagger.scores(test)
  assert scores.shape == (len(test), 3)
  np.testing.assert_allclose(np.exp(scores).sum(-1), 1.0, atol=1e-5)
  line = tagger.predict(test, line=True)
  argmax = tagger.predict(test, line=False)
  assert np.array_equal(argmax, scores.argmax(-1) == 2)
  assert not (line & ~argmax).any()   # the line keeps only notes more likely melody than not
  starts = test.start[line]
  assert len(np.unique(starts)) == len(starts)   # one voice: never two notes at an onset


def test_run_scores_the_test_songs_of_a_split_file(tmp_path):
  split = musicoder_workdirs.pop909_split(tmp_path / 'split.csv', 3, 1)
  read = melody_notes.read_split(split, CONVERTER)
  assert len(read['train']) == 3 and len(read['test']) == 1
  settings = melody_notes.Settings(steps=20, batch_size=2, length=64, hidden=16)
  result = melody_notes.run(read, settings, labels_fraction=0.7)
  assert result['train_files'] == 2 and result['notes'] == len(read['test'][0])
  test = read['test'][0]
  sky = tasks.note_f1(melody_notes.note_counts(melody_notes.skyline(test), test))
  assert result['skyline_note_f1'] == sky and 0.0 <= result['note_f1'] <= 1.0
  assert not result['line'] and result['note_f1'] == result['note_f1_argmax']
  shares = result['called_melody_by_track']
  assert set(shares) == {'other', 'BRIDGE', 'MELODY'}
  assert shares['MELODY'] == pytest.approx(result['recall'])
  # Every melody call the F1 counts wrong (a false positive or a missed melody note) is a wrong
  # argmax among the three classes too.
  melody = int(np.sum(test.classes == 2))
  tp = result['recall'] * melody
  fp = tp / result['precision'] - tp if result['precision'] else 0.0
  wrong = fp + melody - tp
  assert 0.0 <= result['accuracy_3_classes'] <= 1.0 - wrong / len(test) + 1e-9
  lines = (tmp_path / 'split.csv').read_text().splitlines()
  (tmp_path / 'train_only.csv').write_text('\n'.join(l for l in lines if not l.endswith('test')))
  with pytest.raises(tasks.SplitFileError, match='no test rows'):
    melody_notes.read_split(tmp_path / 'train_only.csv', CONVERTER)
