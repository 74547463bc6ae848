"""The notebooks in colab/: stored clean, only calling the package, and running top to bottom.

Each notebook is executed by papermill in a fresh kernel (with this process's environment, so
JAX sees the 8 fake CPU devices of conftest) with ``TINY=True``, its one size parameter. A cell
that raises fails the test with the cell's traceback. Then what the notebook wrote and showed is
checked: real MIDI with a piano roll beside each, the images shown inline, audio players exactly
where a WAV exists, and the trained runs' checkpoints and curves.
"""

import ast
import inspect
import json
import pathlib
import subprocess
import warnings

import pytest

from conftest import REPO
from musicvae_jax import notebook
from musicvae_jax.generation import outputs
from musicvae_jax.training import metrics_io

nbformat = pytest.importorskip('nbformat')
papermill = pytest.importorskip('papermill')

with warnings.catch_warnings():
  warnings.simplefilter('ignore', RuntimeWarning)
  import note_seq

COLAB = REPO / 'colab'
NOTEBOOKS = ('quickstart', 'train_your_own', 'tpu_training')
# What a notebook's own code may import: the package, and what its cells hand results to.
ALLOWED_IMPORTS = {'musicvae_jax', 'jax', 'pathlib', 'sys'}


def _read(name: str):
  return nbformat.read(COLAB / f'{name}.ipynb', as_version=4)


def _python(cell_source: str) -> str:
  """The cell as Python: IPython's ``!shell`` and ``%magic`` lines become function calls."""
  from IPython.core.inputtransformer2 import TransformerManager  # pylint: disable=import-outside-toplevel
  return TransformerManager().transform_cell(cell_source)


def test_colab_holds_exactly_the_documented_notebooks():
  assert sorted(p.stem for p in COLAB.glob('*.ipynb')) == sorted(NOTEBOOKS)


@pytest.mark.parametrize('name', NOTEBOOKS)
def test_stored_with_outputs_stripped(name):
  book = _read(name)
  nbformat.validate(book)
  for i, cell in enumerate(book.cells):
    if cell.cell_type == 'code':
      assert cell.outputs == [] and cell.execution_count is None, f'{name} cell {i} has outputs'
  assert 'widgets' not in book.metadata


@pytest.mark.parametrize('name', NOTEBOOKS)
def test_cells_only_import_and_call_the_package(name):
  book = _read(name)
  code = [c for c in book.cells if c.cell_type == 'code']
  params = [c for c in code if 'parameters' in c.metadata.get('tags', [])]
  assert len(params) == 1, 'one cell tagged "parameters" (papermill injects after it)'
  assert 'TINY = False' in params[0].source
  for i, cell in enumerate(code):
    tree = ast.parse(_python(cell.source))
    for node in ast.walk(tree):
      assert not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                                   ast.Lambda)), f'{name} cell {i}: model code belongs in the package'
      if isinstance(node, ast.Import):
        tops = {a.name.split('.')[0] for a in node.names}
      elif isinstance(node, ast.ImportFrom):
        tops = {(node.module or '').split('.')[0]}
      else:
        continue
      assert tops <= ALLOWED_IMPORTS, f'{name} cell {i} imports {tops - ALLOWED_IMPORTS}'


def _folders_written() -> set[str]:
  """The folders the notebooks write into, as their cells name them (OUTPUT_DIR, WORK_DIR)."""
  folders = {inspect.signature(notebook.midi_folder).parameters['upload_dir'].default}
  for name in NOTEBOOKS:
    for cell in _read(name).cells:
      if cell.cell_type == 'code':
        for node in ast.walk(ast.parse(_python(cell.source))):
          if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
              and any(getattr(t, 'id', '') in ('OUTPUT_DIR', 'WORK_DIR') for t in node.targets)):
            folders.add(node.value.value)
  return folders


def test_what_the_notebooks_write_is_ignored_by_git():
  if not (REPO / '.git').exists():
    pytest.skip('not a git checkout')
  folders = _folders_written()
  assert {'quickstart_output', 'my_musicvae', 'tpu_musicvae'} <= folders, folders
  # Jupyter starts a notebook in colab/; papermill or a script may run it from the top.
  paths = [f'{top}{folder}/run/config.json' for folder in folders for top in ('colab/', '')]
  proc = subprocess.run(['git', 'check-ignore', '--no-index', *paths], cwd=REPO,
                        capture_output=True, text=True, check=False)
  assert sorted(proc.stdout.split()) == sorted(paths), proc.stderr
  # The notebooks themselves stay tracked.
  assert subprocess.run(['git', 'check-ignore', '-q', '--no-index', 'colab/quickstart.ipynb'],
                        cwd=REPO, check=False).returncode == 1


