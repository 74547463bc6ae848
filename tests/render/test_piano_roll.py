"""Piano-roll PNGs of real MIDI: every note its own box, named drum rows, velocity as shade.

The pixel checks read the PNG that ``write_piano_roll`` writes and take the geometry (where
each axes box lies, where a pitch row or a time falls) from the same figure drawn again by
``draw_piano_roll``: the layout is fixed in inches at a fixed dpi, so both agree.
"""

import warnings

import numpy as np
from PIL import Image
import pretty_midi
import pytest

import magenta_reference
from musicvae_jax import bundled_data
from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax.converters import get_converter
from musicvae_jax.render.piano_roll import draw_piano_roll
from musicvae_jax.render.piano_roll import write_piano_roll

with warnings.catch_warnings():
  warnings.simplefilter('ignore', RuntimeWarning)
  import note_seq


def _converter(data_fn):
  return get_converter(config_boundary.data_spec(data_fn(slice_bars=2)))


class Picture:
  """The written PNG's pixels with the figure that says where its axes and rows are."""

  def __init__(self, ns, path):
    write_piano_roll(ns, path, title='test')
    self.image = np.asarray(Image.open(path).convert('RGB')).astype(int)
    self.fig = draw_piano_roll(ns, 'test')
    width, height = self.fig.canvas.get_width_height()
    assert self.image.shape[:2] == (height, width)
    # Coloured = clearly not grey, white or black: a note box (grid lines and text are grey).
    self.coloured = (self.image.max(-1) - self.image.min(-1)) > 20

  def axes(self, gid):
    (ax,) = [ax for ax in self.fig.axes if ax.get_gid() == gid]
    return ax

  def pixel(self, ax, t, y):
    """(image row, column) of data point (t, y) in ``ax``."""
    x_disp, y_disp = ax.transData.transform((t, y))
    return int(round(self.image.shape[0] - y_disp)), int(x_disp)

  def inner_columns(self, ax):
    """The image columns strictly inside the axes frame."""
    x0, _, x1, _ = ax.bbox.extents
    return int(np.ceil(x0)) + 2, int(np.floor(x1)) - 2

  def boxes_on_row(self, ax, y) -> int:
    """Separate runs of coloured pixels along the row of data height ``y``."""
    row, _ = self.pixel(ax, 0.0, y)
    lo, hi = self.inner_columns(ax)
    line = self.coloured[row, lo:hi].astype(int)
    return int(np.sum(np.diff(np.concatenate([[0], line])) == 1))


def _back_to_back_repeats(ns) -> int:
  notes = sorted(ns.notes, key=lambda n: n.start_time)
  return sum(a.pitch == b.pitch and abs(a.end_time - b.start_time) < 1e-6
             for a, b in zip(notes, notes[1:]))


@pytest.fixture(scope='module')
def melody_window():
  """A real 2-bar melody window, as the model's outputs are, with repeated back-to-back notes."""
  converter = _converter(config_lib.melody_data)
  for path in sorted(bundled_data.midi_dir('melody').glob('*.mid')):
    for window in converter.extract(magenta_reference.note_sequence(str(path))).windows:
      ns = converter.from_labels(window)
      if _back_to_back_repeats(ns) >= 2:
        return ns
  pytest.fail('no bundled melody window with two back-to-back repeats')


@pytest.fixture(scope='module')
def drum_window(shared_midi):
  """A real groove (Groove MIDI Dataset) as a 2-bar drums window starting with a hit."""
  converter = _converter(config_lib.drums_data)
  path = shared_midi / 'drums' / 'gmd_drummer1_session1_102_funk_95_beat_4-4.mid'
  for window in converter.extract(magenta_reference.note_sequence(str(path))).windows:
    if window[0, 0]:
      return converter.from_labels(window)
  pytest.fail(f'no window of {path.name} starts with a hit')


def test_every_note_of_a_real_melody_is_its_own_box(melody_window, tmp_path):
  picture = Picture(melody_window, tmp_path / 'melody.png')
  ax = picture.axes('pitch')
  for pitch in {n.pitch for n in melody_window.notes}:
    want = sum(n.pitch == pitch for n in melody_window.notes)
    assert picture.boxes_on_row(ax, pitch) == want, pitch


def test_seven_repeated_eighth_notes_are_seven_boxes_and_the_first_is_not_hidden(tmp_path):
  ns = note_seq.NoteSequence(ticks_per_quarter=220, total_time=4.0)
  ns.tempos.add(qpm=120)
  for i in range(7):  # seven E4 eighth notes, each ending where the next starts
    ns.notes.add(pitch=64, velocity=80, start_time=0.25 * i, end_time=0.25 * (i + 1))
  ns.notes.add(pitch=67, velocity=80, start_time=1.75, end_time=2.75)
  ns.notes.add(pitch=64, velocity=80, start_time=2.75, end_time=4.0)
  picture = Picture(ns, tmp_path / 'repeats.png')
  ax = picture.axes('pitch')
  assert picture.boxes_on_row(ax, 64) == 8
  assert picture.boxes_on_row(ax, 67) == 1
  row, _ = picture.pixel(ax, 0.0, 64)
  lo, _ = picture.inner_columns(ax)
  _, zero = picture.pixel(ax, 0.0, 64)
  assert picture.coloured[row, lo:zero + 4].any()
  # Pitch ticks are whole pitches, named.
  labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
  assert labels and all(label.split(' (')[0][0] in 'ABCDEFG' for label in labels)


