"""Piano-roll frames: real files round-trip exactly, the tempo map is honoured, and what the
frames cannot hold (drums, pitches off the piano) is counted, never silently kept."""

import copy
import csv

import note_seq
import numpy as np

from musicvae_jax import converters
from musicvae_jax import specs
from musicvae_jax.converters import midi_io
from musicvae_jax.converters import pianoroll

from conftest import SHARED

SPEC = specs.DataSpec(converter='pianoroll', slice_bars=4)
POP909 = SHARED / 'data' / 'pop909'
POP909_SONG = POP909 / 'songs' / '001' / '001.mid'


def _many_tempos_song():
  rows = list(csv.DictReader(open(POP909 / 'MANIFEST.csv', encoding='utf-8')))
  song = max(rows, key=lambda r: int(r['n_tempo_events']))['id']
  return POP909 / 'songs' / song / f'{song}.mid'


def _without_tied_in_notes(window):
  """The window less the notes it holds from before its first frame (no onset to write)."""
  out = window.copy()
  for c in range(out.shape[1]):
    t = 0
    while t < out.shape[0] and out[t, c] == pianoroll.SOUNDING:
      out[t, c] = pianoroll.SILENT
      t += 1
  return out


def _real_files(shared_midi):
  return ([sorted((shared_midi / 'melody').glob('*.mid'))[0],
           sorted((shared_midi / 'multitrack').glob('*.mid'))[0], POP909_SONG])


def test_real_windows_written_as_midi_read_back_exactly(shared_midi, tmp_path):
  converter = converters.get_converter(SPEC)
  assert converter.part_depths == (10,) * 88 and converter.max_seq_len == 64
  for path in _real_files(shared_midi):
    windows = converter.extract(midi_io.read_midi(path)).windows
    assert windows, path
    for k, w in enumerate(windows[:4]):
      assert w.shape == (64, 88) and w.dtype == np.int16
      out = tmp_path / f'{path.stem}_{k}.mid'
      note_seq.sequence_proto_to_midi_file(converter.from_labels(w), str(out))
      back = converter.extract(note_seq.midi_file_to_note_sequence(str(out))).windows
      assert len(back) == 1 and np.array_equal(back[0], _without_tied_in_notes(w)), (path, k)


def test_frames_follow_the_tempo_map_not_the_clock():
  # A POP909 song with many tempo events: a note's frame is its beat x 4.
  sequence = note_seq.midi_file_to_note_sequence(str(_many_tempos_song()))
  assert len({round(t.qpm, 3) for t in sequence.tempos}) > 10
  converter = pianoroll.PianoRollConverter()
  pitch, start, end, _, _ = converter.note_frames(sequence)
  beats = pianoroll.quarters_of(sequence, [n.start_time for n in sequence.notes
                                           if 21 <= n.pitch <= 108 and not n.is_drum])
  assert np.array_equal(start, np.round(beats * 4).astype(int))
  # Read at one fixed tempo instead, the same notes land far from their beats.
  fixed = copy.deepcopy(sequence)
  del fixed.tempos[1:]
  _, start_fixed, _, _, _ = converter.note_frames(fixed)
  assert np.mean(start_fixed != start) > 0.5
  assert np.all(end > start) and pitch.min() >= 21


def test_every_velocity_comes_back_in_its_own_bin():
  vocab = pianoroll.PianoRollVocabulary(21, 108, 8)
  bins = vocab.velocity_bin(np.arange(1, 128))
  assert bins.min() == 0 and bins.max() == 7 and np.all(np.diff(bins) >= 0)
  assert np.array_equal(vocab.velocity_bin(vocab.bin_velocity(np.arange(8))), np.arange(8))


def test_drums_and_pitches_off_the_piano_are_left_out_and_counted(shared_midi):
  converter = pianoroll.PianoRollConverter()
  sequence = midi_io.read_midi(sorted((shared_midi / 'multitrack').glob('*.mid'))[0])
  assert any(n.is_drum for n in sequence.notes)
  pitched = [n for n in sequence.notes if not n.is_drum]
  high = copy.deepcopy(sequence)
  for n in high.notes:
    if not n.is_drum:
      n.pitch = 120  # off the piano
      break
  got = converter.extract(high)
  assert got.skipped['notes_out_of_range'] == 1 + sum(
      not 21 <= n.pitch <= 108 for n in pitched[1:])
  onsets = sum(int(np.count_nonzero(w >= 2)) for w in converter.extract(sequence).windows)
  assert 0 < onsets <= len(pitched)  # drums never become onsets


def test_a_file_with_no_pitched_notes_gives_a_reason(shared_midi):
  converter = pianoroll.PianoRollConverter()
  drums_only = midi_io.read_midi(sorted((shared_midi / 'drums').glob('*.mid'))[0])
  got = converter.extract(drums_only)
  assert got.windows == [] and got.skipped['no_notes'] == 1