def _execute(name: str, cwd: pathlib.Path):
  out = cwd / f'{name}.executed.ipynb'
  papermill.execute_notebook(str(COLAB / f'{name}.ipynb'), str(out), parameters={'TINY': True},
                             cwd=str(cwd), kernel_name='python3', progress_bar=False,
                             execution_timeout=600)
  return nbformat.read(out, as_version=4)


def _shown(book) -> tuple[int, int, str]:
  """(inline images, inline audio players, all text the cells printed)."""
  images = audio = 0
  text = []
  for cell in book.cells:
    for o in cell.get('outputs', []):
      if o.output_type == 'stream':
        text.append(o.text)
      elif o.output_type in ('display_data', 'execute_result'):
        images += 'image/png' in o.data
        audio += '<audio' in o.data.get('text/html', '')
        text.append(o.data.get('text/plain', ''))
  return images, audio, ''.join(text)


def _check_written(folder: pathlib.Path, stem: str, count: int) -> list:
  midis = sorted(folder.glob(f'{stem}-*.mid'))
  assert len(midis) == count, (stem, midis)
  sequences = []
  for midi in midis:
    assert midi.with_suffix('.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    ns = note_seq.midi_file_to_note_sequence(str(midi))
    assert ns.notes, f'{midi} has no notes'
    sequences.append(ns)
  return sequences


def _wavs_match_synth(folder: pathlib.Path, audio_shown: int) -> None:
  wavs = list(folder.rglob('*.wav'))
  midis = list(folder.rglob('*.mid'))
  if outputs.find_synth().available:
    assert len(wavs) == len(midis) == audio_shown
  else:
    assert not wavs and audio_shown == 0


def test_quickstart_runs_and_shows_every_result(tmp_path):
  book = _execute('quickstart', tmp_path)
  images, audio, text = _shown(book)
  out = tmp_path / 'quickstart_output'
  _check_written(out, 'sample', 2)
  _check_written(out, 'inputs', 2)
  morph = _check_written(out, 'interpolate', 3)
  steered = _check_written(out, 'note_density', 3)   # amounts -1, 0, +1
  _check_written(out, 'drums', 2)
  assert all(n.is_drum for n in _check_written(out, 'drums', 2)[0].notes)
  long = _check_written(out, 'sample16', 2)
  assert all(ns.total_time > 8 * 2.0 for ns in long)  # more than 8 bars at 120 qpm
  assert images == len(list(out.glob('*.mid'))) == 14
  _wavs_match_synth(out, audio)
  # The model's card: held-out figures per style.
  assert 'bundled:cat-mel_2bar_small' in text and 'pop:' in text and 'folk:' in text
  assert 'bundled:hierdec-mel_16bar' in text
  # The note-density vector works: more notes at +1 than at -1 (same input, greedy decoding).
  assert len(steered[0].notes) < len(steered[2].notes)
  # The interpolation's middle differs from both ends.
  pitches = [[n.pitch for n in ns.notes] for ns in morph]
  assert pitches[1] != pitches[0] or pitches[1] != pitches[2]


def test_train_your_own_prepares_trains_scores_and_samples(tmp_path):
  book = _execute('train_your_own', tmp_path)
  images, audio, text = _shown(book)
  work = tmp_path / 'my_musicvae'
  info = json.loads((work / 'data' / 'dataset.json').read_text())
  assert info['splits']['train']['windows'] > 0 and info['splits']['eval']['windows'] > 0
  assert max(r['step'] for r in metrics_io.read_metrics(work / 'run')) == 40
  assert (work / 'run' / 'checkpoints' / '40').is_dir()
  assert (work / 'run' / 'curves.png').read_bytes()[:4] == b'\x89PNG'
  assert 'teacher-forced' in text and 'sampled' in text
  _check_written(work / 'samples', 'sample', 2)
  assert images == 1 + 2  # the curves, then each sample's piano roll
  _wavs_match_synth(work / 'samples', audio)


def test_tpu_training_shards_over_every_device_and_samples_on_one(tmp_path):
  book = _execute('tpu_training', tmp_path)
  images, _, text = _shown(book)
  work = tmp_path / 'tpu_musicvae'
  # conftest's 8 CPU devices, the parameters split over all of them (FSDP).
  assert '8 devices (cpu), mesh data=1 fsdp=8' in text
  config = json.loads((work / 'run' / 'config.json').read_text())
  assert config['train']['fsdp'] and config['train']['compute_dtype'] == 'bfloat16'
  assert (work / 'run' / 'checkpoints' / '8').is_dir()
  sixteen_bars = _check_written(work / 'samples', 'sample', 2)
  assert all(ns.total_time > 8 * 2.0 for ns in sixteen_bars)  # 16 bars at 120 qpm: 32 s
  assert images == 1 + 2
