"""Piano-roll pictures of NoteSequences: the PNG that sits beside every MIDI the toolkit writes.

Pitched parts are drawn on a pitch axis (rows labelled with note names), drums below them on one
row per drum pitch present, labelled with its General MIDI name. Every note is its own box: a
gap of a few pixels ends each box, so back-to-back repeats of one pitch stay countable. Where
the velocities of a sequence vary, a box's shade shows its velocity (pale = soft). The time
axis is padded on both sides, so nothing at t = 0 hides under the frame; thin lines mark beats
and darker ones bars (from the sequence's first tempo and time signature). Drums get a faint line
per 16th-note step too, and a drum hit off that grid (GrooVAE's microtiming) is drawn at its
real time with a short dark stroke from its step to it (``OFFSETS_GID``): the timing offset.

The layout is fixed in inches (no layout solver), so a picture costs little per file.
"""

from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use('Agg')
# pylint: disable=g-import-not-at-top,wrong-import-position
from matplotlib import collections as mcollections  # noqa: E402
from matplotlib import colors as mcolors  # noqa: E402
from matplotlib import figure as mfigure  # noqa: E402
from matplotlib import patches as mpatches  # noqa: E402
from matplotlib import ticker  # noqa: E402
from matplotlib.backends import backend_agg  # noqa: E402
import numpy as np  # noqa: E402
import pretty_midi  # noqa: E402

DPI = 100
_COLOURS = ('#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2',
            '#17becf', '#bcbd22')
_GAP_PX = 2.5  # blank pixels that end every box
_MIN_BOX_PX = 1.5
_DRUM_HIT_PX = 4.0  # drum hits are onsets: at least this wide, at most a sixteenth note
_MIN_SHADE = 0.35  # the shade (opacity over white) of velocity 0; velocity 127 is full colour
_LEFT_IN, _RIGHT_IN, _BOTTOM_IN, _TITLE_IN, _LEGEND_ROW_IN = 0.85, 0.3, 0.5, 0.35, 0.2
_DRUM_LABEL_IN = 0.75  # extra left margin for drum names
_MAX_STEP_LINES = 1024  # beyond this many 16th-note steps the step grid is left out
_LANE_IN = 0.4  # height of a label lane (chords, keys) under the roll
OFFSETS_GID = 'offsets'  # the strokes from each off-grid drum hit's step to its onset


def _offset_strokes(ax, starts, rows, step: float, sec_per_px: float) -> None:
  """A stroke from each hit's nearest step to its onset, where they are a pixel or more apart."""
  grid = np.round(starts / step) * step
  off = np.abs(starts - grid) >= sec_per_px
  # Along the box's top edge, so the box's own shade (its velocity) stays readable at its centre.
  segments = [((g, r + 0.3), (s, r + 0.3))
              for g, s, r in zip(grid[off], starts[off], rows[off])]
  ax.add_collection(mcollections.LineCollection(segments, colors='0.15', linewidths=1.2,
                                                zorder=3, gid=OFFSETS_GID))


def _beat_seconds(ns) -> tuple[float, int]:
  qpm = ns.tempos[0].qpm if ns.tempos else 120.0
  numerator, denominator = 4, 4
  if ns.time_signatures:
    numerator, denominator = ns.time_signatures[0].numerator, ns.time_signatures[0].denominator
  beat = 60.0 / qpm * 4.0 / denominator
  return beat, numerator


def drum_name(pitch: int) -> str:
  """The General MIDI name of a drum pitch (``drum 90`` where General MIDI names none)."""
  name = pretty_midi.note_number_to_drum_name(pitch)
  return f'{name} ({pitch})' if name else f'drum {pitch}'


def _pitch_label(pitch: float, _=None) -> str:
  if pitch != int(pitch) or not 0 <= pitch <= 127:
    return ''
  return f'{pretty_midi.note_number_to_name(int(pitch))} ({int(pitch)})'


def _box_widths(starts, ends, rows, sec_per_px: float, is_drum: bool) -> np.ndarray:
  """Each note's drawn width: cut at the next onset on its row, less a gap, never invisible."""
  ends = ends.copy()
  if is_drum:
    ends = starts + np.maximum(ends - starts, (_DRUM_HIT_PX + _GAP_PX) * sec_per_px)
  order = np.lexsort((starts, rows))
  same_row = rows[order][1:] == rows[order][:-1]
  nxt = np.where(same_row, starts[order][1:], np.inf)
  ends[order[:-1]] = np.minimum(ends[order[:-1]], nxt)
  return np.maximum(ends - starts - _GAP_PX * sec_per_px, _MIN_BOX_PX * sec_per_px)


