"""The multi-instrument performance converter (hier-multiperf_vel_1bar_*) against Magenta's own
windows (shared/reference/magenta_windows/hier-multiperf_vel_1bar_med{,_chords}__multitrack).

Every multitrack/ file is compared for hier-multiperf_vel_1bar_med, windows and per-track
lengths together; chord inference is slow (about a second a file), so _chords compares a few
files, among them ones where Magenta drops bars for coincident chords. bench/multiperf_windows.py
runs every file of both. Also: the one-hot tensors and lengths against Magenta's model fixture,
decoding (real windows read back to the same window, sampled garbage decoded without an error),
and the four configs' specs.
"""

import collections

import numpy as np
import pytest

from conftest import magenta_checkpoint
from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax import specs
from musicvae_jax.converters import ConverterConfigError
from musicvae_jax.converters import midi_io
from musicvae_jax.converters import multiperf
from musicvae_jax.converters import vocabulary
import magenta_reference as mref

CONFIG = 'hier-multiperf_vel_1bar_med'
CHORDS = 'hier-multiperf_vel_1bar_med_chords'
# Quick files for the chord comparison: five where Magenta drops coincident-chord bars
# (dm06, dm15, e4m6, harp_harmony, mosey_along), one without (city_blues; it and mosey_along
# have sustain pedals), and two that are not in 4/4 (no windows).
CHORD_FILES = ('freedoom_d_dm06.mid', 'freedoom_d_dm15.mid', 'freedoom_d_dm27.mid',
               'freedoom_d_e1m8.mid', 'freedoom_d_e4m6.mid', 'openmsx_city_blues_redfarn.mid',
               'openmsx_harp_harmony.mid', 'openmsx_mosey_along_redfarn.mid')
VOCAB = vocabulary.MULTIPERF


def _converter(name):
  return config_boundary.converter_of(config_lib.get_config(name))


@pytest.fixture(scope='module')
def sequences(shared_midi):
  """{file name: NoteSequence} of every multitrack/ file, read as the reference was (note-seq's
  parser: the sustain pedals count)."""
  return {p.name: midi_io.read_midi(p) for p in sorted((shared_midi / 'multitrack').glob('*.mid'))}


@pytest.fixture(scope='module')
def extracted(sequences):
  converter = _converter(CONFIG)
  return {f: converter.extract(ns) for f, ns in sequences.items()}


def _with_lengths(converter, windows):
  return collections.Counter(mref.window_key(w) + tuple(converter.track_lengths(w).tolist())
                             for w in windows)


def _reference_with_lengths(record):
  return collections.Counter(tuple(w) + tuple(n) for w, n in zip(record['windows'],
                                                                 record['lengths']))


def _differences(converter, ours, reference):
  return [f'{f}: ours {len(e.windows)}, Magenta {reference[f]["n_windows"]}'
          for f, e in sorted(ours.items())
          if _with_lengths(converter, e.windows) != _reference_with_lengths(reference[f])]


def test_windows_and_lengths_match_magenta_on_every_file(extracted, magenta_windows_dir):
  reference = mref.load(magenta_windows_dir / f'{CONFIG}__multitrack.jsonl.gz')
  assert sorted(extracted) == sorted(reference) and len(reference) == 83
  converter = _converter(CONFIG)
  bad = _differences(converter, extracted, reference)
  assert not bad, f'{len(bad)}/83 files differ from Magenta; first: ' + '; '.join(bad[:5])
  windows = [w for e in extracted.values() for w in e.windows]
  assert len(windows) == 3248 and sum(bool(e.windows) for e in extracted.values()) == 71
  for w in windows:
    assert w.shape == (512, 1) and w.dtype == np.int16
    slots = w[:, 0].reshape(8, 64)
    lengths = converter.track_lengths(w)
    for slot, n in zip(slots, lengths):
      assert (slot[n:] == -1).all() and (slot[:n] >= 0).all() and slot[n - 1] == VOCAB.end
      # A track: its program (or the drum token), its events, the end token; else one end token.
      assert n == 1 or (VOCAB.first_program <= slot[0] <= VOCAB.drum_program
                        and (slot[1:n - 1] < VOCAB.num_events).all())
  skipped = sum((e.skipped for e in extracted.values()), collections.Counter())
  assert {'too_many_events', 'too_many_instruments', 'too_few_instruments',
          'steps_per_bar_not_96'} <= set(skipped)
  assert all(sum(e.skipped.values()) for e in extracted.values() if not e.windows)


