"""The generating commands run as a user runs them: a fresh interpreter per command.

musicvae-sample, -interpolate, -reconstruct, -attributes and -export are run on a workdir imported
from the real (small) Magenta cat-mel_2bar_small checkpoint in shared/reference, with real
Nottingham tunes as inputs (tests/cli/test_error_paths.py runs their refusals). Each run costs an
interpreter start and a jax import, so the runs that several tests read are made once in module
fixtures, and every run shares one persistent XLA compilation cache.
"""

import json
import os
import pathlib
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

from conftest import SHARED
from musicvae_jax import config_boundary
from musicvae_jax.converters import midi_io
from musicvae_jax.generation import attribute_metrics
from musicvae_jax.generation import attribute_vectors
from musicvae_jax.generation import outputs

with warnings.catch_warnings():  # note_seq's pydub warns that there is no ffmpeg
  warnings.simplefilter('ignore', RuntimeWarning)
  import note_seq

MODULES = {'musicvae-sample': 'sample', 'musicvae-interpolate': 'interpolate',
           'musicvae-reconstruct': 'reconstruct', 'musicvae-attributes': 'attributes',
           'musicvae-export': 'export'}
CONFIG = 'cat-mel_2bar_small'
WINDOW_S = 4.0  # 2 bars of 4 quarters at 120 qpm
STEPS = 32
# Real tunes the melody model reads bar for bar: 4 and 5 windows of 2 bars.
TUNE_A = 'nottingham_hpps11.mid'
TUNE_B = 'nottingham_morris19.mid'


# ---- running commands -----------------------------------------------------------------------
class Cli:
  """Runs musicvae-* commands in fresh interpreters, in a scratch folder, sharing an XLA cache."""

  def __init__(self, cwd: pathlib.Path, cache: pathlib.Path):
    self.cwd = cwd
    self.env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=str(cache),
                    JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS='0',
                    JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES='0')

  def __call__(self, prog, *args, expect=0) -> subprocess.CompletedProcess:
    code = (f'import sys; sys.argv[0] = {prog!r}; '
            f'from musicvae_jax.cli.{MODULES[prog]} import run; run()')
    proc = subprocess.run([sys.executable, '-c', code, *map(str, args)], capture_output=True,
                          text=True, cwd=self.cwd, env=self.env, timeout=600, check=False)
    if proc.returncode != expect:
      raise AssertionError(f'{prog} {" ".join(map(str, args))}: exit {proc.returncode}, expected '
                           f'{expect}\nstdout:\n{proc.stdout[-2000:]}\nstderr:\n'
                           f'{proc.stderr[-3000:]}')
    return proc


@pytest.fixture(scope='module')
def cli(tmp_path_factory) -> Cli:
  return Cli(tmp_path_factory.mktemp('cwd'), tmp_path_factory.mktemp('xla_cache'))


def _error(proc, prog) -> str:
  """The one line a refused command prints (exit status 2 already checked by ``cli``)."""
  lines = [l for l in proc.stderr.splitlines() if l.strip()]
  assert len(lines) == 1, f'expected one line on stderr, got:\n{proc.stderr}'
  assert lines[0].startswith(f'{prog}: error: '), lines[0]
  assert 'Traceback' not in proc.stderr + proc.stdout
  return lines[0]


def _notes(midi) -> list[tuple[int, float, float]]:
  ns = note_seq.midi_file_to_note_sequence(str(midi))
  return sorted((n.pitch, round(n.start_time, 4), round(n.end_time, 4)) for n in ns.notes)


def _midis(folder, pattern='*.mid') -> list[pathlib.Path]:
  return sorted(pathlib.Path(folder).glob(pattern))


# ---- shared inputs --------------------------------------------------------------------------
@pytest.fixture(scope='module')
def workdir(tmp_path_factory):
  """A workdir imported from Magenta's own cat-mel_2bar_small checkpoint (trained 3 steps)."""
  from musicvae_jax.magenta import importer  # pylint: disable=import-outside-toplevel
  folder = SHARED / 'reference' / 'magenta_checkpoints' / 'mel2'
  if not folder.is_dir():
    pytest.fail(f'The Magenta checkpoint fixtures are missing at {folder}.')
  wd = tmp_path_factory.mktemp('mel2') / 'workdir'
  importer.import_checkpoint(folder, CONFIG, wd, log=lambda _: None)
  return wd