def _shades(velocities: np.ndarray, colour: str, vary: bool) -> np.ndarray:
  """Opaque RGBA per note: the colour laid over white at an opacity set by velocity."""
  rgb = np.array(mcolors.to_rgb(colour))
  alpha = (_MIN_SHADE + (1 - _MIN_SHADE) * np.clip(velocities, 0, 127) / 127.0 if vary
           else np.ones(len(velocities)))
  out = np.ones((len(velocities), 4))
  out[:, :3] = 1.0 - alpha[:, None] * (1.0 - rgb[None, :])
  return out


def _draw_boxes(ax, starts, widths, rows, face) -> None:
  x0, x1 = starts, starts + widths
  y0, y1 = rows - 0.4, rows + 0.4
  verts = np.stack([np.stack([x0, y0], -1), np.stack([x0, y1], -1),
                    np.stack([x1, y1], -1), np.stack([x1, y0], -1)], axis=1)
  ax.add_collection(mcollections.PolyCollection(verts, facecolors=face, edgecolors='none',
                                                antialiaseds=False, zorder=2))


def _draw_lane(ax, name, segments, x_lo, x_hi, axes_w_in) -> None:
  """Coloured spans, one per segment (a colour per distinct label), labelled where they fit."""
  ax.set_xlim(x_lo, x_hi)
  ax.set_ylim(0, 1)
  ax.set_yticks([0.5], [name])
  in_per_s = axes_w_in / (x_hi - x_lo)
  names = sorted({label for _, _, label in segments})
  for start, end, label in segments:
    colour = _COLOURS[names.index(label) % len(_COLOURS)]
    ax.axvspan(start, end, 0.08, 0.92, facecolor=colour, alpha=0.35, edgecolor='white', lw=0.5)
    if (end - start) * in_per_s > 0.06 * len(label) + 0.04:
      ax.text((start + end) / 2, 0.5, label, ha='center', va='center', fontsize=6, clip_on=True)


