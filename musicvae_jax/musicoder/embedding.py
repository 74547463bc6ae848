"""A pretrained MusiCoder as a feature extractor: MIDI in, one vector per window (or frame) out.

Shapes: N = windows, T = frames, D = the encoder's width.

  from musicvae_jax.musicoder import embedding
  embedder = embedding.Embedder.load('runs/musicoder/pre_both')
  vectors = embedder.embed('song.mid')              # [N, D]: each window's frames averaged
  frames = embedder.embed('song.mid', pool=False)   # [N, T, D]

Windows are the ones ``musicvae-prepare`` cuts with the workdir's own data section (by default
four bars' worth of 16th-note frames, non-overlapping), so a file's embedding is what
pretraining saw of it. Jitted once per batch size; batches are padded to ``batch``.
"""

from __future__ import annotations

import functools

import jax
import numpy as np

from musicvae_jax import checkpointing
from musicvae_jax import converters
from musicvae_jax import errors
from musicvae_jax.converters import midi_io
from musicvae_jax.musicoder import finetune


class Embedder:
  """The encoder of a ``musicvae-pretrain`` workdir with its converter."""

  def __init__(self, encoder, converter):
    self.encoder = encoder
    self.converter = converter

  @classmethod
  def load(cls, workdir, step=None) -> 'Embedder':
    run = checkpointing.load_run_spec(workdir)
    encoder = finetune.load_encoder(workdir, step=step)
    return cls(encoder, converters.get_converter(run.data))

  @functools.cached_property
  def _encode(self):
    return jax.jit(self.encoder.encode)

  def windows(self, midi_path) -> np.ndarray:
    """The file's windows [N, T, P]; a UserError naming the file when it gives none."""
    found = self.converter.extract(midi_io.read_midi(midi_path))
    if not found.windows:
      reasons = ', '.join(f'{k} {v}' for k, v in sorted(found.skipped.items())) or 'none'
      raise errors.UserError(f'{midi_path}: no window to embed (skipped: {reasons}).')
    return np.stack(found.windows)

  def embed_windows(self, windows_NxTxP, *, pool: bool = True, batch: int = 64) -> np.ndarray:
    out = []
    for lo in range(0, len(windows_NxTxP), batch):
      chunk = np.asarray(windows_NxTxP[lo:lo + batch])
      padded = np.concatenate([chunk, np.zeros((batch - len(chunk),) + chunk.shape[1:],
                                               chunk.dtype)])
      hidden = np.asarray(self._encode(padded))[:len(chunk)]
      out.append(hidden.mean(axis=1) if pool else hidden)
    return np.concatenate(out)

  def embed(self, midi_path, *, pool: bool = True) -> np.ndarray:
    """[N, D] (``pool``: each window's frames averaged) or [N, T, D] for one MIDI file."""
    return self.embed_windows(self.windows(midi_path), pool=pool)
