"""Piano-roll pictures of NoteSequences: the PNG that sits beside every MIDI the toolkit writes.

Pitched parts are drawn as bars (one colour per instrument), drums as ticks on their pitch rows;
thin lines mark beats and thicker ones bars (from the sequence's first tempo and time signature).
"""

from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402  pylint: disable=g-import-not-at-top

_COLOURS = ('#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b')


def _beat_seconds(ns) -> tuple[float, int]:
  qpm = ns.tempos[0].qpm if ns.tempos else 120.0
  numerator, denominator = 4, 4
  if ns.time_signatures:
    numerator, denominator = ns.time_signatures[0].numerator, ns.time_signatures[0].denominator
  beat = 60.0 / qpm * 4.0 / denominator
  return beat, numerator


def write_piano_roll(ns, path: str | pathlib.Path, title: str | None = None) -> pathlib.Path:
  """Draws ``ns`` to a PNG at ``path`` and returns the path."""
  path = pathlib.Path(path)
  end = max([ns.total_time] + [n.end_time for n in ns.notes] + [1e-3])
  fig, ax = plt.subplots(figsize=(min(4 + 1.2 * end, 24), 4), dpi=100)
  instruments = sorted({(n.instrument, n.is_drum) for n in ns.notes})
  for k, (instrument, is_drum) in enumerate(instruments):
    notes = [n for n in ns.notes if n.instrument == instrument and n.is_drum == is_drum]
    colour = _COLOURS[k % len(_COLOURS)]
    if is_drum:
      ax.scatter([n.start_time for n in notes], [n.pitch for n in notes], marker='|', s=60,
                 color=colour, label=f'drums ({instrument})')
    else:
      for n in notes:
        ax.barh(n.pitch, n.end_time - n.start_time, left=n.start_time, height=0.8,
                color=colour, edgecolor='none')
      program = notes[0].program if notes else 0
      ax.plot([], [], color=colour, lw=6, label=f'instrument {instrument} (program {program})')
  beat, beats_per_bar = _beat_seconds(ns)
  t, i = 0.0, 0
  while t <= end + 1e-9 and i < 2000:
    ax.axvline(t, color='0.55' if i % beats_per_bar == 0 else '0.88', lw=0.8, zorder=0)
    t, i = t + beat, i + 1
  pitches = [n.pitch for n in ns.notes] or [60]
  ax.set_ylim(min(pitches) - 2, max(pitches) + 2)
  ax.set_xlim(0, end)
  ax.set_xlabel('seconds')
  ax.set_ylabel('MIDI pitch')
  if instruments:
    ax.legend(loc='upper right', fontsize=7, framealpha=0.8)
  ax.set_title(title or path.stem, fontsize=9)
  fig.tight_layout()
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path)
  plt.close(fig)
  return path
