"""The nade-drums converter (drum rolls) against Magenta's own windows
(shared/reference/magenta_windows, nade-drums_2bar_reduced and nade-drums_2bar_full).

A subsample of the shared files (every STRIDE-th of drums/ and multitrack/, with and without
windows) is compared here, window multiset for window multiset; bench/nade_windows.py runs
every file. The reduced config's windows are also the drums converter's, as bit sets.
"""

import collections

import numpy as np
import pytest

from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax.converters import ConverterConfigError
from musicvae_jax.converters import drum_roll
from musicvae_jax.converters import drums
from musicvae_jax.converters import midi_io
from musicvae_jax.converters import vocabulary
import magenta_reference as mref

CONFIGS = ('nade-drums_2bar_reduced', 'nade-drums_2bar_full')
STRIDE = {'drums': 5, 'multitrack': 3}


def _converter(name):
  return config_boundary.converter_of(config_lib.get_config(name))


@pytest.fixture(scope='module')
def sequences(shared_midi):
  """{folder: {file name: NoteSequence}} for every STRIDE-th file, read once for both configs."""
  out = {}
  for folder, stride in STRIDE.items():
    paths = sorted((shared_midi / folder).glob('*.mid'))[::stride]
    out[folder] = {p.name: midi_io.read_midi(p) for p in paths}
  return out


@pytest.fixture(scope='module')
def extracted(sequences):
  """{(config, folder): {file name: Extraction}}."""
  out = {}
  for name in CONFIGS:
    converter = _converter(name)
    for folder, seqs in sequences.items():
      out[(name, folder)] = {f: converter.extract(ns) for f, ns in seqs.items()}
  return out


def _as_reference(extraction):
  """A file's windows in the reference's encoding: per step sum(2**class)."""
  return collections.Counter(tuple(int(v) for v in drum_roll.roll_to_labels(w))
                             for w in extraction.windows)


@pytest.mark.parametrize('folder', list(STRIDE))
@pytest.mark.parametrize('name', CONFIGS)
def test_windows_match_magenta(name, folder, extracted, magenta_windows_dir):
  reference = mref.load(magenta_windows_dir / f'{name}__{folder}.jsonl.gz')
  ours = extracted[(name, folder)]
  assert set(ours) <= set(reference)
  bad = [f'{f}: ours {len(e.windows)}, Magenta {reference[f]["n_windows"]}'
         for f, e in sorted(ours.items())
         if _as_reference(e) != mref.reference_multiset(reference[f])]
  assert not bad, f'{len(bad)}/{len(ours)} files differ from Magenta; first: ' + '; '.join(
      bad[:5])
  windows = sum(len(e.windows) for e in ours.values())
  without = sum(not e.windows for e in ours.values())
  if folder == 'drums':  # the subsample holds files with and without windows
    assert windows > 2500 and without > 50
  else:
    assert windows > 400
  if name.endswith('_full'):  # classes past the reduced nine are really hit
    assert any(w[:, 9:].any() for e in ours.values() for w in e.windows)


@pytest.mark.parametrize('name,depth', [(CONFIGS[0], 9), (CONFIGS[1], 61)])
def test_window_shapes_depths_and_skip_reasons(name, depth, extracted):
  converter = _converter(name)
  assert isinstance(converter, drum_roll.DrumRollConverter)
  assert (converter.input_depth, converter.output_depth) == (depth + 1, depth)
  assert converter.part_depths == (2,) * depth
  for folder in STRIDE:
    for f, extraction in extracted[(name, folder)].items():
      for w in extraction.windows:
        assert w.shape == (32, depth) and w.dtype == np.int16 and set(np.unique(w)) <= {0, 1}
      if not extraction.windows:
        assert sum(extraction.skipped.values()) > 0, f'{f}: no windows and no skip reason'