def test_chord_windows_match_magenta(sequences, extracted, magenta_windows_dir):
  """The chord column as Magenta's: 0 on a program token and an empty slot, the chord of the
  event's step, the last again on the end token, -1 on padding; bars whose two inferred chords
  fall on one step are dropped (counted as coincident_chords)."""
  reference = mref.load(magenta_windows_dir / f'{CHORDS}__multitrack.jsonl.gz')
  converter = _converter(CHORDS)
  ours = {f: converter.extract(sequences[f]) for f in CHORD_FILES}
  bad = _differences(converter, ours, reference)
  assert not bad, f'{len(bad)}/{len(ours)} files differ from Magenta; first: ' + '; '.join(bad)
  windows = [w for e in ours.values() for w in e.windows]
  assert len(windows) > 200
  for w in windows:
    assert w.shape == (512, 2) and w.dtype == np.int16
    tokens, chords = w[:, 0], w[:, 1]
    np.testing.assert_array_equal(tokens == -1, chords == -1)
    programs = (tokens >= VOCAB.first_program) & (tokens <= VOCAB.drum_program)
    assert (chords[programs] == 0).all()
    ends = np.nonzero(tokens == VOCAB.end)[0]
    np.testing.assert_array_equal(chords[ends], np.where(ends % 64, chords[ends - 1], 0))
    events = (tokens >= 0) & (tokens < VOCAB.num_events)
    assert ((chords >= -1) & (chords < 49)).all() and (chords[events] > 0).all()
  dropped = {f: e.skipped['coincident_chords'] for f, e in ours.items()}
  assert sum(dropped.values()) >= 15 and sum(v > 0 for v in dropped.values()) == 5
  for f, e in ours.items():  # the same windows as without chords, but those dropped
    assert len(e.windows) + dropped[f] == len(extracted[f].windows), f
    plain = collections.Counter(mref.window_key(w) for w in extracted[f].windows)
    assert not collections.Counter(mref.window_key(w[:, :1]) for w in e.windows) - plain


def test_tensors_and_lengths_are_magentas(sequences, extracted):
  """One-hot [512, 490] rows (zero on padding), Magenta's per-track lengths, and back, on the
  windows of Magenta's model fixture (hier-multiperf_vel_1bar_med) and on real windows."""
  converter = _converter(CONFIG)
  assert converter.part_depths == (490,) and converter.max_seq_len == 512
  assert (converter.input_depth, converter.output_depth, converter.control_depth) == (490, 490, 0)
  assert converter.level_lengths == (8, 64) and _converter(CHORDS).control_depth == 49
  with np.load(magenta_checkpoint('multiperf') / 'reference.npz') as npz:
    windows, inputs = npz['target_classes'].astype(np.int16), npz['input_sequence']
    lengths, outputs = npz['sequence_length'], npz['output_sequence']
  for w, x, y, n in zip(windows, inputs, outputs, lengths):
    got_in, got_out = converter.labels_to_tensors(w)
    np.testing.assert_array_equal(got_in, x)
    np.testing.assert_array_equal(got_out, y)
    np.testing.assert_array_equal(converter.track_lengths(w), n)
    np.testing.assert_array_equal(converter.tensors_to_labels(x), w)
  name = 'freedoom_d_dm01.mid'
  tensors = converter.to_tensors(sequences[name])
  assert len(tensors.outputs) == len(extracted[name].windows) == 10
  for w, x, y, n in zip(extracted[name].windows, tensors.inputs, tensors.outputs,
                        tensors.lengths):
    assert x.shape == (512, 490) and (x == y).all()
    np.testing.assert_array_equal(converter.tensors_to_labels(x), w)
    np.testing.assert_array_equal(n, converter.track_lengths(w))
  real = extracted[name].windows[0]
  chords = _converter(CHORDS)
  w = np.stack([real[:, 0], np.where(real[:, 0] >= 0, 5, -1)], -1).astype(np.int16)
  controls = chords.controls(w)
  assert controls.shape == (512, 49)
  np.testing.assert_array_equal(controls.sum(-1), real[:, 0] >= 0)


def _repacked(window):
  """The window a decoded window reads back as: a slot with no note-on decodes to no notes, so
  its instrument is gone, and the slots after it move up. None where that leaves no window."""
  slots = window[:, 0].reshape(8, 64)
  kept = [s for s in slots if ((s >= 0) & (s < VOCAB.note_off)).any()]
  events = sum(int((s >= 0).sum()) - 2 for s in kept)
  if not 2 <= len(kept) or events < 8:
    return None
  out = np.full((8, 64), -1, np.int16)
  out[:, 0] = VOCAB.end
  out[:len(kept)] = kept
  return out.reshape(512, 1)


