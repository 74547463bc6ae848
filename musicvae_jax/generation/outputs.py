"""Writing generated music: a MIDI file, its piano-roll PNG beside it, and a WAV when possible.

WAV files are rendered with FluidSynth and a General MIDI soundfont (Debian/Ubuntu:
``apt install fluidsynth fluid-soundfont-gm``; elsewhere set ``MUSICVAE_SOUNDFONT`` to any
``.sf2``): by the ``fluidsynth`` program, or else inside this process through pyfluidsynth
(``pip install musicvae_jax[audio]``; it needs the FluidSynth library). Without either, generation
still writes MIDI and PNG and says once why there is no WAV.

Each output appears whole or not at all: its files are written under hidden temporary names
(``.<stem>.partial.mid`` ...) and renamed into place, the MIDI last, so an interrupted run
(Ctrl-C) never leaves a MIDI without its piano roll, nor a half-written file.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import shutil
import subprocess
import warnings
import wave

import numpy as np

from musicvae_jax import progress
from musicvae_jax.render import piano_roll

with warnings.catch_warnings():
  warnings.simplefilter('ignore', RuntimeWarning)
  import note_seq
  import pretty_midi
  from note_seq import chords_lib

SOUNDFONT_ENV = 'MUSICVAE_SOUNDFONT'
SOUNDFONTS = ('/usr/share/sounds/sf2/FluidR3_GM.sf2', '/usr/share/sounds/sf2/default-GM.sf2',
              '/usr/share/soundfonts/FluidR3_GM.sf2', '/usr/share/soundfonts/default.sf2',
              '/opt/homebrew/share/soundfonts/default.sf2',
              '/usr/local/share/soundfonts/default.sf2')
SAMPLE_RATE = 44100


@dataclasses.dataclass(frozen=True)
class Synth:
  """How WAVs get made here: the FluidSynth program or library and a soundfont, or why not."""
  program: str | None
  soundfont: str | None
  library: bool = False  # pyfluidsynth imports (it loads the FluidSynth library)

  @property
  def available(self) -> bool:
    return bool((self.program or self.library) and self.soundfont)

  @property
  def missing(self) -> str:
    if not (self.program or self.library):
      return ('no WAV files: FluidSynth is not installed (apt install fluidsynth '
              'fluid-soundfont-gm, or brew install fluid-synth)')
    return (f'no WAV files: no General MIDI soundfont found (apt install fluid-soundfont-gm, or '
            f'set {SOUNDFONT_ENV}=<file.sf2>)')


def _has_pyfluidsynth() -> bool:
  try:
    import fluidsynth  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  except (ImportError, OSError):  # not installed, or the FluidSynth library is missing
    return False
  return True


def find_synth() -> Synth:
  program = shutil.which('fluidsynth')
  candidates = [os.environ.get(SOUNDFONT_ENV, '')] + list(SOUNDFONTS)
  soundfont = next((c for c in candidates if c and os.path.isfile(c)), None)
  return Synth(program, soundfont, library=not program and _has_pyfluidsynth())


def _render_in_process(midi_path: pathlib.Path, wav_path: pathlib.Path, soundfont: str) -> None:
  """pretty_midi drives pyfluidsynth; the mono float signal is written as 16-bit PCM."""
  import pretty_midi  # pylint: disable=g-import-not-at-top
  midi = pretty_midi.PrettyMIDI(str(midi_path))
  try:
    audio = midi.fluidsynth(fs=SAMPLE_RATE, synthesizer=soundfont)
  except TypeError:  # pretty_midi < 0.2.11 names the soundfont sf2_path
    audio = midi.fluidsynth(fs=SAMPLE_RATE, sf2_path=soundfont)
  pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype('<i2')
  with wave.open(str(wav_path), 'wb') as out:
    out.setnchannels(1)
    out.setsampwidth(2)
    out.setframerate(SAMPLE_RATE)
    out.writeframes(pcm.tobytes())


def render_wav(midi_path: pathlib.Path, wav_path: pathlib.Path, synth: Synth) -> bool:
  """Renders with the FluidSynth program (or library); False (and no file) if it fails."""
  try:
    if synth.program:
      cmd = [synth.program, '-ni', '-q', '-g', '1.0', '-r', str(SAMPLE_RATE), '-F',
             str(wav_path), synth.soundfont, str(midi_path)]
      subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    else:
      _render_in_process(midi_path, wav_path, synth.soundfont)
  except (OSError, subprocess.SubprocessError, ValueError, RuntimeError):
    wav_path.unlink(missing_ok=True)
    return False
  return wav_path.exists() and wav_path.stat().st_size > 44


_SAID = set()  # the reasons for no WAV already given in this process

_CHORD_SYMBOL = note_seq.NoteSequence.TextAnnotation.CHORD_SYMBOL


def with_chords_played(ns):
  """A copy of ``ns`` with its chord symbols played as a simple accompaniment: each chord's
  triad and its bass held until the next chord (note_seq's ``BasicChordRenderer``, a pad, as
  Magenta's improv_rnn plays chords)."""
  out = note_seq.NoteSequence()
  out.CopyFrom(ns)
  chords_lib.BasicChordRenderer(
      instrument=max([n.instrument for n in ns.notes] + [0]) + 1).render(out)
  return out


def write_midi(ns, path) -> None:
  """``ns`` as a MIDI file, its chord symbols as text events at their times (note_seq's writer
  drops text annotations)."""
  pm = note_seq.sequence_proto_to_pretty_midi(ns)
  pm.text_events.extend(pretty_midi.Text(ta.text, ta.time) for ta in ns.text_annotations
                        if ta.annotation_type == _CHORD_SYMBOL)
  pm.write(str(path))


@dataclasses.dataclass
class Writer:
  """Writes each sequence as ``<output_dir>/<stem>.mid`` with ``.png`` (and ``.wav``) beside it."""
  output_dir: pathlib.Path
  wav: bool = True
  log: object = print
  written: list = dataclasses.field(default_factory=list)
  progress: bool = False  # a progress bar over the outputs of write_all
  play_chords: bool = False  # chord symbols also played (``with_chords_played``)

  def __post_init__(self):
    self.output_dir = pathlib.Path(self.output_dir)
    self.output_dir.mkdir(parents=True, exist_ok=True)
    self.synth = find_synth() if self.wav else Synth(None, None)
    if self.wav and not self.synth.available and self.synth.missing not in _SAID:
      _SAID.add(self.synth.missing)  # once per process, not at every call of a notebook
      self.log(self.synth.missing)

  def write(self, ns, stem: str, title: str | None = None) -> pathlib.Path:
    """``<stem>.mid`` with its ``.png`` (and ``.wav``), all or none of them (see above)."""
    midi = self.output_dir / f'{stem}.mid'
    partial = {p: p.with_name(f'.{stem}.partial{p.suffix}')
               for p in (midi.with_suffix('.wav'), midi.with_suffix('.png'), midi)}
    placed = []
    try:
      if self.play_chords and any(ta.annotation_type == _CHORD_SYMBOL
                                  for ta in ns.text_annotations):
        ns = with_chords_played(ns)
      write_midi(ns, partial[midi])
      piano_roll.write_piano_roll(ns, partial[midi.with_suffix('.png')], title or stem)
      if self.synth.available:
        render_wav(partial[midi], partial[midi.with_suffix('.wav')], self.synth)
      for final, temporary in partial.items():  # the MIDI last
        if temporary.exists():
          temporary.replace(final)
          placed.append(final)
    except BaseException:  # KeyboardInterrupt too: no part of this output stays
      for p in list(partial.values()) + placed:
        p.unlink(missing_ok=True)
      raise
    self.written.append(midi)
    return midi

  def write_all(self, sequences, stem: str, titles=None, *,
                total: int | None = None) -> list[pathlib.Path]:
    """``<stem>-001-of-00N`` ... as Magenta's generate script numbers its outputs.

    ``sequences`` may be any iterable, ``total`` long (e.g. the batches of
    ``TrainedModel.sample_batches``, chained): each output is written as it comes.
    """
    n = len(sequences) if total is None else total
    width = max(3, len(str(n)))
    paths = []
    with progress.bar(total=n, desc='write', unit='output', leave=False,
                      enabled=self.progress) as bar:
      for i, ns in enumerate(sequences):
        paths.append(self.write(ns, f'{stem}-{i + 1:0{width}d}-of-{n:0{width}d}',
                                titles[i] if titles else None))
        bar.update()
    return paths
