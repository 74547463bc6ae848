"""Chords from the chord/key model for chord-conditioned datasets (``--chord_source=model``).

``musicvae-prepare`` otherwise takes a file's own chord symbols, or infers chords with
note-seq's HMM where it has none. With ``--chord_source=model`` a pass before the conversion
reads every file with the chord/key estimator (``annotate.Estimator``), reduces each beat's chord
to its triad (vocabulary.triad_figure: sevenths and sixths to their triad, sus chords to major,
as the 49-class encoding takes them) and hands the chord changes to the converter as the file's
chord symbols, replacing any it had. A file the estimator cannot read gets no chords here; the
conversion then reports it as it would any unreadable file.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import note_seq

from musicvae_jax import progress as progress_bars
from musicvae_jax.chordkey import vocabulary

if TYPE_CHECKING:  # the estimator (and JAX) load only where chords are estimated, not in workers
  from musicvae_jax.chordkey import annotate

CHORD_SYMBOL = note_seq.NoteSequence.TextAnnotation.CHORD_SYMBOL


def chord_changes(result: 'annotate.Result') -> list[tuple[float, str]]:
  """[(time s, triad figure)] at each change of the reduced chord."""
  out = []
  for start, _, label in result.segments(result.chords_b):
    figure = vocabulary.triad_figure(label)
    if not out or out[-1][1] != figure:
      out.append((round(start, 6), figure))
  return out


def annotate_files(input_dir, files, model=None, progress: bool = True) -> dict:
  """{relative path: chord changes} for every file the estimator reads."""
  from musicvae_jax.chordkey import annotate, midi_input  # pylint: disable=g-import-not-at-top
  estimator = annotate.Estimator.load(model)
  out = {}
  for rel in progress_bars.bar(files, desc='chords (model)', unit='file', enabled=progress):
    try:
      out[rel] = chord_changes(estimator.estimate(os.path.join(input_dir, rel)))
    except midi_input.MidiInputError:
      continue
  return out


def apply(sequence: note_seq.NoteSequence, changes) -> note_seq.NoteSequence:
  """``sequence`` with its chord symbols replaced by ``changes`` (in place; returned)."""
  kept = [ta for ta in sequence.text_annotations if ta.annotation_type != CHORD_SYMBOL]
  del sequence.text_annotations[:]
  sequence.text_annotations.extend(kept)
  for time, figure in changes:
    ta = sequence.text_annotations.add()
    ta.time, ta.text, ta.annotation_type = time, figure, CHORD_SYMBOL
  return sequence