def test_reduced_rolls_are_the_drums_converters_labels(extracted, sequences):
  """nade-drums_2bar_reduced gives cat-drums_2bar_small's windows, each label as its 9 bits."""
  labels = drums.DrumsConverter(slice_bars=2)
  compared = 0
  for f, ns in sequences['drums'].items():
    want = [drums.labels_to_roll(w).astype(np.int16) for w in labels.extract(ns).windows]
    got = extracted[(CONFIGS[0], 'drums')][f].windows
    assert len(got) == len(want), f
    for a, b in zip(got, want):
      np.testing.assert_array_equal(a, b, err_msg=f)
      compared += 1
  assert compared > 2500


@pytest.mark.parametrize('name', CONFIGS)
def test_rolls_round_trip_through_note_sequences(name, extracted):
  """from_labels writes each class's exemplar pitch; to_labels reads the same roll back."""
  converter = _converter(name)
  distinct = {w.tobytes(): w for e in extracted[(name, 'drums')].values() for w in e.windows}
  windows = list(distinct.values())[::4]
  assert len(windows) > 500
  for w in windows:
    ns = converter.from_labels(w)
    assert all(n.is_drum and n.velocity == 80 and n.instrument == 9 for n in ns.notes)
    assert len(ns.notes) == w.sum()
    np.testing.assert_array_equal(converter.to_labels(ns), w)


@pytest.mark.parametrize('name', CONFIGS)
def test_tensors_are_the_roll_with_a_nor_bit(name, extracted):
  converter = _converter(name)
  w = next(w for e in extracted[(name, 'drums')].values() for w in e.windows
           if (w.sum(-1) == 0).any() and (w.sum(-1) > 1).any())
  inputs, outputs = converter.labels_to_tensors(w)
  np.testing.assert_array_equal(outputs, w)
  np.testing.assert_array_equal(inputs[:, :-1], w)
  np.testing.assert_array_equal(inputs[:, -1], w.sum(-1) == 0)
  np.testing.assert_array_equal(converter.tensors_to_labels(outputs * 0.8 + 0.1), w)


def test_full_classes_are_magentas_61_general_midi_pitches():
  """One pitch a class, each a pitch of the reduced map except the hi-hats 22 and 26; decoded
  at its own pitch (the reduced map would write the class's first pitch)."""
  full = drum_roll.FULL_DRUM_PITCH_CLASSES
  pitches = [p for (p,) in full]
  reduced = set(drums.PITCH_TO_CLASS)
  assert len(full) == 61 and len(set(pitches)) == 61
  assert reduced - set(pitches) == {22, 26} and set(pitches) <= reduced
  converter = _converter(CONFIGS[1])
  roll = np.zeros((32, 61), np.int16)
  roll[np.arange(61) % 32, np.arange(61)] = 1
  ns = converter.from_labels(roll)
  assert sorted(n.pitch for n in ns.notes) == sorted(pitches)
  assert vocabulary.DrumVocabulary(full).pitch_to_class[43] == pitches.index(43)


def test_bad_options_and_mismatched_decoders_are_refused():
  """A roll converter with a class map it lacks, or without roll inputs, is a
  ConverterConfigError; a roll dataset with a categorical decoder, or the NADE over 512-way
  labels, a ModelConfigError naming both fields."""
  for key, value, match in (('pitch_classes', 'roland', 'pitch_classes'),
                            ('roll_input', False, 'roll_input')):
    config = config_lib.get_config('nade-drums_2bar_full')
    config.data[key] = value
    with pytest.raises(ConverterConfigError, match=match):
      config_boundary.data_spec(config.data)
  config = config_lib.get_config('nade-drums_2bar_reduced')
  config.model.decoder = 'categorical_lstm'
  with pytest.raises(config_boundary.ModelConfigError, match='roll_output=True'):
    config_boundary.model_spec(config)
  config = config_lib.get_config('cat-drums_2bar_small')
  config.model.decoder = 'multi_label_rnn_nade'
  config.model.nade_num_hidden = 128
  with pytest.raises(config_boundary.ModelConfigError, match='multi_label_rnn_nade'):
    config_boundary.model_spec(config)
