"""The chord-conditioned melody converter (cat-mel_2bar_med_chords) against Magenta's own windows
(shared/reference/magenta_windows/cat-mel_2bar_med_chords__*.jsonl.gz).

Chord inference is slow (1-3 files a second), so a subsample is compared here, window multiset
for window multiset: every STRIDE-th file of melody/ and the first few of every STRIDE-th of
multitrack/; bench/chord_windows.py runs every file. Also: chords read from the file's own
chord symbols, a chord that is no triad, transposition of the chord column, and decoding.
"""

import collections

import numpy as np
import pytest

from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax.converters import chords as chords_lib
from musicvae_jax.converters import midi_io
from musicvae_jax.input_pipeline import augment
import magenta_reference as mref

CONFIG = 'cat-mel_2bar_med_chords'
# folder: (stride, how many of those files)
SUBSAMPLE = {'melody': (60, None), 'multitrack': (13, 4)}


@pytest.fixture(scope='module')
def converter():
  return config_boundary.converter_of(config_lib.get_config(CONFIG))


@pytest.fixture(scope='module')
def extracted(shared_midi, converter):
  """{folder: {file name: Extraction}} of the subsample."""
  out = {}
  for folder, (stride, count) in SUBSAMPLE.items():
    paths = sorted((shared_midi / folder).glob('*.mid'))[::stride][:count]
    out[folder] = {p.name: converter.extract(midi_io.read_midi(p)) for p in paths}
  return out


@pytest.mark.parametrize('folder', list(SUBSAMPLE))
def test_windows_match_magenta(folder, extracted, magenta_windows_dir):
  reference = mref.load(magenta_windows_dir / f'{CONFIG}__{folder}.jsonl.gz')
  ours = extracted[folder]
  assert set(ours) <= set(reference)
  bad = [f'{f}: ours {len(e.windows)}, Magenta {reference[f]["n_windows"]}'
         for f, e in sorted(ours.items())
         if mref.multiset(e.windows) != mref.reference_multiset(reference[f])]
  assert not bad, f'{len(bad)}/{len(ours)} files differ from Magenta; first: ' + '; '.join(
      bad[:5])
  windows = [w for e in ours.values() for w in e.windows]
  assert len(windows) > 100
  assert all(w.shape == (32, 2) and w.dtype == np.int16 for w in windows)
  assert all((w[:, 1] >= 1).all() for w in windows)  # inferred: every step has a chord
  if folder == 'multitrack':
    # One triad spelled two ways by the inference ('F#m', 'Gbm') keeps both windows, as
    # Magenta's dedupe on chord symbols does: equal windows within one file.
    assert any(max(collections.Counter(mref.window_key(w) for w in e.windows).values()) > 1
               for e in ours.values())


def test_chord_classes_follow_the_triad_encoding():
  """49 classes: 0 no chord, then major, minor, augmented, diminished, each on C..B; other
  chord symbols reduce to their triad; a chord with no triad is refused by name."""
  assert chords_lib.CHORD_CLASSES == 49
  assert [chords_lib.chord_class(s) for s in ('N.C.', 'C', 'B', 'Cm', 'Bbm', 'Caug', 'Bdim')] == [
      0, 1, 12, 13, 23, 25, 48]
  assert chords_lib.chord_class('G7') == chords_lib.chord_class('G') == 8
  assert chords_lib.chord_class('Am7') == chords_lib.chord_class('Am') == 22
  for c in range(49):
    assert chords_lib.chord_class(chords_lib.chord_symbol(c)) == c
  with pytest.raises(chords_lib.ChordError, match="'Csus4'"):
    chords_lib.chord_class('Csus4')


def _annotated(shared_midi, symbols):
  """The first melody/ file that gives windows, with a chord symbol at every bar (cycling
  ``symbols``) in place of inference."""
  from musicvae_jax.converters import base  # pylint: disable=import-outside-toplevel
  path = sorted((shared_midi / 'melody').glob('*.mid'))[::60][1]
  sequence = midi_io.read_midi(path)
  bar = 4 * 60.0 / sequence.tempos[0].qpm if sequence.tempos else 2.0
  for i in range(int(sequence.total_time / bar) + 1):
    ta = sequence.text_annotations.add()
    ta.time, ta.text = i * bar, symbols[i % len(symbols)]
    ta.annotation_type = base.NoteSequence.TextAnnotation.CHORD_SYMBOL
  return sequence


