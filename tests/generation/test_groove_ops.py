"""GrooVAE's operations (humanize, tap2drum, drumify, add_hihat, transfer) on real MIDI files with
Magenta's own groove2 checkpoint (groovae_2bar_humanize trained three steps, small widths).

The humanize workdir is the checkpoint imported as it is. The tap and add-hi-hat configs have
the same structure (27 in, 27 out, no controls), so the same weights imported under those configs
stand in for their models: what is tested is what each operation feeds the model and what it
keeps of the input, not how well three training steps play. The hits-control model is the same
weights with the 9 control rows of each first-layer kernel copied from its 9 hit-input rows
(an exported workdir), so the controls reach the network as hits do.
"""

from __future__ import annotations

import json
import pathlib
import warnings

import jax
import numpy as np
import pytest

from conftest import SHARED_MIDI
from conftest import magenta_checkpoint
from musicvae_jax import checkpointing
from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax.converters import midi_io
from musicvae_jax.generation import groove
from musicvae_jax.generation import model_files
from musicvae_jax.generation.trained_model import TrainedModel
from musicvae_jax.magenta import importer
from musicvae_jax.render import piano_roll

with warnings.catch_warnings():
  warnings.simplefilter('ignore', RuntimeWarning)
  import note_seq
  from note_seq import sequences_lib

DRUMS = SHARED_MIDI / 'drums'
QUANTISED = DRUMS / 'freedoom_d_dm09_drumtrack.mid'  # a game's drum part: on the grid, 160 qpm
PERFORMANCE = DRUMS / 'gmd_drummer1_session1_102_funk_95_beat_4-4.mid'  # a drummer, 95 qpm
OTHER_PERFORMANCE = DRUMS / 'gmd_drummer10_session1_1_jazz-swing_124_beat_4-4.mid'
TEMPO_CHANGES = DRUMS / 'freedoom_d_e4m9_drumtrack.mid'
SONG = SHARED_MIDI / 'multitrack' / 'freedoom_d_dm09.mid'
MELODY = SHARED_MIDI / 'melody' / 'nottingham_ashover5.mid'  # 4/4
WALTZ = SHARED_MIDI / 'melody' / 'nottingham_ashover1.mid'  # 3/4


def _import(tmp, config: str) -> pathlib.Path:
  workdir = tmp / config
  importer.import_checkpoint(magenta_checkpoint('groove2'), config, workdir, log=lambda _: None)
  return workdir


def _hits_control_workdir(tmp, humanize_dir) -> pathlib.Path:
  config = config_lib.get_config('groovae_2bar_hits_control')
  source = checkpointing.load_config(humanize_dir)
  for k in ('enc_rnn_size', 'dec_rnn_size', 'z_size'):
    config.model[k] = source.model[k]
  spec = config_boundary.run_spec(config).model
  params, _, _ = model_files.load_params(humanize_dir, checkpointing.load_run_spec(
      humanize_dir).model)
  old = dict(model_files._flat(params))  # pylint: disable=protected-access
  arrays = {}
  z = spec.z_size
  for name, template in model_files._flat(model_files.param_template(spec)):  # pylint: disable=protected-access
    value = np.asarray(old[name])
    if value.shape != template.shape:  # a first layer: control rows after its input rows
      at = 27 if name.startswith('encoder') else 27 + z
      value = np.concatenate([value[:at], value[:9], value[at:]])
    assert value.shape == template.shape, name
    arrays[name] = value
  out = tmp / 'groovae_2bar_hits_control'
  checkpointing.check_or_write_config(out, config, write=True)
  np.savez(out / model_files.PARAMS_FILE, **arrays)
  (out / model_files.INFO_FILE).write_text(json.dumps(dict(step=3)))
  return out


@pytest.fixture(scope='module')
def workdirs(tmp_path_factory) -> dict:
  tmp = tmp_path_factory.mktemp('groove_models')
  dirs = {c: _import(tmp, c) for c in ('groovae_2bar_humanize',
                                       'groovae_2bar_tap_fixed_velocity',
                                       'groovae_2bar_add_closed_hh')}
  dirs['groovae_2bar_hits_control'] = _hits_control_workdir(tmp, dirs['groovae_2bar_humanize'])
  return dirs


@pytest.fixture(scope='module')
def models(workdirs) -> dict:
  return {name: TrainedModel.from_workdir(path) for name, path in workdirs.items()}


def grid_of(model, ns) -> np.ndarray:
  """A NoteSequence read back onto the model's grid (how a listener's DAW would quantise it)."""
  quantized, reason = model.converter.quantize(ns)
  assert quantized is not None, reason
  targets, reason = model.converter.grid(quantized)
  assert targets is not None, reason
  return targets


def off_grid(ns, qpm: float) -> np.ndarray:
  step = 60.0 / qpm / 4
  starts = np.array([n.start_time for n in ns.notes])
  return np.abs(starts / step - np.round(starts / step)) > 1e-3


# ---- humanize -------------------------------------------------------------------------------


