"""Paths between two latent codes: spherical (slerp) and straight (lerp).

slerp(p0, p1, t) = sin((1 - t)Ω)/sin Ω · p0 + sin(tΩ)/sin Ω · p1, Ω the angle between p0 and p1,
as Magenta's TrainedModel interpolates. Magenta returns NaN when the two codes point the same
way (Ω = 0); here the path falls back to the straight line there, where slerp's limit is lerp.

``decode_paths`` morphs pieces of several windows: window k of one piece into window k of the
other, every window along its own path, the steps' windows joined again into pieces.
"""

from __future__ import annotations

import numpy as np

METHODS = ('slerp', 'lerp')
_PARALLEL = 1e-7  # below this sin Ω the two codes are (numerically) parallel


def lerp(p0, p1, t):
  p0, p1 = np.asarray(p0, np.float64), np.asarray(p1, np.float64)
  return (1.0 - t) * p0 + t * p1


def slerp(p0, p1, t):
  p0, p1 = np.asarray(p0, np.float64), np.asarray(p1, np.float64)
  norms = np.linalg.norm(p0) * np.linalg.norm(p1)
  if norms == 0.0:
    return lerp(p0, p1, t)
  omega = np.arccos(np.clip(np.dot(p0, p1) / norms, -1.0, 1.0))
  so = np.sin(omega)
  if so < _PARALLEL:
    return lerp(p0, p1, t)
  return np.sin((1.0 - t) * omega) / so * p0 + np.sin(t * omega) / so * p1


def path(z_a, z_b, num_steps: int, method: str = 'slerp') -> np.ndarray:
  """[num_steps, Z] codes from ``z_a`` to ``z_b``, both included exactly (float32)."""
  if method not in METHODS:
    raise ValueError(f'method={method!r}: choose one of {", ".join(METHODS)}.')
  if num_steps < 2:
    raise ValueError(f'num_steps={num_steps}: an interpolation needs at least its two ends.')
  fn = slerp if method == 'slerp' else lerp
  z_a, z_b = np.asarray(z_a, np.float32), np.asarray(z_b, np.float32)
  out = np.stack([fn(z_a, z_b, t) for t in np.linspace(0.0, 1.0, num_steps)]).astype(np.float32)
  # The ends are the inputs' own codes, bit for bit, so they decode as the reconstructions do.
  out[0], out[-1] = z_a, z_b
  return out


def decode_paths(model, mu_a_WxZ, mu_b_WxZ, num_steps: int, *, key, method: str = 'slerp',
                 temperature: float = 1.0, qpm: float = 120.0, chords_WxT=None) -> list:
  """``num_steps`` pieces: piece s joins step s of every window's path from mu_a[k] to mu_b[k].

  The pieces are written at ``qpm`` (the caller passes the first input's tempo).

  All W × num_steps codes decode in one batch, step-major: window k of step s is output
  s·W + k and draws on ``fold_in(key, s·W + k)`` (``model.decode_labels``). With one window
  (W = 1) output s is step s, as a two-input interpolation has always been decoded.
  A chord model decodes window k of every step under ``chords_WxT[k]``.
  """
  mu_a, mu_b = np.asarray(mu_a_WxZ), np.asarray(mu_b_WxZ)
  if mu_a.shape != mu_b.shape:
    raise ValueError(f'codes of {mu_a.shape} and {mu_b.shape}: a path needs a pair per window.')
  n = len(mu_a)
  paths = np.stack([path(mu_a[w], mu_b[w], num_steps, method) for w in range(n)], axis=1)
  labels = model.decode_labels(paths.reshape(num_steps * n, -1), key=key,
                               temperature=temperature,
                               chords_NxT=None if chords_WxT is None else np.tile(
                                   np.asarray(chords_WxT)[:n], (num_steps, 1)))
  return [model.to_piece(labels[s * n:(s + 1) * n], qpm=qpm) for s in range(num_steps)]
