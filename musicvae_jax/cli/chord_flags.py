"""--chords and --play_chords, for the commands that decode a chord-conditioned model
(musicvae-sample, -interpolate, -reconstruct)."""

from __future__ import annotations

from absl import flags

CHORDS = flags.DEFINE_string(
    'chords', None, 'Chord-conditioned models (cat-mel_2bar_med_chords): one chord a bar '
    '(major, minor, aug or dim triads, N.C.), e.g. "C G Am F", repeated to the length. '
    "Default for interpolate and reconstruct: the input's own chords.")
PLAY_CHORDS = flags.DEFINE_bool(
    'play_chords', False, 'Chord-conditioned models: also play the chords in the MIDI (a pad '
    'holding each triad and its bass); they are always written as text events.')


def progression(model, windows: int | None = None):
  """[W, T] chord classes of --chords for ``model`` over ``windows`` windows (None when the flag
  is not given); a model without chords, or a chord with no triad, is refused in one line."""
  return None if CHORDS.value is None else model.progression(CHORDS.value, windows)