@pytest.fixture(scope='module')
def humanized(models):
  model = models['groovae_2bar_humanize']
  piece = groove.read_drums(model, QUANTISED)
  outs = groove.humanize(model, piece, key=jax.random.key(0), num_outputs=2)
  return model, piece, outs


def test_humanize_keeps_every_hit_and_adds_velocity_and_timing(humanized):
  model, piece, outs = humanized
  assert len(piece.targets) > 4 * model.spec.max_seq_len  # a long piece: many windows joined
  for ns in outs:
    back = grid_of(model, ns)
    n = len(back)
    assert n <= len(piece.targets) and not piece.hits[n:].any()  # trailing empty steps only
    np.testing.assert_array_equal(back[:, :9], piece.hits[:n])  # every hit: its step and class
    assert off_grid(ns, piece.qpm).mean() > 0.5  # played off the grid
    hit = piece.hits[:n] > 0
    assert np.abs(back[:, 9:18][hit] - piece.targets[:n, 9:18][hit]).mean() > 0.02
    assert np.abs(back[:, 18:][hit] - piece.targets[:n, 18:][hit]).mean() > 0.02
    assert ns.tempos[0].qpm == pytest.approx(piece.qpm)
  assert [n.start_time for n in outs[0].notes] != [n.start_time for n in outs[1].notes]


def test_humanize_is_repeatable_from_its_key(humanized):
  model, piece, outs = humanized
  again = groove.humanize(model, piece, key=jax.random.key(0), num_outputs=1)
  assert again[0] == outs[0]


def _strokes(fig) -> np.ndarray:
  drums = next(ax for ax in fig.axes if ax.get_gid() == 'drums')
  found = [c.get_segments() for c in drums.collections if c.get_gid() == piano_roll.OFFSETS_GID]
  return np.concatenate(found) if any(len(f) for f in found) else np.zeros((0, 2, 2))


def test_piano_roll_draws_each_hit_at_its_time_with_a_stroke_from_its_step(humanized):
  model, piece, _ = humanized
  played = midi_io.read_midi(PERFORMANCE)  # a drummer's two bars: real microtiming
  qpm = played.tempos[0].qpm
  ns = sequences_lib.extract_subsequence(played, 0.0, 8 * 60.0 / qpm)
  fig = piano_roll.draw_piano_roll(ns)
  segments = _strokes(fig)
  starts = np.array([n.start_time for n in ns.notes])
  step = 60.0 / qpm / 4
  assert len(segments) > 0.3 * len(ns.notes)
  # Each stroke runs from a step to a hit's onset.
  np.testing.assert_allclose(segments[:, 0, 0] / step, np.round(segments[:, 1, 0] / step),
                             atol=1e-9)
  assert set(np.round(segments[:, 1, 0], 9)) <= set(np.round(starts, 9))
  drums = next(ax for ax in fig.axes if ax.get_gid() == 'drums')
  lines = [len(c.get_segments()) for c in drums.collections
           if c.get_gid() != piano_roll.OFFSETS_GID and hasattr(c, 'get_segments')]
  assert max(lines) >= 8 * 4  # a line per 16th-note step, not only per beat
  # A quantised part has no strokes.
  flat = piece.targets[:64].copy()
  flat[:, 18:] = 0.0  # the part's first four bars with every hit on its step
  assert len(_strokes(piano_roll.draw_piano_roll(model.converter.from_window(flat)))) == 0


# ---- tap2drum and drumify -------------------------------------------------------------------


def test_tap2drum_reads_every_note_of_any_file_as_a_tap(models):
  model = models['groovae_2bar_tap_fixed_velocity']
  taps = groove.read_taps(model, MELODY)
  ns = midi_io.read_midi(MELODY)
  q = note_seq.quantize_note_sequence(ns, 4)
  onsets = sorted({n.quantized_start_step for n in q.notes})
  assert np.flatnonzero(taps.hits[:, 3]).tolist() == onsets  # each onset: one tap (class 3)
  assert taps.hits[:, [0, 1, 2, 4, 5, 6, 7, 8]].sum() == 0
  # Tap times in seconds give the same taps.
  times = groove.taps_from_times(model, [n.start_time for n in ns.notes], qpm=taps.qpm)
  np.testing.assert_array_equal(times.hits, taps.hits)
  outs = groove.tap2drum(model, taps, key=jax.random.key(1), num_outputs=1, temperature=0.5)
  back = grid_of(model, outs[0])
  assert len(back) <= len(taps.targets)
  assert len({n.pitch for n in outs[0].notes}) > 2  # a kit, not the taps' one drum
  # Other taps, another groove from the same seed.
  other = groove.taps_from_times(model, [n.start_time for n in ns.notes][::2], qpm=taps.qpm)
  assert groove.tap2drum(model, other, key=jax.random.key(1))[0] != outs[0]