def test_decoded_windows_read_back_as_the_same_window(extracted):
  """from_labels keeps what the encoding holds (programs, the drum flag, pitches, velocity bins,
  times on the 24-step grid): a real window decoded and extracted again is the same window."""
  converter = _converter(CONFIG)
  windows = [w for e in extracted.values() for w in e.windows][::10]
  assert len(windows) > 300
  repacked = 0
  for w in windows:
    ns = converter.from_labels(w)
    assert ns.tempos[0].qpm == 120 and ns.total_time == pytest.approx(2.0)  # the whole bar
    for note in ns.notes:
      slot = w[note.instrument * 64, 0]
      assert note.is_drum == (slot == VOCAB.drum_program)
      assert note.program == (0 if note.is_drum else slot - VOCAB.first_program)
      assert (note.velocity - 1) % 16 == 0  # the lowest velocity of its bin
      for t in (note.start_time, note.end_time):
        assert abs(t * 48 - round(t * 48)) < 1e-6  # 24 steps a quarter at 120 qpm
    want = _repacked(w)
    got = converter.extract(ns).windows
    if want is None:
      assert not got
      continue
    repacked += not np.array_equal(want, w)
    assert len(got) == 1
    np.testing.assert_array_equal(got[0], want)
  assert repacked > 0  # some windows hold an empty track (its program token reads as drums)
  slow = converter.from_labels(windows[0], qpm=60.0)
  assert slow.total_time == pytest.approx(2 * converter.from_labels(windows[0]).total_time)


def test_from_labels_reads_programs_drums_velocities_and_chords():
  converter = _converter(CHORDS)
  w = np.full((8, 64, 2), -1, np.int16)
  w[:, 0] = (VOCAB.end, 0)
  # Slot 0: electric bass, velocity bin 5, E2 for a quarter; a chord change on the note-off.
  w[0, :6] = [(VOCAB.program_token(33, False), 0), (VOCAB.velocity + 4, 1),
              (VOCAB.note_on + 40, 1), (VOCAB.time_shift + 23, 1), (VOCAB.note_off + 40, 8),
              (VOCAB.end, 8)]
  # Slot 1: drums, bin 8, a kick on step 12 never released (ends at the bar's end).
  w[1, :5] = [(VOCAB.drum_program, 0), (VOCAB.time_shift + 11, 1), (VOCAB.velocity + 7, 1),
              (VOCAB.note_on + 36, 1), (VOCAB.end, 1)]
  ns = converter.from_labels(w.reshape(512, 2))
  notes = sorted((n.instrument, n.program, n.is_drum, n.pitch, n.velocity, n.start_time,
                  n.end_time) for n in ns.notes)
  assert notes == [(0, 33, False, 40, 65, 0.0, 0.5), (1, 0, True, 36, 113, 0.25, 2.0)]
  chords = [(round(ta.time, 6), ta.text) for ta in ns.text_annotations]
  assert chords == [(0.0, 'C'), (0.5, 'G')]


def test_sampled_garbage_decodes_without_an_error():
  """What a model samples need not be a well-formed window: a track without a program token,
  events after the end token, note-offs without note-ons, repeated program tokens, -1 rows, any
  chord. Decoded as Magenta's from_tensors does, never an exception."""
  converter, chords = _converter(CONFIG), _converter(CHORDS)
  with np.load(magenta_checkpoint('multiperf') / 'reference.npz') as npz:
    greedy = npz['greedy_tokens'].astype(np.int16)  # an untrained model's argmax windows
  rng = np.random.default_rng(0)
  garbage = [g for g in greedy] + [rng.integers(-1, 490, (512, 1)).astype(np.int16)
                                   for _ in range(20)]
  crafted = np.full((8, 64), -1, np.int16)
  crafted[0, :5] = [VOCAB.note_off + 60, VOCAB.note_on + 60, VOCAB.time_shift + 95,
                    VOCAB.time_shift + 95, VOCAB.end]  # no program; runs past the bar
  crafted[1, :6] = [VOCAB.program_token(5, False), VOCAB.end, VOCAB.note_on + 61, -1,
                    VOCAB.program_token(7, False), VOCAB.end]
  crafted[2, :4] = [VOCAB.drum_program, VOCAB.program_token(9, False), VOCAB.note_on + 38,
                    VOCAB.velocity + 2]
  garbage.append(crafted.reshape(512, 1))
  decoded = 0
  for g in garbage:
    for conv, window in ((converter, g), (chords, np.concatenate(
        [g, rng.integers(-1, 52, (512, 1)).astype(np.int16)], -1))):
      ns = conv.from_labels(window)
      for note in ns.notes:
        assert 0 <= note.pitch <= 127 and note.start_time < note.end_time <= 2.0 + 1e-9
        assert 0 <= note.instrument < 8
      decoded += len(ns.notes)
  assert decoded > 0
  ns = converter.from_labels(crafted.reshape(512, 1))
  by_slot = {n.instrument: n for n in ns.notes}
  assert (by_slot[0].program, by_slot[0].is_drum, by_slot[0].end_time) == (0, False, 2.0)
  assert 1 not in by_slot and by_slot[2].is_drum and by_slot[2].pitch == 38