@pytest.fixture(scope='module')
def tunes(shared_midi):
  return {name: shared_midi / 'melody' / name for name in (TUNE_A, TUNE_B)}


@pytest.fixture(scope='module')
def model_windows(tunes):
  """How many windows the model cuts each tune into (computed here, not by the commands)."""
  from musicvae_jax import config_lib  # pylint: disable=import-outside-toplevel
  from musicvae_jax.generation import inputs  # pylint: disable=import-outside-toplevel
  converter = config_boundary.converter_of(config_lib.get_config(CONFIG))
  return {name: len(inputs.split_windows(midi_io.read_midi(tunes[name]), converter).labels)
          for name in (TUNE_A, TUNE_B)}


# ---- musicvae-sample ------------------------------------------------------------------------
@pytest.fixture(scope='module')
def seeded(cli, workdir, tmp_path_factory):
  """The same --seed twice: with the default --wav and with --wav=false."""
  out = tmp_path_factory.mktemp('seeded')
  args = (f'--workdir={workdir}', '--num_outputs=3', '--seed=7')
  runs = dict(wav=cli('musicvae-sample', *args, f'--output_dir={out / "wav"}'),
              nowav=cli('musicvae-sample', *args, f'--output_dir={out / "nowav"}', '--wav=false'))
  return out, runs


@pytest.fixture(scope='module')
def unseeded(cli, workdir, tmp_path_factory):
  """A run without --seed: (its folder, the seed it printed, the process)."""
  out = tmp_path_factory.mktemp('unseeded')
  first = cli('musicvae-sample', f'--workdir={workdir}', '--num_outputs=3', '--wav=false',
              f'--output_dir={out}')
  found = re.findall(r'^musicvae-sample: seed (\d+) \(pass --seed=(\d+) to repeat this run\)$',
                     first.stdout, re.M)
  assert len(found) == 1 and found[0][0] == found[0][1], first.stdout
  return out, int(found[0][0]), first


@pytest.fixture(scope='module')
def exported(cli, workdir, unseeded, tmp_path_factory):
  """The workdir exported in float32, and the unseeded run repeated from it with its seed.

  One run checks two things (each run costs seconds): the printed seed repeats the run, and the
  exported folder is the same model as the workdir it came from.
  """
  tmp = tmp_path_factory.mktemp('exported')
  folder = tmp / 'model'
  export = cli('musicvae-export', f'--workdir={workdir}', f'--output={folder}', '--step=3',
               '--dtype=float32')
  again = cli('musicvae-sample', f'--workdir={folder}', '--num_outputs=3', '--wav=false',
              f'--seed={unseeded[1]}', f'--output_dir={tmp / "again"}')
  return folder, export, tmp / 'again', again


def test_sample_writes_num_outputs_midi_files_of_two_bars_with_piano_rolls(seeded):
  out, runs = seeded
  midis = _midis(out / 'wav')
  assert len(midis) == 3
  assert [m.name[-15:] for m in midis] == [f'-00{i}-of-003.mid' for i in (1, 2, 3)]
  assert all(m.name.startswith(f'{CONFIG}_sample_') for m in midis)
  for midi in midis:
    png = midi.with_suffix('.png')
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    ns = note_seq.midi_file_to_note_sequence(str(midi))
    assert [t.qpm for t in ns.tempos] == [120.0]
    assert ns.notes, f'{midi.name} has no notes'
    assert all(0.0 <= n.start_time < n.end_time <= WINDOW_S + 1e-6 for n in ns.notes)
    assert not any(n.is_drum for n in ns.notes)
  # Every file is listed on stdout.
  listed = [pathlib.Path(l.strip()) for l in runs['wav'].stdout.splitlines() if l.startswith('  ')]
  assert listed == midis


def test_sample_renders_wav_only_when_fluidsynth_and_a_soundfont_exist(seeded):
  out, runs = seeded
  synth = outputs.find_synth()
  wavs = sorted((out / 'wav').glob('*.wav'))
  if synth.available:
    assert [w.with_suffix('.mid') for w in wavs] == _midis(out / 'wav')
    for wav in wavs:
      assert wav.read_bytes()[:4] == b'RIFF' and wav.stat().st_size > 44
    assert 'no WAV files' not in runs['wav'].stderr
  else:
    assert not wavs
    notices = [l for l in runs['wav'].stderr.splitlines() if l.startswith('no WAV files')]
    assert notices == [synth.missing]
  # --wav=false: no WAV and no notice, whatever is installed.
  assert not list((out / 'nowav').glob('*.wav'))
  assert len(list((out / 'nowav').glob('*.png'))) == 3
  assert 'no WAV files' not in runs['nowav'].stderr


