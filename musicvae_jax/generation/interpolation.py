"""Paths between two latent codes: spherical (slerp) and straight (lerp).

slerp(p0, p1, t) = sin((1 - t)Ω)/sin Ω · p0 + sin(tΩ)/sin Ω · p1, Ω the angle between p0 and p1,
as Magenta's TrainedModel interpolates. Magenta returns NaN when the two codes point the same
way (Ω = 0); here the path falls back to the straight line there, where slerp's limit is lerp.
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