def test_skip_reasons_on_edited_real_files(sequences):
  """Bars Magenta drops are counted by reason, never raised: too few instruments (one kept),
  pitches out of 0..127, and a time signature the 96-step bar does not fit."""
  converter = _converter(CONFIG)
  name = 'freedoom_d_map29.mid'  # every bar gives a window
  whole = converter.extract(sequences[name])
  assert len(whole.windows) == 56 and not whole.skipped
  one = type(sequences[name])()
  one.CopyFrom(sequences[name])
  first = one.notes[0].instrument
  kept = [n for n in one.notes if n.instrument == first]
  del one.notes[:]
  one.notes.extend(kept)
  got = converter.extract(one)
  assert not got.windows and got.skipped['too_few_instruments'] > 0
  high = type(one)()
  high.CopyFrom(sequences[name])
  high.notes[0].pitch = 128
  got = converter.extract(high)
  assert len(got.windows) == 55 and got.skipped == {'pitch_out_of_range': 1}
  waltz = type(one)()
  waltz.CopyFrom(sequences[name])
  for ts in waltz.time_signatures:
    ts.numerator = 3
  got = converter.extract(waltz)
  assert not got.windows and set(got.skipped) == {'steps_per_bar_not_96'}


def test_two_bar_hops_in_one_bar_chunks(sequences):
  """hop_size_bars=2 in 1-bar chunks: 16 track slots (8 instruments x 2 chunks) of 64 rows, and
  a decoded window reads back as itself."""
  converter = multiperf.MultiPerformanceConverter(hop_size_bars=2, chunk_size_bars=1)
  assert converter.max_seq_len == 1024 and converter.level_lengths == (16, 64)
  windows = converter.extract(sequences['freedoom_d_map29.mid']).windows
  assert len(windows) == 28 and windows[0].shape == (1024, 1)
  assert converter.track_lengths(windows[0]).shape == (16,)
  for w in windows[:5]:
    np.testing.assert_array_equal(converter.extract(converter.from_labels(w)).windows[0], w)


@pytest.mark.parametrize('name', [CONFIG, 'hier-multiperf_vel_1bar_big', CHORDS,
                                  'hier-multiperf_vel_1bar_big_chords'])
@pytest.mark.parametrize('variant', ['', ':tiny'])
def test_configs_give_magentas_spec(name, variant):
  config = config_lib.get_config(name + variant)
  run = config_boundary.run_spec(config)
  chords = name.endswith('_chords')
  assert run.data.converter == 'multiperf' and run.data.seq_len == 512
  assert run.data.multiperf_levels == (8, 64) and run.data.transpose_range == (-3, 3)
  assert run.data.steps_per_quarter == 24
  model = run.model
  assert model.heads == (specs.Head('categorical', 490),)
  assert model.input == specs.StepInput('one_hot', 490)
  assert (model.encoder.kind, model.encoder.level_lengths) == ('hierarchical_lstm', (64, 8))
  assert (model.decoder.kind, model.decoder.level_lengths) == ('hierarchical', (8, 64))
  assert model.seq_len == 512
  assert model.controls == ((specs.Control('chords', 49),) if chords else ())
  if not variant:
    big = '_big' in name
    assert model.encoder.sizes == ((2048,) if big else (1024,))
    assert model.decoder.sizes == ((1024,) * 3 if big else (512,) * 3)
    assert (model.z_size, run.train.batch_size) == (512, 256)
    assert (run.loss.free_bits, run.loss.max_beta, run.loss.beta_rate) == (0.0, 1.0, 0.0)
  else:
    assert len(model.decoder.sizes) == 3 and model.z_size < 512
  converter = config_boundary.converter_of(config)
  assert converter.max_seq_len == model.seq_len and converter.control_depth == (
      49 if chords else 0)