def test_sample_same_seed_gives_the_same_notes(seeded):
  out, _ = seeded
  a, b = _midis(out / 'wav'), _midis(out / 'nowav')
  assert len(a) == len(b) == 3
  assert [_notes(m) for m in a] == [_notes(m) for m in b]
  # The three outputs of one run are three different pieces.
  assert len({tuple(_notes(m)) for m in a}) == 3


def test_sample_without_seed_prints_one_that_repeats_the_run(seeded, unseeded, exported):
  out, seed, _ = unseeded
  again_dir, again = exported[2:]
  assert 'seed' not in again.stdout.split('wrote')[0]  # a given seed is not announced again
  notes = [_notes(m) for m in _midis(out)]
  assert len(notes) == 3
  assert notes == [_notes(m) for m in _midis(again_dir)], (
      'the printed seed did not repeat the run (or the exported model differs from its workdir)')
  # A different seed (7 above) gives different music.
  assert seed != 7
  assert notes != [_notes(m) for m in _midis(seeded[0] / 'wav')]


# ---- musicvae-reconstruct and musicvae-interpolate -------------------------------------------
@pytest.fixture(scope='module')
def greedy(cli, workdir, tunes, tmp_path_factory):
  """Reconstructions of both tunes and an interpolation between them, all at temperature 0."""
  out = tmp_path_factory.mktemp('greedy')
  recon = cli('musicvae-reconstruct', f'--workdir={workdir}', '--temperature=0', '--seed=1',
              f'--input_midi={tunes[TUNE_A]},{tunes[TUNE_B]}', '--wav=false',
              f'--output_dir={out / "reconstruct"}')
  interp = cli('musicvae-interpolate', f'--workdir={workdir}', '--temperature=0', '--seed=2',
               f'--input_midi_1={tunes[TUNE_A]}', f'--input_midi_2={tunes[TUNE_B]}',
               '--num_outputs=3', '--wav=false', f'--output_dir={out / "interpolate"}')
  return out, recon, interp


def test_reconstruct_writes_input_and_reconstruction_and_prints_the_match(greedy, tunes,
                                                                          model_windows):
  out, recon, _ = greedy
  folder = out / 'reconstruct'
  for name in (TUNE_A, TUNE_B):
    stem = pathlib.Path(name).stem
    (given,) = _midis(folder, f'{CONFIG}_reconstruct_*_{stem}_input.mid')
    (made,) = _midis(folder, f'{CONFIG}_reconstruct_*_{stem}-001-of-001.mid')
    n = model_windows[name]
    for midi in (given, made):
      assert midi.with_suffix('.png').read_bytes()[:4] == b'\x89PNG'
      notes = _notes(midi)
      assert notes and max(end for _, _, end in notes) <= n * WINDOW_S + 1e-6
    # The input as the model reads it keeps the tune's pitches (one line, highest note).
    tune_pitches = {n.pitch for n in midi_io.read_midi(tunes[name]).notes}
    assert {p for p, _, _ in _notes(given)} <= tune_pitches
    lines = [l for l in recon.stdout.splitlines() if l.startswith(f'{tunes[name]}: ')]
    assert len(lines) == 1, recon.stdout
    match = re.fullmatch(rf'.*: {n} window\(s\); reconstruction 1 matches (\d+\.\d)% of the '
                         r'steps', lines[0])
    assert match, lines[0]
    assert 0.0 <= float(match.group(1)) <= 100.0
  assert len(_midis(folder)) == 4 and not list(folder.glob('*.wav'))


def test_interpolate_ends_are_the_reconstructions(greedy, model_windows):
  out, _, _ = greedy
  outputs_ = _midis(out / 'interpolate')
  assert [m.name[-15:] for m in outputs_] == [f'-00{i}-of-003.mid' for i in (1, 2, 3)]
  assert all(m.with_suffix('.png').exists() for m in outputs_)
  n = min(model_windows.values())
  recon = {name: _notes(_midis(out / 'reconstruct',
                               f'*_{pathlib.Path(name).stem}-001-of-001.mid')[0])
           for name in (TUNE_A, TUNE_B)}
  first, middle, last = (_notes(m) for m in outputs_)
  assert first == [x for x in recon[TUNE_A] if x[1] < n * WINDOW_S]
  assert last == [x for x in recon[TUNE_B] if x[1] < n * WINDOW_S]
  assert middle and max(end for _, _, end in middle) <= n * WINDOW_S + 1e-6
  assert first != last


