"""GrooveConverter against Magenta's own GrooVAE windows (shared/reference/magenta_windows).

The reference holds every window of five GrooVAE configs (inputs, targets and hit controls) for
every file of drums/ and multitrack/. Here every fourth file of each folder is compared (reading
the reference files whole takes about a minute); ``bench/groove_windows.py`` compares them all.
Note dropout is random in Magenta and has no reference: its config is compared with the dropout
probability held at 0, and its dropout checked for seeding and for its rates.
"""

import gzip
import json
import re
import warnings

import numpy as np
import pytest

from musicvae_jax import config_lib
from musicvae_jax.converters import groove
from musicvae_jax.converters import midi_io
from musicvae_jax.converters import vocabulary

with warnings.catch_warnings():
  warnings.simplefilter('ignore', RuntimeWarning)
  import note_seq

FOLDERS = ('drums', 'multitrack')
# Our config -> the Magenta config whose windows the reference holds.
REFERENCE = {'groovae_4bar': 'groovae_4bar', 'groovae_2bar_humanize': 'groovae_2bar_humanize',
             'groovae_2bar_tap_fixed_velocity': 'groovae_2bar_tap_fixed_velocity',
             'groovae_2bar_add_closed_hh': 'groovae_2bar_add_closed_hh',
             'groovae_2bar_hits_control': 'groovae_2bar_hits_control_tfds'}
DROPOUT_CONFIG = 'groovae_2bar_tap_fixed_velocity_note_dropout'
EVERY = 4  # files compared: every EVERY-th of each folder, in name order
TOL = 1e-5  # the reference's tolerance (values are rounded to 6 decimals)
# Data fields that are not converter options (as config_boundary's DataSpec takes them).
NOT_OPTIONS = ('converter', 'transpose_range', 'eval_fraction', 'split_seed')


def converter_of(name: str, **overrides) -> groove.GrooveConverter:
  """The converter a config's data section describes."""
  data = config_lib.get_config(name).data
  options = {k: v for k, v in data.items() if k not in NOT_OPTIONS}
  return groove.GrooveConverter(**dict(options, **overrides))


def reference_records(path, names) -> dict[str, dict]:
  """The reference records of the files in ``names`` (other lines are not parsed)."""
  out = {}
  with gzip.open(path, 'rt') as fh:
    for line in fh:
      name = re.match(r'\{\s*"file"\s*:\s*"([^"]+)"', line).group(1)
      if name in names:
        out[name] = json.loads(line)
  return out


@pytest.fixture(scope='module')
def sequences(shared_midi):
  """{folder: {file name: NoteSequence}} for every EVERY-th file, read by the fast reader."""
  return {folder: {p.name: midi_io.read_midi(p, parser='fast')
                   for p in sorted((shared_midi / folder).glob('*.mid'))[::EVERY]}
          for folder in FOLDERS}


@pytest.fixture(scope='module')
def extracted(sequences):
  """{(config, folder): {file name: Extraction}}."""
  return {(name, folder): {n: converter_of(name).extract(s) for n, s in seqs.items()}
          for name in [*REFERENCE, DROPOUT_CONFIG] for folder, seqs in sequences.items()}


@pytest.fixture(scope='module')
def distinct_windows(extracted):
  """Every distinct target window of the sample, 2-bar and 4-bar."""
  out = {}
  for name in ('groovae_2bar_humanize', 'groovae_4bar'):
    seen = {}
    for folder in FOLDERS:
      for extraction in extracted[(name, folder)].values():
        for w in extraction.windows:
          seen.setdefault(w.tobytes(), w)
    out[name] = list(seen.values())
  return out


def _assert_close(ours, theirs, what):
  theirs = np.asarray(theirs, np.float32).reshape(ours.shape)
  diff = np.abs(ours - theirs)
  worst = np.unravel_index(diff.argmax(), diff.shape)
  assert diff.max(initial=0.0) <= TOL, f'{what}: differs by {diff.max()} at (step, column) {worst}'


