"""dMelodies items as windows: 16 eighth-note tokens of dMelodies' own vocabulary, one part.

Shapes: T = 16 slots (two bars of 4/4 in eighth notes), P = 1 part of 52 classes.

The tokens are dMelodies' (``dmelodies.py``): 0 rest, 1 hold (never used), 2.. the pitches in
their first-appearance order. Reading MIDI back (``extract``) quantizes at eighth notes and gives
one window per two bars whose notes all start on a slot, last one slot and are pitches of the
vocabulary; so an item written as MIDI by ``from_labels`` (or ``musicvae-dmelodies
--midi_examples``) reads back as the same tokens.
"""

from __future__ import annotations

import numpy as np

from musicvae_jax.converters import base
from musicvae_jax.converters import dmelodies

NoteSequence = base.NoteSequence


class DMelodiesVocabulary:
  """dMelodies' 52 tokens as one categorical part."""

  def __init__(self):
    self.names, _ = dmelodies._vocabulary_and_ids()  # pylint: disable=protected-access
    self.pitch_of_token = np.array([-1, -1] + [dmelodies._pitch_of(n)  # pylint: disable=protected-access
                                               for n in self.names[2:]])
    self.token_of_pitch = {int(p): int(t) for t, p in enumerate(self.pitch_of_token) if p >= 0}

  @property
  def part_depths(self) -> tuple[int, ...]:
    return (len(self.names),)


class DMelodiesConverter(base.Converter):
  """Two-bar windows of eighth-note dMelodies tokens; ``steps_per_quarter`` must be 2."""

  kind = 'dmelodies'

  def __init__(self, *, slice_bars: int = 2, steps_per_quarter: int = 2, quarters_per_bar: int = 4):
    if (slice_bars, steps_per_quarter, quarters_per_bar) != (2, 2, 4):
      raise ValueError('the dmelodies converter reads two bars of 4/4 in eighth notes: '
                       'slice_bars=2, steps_per_quarter=2, quarters_per_bar=4.')
    super().__init__(slice_bars=slice_bars, steps_per_quarter=steps_per_quarter,
                     quarters_per_bar=quarters_per_bar)
    self.vocabulary = DMelodiesVocabulary()

  def _extract_quantized(self, quantized: NoteSequence) -> base.Extraction:
    out = base.Extraction()
    notes = [n for n in quantized.notes if not n.is_drum]
    if not notes:
      out.skipped['no_notes'] += 1
      return out
    total = max(n.quantized_end_step for n in notes)
    windows = -(-total // self.max_seq_len)
    tokens = np.zeros((windows * self.max_seq_len,), np.int16)
    bad = np.zeros((windows,), bool)
    for n in notes:
      start = n.quantized_start_step
      token = self.vocabulary.token_of_pitch.get(n.pitch)
      if (token is None or n.quantized_end_step - start != 1 or tokens[start]):
        bad[start // self.max_seq_len] = True
        continue
      tokens[start] = token
    for w in range(windows):
      if bad[w]:
        out.skipped['not_a_dmelodies_window'] += 1
      else:
        out.windows.append(tokens[w * self.max_seq_len:(w + 1) * self.max_seq_len, None].copy())
    return out

  def from_labels(self, labels_TxP: np.ndarray, *, qpm: float = 120.0) -> NoteSequence:
    pitches = self.vocabulary.pitch_of_token[np.asarray(labels_TxP).reshape(-1)]
    return dmelodies.to_note_sequence(pitches, qpm=qpm)