def test_drumify_taps_the_chosen_part_only(models):
  model = models['groovae_2bar_tap_fixed_velocity']
  song = midi_io.read_midi(SONG)
  with pytest.raises(groove.GrooveInputError, match=r'freedoom_d_dm09.mid: has \d+ parts .*'
                     r'--instrument'):
    groove.read_part(model, SONG)
  bass_instrument = next(i for i, p in groove.parts(song) if 32 <= p < 40)
  piece = groove.read_part(model, SONG, bass_instrument)
  q = note_seq.quantize_note_sequence(song, 4)
  onsets = sorted({n.quantized_start_step for n in q.notes
                   if not n.is_drum and n.instrument == bass_instrument})
  assert np.flatnonzero(piece.hits[:, 3]).tolist() == onsets
  outs = groove.tap2drum(model, piece, key=jax.random.key(2))
  assert outs[0].notes and all(n.is_drum for n in outs[0].notes)
  with pytest.raises(groove.GrooveInputError, match='no pitched part is instrument 99'):
    groove.read_part(model, SONG, 99)


# ---- add_hihat and transfer -----------------------------------------------------------------


def test_add_hihat_keeps_the_other_drums_and_adds_a_closed_hihat(models):
  model = models['groovae_2bar_add_closed_hh']
  piece = groove.read_drums(model, PERFORMANCE)
  out = groove.add_hihat(model, piece, key=jax.random.key(3), temperature=0.5)[0]
  given = groove.input_sequence(model, piece)
  hh = set(model.converter.pitch_classes[2])
  rest = lambda ns: sorted((n.pitch, n.velocity, round(n.start_time, 6))  # noqa: E731
                           for n in ns.notes if n.pitch not in hh)
  assert rest(out) == rest(given)
  added = [n for n in out.notes if n.pitch in hh]
  assert added and {n.pitch for n in added} == {42}
  assert sorted(round(n.start_time, 6) for n in added) != sorted(
      round(n.start_time, 6) for n in given.notes if n.pitch in hh)


def test_transfer_plays_the_patterns_hits_with_the_grooves_feel(models):
  model = models['groovae_2bar_hits_control']
  pattern = groove.read_drums(model, QUANTISED)
  outs = [groove.transfer(model, pattern, groove.read_drums(model, source),
                          key=jax.random.key(4))[0]
          for source in (PERFORMANCE, OTHER_PERFORMANCE)]
  for ns in outs:
    back = grid_of(model, ns)
    np.testing.assert_array_equal(back[:, :9], pattern.hits[:len(back)])
    assert ns.tempos[0].qpm == pytest.approx(pattern.qpm)
  # Two grooves, two feels over the same hits (the code comes from the groove; with three
  # training steps the decoder hears z only faintly, so the difference is small but there).
  velocities = [np.array([n.velocity for n in ns.notes]) for ns in outs]
  starts = [np.array([n.start_time for n in ns.notes]) for ns in outs]
  assert len(velocities[0]) == len(velocities[1])
  assert (velocities[0] != velocities[1]).any() and (starts[0] != starts[1]).mean() > 0.5


# ---- refusals -------------------------------------------------------------------------------


def test_refusals_name_the_file_and_the_reason(models, tmp_path):
  model = models['groovae_2bar_humanize']
  with pytest.raises(groove.GrooveInputError, match=r'freedoom_d_e4m9_drumtrack.mid: has tempo '
                     'changes'):
    groove.read_drums(model, TEMPO_CHANGES)
  with pytest.raises(groove.GrooveInputError, match='nottingham_ashover5.mid: no drum notes'):
    groove.read_drums(model, MELODY)
  with pytest.raises(groove.GrooveInputError, match='nottingham_ashover1.mid: .*GrooVAE reads 4/4 only'):
    groove.read_taps(models['groovae_2bar_tap_fixed_velocity'], WALTZ)
  with pytest.raises(groove.GrooveInputError, match='--taps: no tap times'):
    groove.taps_from_times(models['groovae_2bar_tap_fixed_velocity'], [])
  # A real drum part with its ride notes moved to pitch 90, which no drum class holds.
  ns = midi_io.read_midi(PERFORMANCE)
  moved = 0
  ride = model.converter.pitch_classes[8]
  for n in ns.notes:
    if n.pitch in ride:
      n.pitch, moved = 90, moved + 1
  assert moved
  path = tmp_path / 'ride_at_90.mid'
  note_seq.sequence_proto_to_midi_file(ns, str(path))
  piece = groove.read_drums(model, path)
  assert piece.skipped_notes == moved and piece.skipped_pitches == (90,)
  assert piece.notice() == (f'{path}: skipped {moved} drum note(s) whose pitch is in no drum '
                            'class (pitch 90)')
  assert piece.hits[:, 8].sum() == 0  # no ride left


def test_a_model_must_be_the_operations_groovae_config(models):
  with pytest.raises(groove.NotAGrooveModel, match='tap2drum needs a '
                     'groovae_2bar_tap_fixed_velocity model; groovae_2bar_humanize'):
    groove.check_model(models['groovae_2bar_humanize'], 'tap2drum')
  melody = TrainedModel.from_workdir()  # the bundled cat-mel_2bar_small
  with pytest.raises(groove.NotAGrooveModel, match='this command needs a GrooVAE model'):
    groove.check_model(melody, 'humanize')
