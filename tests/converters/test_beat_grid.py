"""POP909 melodies put onto their annotated beat grid (converters/beat_grid.py), on real songs."""

import json

import note_seq
import numpy as np

from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax.chordkey import pop909
from musicvae_jax.converters import beat_grid
from musicvae_jax.input_pipeline import prepare

from tests.chordkey.pop909_songs import pop909_dir, songs  # pylint: disable=unused-import


def test_runs_follow_the_flagged_downbeats_and_break_at_bars_of_other_lengths():
  flags = np.zeros(26, bool)
  flags[[0, 4, 6, 10, 14, 18, 20]] = True  # bars of 4, 2, 4, 4, 4, 2, then 6 beats to the end
  runs = beat_grid.four_four_runs(flags, 26)
  # 0-4 is a lone 4-beat bar (under min_bars); 6-18 three bars; 20-26 a final bar with more
  # than 4 beats left, which only makes one bar (under min_bars).
  assert runs == [beat_grid.Run(6, 3)]
  assert beat_grid.four_four_runs(flags, 26, min_bars=1) == [
      beat_grid.Run(0, 1), beat_grid.Run(6, 3), beat_grid.Run(20, 1)]


def test_every_bar_of_a_run_starts_on_an_annotated_downbeat(songs):
  plain, key_change, triple, many_tempos = songs
  # The triple-metre song's beats fall into 3-beat bars: no run of 4/4 bars at all.
  assert beat_grid.four_four_runs(triple.downbeat_b, triple.num_beats) == []
  for song in (plain, key_change, many_tempos):
    runs = beat_grid.four_four_runs(song.downbeat_b, song.num_beats)
    assert runs, song.song_id
    covered = 0
    for run in runs:
      bar_starts = run.first_beat + 4 * np.arange(run.num_bars)
      assert song.downbeat_b[bar_starts].all(), song.song_id
      inner = np.arange(run.first_beat, run.first_beat + 4 * run.num_bars)
      assert song.downbeat_b[inner].sum() == run.num_bars  # no downbeat inside a bar
      covered += 4 * run.num_bars
    assert covered <= song.num_beats


def test_regridded_melody_reads_back_on_the_grid_with_chord_changes_on_bar_lines(
    songs, tmp_path):
  position = []  # beat of the bar at which each chord change falls
  for song in (songs[0], songs[1], songs[3]):  # plain, key change, most tempo changes
    pieces = pop909.melody_pieces(song)
    assert pieces, song.song_id
    melody_n3 = song.notes['MELODY']
    for k, (run, midi) in enumerate(pieces):
      path = tmp_path / f'{song.song_id}_{k}.mid'
      midi.write(str(path))
      seq = note_seq.midi_file_to_note_sequence(str(path))
      assert [(t.numerator, t.denominator) for t in seq.time_signatures] == [(4, 4)]
      quantized = note_seq.quantize_note_sequence(seq, steps_per_quarter=4)
      got = sorted((n.quantized_start_step, n.pitch) for n in quantized.notes)
      start_beat = melody_n3[:, 0] - run.first_beat
      inside = (np.round(start_beat * 4) >= 0) & (np.round(start_beat * 4) < 16 * run.num_bars)
      want = sorted(zip(np.round(start_beat[inside] * 4).astype(int).tolist(),
                        melody_n3[inside, 2].astype(int).tolist()))
      assert got == want  # every melody note of the run, at its beat position, exactly
      # Chord changes of the run, measured in beats from its start.
      labels = song.chord_labels_b[run.first_beat:run.first_beat + 4 * run.num_bars]
      changes = [i for i in range(1, len(labels)) if labels[i] != labels[i - 1]]
      position += [i % 4 for i in changes]
  # POP909's chords change mostly at bar lines, else at half bars: on this grid, beat 0 of a
  # bar holds the most changes and beats 0 and 2 nearly all (a grid off by a beat would put
  # them on the odd beats).
  share = np.bincount(position, minlength=4) / len(position)
  assert share[0] == share.max() and share[0] + share[2] > 0.8, share


def test_regridded_pop909_songs_give_2_bar_melody_windows(pop909_dir, tmp_path):
  ids = pop909.song_ids(pop909_dir)[:6]
  counts = pop909.regrid_melodies(pop909_dir, tmp_path, ids=ids)
  assert counts['songs'] + counts['skipped_metre'] == len(ids)
  assert counts['songs'] >= 4 and sorted(p.name for p in tmp_path.glob('*.mid')) == sorted(
      counts['files'])
  config = config_lib.get_config('cat-mel_2bar_small')
  config.data.eval_fraction = 0.0
  prepare.prepare(config_boundary.run_spec(config), tmp_path, tmp_path / 'prepared', workers=1,
                  progress=False)
  info = json.loads((tmp_path / 'prepared' / 'dataset.json').read_text())
  # Up to one 2-bar window per bar (a window starts at every bar of a melody, and melodies
  # break at rests of a bar or more: intros and interludes).
  assert counts['bars'] / 4 < info['splits']['train']['windows'] <= counts['bars']
  assert 'steps_per_bar_not_16' not in json.dumps(info)
