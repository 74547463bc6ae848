"""Chord and key vocabularies: round trips on real labels, reductions checked against note_seq."""

import mir_eval
import numpy as np
import pytest
from note_seq import chords_encoder_decoder

from musicvae_jax.chordkey import vocabulary
from tests.chordkey.pop909_songs import pop909_dir, songs  # noqa: F401  (fixtures)


def _without_bass(label):
  return label.split('/')[0]


def test_every_label_in_the_songs_round_trips(songs):
  labels = {lab for song in songs for lab in song.chord_labels_b}
  assert len(labels) > 20
  for lab in labels:
    idx = vocabulary.chord_index(lab)
    assert 0 <= idx < vocabulary.NUM_CHORDS
    assert vocabulary.chord_label(idx) == _without_bass(lab)
    if lab != 'N':  # same chord to mir_eval: root and pitch-class bitmap
      r0, b0, _ = mir_eval.chord.encode(lab)
      r1, b1, _ = mir_eval.chord.encode(vocabulary.chord_label(idx))
      assert r0 == r1 and np.array_equal(b0, b1), lab


def test_indices_are_a_bijection():
  labels = [vocabulary.chord_label(i) for i in range(vocabulary.NUM_CHORDS)]
  assert len(set(labels)) == vocabulary.NUM_CHORDS
  assert [vocabulary.chord_index(lab) for lab in labels] == list(range(vocabulary.NUM_CHORDS))
  keys = [vocabulary.key_label(i) for i in range(vocabulary.NUM_KEYS)]
  assert [vocabulary.key_index(k) for k in keys] == list(range(vocabulary.NUM_KEYS))


def _note_seq_figure(label):
  root, quality = vocabulary.split_label(label)
  suffix = {'maj': '', 'min': 'm', 'dim': 'dim', 'aug': 'aug', 'maj7': 'maj7', 'min7': 'm7',
            '7': '7', 'hdim7': 'm7b5', 'dim7': 'dim7', 'maj6': '6', 'min6': 'm6'}[quality]
  return vocabulary.ROOTS[root] + suffix


@pytest.mark.parametrize('quality', ['maj', 'min', 'dim', 'aug', 'maj7', 'min7', '7', 'hdim7',
                                     'dim7', 'maj6', 'min6'])
def test_triad_reduction_matches_note_seq(quality):
  enc = chords_encoder_decoder.TriadChordOneHotEncoding()
  assert enc.num_classes == 49
  for root in vocabulary.ROOTS:
    label = f'{root}:{quality}'
    assert vocabulary.triad_index(label) == enc.encode_event(_note_seq_figure(label)), label


def test_c_maj7_reduces_to_c_major():
  enc = chords_encoder_decoder.TriadChordOneHotEncoding()
  assert enc.decode_event(vocabulary.triad_index('C:maj7')) == 'C'
  assert vocabulary.majmin_label(vocabulary.majmin_index('C:maj7')) == 'C:maj'
  assert vocabulary.majmin_label(vocabulary.majmin_index('A:min7/b7')) == 'A:min'
  assert vocabulary.majmin_index('C:sus4') is None and vocabulary.triad_index('N') == 0


def test_majmin_reduction_agrees_with_mir_eval(songs):
  """Where mir_eval's majmin comparison accepts a reference, our reduction scores it correct."""
  refs = sorted({lab for song in songs for lab in song.chord_labels_b})
  est = [vocabulary.majmin_label(vocabulary.majmin_index(r)) if vocabulary.majmin_index(r)
         is not None else 'N' for r in refs]
  comp = mir_eval.chord.majmin(refs, est)
  for r, c in zip(refs, comp):
    if c >= 0:  # mir_eval includes this reference in majmin
      assert c == 1.0, r
      assert vocabulary.majmin_index(r) is not None


def test_key_labels_to_mir_eval():
  assert vocabulary.mir_eval_key('Db:maj') == 'Db major'
  assert vocabulary.key_index('Gb:min') == vocabulary.key_index('Gb:maj') + 12 == 18