def _compare(name, ours, reference, window_inputs):
  """Per file: the same windows in the same (time) order, or no windows where Magenta raised."""
  converter = converter_of(name)
  compared = 0
  for file, record in sorted(reference.items()):
    extraction = ours[file]
    if record['status'] != 'ok':
      assert record['error'].startswith('KeyError'), record
      assert not extraction.windows and extraction.skipped == {'unmapped_pitch': 1}, file
      continue
    assert 'unmapped_pitch' not in extraction.skipped, file
    assert len(extraction.windows) == record['n_windows'], (
        f'{file}: {len(extraction.windows)} windows, Magenta {record["n_windows"]}')
    for i, (w, ref) in enumerate(zip(extraction.windows, record['windows'])):
      inputs, outputs, controls = window_inputs(converter, w)
      _assert_close(outputs, ref['out'], f'{file} window {i} out')
      _assert_close(inputs, ref['in'], f'{file} window {i} in')
      if converter.hits_as_controls:
        _assert_close(controls, ref['ctl'], f'{file} window {i} ctl')
      else:
        assert 'ctl' not in ref and controls.shape == (converter.max_seq_len, 0)
      compared += 1
  return compared


@pytest.mark.slow
@pytest.mark.parametrize('folder', FOLDERS)
@pytest.mark.parametrize('name', list(REFERENCE))
def test_windows_match_magenta(name, folder, extracted, magenta_windows_dir):
  ours = extracted[(name, folder)]
  reference = reference_records(magenta_windows_dir / f'{REFERENCE[name]}__{folder}.jsonl.gz',
                                set(ours))
  assert sorted(reference) == sorted(ours)
  compared = _compare(name, ours, reference, lambda c, w: c.window_tensors(w))
  if folder == 'drums':
    assert compared > (1000 if name == 'groovae_4bar' else 2000)
    assert sum(r['status'] != 'ok' for r in reference.values()) >= 10
  else:  # Magenta gets no GrooVAE window from multitrack/ (pitches, tempo and metre changes)
    assert compared == 0


@pytest.mark.slow
def test_note_dropout_config_at_probability_zero_is_the_tap_config(extracted,
                                                                   magenta_windows_dir):
  """The dropout config is the tap config plus dropout: with the probability held at 0 its
  inputs are Magenta's tap_fixed_velocity inputs, through the dropout code path."""
  ours = extracted[(DROPOUT_CONFIG, 'drums')]
  reference = reference_records(
      magenta_windows_dir / 'groovae_2bar_tap_fixed_velocity__drums.jsonl.gz', set(ours))
  rng = np.random.default_rng(0)
  compared = _compare(DROPOUT_CONFIG, ours, reference,
                      lambda c, w: c.window_tensors(w, rng, dropout_probability=0.0))
  assert compared > 2000


def test_note_dropout_needs_an_rng():
  converter = converter_of(DROPOUT_CONFIG)
  assert converter.note_dropout and converter.max_note_dropout_probability == 0.8
  with pytest.raises(ValueError, match='rng'):
    converter.window_tensors(np.zeros((32, 27), np.float32))


@pytest.mark.slow
def test_note_dropout_is_seeded_and_drops_quiet_notes_more(distinct_windows):
  converter = groove.GrooveConverter(split_bars=2, max_note_dropout_probability=0.8)
  windows = np.stack(distinct_windows['groovae_2bar_humanize'])
  hits = windows[..., :9] == 1

  def inputs(seed):
    rng = np.random.default_rng(seed)
    return np.stack([converter.window_tensors(w, rng)[0] for w in windows])

  first, again, other = inputs(0), inputs(0), inputs(1)
  np.testing.assert_array_equal(first, again)
  assert not np.array_equal(first, other)
  kept = np.concatenate([first[..., :9] == 1] * 3, axis=-1)
  assert not np.any(first[..., :9][~hits])  # nothing added
  np.testing.assert_array_equal(first[kept], windows[kept])  # kept notes unchanged
  assert not np.any(first[~kept])  # dropped notes wholly zero
  # Each hit is dropped with probability max(0.2, 1 - velocity) * p, p ~ U(0, 0.8): mean 0.4 p.
  velocity = windows[..., 9:18][hits]
  dropped = (first[..., :9] == 0)[hits]
  expected = np.maximum(0.2, 1 - velocity) * 0.4
  assert hits.sum() > 50_000
  for band in (velocity < 0.4, velocity > 0.8, np.ones_like(velocity, bool)):
    assert abs(dropped[band].mean() - expected[band].mean()) < 0.015
  assert dropped[velocity < 0.4].mean() > 2 * dropped[velocity > 0.8].mean()