def test_interpolate_says_when_it_morphs_only_the_shorter_inputs_windows(greedy, model_windows):
  _, _, interp = greedy
  a, b = model_windows[TUNE_A], model_windows[TUNE_B]
  assert a != b
  notice = (f'musicvae-interpolate: the inputs give {a} and {b} windows; morphing the first '
            f'{min(a, b)}.')
  assert notice in interp.stderr.splitlines()


def test_interpolate_needs_two_outputs(cli, tunes, workdir):
  proc = cli('musicvae-interpolate', f'--workdir={workdir}', f'--input_midi_1={tunes[TUNE_A]}',
             f'--input_midi_2={tunes[TUNE_B]}', '--num_outputs=1', expect=2)
  assert '--num_outputs=1' in _error(proc, 'musicvae-interpolate')
  assert not (cli.cwd / 'musicvae_output').exists()


# ---- musicvae-attributes --------------------------------------------------------------------
@pytest.fixture(scope='module')
def computed(cli, workdir, melody_dataset):
  from musicvae_jax import checkpointing  # pylint: disable=import-outside-toplevel
  from musicvae_jax.training import loop  # pylint: disable=import-outside-toplevel
  # The prepared windows fit the model (32 steps, 90 classes): compute must accept them.
  loop.check_data(checkpointing.load_run_spec(workdir), melody_dataset)
  proc = cli('musicvae-attributes', 'compute', f'--workdir={workdir}', f'--data={melody_dataset}')
  return proc, workdir / attribute_vectors.FILE


def test_attributes_compute_writes_one_vector_per_attribute(computed, melody_dataset):
  from musicvae_jax.input_pipeline import pipeline  # pylint: disable=import-outside-toplevel
  proc, path = computed
  windows = pipeline.dataset_info(melody_dataset)['splits']['train']['windows']
  lines = proc.stdout.splitlines()
  assert lines[0] == (f'musicvae-attributes: {windows} windows of {melody_dataset} (train) -> '
                      f'{path}')
  vectors, meta = attribute_vectors.load(path)
  names = attribute_metrics.attribute_names('melody')
  assert sorted(vectors) == sorted(names)
  assert meta['config'] == CONFIG and meta['windows'] == windows and meta['z_size'] == 16
  rows = [l.split() for l in lines[2:]]
  assert [r[0] for r in rows] == list(names)  # one row per attribute, nothing else
  for name, row in zip(names, rows):
    assert vectors[name].shape == (16,) and np.all(np.isfinite(vectors[name]))
    bottom, top, norm = float(row[1]), float(row[3]), float(row[5])
    stats = meta['statistics'][name]
    assert (row[2], row[4]) == (f"({stats['bottom_count']})", f"({stats['top_count']})")
    assert norm == pytest.approx(np.linalg.norm(vectors[name]), abs=0.006)
    assert bottom == pytest.approx(meta['statistics'][name]['bottom_mean'], abs=5e-4)
    assert top == pytest.approx(meta['statistics'][name]['top_mean'], abs=5e-4)
    assert top >= bottom


def test_attributes_apply_writes_one_piece_per_amount(cli, computed, workdir, tunes,
                                                      model_windows, tmp_path):
  out = tmp_path / 'out'
  proc = cli('musicvae-attributes', 'apply', f'--workdir={workdir}', '--attribute=note_density',
             '--amounts=-2,0,2', f'--input_midi={tunes[TUNE_A]}', '--seed=5', '--wav=false',
             f'--output_dir={out}')
  midis = _midis(out)
  assert [m.name.split('_note_density-')[1] for m in midis] == [
      '001-of-003_-2.mid', '002-of-003_+0.mid', '003-of-003_+2.mid']
  assert all(m.with_suffix('.png').exists() for m in midis)
  n = model_windows[TUNE_A]
  assert f'{tunes[TUNE_A]}: {n} window(s); note_density of the results' in proc.stdout
  values = re.findall(r'^ +([+-]\d+) x vector: (\d+\.\d{3})$', proc.stdout, re.M)
  assert [k for k, _ in values] == ['-2', '+0', '+2']
  # The printed note density is that of the written piece: onsets per step, over its windows.
  for midi, (_, value) in zip(midis, values):
    assert float(value) == pytest.approx(len(_notes(midi)) / (STEPS * n), abs=5e-4)