def test_other_models_of_multiperf_windows_are_refused():
  """A flat or split decoder, a flat encoder, dropout or stale stated levels: a ModelConfigError
  naming the field; 'hierarchical_lstm' on another converter's windows too."""
  for key, value, match in (('decoder', 'categorical_lstm', 'model.decoder'),
                            ('decoder', 'hierarchical_split', 'model.decoder'),
                            ('encoder', 'bidirectional_lstm', 'model.encoder'),
                            ('encoder', 'lstm', 'model.encoder'),
                            ('dropout_keep_prob', 0.5, 'model.dropout_keep_prob'),
                            ('level_lengths', (16, 16), 'model.level_lengths'),
                            ('max_seq_len', 256, 'model.max_seq_len')):
    config = config_lib.get_config(f'{CONFIG}:tiny')
    config.model[key] = value
    with pytest.raises(config_boundary.ModelConfigError, match=match):
      config_boundary.model_spec(config)
  config = config_lib.get_config(f'{CONFIG}:tiny')
  config.model.level_lengths, config.model.max_seq_len = (8, 64), 512  # agreeing: accepted
  assert config_boundary.model_spec(config).seq_len == 512
  config = config_lib.get_config('hierdec-mel_16bar:tiny')
  config.model.encoder = 'hierarchical_lstm'
  with pytest.raises(config_boundary.ModelConfigError, match="data.converter='melody'"):
    config_boundary.model_spec(config)
  for key, value, match in (('chord_encoding', 'seventh', 'chord_encoding'),
                            ('hop_size_bars', 2, 'hop_size_bars'),
                            ('max_tensors_per_notesequence', 5, 'max_tensors_per_notesequence')):
    config = config_lib.get_config(CONFIG)
    config.data[key] = value
    with pytest.raises(ConverterConfigError, match=match):
      config_boundary.data_spec(config.data)


def test_vocabulary_names_every_token():
  assert (VOCAB.num_events, VOCAB.first_program, VOCAB.drum_program, VOCAB.end, VOCAB.depth) == (
      360, 360, 488, 489, 490)
  assert [VOCAB.describe(t) for t in (0, 60, 128, 255, 256, 351, 352, 359, 393, 488, 489, -1)] == [
      'note_on 0', 'note_on 60', 'note_off 0', 'note_off 127', 'shift 1', 'shift 96',
      'velocity 1', 'velocity 8', 'program 33', 'drums', 'end', 'pad']


def test_transposing_a_window_is_transposing_the_notes(sequences, extracted):
  """``transpose`` moves the pitched tracks' note-ons and note-offs (drums stay), as Magenta's
  augmenter does before extracting: the windows of a transposed file are the transposed
  windows; a shift that takes a note out of 0..127 gives None."""
  from note_seq import sequences_lib  # pylint: disable=import-outside-toplevel
  converter = _converter(CONFIG)
  compared = 0
  for name in CHORD_FILES[:5] + ('freedoom_d_map29.mid',):
    for shift in (-3, 2):
      moved, _ = sequences_lib.transpose_note_sequence(sequences[name], shift)
      want = [converter.transpose(w, shift) for w in extracted[name].windows]
      assert all(w is not None for w in want)
      assert mref.multiset(converter.extract(moved).windows) == mref.multiset(want), name
      compared += len(want)
  assert compared > 200
  window = next(w for w in extracted['freedoom_d_map29.mid'].windows
                if (w[::64, 0] == VOCAB.drum_program).any())
  up = converter.transpose(window, 2)
  drums = np.repeat(window[::64, 0] == VOCAB.drum_program, 64)
  notes = (window[:, 0] >= 0) & (window[:, 0] < VOCAB.time_shift)
  np.testing.assert_array_equal(up[drums | ~notes], window[drums | ~notes])
  np.testing.assert_array_equal(up[~drums & notes], window[~drums & notes] + 2)
  assert converter.transpose(window, 200) is None
  pad = window[:, 0] == -1
  chords = np.stack([window[:, 0], np.where(pad, -1, np.resize([0, 1, 12, 13, 48], 512))], -1)
  moved = _converter(CHORDS).transpose(chords.astype(np.int16), 1)
  np.testing.assert_array_equal(moved[:, 1], np.where(pad, -1, np.resize([0, 2, 1, 14, 37], 512)))