@pytest.mark.slow
def test_tapped_note_dropout_inputs(distinct_windows):
  converter = converter_of(DROPOUT_CONFIG)
  rng = np.random.default_rng(0)
  for w in distinct_windows['groovae_2bar_humanize'][:3000]:
    inputs, outputs, controls = converter.window_tensors(w, rng)
    assert controls.shape == (32, 0)
    assert not np.any(np.delete(inputs, [3, 21], axis=1))  # only class 3's hit and offset
    tapped = inputs[:, 3] == 1
    assert np.all(outputs[tapped, :9].any(axis=1))  # a tap only where the target has a hit


@pytest.mark.slow
def test_whole_sequence_tensors_equal_the_window_tensors(sequences, extracted):
  for name in REFERENCE:
    converter = converter_of(name)
    for file, sequence in list(sequences['drums'].items())[:60]:
      tensors = converter.to_tensors(sequence)
      windows = extracted[(name, 'drums')][file].windows
      assert len(tensors.outputs) == len(windows) == len(tensors.inputs) == len(tensors.lengths)
      for w, i, o, c in zip(windows, tensors.inputs, tensors.outputs, tensors.controls):
        expected = converter.window_tensors(w)
        for a, b in zip((i, o, c), expected):
          np.testing.assert_array_equal(a, b)


@pytest.mark.slow
@pytest.mark.parametrize('name', ['groovae_2bar_humanize', 'groovae_4bar'])
def test_windows_round_trip_through_note_sequences(name, distinct_windows):
  """Hits and velocities exactly, offsets to the reference's tolerance (a hit half a step late
  comes back a millionth of a step earlier, on its own step); an early hit on step 0 (which would
  start before the window) comes back on the grid."""
  converter = converter_of(name)
  windows = distinct_windows[name]
  assert len(windows) > (1000 if name == 'groovae_4bar' else 2000)
  half_step_late = sum(w[:, 18:].min() == -1 for w in windows)
  assert half_step_late > 10
  early_first_steps = 0
  for w in windows:
    back = converter.to_window(converter.from_window(w))
    expected = w.copy()
    early = expected[0, 18:] > 0
    early_first_steps += early.any()
    expected[0, 18:][early] = 0.0
    np.testing.assert_array_equal(back[:, :18], expected[:, :18])
    np.testing.assert_allclose(back[:, 18:], expected[:, 18:], rtol=0, atol=TOL)
  assert early_first_steps > 0


@pytest.mark.slow
def test_windows_round_trip_through_midi_files(distinct_windows, tmp_path):
  converter = converter_of('groovae_2bar_humanize')
  # note-seq writes 220 ticks a quarter: 55 a step, so an onset moves by at most half a tick
  # (and one within that of half a step early or late may cross to the next step: left out).
  offset_tol = 2 * 0.5 / 55 + 1e-9
  windows = [w for w in distinct_windows['groovae_2bar_humanize']
             if np.abs(w[:, 18:]).max() < 1 - offset_tol]
  for i in np.random.default_rng(0).choice(len(windows), 100, replace=False):
    path = tmp_path / f'{i}.mid'
    note_seq.sequence_proto_to_midi_file(converter.from_window(windows[i]), str(path))
    back = converter.to_window(midi_io.read_midi(path, parser='fast'))
    expected = windows[i].copy()
    expected[0, 18:] = np.minimum(expected[0, 18:], 0.0)
    np.testing.assert_array_equal(back[:, :18], expected[:, :18])
    np.testing.assert_allclose(back[:, 18:], expected[:, 18:], rtol=0, atol=offset_tol)