def test_chord_symbols_in_the_file_are_used_not_inferred(shared_midi, converter):
  sequence = _annotated(shared_midi, ['C', 'G7', 'Am', 'F'])
  windows = converter.extract(sequence).windows
  assert windows
  allowed = {chords_lib.chord_class(s) for s in ('C', 'G', 'Am', 'F')}
  assert set(np.concatenate([w[:, 1] for w in windows]).tolist()) <= allowed
  # A chord symbol that is no triad: the piece gives nothing, and says why.
  refused = converter.extract(_annotated(shared_midi, ['C', 'Csus4']))
  assert not refused.windows and refused.skipped['chord_not_a_triad'] == 1


def test_transposition_moves_the_chord_roots(extracted):
  """The augmenter's shift moves each chord's root as note_seq transposes a chord symbol."""
  from note_seq import chord_symbols_lib  # pylint: disable=import-outside-toplevel
  window = next(w for e in extracted['melody'].values() for w in e.windows)
  transposer = augment.RandomTranspose((-3, 3), 'melody', chord_column=1)
  seen = set()
  for seed in range(20):
    out = transposer({'labels': window}, np.random.default_rng(seed))
    shift = int(out['transpose'])
    seen.add(shift)
    want = [chords_lib.chord_class(chord_symbols_lib.transpose_chord_symbol(
        chords_lib.chord_symbol(c), shift)) for c in window[:, 1]]
    np.testing.assert_array_equal(out['labels'][:, 1], want)
    notes = window[:, 0] >= 2
    np.testing.assert_array_equal(out['labels'][notes, 0], window[notes, 0] + shift)
  assert len(seen) > 3
  assert augment.transpose_chords(np.array([0, 12, 13, 48]), 1).tolist() == [0, 1, 14, 37]


def test_from_labels_writes_the_chords(extracted, converter):
  """A decoded window holds its melody and a chord symbol at each chord change; re-reading
  gives the window back."""
  for window in [w for e in extracted['melody'].values() for w in e.windows][:20]:
    sequence = converter.from_labels(window)
    texts = [ta for ta in sequence.text_annotations
             if ta.annotation_type == chords_lib.CHORD_SYMBOL]
    changes = 1 + np.count_nonzero(np.diff(window[:, 1]))
    assert len(texts) == changes
    np.testing.assert_array_equal(converter.to_labels(sequence)[:, 0],
                                  converter.to_labels(converter.from_labels(window[:, :1]))[:, 0])
    assert converter.controls(window).argmax(-1).tolist() == window[:, 1].tolist()


def test_progression_fills_windows_one_chord_a_bar():
  """'C G Am F' on a 2-bar model: two windows, one chord a bar; a shorter progression repeats
  to fill its window; a chord that is no triad is refused by name, as a UserError."""
  from musicvae_jax import errors  # pylint: disable=import-outside-toplevel
  classes = chords_lib.progression_classes('C G Am F', bars=2, steps_per_bar=16)
  assert classes.shape == (2, 32)
  bars = classes.reshape(4, 16)
  assert (bars == bars[:, :1]).all()
  assert [chords_lib.chord_symbol(c) for c in bars[:, 0]] == ['C', 'G', 'Am', 'F']
  assert chords_lib.progression_classes('Dm', bars=2, steps_per_bar=16).tolist() == [[15] * 32]
  assert chords_lib.progression_classes('C G Am', bars=2, steps_per_bar=1).tolist() == [
      [1, 8], [22, 1]]
  for text, bad in (('C Csus4', 'Csus4'), ('C H', 'H')):
    with pytest.raises(errors.UserError, match=f"chord '{bad}' is not a major, minor"):
      chords_lib.progression_classes(text, bars=2, steps_per_bar=16)


def test_real_melodies_land_on_their_own_chords_more_than_on_others(extracted):
  """The chords-obeyed measure (training.chord_fit) on real windows: a melody's onsets fall on
  its own (inferred) chord's tones far more often than on another window's chords."""
  from musicvae_jax.training import chord_fit  # pylint: disable=import-outside-toplevel
  windows = np.stack([w for e in extracted['multitrack'].values() for w in e.windows])
  keep = [(c > 0).all() and len(set(c.tolist())) >= 2 for c in windows[..., 1]]
  windows = windows[np.asarray(keep)]
  assert len(windows) > 100
  np.testing.assert_array_equal(chord_fit.progressions(windows[..., 1]), windows[..., 1])
  own = chord_fit.chord_tone_share(windows[..., 0], windows[..., 1])
  other = windows[chord_fit.derangement(len(windows), np.random.default_rng(0)), :, 1]
  shuffled = chord_fit.chord_tone_share(windows[..., 0], other)
  assert own > 0.6 and own > shuffled + 0.15, (own, shuffled)
  assert chord_fit.chord_pitch_classes(chords_lib.chord_class('Am')) == {9, 0, 4}
  assert chord_fit.chord_pitch_classes(0) == frozenset()
