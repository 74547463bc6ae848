"""Chords and keys for any MIDI file: the library call behind ``musicvae-chords``.

  est = annotate.Estimator.load()             # the bundled POP909 model, or load(folder)
  result = est.estimate('song.mid')           # per-beat chords and keys, and their segments
  annotate.write(result, 'out/')              # .chords.lab, .keys.lab, .json, .mid, .png

``Result`` holds the beat grid, one chord and one key per beat (argmax of the classifier's
per-beat distributions), the probability of each chosen chord, runs merged into segments, and
the global key (argmax of the summed per-beat key log-probabilities). The files:

* ``<stem>.chords.lab`` and ``<stem>.keys.lab``: ``start end label`` per segment, seconds,
  tab-separated: mir_eval's lab format (``mir_eval.io.load_labeled_intervals`` reads them);
  chords as Harte labels (``C:maj7``), keys as ``C:maj`` / ``A:min``;
* ``<stem>.json``: every beat (time, chord, key, chord probability), the segments, the global
  key, the instrument roles and the model's description;
* ``<stem>.mid``: the input with a text event at each chord change and a key signature at each
  key change (the file's own key signatures are replaced);
* ``<stem>.png``: the piano roll with a chord lane and a key lane under it.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import numpy as np
import pretty_midi

from musicvae_jax import bundled_data
from musicvae_jax.chordkey import classifier, joint, midi_input, scoring, vae, vocabulary

BUNDLED = 'chordkey_pop909'


def bundled_model_dir() -> pathlib.Path:
  return bundled_data.data_dir() / 'models' / 'chordkey' / BUNDLED


@dataclasses.dataclass
class Result:
  path: pathlib.Path
  beat_times_b1: np.ndarray        # [B + 1] seconds
  chords_b: list                   # [B] Harte labels
  keys_b: list                     # [B] key labels
  chord_prob_b: np.ndarray         # [B] probability of each chosen chord
  global_key: str
  roles: dict                      # 'PIANO' / 'MELODY' / 'BRIDGE' -> instrument names
  midi: pretty_midi.PrettyMIDI
  model: dict

  def segments(self, labels_b) -> list:
    """[(start s, end s, label)] with runs of equal labels merged."""
    intervals_s2, labels = scoring.beat_intervals(self.beat_times_b1, list(labels_b))
    return [(float(a), float(b), lab) for (a, b), lab in zip(intervals_s2, labels)]


class Estimator:
  """A trained chord/key model ready to read MIDI files."""

  def __init__(self, trainer: vae.Trainer, params, info: dict):
    self.trainer, self.params, self.info = trainer, params, info

  @classmethod
  def load(cls, folder=None) -> Estimator:
    """From a folder ``vae.save`` wrote or a ``musicvae-train`` workdir of ``chordkey_vae``;
    None: the bundled model trained on POP909."""
    if folder is not None and joint.is_workdir(folder):
      return cls(*joint.load_workdir(folder))
    return cls(*vae.load(folder or bundled_model_dir()))

  def estimate(self, path, beats=None) -> Result:
    song, midi, roles = midi_input.read_midi(path, beats)
    chord_lp, key_lp = vae.predict_song(self.trainer, self.params, classifier.song_features(song))
    chords_b, keys_b, global_key = classifier.decode(chord_lp, key_lp)
    prob_b = np.exp(chord_lp.max(axis=1))
    model = {k: self.info[k] for k in ('trained_on', 'command', 'scores') if k in self.info}
    return Result(pathlib.Path(path), song.beat_times_b1, chords_b, keys_b, prob_b, global_key,
                  roles, midi, model)


def _write_lab(path: pathlib.Path, segments) -> None:
  path.write_text(''.join(f'{a:.4f}\t{b:.4f}\t{lab}\n' for a, b, lab in segments))


def annotated_midi(result: Result) -> pretty_midi.PrettyMIDI:
  """The input MIDI with a text event per chord change and a key signature per key change."""
  midi = result.midi
  midi.text_events = [e for e in midi.text_events if not e.text.startswith('chord:')]
  midi.text_events += [pretty_midi.Text(f'chord:{lab}', a)
                       for a, _, lab in result.segments(result.chords_b)]
  midi.key_signature_changes = [pretty_midi.KeySignature(vocabulary.key_index(lab), a)
                                for a, _, lab in result.segments(result.keys_b)]
  return midi


def write(result: Result, output_dir, title: str | None = None) -> dict:
  """Writes the five files for ``result`` into ``output_dir``; returns {kind: path}."""
  from note_seq import midi_io  # pylint: disable=g-import-not-at-top
  from musicvae_jax.render import piano_roll  # pylint: disable=g-import-not-at-top
  out = pathlib.Path(output_dir)
  out.mkdir(parents=True, exist_ok=True)
  stem = result.path.stem
  paths = {kind: out / f'{stem}{suffix}' for kind, suffix in (
      ('chords', '.chords.lab'), ('keys', '.keys.lab'), ('json', '.json'), ('midi', '.mid'),
      ('png', '.png'))}
  chord_segments, key_segments = result.segments(result.chords_b), result.segments(result.keys_b)
  _write_lab(paths['chords'], chord_segments)
  _write_lab(paths['keys'], key_segments)
  beats = [dict(time=round(float(t), 4), chord=c, key=k, chord_prob=round(float(p), 4))
           for t, c, k, p in zip(result.beat_times_b1[:-1], result.chords_b, result.keys_b,
                                 result.chord_prob_b)]
  paths['json'].write_text(json.dumps(dict(
      file=str(result.path), global_key=result.global_key, roles=result.roles,
      chords=[dict(start=a, end=b, label=lab) for a, b, lab in chord_segments],
      keys=[dict(start=a, end=b, label=lab) for a, b, lab in key_segments],
      beats=beats, model=result.model), indent=1) + '\n')
  midi = annotated_midi(result)
  midi.write(str(paths['midi']))
  seq = midi_io.midi_to_note_sequence(midi)
  piano_roll.write_piano_roll(seq, paths['png'],
                              title=title or f'{stem}: chords and keys (global key '
                                             f'{result.global_key})',
                              lanes=[('chord', chord_segments), ('key', key_segments)])
  return paths
