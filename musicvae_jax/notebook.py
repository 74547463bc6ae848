"""What the notebooks in colab/ call to see and hear music inline, and to pick a MIDI folder.

Everything shown is also a file: ``show`` writes each sequence as MIDI with its piano-roll PNG
(and a WAV when FluidSynth is there, see ``generation.outputs``), then displays the PNG and an
audio player for the WAV. ``show_training`` draws a run's metrics.jsonl to ``curves.png``.
IPython is imported only when something is displayed, so the module also works in a script
(where ``display`` prints the file names instead).
"""

from __future__ import annotations

import pathlib
import sys

from musicvae_jax import bundled_data
from musicvae_jax.generation import outputs
from musicvae_jax.render import training_curves


def in_colab() -> bool:
  return 'google.colab' in sys.modules


def _display(*objects) -> None:
  try:
    from IPython import display as ipd  # pylint: disable=g-import-not-at-top
  except ImportError:
    ipd = None
  for obj in objects:
    if ipd is None:
      print(obj)
    elif isinstance(obj, pathlib.Path) and obj.suffix == '.png':
      ipd.display(ipd.Image(filename=str(obj)))
    elif isinstance(obj, pathlib.Path) and obj.suffix == '.wav':
      ipd.display(ipd.Audio(filename=str(obj)))
    else:
      ipd.display(obj)


def show(sequences, output_dir, stem: str, *, titles=None, audio: bool = True
         ) -> list[pathlib.Path]:
  """Writes ``<output_dir>/<stem>-NNN-of-MMM.mid`` (+ .png, + .wav) and shows each inline.

  Returns the MIDI paths. Without a synthesiser it says why there is no audio, once per kernel
  (not in every cell that shows music).
  """
  sequences = list(sequences)
  writer = outputs.Writer(pathlib.Path(output_dir), wav=audio)
  midis = writer.write_all(sequences, stem, titles)
  for midi in midis:
    shown = [midi.with_suffix('.png')]
    if midi.with_suffix('.wav').exists():
      shown.append(midi.with_suffix('.wav'))
    _display(*shown)
  return midis


def show_training(workdir, *, free_bits: float | None = None) -> pathlib.Path:
  """Draws the run's loss, KL and accuracy curves to ``<workdir>/curves.png`` and shows it."""
  path = training_curves.write_training_curves(workdir, free_bits=free_bits)
  _display(path)
  return path


def midi_folder(path=None, *, kind: str = 'melody', upload: bool = False,
                upload_dir='uploaded_midi') -> pathlib.Path:
  """The folder of MIDI to train on.

  ``upload=True`` in Colab opens the browser's file picker and saves the chosen files in
  ``upload_dir``; otherwise ``path`` (which must be a folder), or the bundled folder of
  ``kind`` ('melody', 'drums' or 'trio') when ``path`` is None.
  """
  if upload:
    if not in_colab():
      raise RuntimeError('upload=True needs Google Colab; elsewhere pass path=<your MIDI folder>.')
    from google.colab import files  # pylint: disable=g-import-not-at-top,import-error
    folder = pathlib.Path(upload_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.upload().items():
      (folder / pathlib.Path(name).name).write_bytes(data)
    return folder
  if path is None:
    return bundled_data.midi_dir(kind)
  folder = pathlib.Path(path).expanduser()
  if not folder.is_dir():
    raise FileNotFoundError(f'{folder}: not a folder. Point MIDI_DIR at a folder of .mid/.midi '
                            'files (it is read recursively), or leave it empty for the bundled '
                            f'{kind} folder.')
  return folder