def test_attributes_apply_refuses_another_models_vectors(cli, workdir, tunes, computed, tmp_path):
  other = tmp_path / 'drum_vectors.npz'
  vectors, meta = attribute_vectors.load(computed[1])
  attribute_vectors.save(other, vectors, dict(meta, config='cat-drums_2bar_small',
                                               workdir='runs/drums'))
  proc = cli('musicvae-attributes', 'apply', f'--workdir={workdir}',
             f'--input_midi={tunes[TUNE_A]}', f'--vectors={other}', '--attribute=note_density',
             expect=2)
  line = _error(proc, 'musicvae-attributes')
  assert str(other) in line and 'cat-drums_2bar_small' in line and CONFIG in line


# ---- musicvae-export ------------------------------------------------------------------------
def test_export_writes_a_model_folder_that_sample_reads(exported, workdir):
  folder, export, again_dir, _ = exported
  assert f'--workdir={folder}' in export.stdout
  assert sorted(p.name for p in folder.iterdir()) == ['config.json', 'model.json', 'params.npz']
  assert (folder / 'config.json').read_text() == (workdir / 'config.json').read_text()
  info = json.loads((folder / 'model.json').read_text())
  assert info['step'] == 3 and info['dtype'] == 'float32' and info['config'] == CONFIG
  with np.load(folder / 'params.npz') as params:
    assert params.files and all(params[k].dtype == np.float32 for k in params.files)
  # Read as --workdir by musicvae-sample (whose notes the unseeded test compares).
  midis = _midis(again_dir)
  assert len(midis) == 3 and all(_notes(m) for m in midis)
  assert all(m.name.startswith(f'{CONFIG}_sample_') for m in midis)




# ---- the commands write what the library returns for the same seed --------------------------
@pytest.fixture(scope='module')
def library(workdir):
  """The workdir's model in this process, for the library calls the commands make."""
  from musicvae_jax.generation import trained_model  # pylint: disable=import-outside-toplevel
  return trained_model.TrainedModel.from_workdir(workdir)


@pytest.fixture(scope='module')
def sampled(cli, workdir, tunes, computed, tmp_path_factory):
  """Runs whose keys matter: reconstructions from posterior samples (two each), an interpolation
  at temperature 1 and steering with the computed vectors, each with its --seed."""
  out = tmp_path_factory.mktemp('sampled')
  common = (f'--workdir={workdir}', '--wav=false')
  return out, dict(
      reconstruct=cli('musicvae-reconstruct', *common, '--seed=4', '--sample_z',
                      '--num_outputs=2', f'--input_midi={tunes[TUNE_A]},{tunes[TUNE_B]}',
                      f'--output_dir={out / "reconstruct"}'),
      interpolate=cli('musicvae-interpolate', *common, '--seed=3', '--temperature=1',
                      '--method=lerp', f'--input_midi_1={tunes[TUNE_B]}',
                      f'--input_midi_2={tunes[TUNE_A]}', '--num_outputs=3',
                      f'--output_dir={out / "interpolate"}'),
      apply=cli('musicvae-attributes', 'apply', *common, '--seed=6', '--attribute=pitch_range',
                '--amounts=-1,1', f'--input_midi={tunes[TUNE_B]}',
                f'--output_dir={out / "apply"}'))


def _midi_bytes(piece, path) -> bytes:
  note_seq.sequence_proto_to_midi_file(piece, str(path))
  return path.read_bytes()


def test_reconstruct_writes_and_prints_what_the_library_returns(sampled, library, tunes,
                                                                tmp_path):
  import jax  # pylint: disable=import-outside-toplevel
  from musicvae_jax.generation import reconstruction  # pylint: disable=import-outside-toplevel
  out, runs = sampled
  names = (TUNE_A, TUNE_B)
  results = reconstruction.reconstruct_inputs(
      library, [library.read_windows(tunes[name]).labels for name in names],
      key=jax.random.key(4), num_outputs=2, temperature=0.5, use_mean=False)
  for name, result in zip(names, results):
    stem = pathlib.Path(name).stem
    (given,) = _midis(out / 'reconstruct', f'*_{stem}_input.mid')
    assert given.read_bytes() == _midi_bytes(library.to_piece(result.inputs), tmp_path / 'in.mid')
    made = _midis(out / 'reconstruct', f'*_{stem}-00?-of-002.mid')
    assert len(made) == 2
    for r, midi in enumerate(made):
      assert midi.read_bytes() == _midi_bytes(library.to_piece(result.labels[r]),
                                              tmp_path / f'{r}.mid')
      line = (f'{tunes[name]}: {len(result.inputs)} window(s); reconstruction {r + 1} matches '
              f'{result.agreement[r]:.1%} of the steps')
      assert line in runs['reconstruct'].stdout.splitlines()
  # The two reconstructions of a tune differ (posterior samples decoded with their own keys).
  assert not np.array_equal(results[0].labels[0], results[0].labels[1])