def _groove_sequence(notes, *, qpm=120.0, extra_tempo=None, numerator=4):
  """A sequence of (pitch, start in steps, velocity, is_drum) notes, one step long."""
  ns = note_seq.NoteSequence(ticks_per_quarter=220)
  ns.tempos.add(qpm=qpm)
  if extra_tempo:
    ns.tempos.add(time=extra_tempo[0], qpm=extra_tempo[1])
  ns.time_signatures.add(numerator=numerator, denominator=4)
  step = 60.0 / qpm / 4
  for pitch, start, velocity, is_drum in notes:
    ns.notes.add(pitch=pitch, start_time=start * step, end_time=(start + 1) * step,
                 velocity=velocity, is_drum=is_drum, instrument=9)
  ns.total_time = max((n.end_time for n in ns.notes), default=0.0)
  return ns


def test_encoding_of_a_small_groove():
  converter = groove.GrooveConverter(split_bars=2, inference_pitch_classes='reduced')
  ns = _groove_sequence([
      (36, 0, 100, True),
      (38, 3.8, 50, True), (40, 4.1, 90, True),  # two snares on step 4: the louder wins
      (42, 5.25, 64, False),  # not flagged as a drum: looked up all the same, as Magenta does
      (58, 10, 70, True),  # low tom: Roland's first pitch 43, General MIDI's 45
      (51, 31, 127, True),
  ])
  (window,) = converter.extract(ns).windows
  assert window.shape == (32, 27) and window.dtype == np.float32
  hit_cells = {tuple(c) for c in np.argwhere(window[:, :9])}
  assert hit_cells == {(0, 0), (4, 1), (5, 2), (10, 4), (31, 8)}
  np.testing.assert_allclose(window[4, [9 + 1, 18 + 1]], [90 / 127, -0.2], atol=1e-6)
  np.testing.assert_allclose(window[5, [9 + 2, 18 + 2]], [64 / 127, -0.5], atol=1e-6)
  assert window[0, 18] == 0 and window[31, 9 + 8] == 1.0
  # Decoded with the first pitch of each Roland class; in inference, of each GM class.
  notes = [(n.pitch, n.velocity, round(n.start_time, 6))
           for n in converter.from_window(window).notes]
  assert notes == [(36, 100, 0.0), (38, 90, round(4.1 * 0.125, 6)), (42, 64, 0.65625),
                   (43, 70, 1.25), (51, 127, 3.875)]
  inference = converter.for_inference()
  assert [n.pitch for n in inference.from_window(window).notes] == [36, 38, 42, 45, 51]
  assert inference.pitch_classes == vocabulary.REDUCED_DRUM_PITCH_CLASSES
  assert converter.pitch_classes == vocabulary.ROLAND_DRUM_PITCH_CLASSES


def test_hop_size_gives_overlapping_windows():
  notes = [(36, s, 100, True) for s in range(0, 64, 3)]
  plain = groove.GrooveConverter(split_bars=2).extract(_groove_sequence(notes)).windows
  sliding = groove.GrooveConverter(split_bars=2, hop_size=16).extract(
      _groove_sequence(notes)).windows
  assert len(plain) == 2 and len(sliding) == 3
  np.testing.assert_array_equal(sliding[1][:16], plain[0][16:])
  np.testing.assert_array_equal(sliding[1][16:], plain[1][:16])


@pytest.mark.parametrize('notes,kwargs,reason', [
    ([], {}, 'no_notes'),
    ([(36, 0, 100, True), (35, 8, 100, True)], {}, 'unmapped_pitch'),
    ([(36, s, 100, True) for s in range(0, 64, 4)], {'extra_tempo': (4.0, 90.0)},
     'multiple_tempos'),
    ([(36, s, 100, True) for s in range(0, 48, 4)], {'numerator': 3}, 'steps_per_bar_not_16'),
    ([(36, s, 100, True) for s in range(0, 16, 4)], {}, 'shorter_than_window'),
])
def test_sequences_that_give_nothing_say_why(notes, kwargs, reason):
  extraction = groove.GrooveConverter(split_bars=2).extract(_groove_sequence(notes, **kwargs))
  assert extraction.windows == [] and extraction.skipped == {reason: 1}


def test_the_same_groove_without_the_tempo_change_gives_windows():
  notes = [(36, s, 100, True) for s in range(0, 64, 4)]
  extraction = groove.GrooveConverter(split_bars=2).extract(_groove_sequence(notes))
  assert len(extraction.windows) == 2 and not extraction.skipped


