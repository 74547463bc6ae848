"""Piano-roll PNGs of real MIDI."""

import numpy as np
from PIL import Image

import magenta_reference
from musicvae_jax.render.piano_roll import write_piano_roll


def test_piano_roll_of_a_real_song_is_a_picture_with_notes(shared_midi, tmp_path):
  ns = magenta_reference.note_sequence(str(shared_midi / 'multitrack' / 'freedoom_d_map03.mid'))
  path = write_piano_roll(ns, tmp_path / 'song.png', title='d_map03')
  image = np.asarray(Image.open(path).convert('RGB')).astype(int)
  assert image.shape[0] >= 300 and image.shape[1] >= 600
  # Coloured (non-grey) pixels are notes: a real song leaves plenty of them.
  coloured = (image.max(axis=-1) - image.min(axis=-1)) > 60
  assert coloured.mean() > 0.01


def test_empty_sequence_still_draws(tmp_path):
  import note_seq  # pylint: disable=import-outside-toplevel
  path = write_piano_roll(note_seq.NoteSequence(), tmp_path / 'empty.png')
  assert path.stat().st_size > 0
