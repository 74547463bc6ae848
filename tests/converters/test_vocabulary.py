"""Each converter's kind and vocabulary, against facts stated independently of the package.

The round trips put every label of a vocabulary, a few at a time on the beats, into a real window
from the shared data, and check that decoding writes the note the label means and that encoding
the decoded sequence gives the labels back.
"""

import subprocess
import sys
import warnings

import numpy as np
import pytest

from musicvae_jax import config_lib
from musicvae_jax.converters import drums, melody, trio, vocabulary
import magenta_reference as mref

with warnings.catch_warnings():
  warnings.simplefilter('ignore', RuntimeWarning)
  from note_seq import drums_encoder_decoder
  from note_seq import melodies_lib
  from note_seq import melody_encoder_decoder

STEP_SECONDS = 60 / 120 / 4  # decoded at 120 qpm, 4 steps per quarter
BEAT = 4  # steps


def test_kinds():
  assert melody.MelodyConverter.kind == 'melody'
  assert drums.DrumsConverter.kind == 'drums'
  assert trio.TrioConverter.kind == 'trio'


def test_melody_vocabulary():
  vocab = melody.MelodyConverter.vocabulary
  assert (vocab.min_pitch, vocab.max_pitch) == (21, 108)  # the piano's range
  assert vocab.depth == 90 == 2 + 108 - 21 + 1
  assert melody.MelodyConverter(slice_bars=2).part_depths == (90,)
  # Magenta encodes melodies with note_seq's one-hot encoding over [21, 109).
  encoding = melody_encoder_decoder.MelodyOneHotEncoding(21, 109)
  assert encoding.num_classes == vocab.depth
  assert encoding.encode_event(melodies_lib.MELODY_NO_EVENT) == vocab.NO_EVENT == 0
  assert encoding.encode_event(melodies_lib.MELODY_NOTE_OFF) == vocab.NOTE_OFF == 1
  for pitch in range(21, 109):
    label = encoding.encode_event(pitch)
    assert vocab.onset_label(pitch) == label == pitch - 21 + 2
    assert vocab.onset_pitch(label) == pitch and vocab.is_onset(label)
  assert not vocab.has_pitch(20) and vocab.has_pitch(21) and vocab.has_pitch(108)
  assert not vocab.has_pitch(109)


def test_drum_vocabulary():
  vocab = drums.DrumsConverter.vocabulary
  table = drums_encoder_decoder.DEFAULT_DRUM_TYPE_PITCHES
  assert [list(pitches) for pitches in vocab.pitch_classes] == [list(p) for p in table]
  assert config_lib.REDUCED_DRUM_PITCH_CLASSES == vocab.pitch_classes
  assert vocab.num_classes == 9 and vocab.depth == 512
  assert drums.DrumsConverter(slice_bars=2).part_depths == (512,)
  assert vocab.exemplar_pitches == tuple(pitches[0] for pitches in table)
  # A step's label is note_seq's multi-drum one-hot of the pitches hit on it.
  encoding = drums_encoder_decoder.MultiDrumOneHotEncoding()
  for pitch, cls in vocab.pitch_to_class.items():
    assert encoding.encode_event(frozenset([pitch])) == 2 ** cls
  assert len(vocab.pitch_to_class) == sum(len(p) for p in table)


def test_trio_vocabulary():
  vocab = trio.TrioConverter.vocabulary
  assert vocab.part_depths == (90, 90, 512)
  assert trio.TrioConverter(slice_bars=16).part_depths == (90, 90, 512)
  assert vocab.parts == (melody.MelodyConverter.vocabulary, melody.MelodyConverter.vocabulary,
                         drums.DrumsConverter.vocabulary)
  assert vocab.melody_programs == tuple(range(0, 32))
  assert vocab.bass_programs == tuple(range(32, 40))
  assert config_lib.MEL_PROGRAMS == vocab.melody_programs


def test_converters_do_not_import_config_lib():
  code = ('import sys; import musicvae_jax.converters.trio, musicvae_jax.converters.midi_io; '
          'assert "musicvae_jax.config_lib" not in sys.modules')
  subprocess.run([sys.executable, '-c', code], check=True, capture_output=True)


# ---- every label through from_labels / to_labels --------------------------------------------
def _with_every_label(window: np.ndarray, column: int, depth: int):
  """Copies of ``window``, each with successive labels of range(depth) on the beats of ``column``.

  Yields (window, {step: label}) until every label has been placed once.
  """
  beats = list(range(0, len(window), BEAT))
  for first in range(0, depth, len(beats)):
    placed = dict(zip(beats, range(first, min(first + len(beats), depth))))
    out = window.copy()
    for step, label in placed.items():
      out[step, column] = label
    yield out, placed


def _pitches_starting_at(ns, step: int, **where) -> set[int]:
  return {n.pitch for n in ns.notes
          if abs(n.start_time - step * STEP_SECONDS) < 1e-6
          and all(getattr(n, k) == v for k, v in where.items())}


def _melody_meaning(label: int) -> set[int]:
  return {label - 2 + 21} if label >= 2 else set()


def _drum_meaning(label: int) -> set[int]:
  table = drums_encoder_decoder.DEFAULT_DRUM_TYPE_PITCHES
  return {table[c][0] for c in range(9) if label >> c & 1}


def _first_window(converter, path):
  windows = converter.extract(mref.note_sequence(str(path))).windows
  assert windows, path
  return windows[0]


def test_every_melody_label_round_trips(shared_midi):
  conv = melody.MelodyConverter(slice_bars=2)
  window = _first_window(conv, shared_midi / 'melody' / 'nottingham_reelsa-c1.mid')
  for labels, placed in _with_every_label(window, 0, conv.vocabulary.depth):
    ns = conv.from_labels(labels)
    for step, label in placed.items():
      assert _pitches_starting_at(ns, step) == _melody_meaning(label), (step, label)
    np.testing.assert_array_equal(conv.to_labels(ns), melody.canonical_melody_labels(labels))


def test_every_drum_label_round_trips(shared_midi):
  conv = drums.DrumsConverter(slice_bars=2)
  path = sorted((shared_midi / 'drums').glob('*.mid'))[0]
  window = _first_window(conv, path)
  for labels, placed in _with_every_label(window, 0, conv.vocabulary.depth):
    ns = conv.from_labels(labels)
    for step, label in placed.items():
      assert _pitches_starting_at(ns, step) == _drum_meaning(label), (step, label)
    np.testing.assert_array_equal(conv.to_labels(ns), labels)


@pytest.mark.parametrize('column,instrument', [(0, 0), (1, 1), (2, 9)])
def test_every_trio_label_round_trips(shared_midi, column, instrument):
  conv = trio.TrioConverter(slice_bars=16)
  window = _first_window(conv, shared_midi / 'multitrack' / 'freedoom_d_map03.mid')
  meaning = _drum_meaning if column == 2 else _melody_meaning
  for labels, placed in _with_every_label(window, column, conv.part_depths[column]):
    ns = conv.from_labels(labels)
    for step, label in placed.items():
      got = _pitches_starting_at(ns, step, instrument=instrument)
      assert got == meaning(label), (column, step, label)
    want = labels.copy()
    want[:, :2] = melody.canonical_melody_labels(labels[:, :2])
    np.testing.assert_array_equal(conv.to_labels(ns), want)