def test_drum_rows_are_named_each_hit_is_a_box_and_hits_at_zero_show(drum_window, tmp_path):
  picture = Picture(drum_window, tmp_path / 'drums.png')
  ax = picture.axes('drums')
  assert [ax.get_gid() for ax in picture.fig.axes] == ['drums']
  pitches = sorted({n.pitch for n in drum_window.notes})
  labels = [t.get_text() for t in ax.get_yticklabels()]
  assert len(labels) == len(pitches)
  for row, (pitch, label) in enumerate(zip(pitches, labels)):
    assert label.startswith(pretty_midi.note_number_to_drum_name(pitch)), label
    assert picture.boxes_on_row(ax, row) == sum(n.pitch == pitch for n in drum_window.notes)
  lo, _ = picture.inner_columns(ax)
  for note in drum_window.notes:
    if note.start_time == 0.0:
      row, zero = picture.pixel(ax, 0.0, pitches.index(note.pitch))
      assert zero > lo and picture.coloured[row, lo:zero + 3].any()


def _strengths(picture, ns):
  """How strongly coloured each drum hit's box is, a pixel inside its left edge."""
  ax = picture.axes('drums')
  pitches = sorted({n.pitch for n in ns.notes})
  out = []
  for note in ns.notes:
    row, column = picture.pixel(ax, note.start_time, pitches.index(note.pitch))
    colour = picture.image[row, column + 1]
    out.append(colour.max() - colour.min())
  return np.array(out)


def test_velocity_sets_the_shade_of_each_hit_of_a_real_drum_fill(shared_midi, tmp_path):
  ns = magenta_reference.note_sequence(
      str(shared_midi / 'drums' / 'gmd_drummer1_session1_103_funk_95_fill_4-4.mid'))
  velocities = [n.velocity for n in ns.notes]
  assert len(set(velocities)) > 5
  strengths = _strengths(Picture(ns, tmp_path / 'fill.png'), ns)
  assert np.corrcoef(strengths, velocities)[0, 1] > 0.95
  # The same hits, all equally loud (as the model writes them), are drawn at one full shade.
  flat = note_seq.NoteSequence()
  flat.CopyFrom(ns)
  for n in flat.notes:
    n.velocity = 80
  flat_strengths = _strengths(Picture(flat, tmp_path / 'flat.png'), flat)
  assert np.all(flat_strengths == flat_strengths[0])
  assert flat_strengths[0] >= strengths.max()


def test_trio_window_draws_pitched_parts_above_named_drum_rows(shared_midi, tmp_path):
  converter = _converter(config_lib.trio_data)
  song = magenta_reference.note_sequence(str(shared_midi / 'multitrack' / 'freedoom_d_map03.mid'))
  ns = converter.from_labels(converter.extract(song).windows[3])
  picture = Picture(ns, tmp_path / 'trio.png')
  pitch_ax, drum_ax = picture.axes('pitch'), picture.axes('drums')
  assert pitch_ax.bbox.y0 > drum_ax.bbox.y1  # pitched parts above, drums below
  pitched = [n for n in ns.notes if not n.is_drum]
  assert len({n.instrument for n in pitched}) == 2
  for pitch in {n.pitch for n in pitched}:
    assert picture.boxes_on_row(pitch_ax, pitch) == sum(n.pitch == pitch for n in pitched)
  drum_pitches = sorted({n.pitch for n in ns.notes if n.is_drum})
  assert [t.get_text() for t in drum_ax.get_yticklabels()] == [
      f'{pretty_midi.note_number_to_drum_name(p)} ({p})' for p in drum_pitches]


def test_piano_roll_of_a_real_song_is_a_picture_with_notes(shared_midi, tmp_path):
  ns = magenta_reference.note_sequence(str(shared_midi / 'multitrack' / 'freedoom_d_map03.mid'))
  path = write_piano_roll(ns, tmp_path / 'song.png', title='d_map03')
  image = np.asarray(Image.open(path).convert('RGB')).astype(int)
  assert image.shape[0] >= 300 and image.shape[1] >= 600
  # Coloured (non-grey) pixels are notes: a real song leaves plenty of them.
  coloured = (image.max(axis=-1) - image.min(axis=-1)) > 60
  assert coloured.mean() > 0.01


def test_empty_sequence_still_draws(tmp_path):
  path = write_piano_roll(note_seq.NoteSequence(), tmp_path / 'empty.png')
  assert path.stat().st_size > 0


def test_label_lanes_sit_under_the_roll_on_its_time_axis(shared_midi, tmp_path):
  ns = magenta_reference.note_sequence(str(shared_midi / 'multitrack' / 'freedoom_d_map03.mid'))
  end = ns.total_time
  chords = [(0.0, end / 3, 'C:maj'), (end / 3, end, 'A:min')]
  keys = [(0.0, end, 'C:maj')]
  fig = draw_piano_roll(ns, 'lanes', lanes=[('chord', chords), ('key', keys)])
  axes = {ax.get_gid(): ax for ax in fig.axes}
  assert {'pitch', 'lane:chord', 'lane:key'} <= set(axes)
  bottoms = {name: ax.get_position().y0 for name, ax in axes.items()}
  assert bottoms['lane:key'] < bottoms['lane:chord'] < bottoms['pitch']
  assert axes['lane:chord'].get_xlim() == axes['pitch'].get_xlim()
  # One span per segment, each label written once; seconds under the lowest lane only.
  assert len(axes['lane:chord'].patches) == 2
  assert sorted(t.get_text() for t in axes['lane:chord'].texts) == ['A:min', 'C:maj']
  assert axes['lane:key'].get_xlabel() == 'seconds' and axes['pitch'].get_xlabel() == ''
  plain = draw_piano_roll(ns, 'plain')
  assert fig.get_size_inches()[1] > plain.get_size_inches()[1]
