"""Masked-note pretraining on real POP909 songs: CFM hides spans of consecutive notes, CCM a
band of pitches across the chunk; pretraining is seeded, never reads the track labels, learns
to rebuild hidden pitches, and the tagger fine-tunes from what it learnt."""

import dataclasses

import jax
import numpy as np
import pytest

from musicvae_jax.converters import pianoroll
from musicvae_jax.musicoder import melody_notes
from musicvae_jax.musicoder import note_pretrain

from conftest import SHARED

SONGS = SHARED / 'data' / 'pop909' / 'songs'
TAGGER = melody_notes.Settings(batch_size=4, length=128, hidden=16, learning_rate=5e-3)


@pytest.fixture(scope='module')
def songs():
  converter = pianoroll.PianoRollConverter(slice_bars=4, min_notes=4)
  return [melody_notes.read_song(SONGS / s / f'{s}.mid', converter)
          for s in ('010', '012', '014')]


def batch_of(songs, seed=0):
  prepared = [melody_notes.song_inputs(s) + (s.classes,) for s in songs]
  return melody_notes.sample_batch(prepared, np.random.default_rng(seed), TAGGER)


def test_cfm_hides_spans_of_consecutive_notes(songs):
  batch = batch_of(songs)
  settings = note_pretrain.PretrainSettings(objectives='cfm', share=0.15, span=8)
  hidden = note_pretrain.hide(batch, np.random.default_rng(1), settings)
  share = hidden.sum() / batch['mask'].sum()
  assert 0.05 < share < 0.4
  starts = np.sum(hidden[:, 1:] & ~hidden[:, :-1]) + np.sum(hidden[:, 0])
  assert hidden.sum() / starts > 2   # runs of notes, not scattered single notes


def test_ccm_hides_one_band_of_pitches_across_the_chunk(songs):
  batch = batch_of(songs)
  settings = note_pretrain.PretrainSettings(objectives='ccm', band=6)
  hidden = note_pretrain.hide(batch, np.random.default_rng(2), settings)
  assert hidden.any()
  for b in range(hidden.shape[0]):
    pitch = batch['ints'][b, :, 0]
    real = batch['mask'][b] > 0
    if hidden[b].any():
      lo, hi = pitch[hidden[b]].min(), pitch[hidden[b]].max()
      assert hi - lo < 6
      inside = real & (pitch >= lo) & (pitch <= hi)
      assert np.array_equal(hidden[b], inside)   # every note of the band, nothing else
  with pytest.raises(ValueError, match='objectives'):
    note_pretrain.hide(batch, np.random.default_rng(0),
                       note_pretrain.PretrainSettings(objectives='frames'))


def test_pretraining_is_seeded_label_blind_and_learns_pitches(songs):
  settings = note_pretrain.PretrainSettings(steps=80, tagger=TAGGER)
  params, history = note_pretrain.pretrain(songs, settings)
  relabelled = [dataclasses.replace(s, classes=np.zeros_like(s.classes)) for s in songs]
  again, history_again = note_pretrain.pretrain(relabelled, settings)
  assert history == history_again
  assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(params),
                                                   jax.tree.leaves(again)))
  pitch = [h['pitch'] for h in history]
  assert np.mean(pitch[-10:]) < 0.85 * np.mean(pitch[:10])
  pretrainer = note_pretrain.Pretrainer(settings)
  pretrainer.fit(songs[:1])
  assert pretrainer.traces == 1

  # The tagger starts from the pretrained parameters and leaves the caller's copy intact.
  tagger = melody_notes.Tagger(dataclasses.replace(TAGGER, steps=5), params=params)
  start = jax.tree.leaves(tagger.state['params'])
  assert all(np.array_equal(a, b) for a, b in zip(start, jax.tree.leaves(params)))
  tagger.fit(songs[:2])
  assert all(np.isfinite(np.asarray(a)).all() for a in jax.tree.leaves(params))
  with pytest.raises(ValueError, match='another shape'):
    melody_notes.Tagger(dataclasses.replace(TAGGER, hidden=8), params=params)