def test_interpolate_writes_what_the_library_returns(sampled, library, tunes, tmp_path):
  import jax  # pylint: disable=import-outside-toplevel
  out, _ = sampled
  pieces = library.interpolate_windows(
      library.read_windows(tunes[TUNE_B]).labels, library.read_windows(tunes[TUNE_A]).labels,
      3, key=jax.random.key(3), method='lerp', temperature=1.0)
  midis = _midis(out / 'interpolate')
  assert len(midis) == 3
  for s, (midi, piece) in enumerate(zip(midis, pieces)):
    assert midi.read_bytes() == _midi_bytes(piece, tmp_path / f'{s}.mid')


def test_attributes_compute_writes_what_the_library_computes(computed, library, melody_dataset,
                                                             tmp_path):
  _, path = computed
  got_path, vectors, meta = attribute_vectors.from_dataset(
      library, melody_dataset, output=tmp_path / 'v.npz', progress=False)
  assert got_path == tmp_path / 'v.npz'
  written, written_meta = attribute_vectors.load(path)
  assert written_meta == meta and sorted(written) == sorted(vectors)
  for name in vectors:
    np.testing.assert_array_equal(written[name], vectors[name])


def test_attributes_apply_writes_and_prints_what_the_library_returns(sampled, library, tunes,
                                                                     tmp_path):
  import jax  # pylint: disable=import-outside-toplevel
  out, runs = sampled
  vector = attribute_vectors.vector_for(library, 'pitch_range')
  result = attribute_vectors.apply(library, library.read_windows(tunes[TUNE_B]).labels,
                                   'pitch_range', vector, [-1, 1], key=jax.random.key(6),
                                   temperature=0.5)
  midis = _midis(out / 'apply')
  assert [m.name.split('_pitch_range-')[1] for m in midis] == ['001-of-002_-1.mid',
                                                               '002-of-002_+1.mid']
  for i, (midi, piece, value) in enumerate(zip(midis, result.pieces, result.values)):
    assert midi.read_bytes() == _midi_bytes(piece, tmp_path / f'{i}.mid')
    assert f'  {result.amounts[i]:+6g} x vector: {value:.3f}' in runs['apply'].stdout


# ---- polyphonic input and the input's tempo -------------------------------------------------
# POP909 piano arrangement (melody, bridge and accompaniment, all program 0): 4/4, 73 qpm, chords.
PIANO = SHARED / 'data' / 'pop909' / 'songs' / '042' / '042.mid'
# Human drumming (Groove MIDI) at 92 and 128 qpm, read by the bundled drum model.
GROOVE_92 = 'gmd_drummer3_session2_23_rock_92_beat_4-4.mid'
GROOVE_128 = 'gmd_drummer1_session2_33_punk_128_beat_4-4.mid'
DRUM_MODEL = 'bundled:cat-drums_2bar_small'


def _tempos(midi) -> list[float]:
  import pretty_midi  # pylint: disable=import-outside-toplevel
  return list(pretty_midi.PrettyMIDI(str(midi)).get_tempo_changes()[1])


def _on_grid(midi, qpm: float, steps: int) -> bool:
  """Every note starts on a sixteenth of ``qpm`` and ends by ``steps`` sixteenths."""
  step_s = 60.0 / qpm / 4
  notes = note_seq.midi_file_to_note_sequence(str(midi)).notes
  return bool(notes) and all(abs(n.start_time / step_s - round(n.start_time / step_s)) < 1e-3
                             and n.end_time <= steps * step_s + 1e-6 for n in notes)


@pytest.fixture(scope='module')
def grooves(shared_midi):
  from musicvae_jax import bundled_data  # pylint: disable=import-outside-toplevel
  return [bundled_data.midi_dir('drums') / name for name in (GROOVE_92, GROOVE_128)]