def draw_piano_roll(ns, title: str = '', lanes=()) -> mfigure.Figure:
  """The piano roll of ``ns`` as a matplotlib Figure (Agg, ``DPI`` dots per inch).

  ``lanes``: (name, [(start s, end s, label), ...]) label lanes drawn under the roll on the same
  time axis (chords, keys).
  """
  notes = list(ns.notes)
  end = max([ns.total_time] + [n.end_time for n in notes] + [1e-3]
            + [seg[1] for _, segs in lanes for seg in segs])
  pad = 0.015 * end
  x_lo, x_hi = -pad, end + pad
  parts = sorted({(n.is_drum, n.instrument) for n in notes})
  pitched = [p for p in parts if not p[0]]
  drum_pitches = sorted({n.pitch for n in notes if n.is_drum})
  has_drums = bool(drum_pitches)
  vary = len({n.velocity for n in notes}) > 1
  pitches = [n.pitch for n in notes if not n.is_drum]
  p_lo, p_hi = (min(pitches), max(pitches)) if pitches else (60, 60)

  left = _LEFT_IN + (_DRUM_LABEL_IN if has_drums else 0.0)
  axes_w = min(3.0 + 1.2 * end, 22.0)
  pitched_h = float(np.clip(0.09 * (p_hi - p_lo + 3), 2.2, 4.5)) if pitched or not parts else 0
  drum_h = float(np.clip(0.2 * len(drum_pitches), 1.0, 3.5)) if has_drums else 0
  gap_h = 0.15 if pitched_h and drum_h else 0.0
  lanes_h = _LANE_IN * len(lanes)
  legend_rows = -(-len(parts) // 4)
  top = _TITLE_IN + _LEGEND_ROW_IN * legend_rows + 0.05
  fig_w, fig_h = left + axes_w + _RIGHT_IN, top + pitched_h + gap_h + drum_h + lanes_h + _BOTTOM_IN
  fig = mfigure.Figure(figsize=(fig_w, fig_h), dpi=DPI)
  backend_agg.FigureCanvasAgg(fig)
  sec_per_px = (x_hi - x_lo) / (axes_w * DPI)

  def add_axes(bottom_in, height_in):
    return fig.add_axes((left / fig_w, bottom_in / fig_h, axes_w / fig_w, height_in / fig_h))

  axes = {}
  if drum_h:
    axes['drums'] = add_axes(_BOTTOM_IN + lanes_h, drum_h)
  if pitched_h:
    axes['pitch'] = add_axes(_BOTTOM_IN + lanes_h + drum_h + gap_h, pitched_h)
  beat, beats_per_bar = _beat_seconds(ns)
  beats = np.arange(0.0, end + 1e-9, beat)[:4000]
  for ax in axes.values():
    ax.set_xlim(x_lo, x_hi)
    strong = np.arange(len(beats)) % beats_per_bar == 0
    for mask, grey in ((~strong, '0.88'), (strong, '0.55')):
      ax.vlines(beats[mask], 0, 1, transform=ax.get_xaxis_transform(), colors=grey, lw=0.8,
                zorder=0)
  step = beat / 4
  if 'drums' in axes and end / step <= _MAX_STEP_LINES:
    axes['drums'].vlines(np.arange(0.0, end + 1e-9, step), 0, 1, colors='0.95', lw=0.5,
                         transform=axes['drums'].get_xaxis_transform(), zorder=0)
  handles = []
  for k, (is_drum, instrument) in enumerate(parts):
    part = [n for n in notes if n.is_drum == is_drum and n.instrument == instrument]
    colour = _COLOURS[k % len(_COLOURS)]
    starts = np.array([n.start_time for n in part])
    ends = np.array([n.end_time for n in part])
    if is_drum:
      ends = np.minimum(ends, starts + beat / 4)
      rows = np.array([drum_pitches.index(n.pitch) for n in part], dtype=float)
      label = f'drums (instrument {instrument})'
    else:
      rows = np.array([n.pitch for n in part], dtype=float)
      label = f'instrument {instrument} (program {part[0].program})'
    widths = _box_widths(starts, ends, rows, sec_per_px, is_drum)
    face = _shades(np.array([n.velocity for n in part]), colour, vary)
    _draw_boxes(axes['drums' if is_drum else 'pitch'], starts, widths, rows, face)
    if is_drum:
      _offset_strokes(axes['drums'], starts, rows, step, sec_per_px)
    handles.append(mpatches.Patch(color=colour, label=label))

  if 'pitch' in axes:
    ax = axes['pitch']
    ax.set_ylim(p_lo - 1.5, p_hi + 1.5)
    ax.yaxis.set_major_locator(ticker.MaxNLocator(nbins=8, integer=True))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(_pitch_label))
    ax.set_ylabel('pitch', fontsize=8)
  if 'drums' in axes:
    ax = axes['drums']
    ax.set_ylim(-0.6, len(drum_pitches) - 0.4)
    ax.set_yticks(range(len(drum_pitches)), [drum_name(p) for p in drum_pitches])
  for i, (name, segments) in enumerate(lanes):
    ax = add_axes(_BOTTOM_IN + _LANE_IN * (len(lanes) - 1 - i), _LANE_IN * 0.85)
    _draw_lane(ax, name, segments, x_lo, x_hi, axes_w)
    axes[f'lane:{name}'] = ax
  lowest = (f'lane:{lanes[-1][0]}' if lanes else
            ('drums' if 'drums' in axes else 'pitch'))
  for name, ax in axes.items():
    ax.tick_params(labelsize=7)
    ax.set_gid(name)
    if name != lowest:
      ax.tick_params(labelbottom=False)
  axes[lowest].set_xlabel('seconds', fontsize=8)
  note = '   (shade: velocity, pale = soft)' if vary else ''
  fig.text(0.08 / fig_w, 1 - 0.08 / fig_h, title + note, ha='left', va='top', fontsize=9)
  if handles:
    fig.legend(handles=handles, loc='upper left', ncol=min(len(handles), 4), fontsize=7,
               frameon=False, bbox_to_anchor=(left / fig_w, 1 - _TITLE_IN / fig_h),
               borderaxespad=0, handlelength=1.2, handleheight=0.6, labelspacing=0.3)
  return fig


def write_piano_roll(ns, path: str | pathlib.Path, title: str | None = None,
                     lanes=()) -> pathlib.Path:
  """Draws ``ns`` (and any label ``lanes``) to a PNG at ``path`` and returns the path."""
  path = pathlib.Path(path)
  fig = draw_piano_roll(ns, title or path.stem, lanes)
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=DPI)
  return path