def test_a_real_file_with_pitches_outside_the_roland_map(shared_midi, magenta_windows_dir):
  name = 'freedoom_d_dm02_drumtrack.mid'
  record = reference_records(magenta_windows_dir / 'groovae_2bar_humanize__drums.jsonl.gz',
                             {name})[name]
  assert record['error'] == 'KeyError: 54'  # Magenta raises; we count it
  sequence = midi_io.read_midi(shared_midi / 'drums' / name, parser='fast')
  converter = converter_of('groovae_2bar_humanize')
  extraction = converter.extract(sequence)
  assert extraction.windows == [] and extraction.skipped == {'unmapped_pitch': 1}
  with pytest.raises(groove.UnmappedPitchError, match='pitch 54 is in no class'):
    converter.to_window(sequence)
  # The General MIDI map of inference has a class for every pitch of this file.
  assert len(converter.for_inference().extract(sequence).windows) > 10


def test_a_midi_file_without_notes_is_refused_by_the_reader(tmp_path):
  path = tmp_path / 'empty.mid'
  note_seq.sequence_proto_to_midi_file(_groove_sequence([]), str(path))
  with pytest.raises(midi_io.MidiReadError) as err:
    midi_io.read_midi(path, parser='fast')
  assert err.value.reason == 'no_notes'


@pytest.mark.slow
def test_files_without_windows_have_a_reason(extracted):
  for (name, folder), per_file in extracted.items():
    for file, extraction in per_file.items():
      assert bool(extraction.windows) != bool(extraction.skipped), (name, folder, file)


@pytest.mark.parametrize('kwargs,match', [
    ({'split_bars': 2, 'slice_bars': 4}, 'give one'),
    ({}, 'positive'),
    ({'split_bars': 2, 'add_instruments': [9]}, 'class 9'),
    ({'split_bars': 2, 'pitch_classes': 'gm'}, "'roland'"),
    ({'split_bars': 2, 'inference_pitch_classes': [[36]]}, 'same number'),
    ({'split_bars': 2, 'max_note_dropout_probability': 1.5}, 'within'),
])
def test_bad_options_are_refused(kwargs, match):
  with pytest.raises(ValueError, match=match):
    groove.GrooveConverter(**kwargs)


@pytest.mark.parametrize('name', [*REFERENCE, DROPOUT_CONFIG])
def test_configs_carry_magentas_hyperparameters(name):
  config = config_lib.get_config(name)
  tiny = config_lib.get_config(f'{name}:tiny')
  assert config.name == name and tiny.name == f'{name}:tiny'
  m = config.model
  assert (m.encoder, m.decoder, m.enc_rnn_size, m.dec_rnn_size, m.z_size) == (
      'bidirectional_lstm', 'groove_lstm', (512,), (256, 256), 256)
  assert (m.free_bits, m.max_beta, m.beta_rate, m.dropout_keep_prob) == (48, 0.2, 0.0, 0.3)
  assert (m.sampling_schedule, config.train.batch_size, config.train.learning_rate) == (
      'constant', 512, 1e-3)
  assert tiny.data.to_dict() == config.data.to_dict()
  converter = converter_of(name)
  assert converter.max_seq_len == (64 if name == 'groovae_4bar' else 32)
  assert (converter.input_depth, converter.output_depth) == (27, 27)
  assert converter.control_depth == (9 if name == 'groovae_2bar_hits_control' else 0)
  assert converter.inference_pitch_classes == vocabulary.REDUCED_DRUM_PITCH_CLASSES


def test_magentas_tfds_name_of_the_hits_control_config():
  config = config_lib.get_config('groovae_2bar_hits_control_tfds:tiny')
  assert config.name == 'groovae_2bar_hits_control:tiny' and config.data.hits_as_controls
  assert config_lib.config_path('groovae_2bar_hits_control_tfds').endswith(
      'groovae_2bar_hits_control.py')
  names = config_lib.config_names()
  assert set(REFERENCE) | {DROPOUT_CONFIG} <= set(names)
  assert 'groovae_2bar_hits_control_tfds' not in names