@pytest.fixture(scope='module')
def piano(tmp_path_factory):
  """The piano piece's first 8 bars (4 windows: each window more costs the commands time)."""
  from note_seq import sequences_lib  # pylint: disable=import-outside-toplevel
  if not PIANO.is_file():
    pytest.fail(f'The shared POP909 set is missing at {PIANO}.')
  ns = midi_io.read_midi(PIANO)
  path = tmp_path_factory.mktemp('piano') / '042.mid'
  bars_8 = 8 * 4 * 60.0 / ns.tempos[0].qpm
  note_seq.sequence_proto_to_midi_file(sequences_lib.extract_subsequence(ns, 0.0, bars_8),
                                       str(path))
  return path


@pytest.fixture(scope='module')
def tempo_runs(cli, workdir, tunes, grooves, piano, tmp_path_factory):
  """Piano (chords) reconstructed, refused under --strict_monophony and morphed into a tune at
  --qpm=100; two grooves morphed at the first one's tempo; drums sampled at --qpm=90."""
  out = tmp_path_factory.mktemp('tempo')
  common = ('--wav=false', '--temperature=0')
  return out, dict(
      reconstruct=cli('musicvae-reconstruct', f'--workdir={workdir}', *common, '--seed=1',
                      f'--input_midi={piano}', f'--output_dir={out / "reconstruct"}'),
      strict=cli('musicvae-reconstruct', f'--workdir={workdir}', *common, '--strict_monophony',
                 f'--input_midi={piano}', f'--output_dir={out / "strict"}', expect=2),
      piano_to_tune=cli('musicvae-interpolate', f'--workdir={workdir}', *common, '--seed=2',
                        f'--input_midi_1={piano}', f'--input_midi_2={tunes[TUNE_A]}',
                        '--num_outputs=2', '--qpm=100', f'--output_dir={out / "piano_to_tune"}'),
      grooves=cli('musicvae-interpolate', f'--workdir={DRUM_MODEL}', '--wav=false', '--seed=5',
                  f'--input_midi_1={grooves[0]}', f'--input_midi_2={grooves[1]}',
                  '--num_outputs=3', f'--output_dir={out / "grooves"}'),
      sample=cli('musicvae-sample', f'--workdir={DRUM_MODEL}', '--wav=false', '--seed=3',
                 '--num_outputs=2', '--qpm=90', f'--output_dir={out / "sample"}'))


def test_reconstruct_reads_piano_keeping_the_highest_notes_and_says_how_many_dropped(
    tempo_runs, piano, library, tmp_path):
  out, runs = tempo_runs
  windows = library.read_windows(piano)
  assert windows.dropped_notes > 0
  notice = (f'{piano}: polyphonic; kept the highest note of each onset (dropped '
            f'{windows.dropped_notes} of {windows.pitched_notes} notes)')
  assert notice in runs['reconstruct'].stderr.splitlines()
  (given,) = _midis(out / 'reconstruct', '*_042_input.mid')
  (made,) = _midis(out / 'reconstruct', '*_042-001-of-001.mid')
  # The input as the model reads it: one note per onset, at the piano's own tempo.
  assert given.read_bytes() == _midi_bytes(library.to_piece(windows.labels, qpm=windows.qpm),
                                           tmp_path / 'in.mid')
  starts = [n.start_time for n in note_seq.midi_file_to_note_sequence(str(given)).notes]
  assert len(starts) == len(set(starts)) == windows.pitched_notes - windows.dropped_notes
  (want,) = _tempos(PIANO)  # the whole piece's
  for midi in (given, made):
    assert _tempos(midi) == [pytest.approx(want, rel=1e-6)] and abs(want - 73) < 0.01
    assert _on_grid(midi, want, 32 * len(windows.labels))


def test_strict_monophony_refuses_piano_in_one_line(tempo_runs, piano, cli):
  out, runs = tempo_runs
  line = _error(runs['strict'], 'musicvae-reconstruct')
  assert line.startswith(f'musicvae-reconstruct: error: cannot encode {piano}: polyphonic')
  assert '--strict_monophony' in line
  assert not list(out.glob('strict/*.mid'))
  bad = cli('musicvae-interpolate', f'--input_midi_1={piano}', f'--input_midi_2={piano}',
            '--qpm=0', expect=2)
  assert '--qpm=0.0: give a tempo from 10 to 1000' in _error(bad, 'musicvae-interpolate')


def test_interpolate_writes_at_the_first_inputs_tempo(tempo_runs, grooves, tmp_path):
  import jax  # pylint: disable=import-outside-toplevel
  from musicvae_jax.generation import trained_model  # pylint: disable=import-outside-toplevel
  out, _ = tempo_runs
  drums = trained_model.TrainedModel.from_workdir(DRUM_MODEL)
  a, b = (drums.read_windows(g) for g in grooves)
  (first,), (second,) = _tempos(grooves[0]), _tempos(grooves[1])
  assert (a.qpm, round(first), round(second)) == (pytest.approx(first), 92, 128)
  pieces = drums.interpolate_windows(a.labels, b.labels, 3, key=jax.random.key(5),
                                     temperature=0.5, qpm=a.qpm)
  midis = _midis(out / 'grooves')
  assert len(midis) == 3
  n = min(len(a.labels), len(b.labels))
  for s, (midi, piece) in enumerate(zip(midis, pieces)):
    assert midi.read_bytes() == _midi_bytes(piece, tmp_path / f'{s}.mid')
    assert _tempos(midi) == [pytest.approx(first, rel=1e-6)]
    assert _on_grid(midi, first, 32 * n)


def test_interpolate_and_sample_write_at_the_qpm_flag(tempo_runs, piano, library, model_windows):
  out, runs = tempo_runs
  # Only the piano gives the notice: the tune is one line.
  notices = [l for l in runs['piano_to_tune'].stderr.splitlines() if 'polyphonic' in l]
  assert len(notices) == 1 and notices[0].startswith(f'{piano}: polyphonic; kept the highest')
  # The outputs have as many windows as the shorter input; a sample has one.
  morphed = min(len(library.read_windows(piano).labels), model_windows[TUNE_A])
  for folder, qpm, windows in (('piano_to_tune', 100.0, morphed),
                               ('sample', 90.0, 1)):
    midis = _midis(out / folder)
    assert len(midis) == 2
    for midi in midis:
      assert _tempos(midi) == [pytest.approx(qpm, rel=1e-5)]  # whole microseconds per beat
      assert _on_grid(midi, qpm, 32 * windows)


def test_a_long_run_lists_twenty_files_and_counts_the_rest(capsys):
  from musicvae_jax.cli import generate_flags  # pylint: disable=g-import-not-at-top
  paths = [pathlib.Path('out') / f'x-{i:03d}-of-030.mid' for i in range(30)]
  generate_flags.report('musicvae-sample', paths)
  lines = capsys.readouterr().out.splitlines()
  assert lines[0] == 'musicvae-sample: wrote 30 MIDI file(s) with piano rolls to out'
  assert lines[1:21] == [f'  {p}' for p in paths[:20]] and lines[21:] == ['  ... and 10 more']
  generate_flags.report('musicvae-sample', paths[:21])  # 21: all listed, none counted
  assert len(capsys.readouterr().out.splitlines()) == 22


def test_ctrl_c_during_a_long_sample_leaves_whole_pairs_and_no_traceback(cli, tmp_path):
  import signal  # pylint: disable=g-import-not-at-top
  import time  # pylint: disable=g-import-not-at-top
  out = tmp_path / 'many'
  code = ("import sys; sys.argv[0] = 'musicvae-sample'; "
          'from musicvae_jax.cli.sample import run; run()')
  proc = subprocess.Popen(
      [sys.executable, '-c', code, '--num_outputs=100000', '--seed=3', '--wav=false',
       f'--output_dir={out}'], cwd=cli.cwd, env=cli.env, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True)
  def whole(pattern):  # pathlib's glob also sees the hidden partial files
    return sorted(p for p in out.glob(pattern) if not p.name.startswith('.'))

  deadline = time.monotonic() + 300
  while not whole('*.mid') and time.monotonic() < deadline and proc.poll() is None:
    time.sleep(0.2)
  assert whole('*.mid'), 'no output within 300 s'
  proc.send_signal(signal.SIGINT)
  stdout, stderr = proc.communicate(timeout=120)
  assert proc.returncode == 130, stderr[-2000:]
  assert 'Traceback' not in stderr and 'musicvae-sample: interrupted' in stderr, stderr[-2000:]
  midis = whole('*.mid')
  assert 0 < len(midis) < 100000
  assert whole('*.png') == [m.with_suffix('.png') for m in midis]
  assert not list(out.glob('.*')), 'half-written files left behind'
