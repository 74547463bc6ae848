"""midi_io.read_midi on real MIDI and on real files broken on purpose (one reason per kind)."""

import collections
import pickle

from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

import broken_midi
from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax.converters import get_converter, midi_io
from musicvae_jax.input_pipeline import convert_files


@pytest.mark.parametrize('path', broken_midi.REAL_SMALL + (broken_midi.MULTITRACK,),
                         ids=lambda p: p.name)
def test_reads_real_files(path):
  sequence = midi_io.read_midi(path)
  assert sequence.notes
  assert 0 < sequence.total_time < 1800
  assert sequence.filename == path.name


def test_counts_warnings_instead_of_printing(shared_midi, recwarn):
  # Freedoom songs put tempo events on non-zero tracks, which pretty_midi warns about.
  counts = collections.Counter()
  for path in sorted((shared_midi / 'multitrack').glob('freedoom_*.mid'))[:20]:
    midi_io.read_midi(path, warning_counts=counts)
  assert sum(counts.values()) > 0
  assert not [w for w in recwarn if 'Tempo, Key' in str(w.message)]


@pytest.mark.parametrize('parser', midi_io.PARSERS)
@pytest.mark.parametrize('kind', broken_midi.KINDS)
def test_each_broken_kind_gets_its_reason(kind, parser, tmp_path):
  path = broken_midi.make(kind, tmp_path / f'{kind}.mid')
  with pytest.raises(midi_io.MidiReadError) as info:
    midi_io.read_midi(path, parser=parser)
  assert info.value.reason == kind
  assert str(path) in str(info.value)
  assert info.value.reason in midi_io.REASONS


def test_unreadable_path(tmp_path):
  (tmp_path / 'folder.mid').mkdir()
  for path in (tmp_path / 'missing.mid', tmp_path / 'folder.mid'):
    with pytest.raises(midi_io.MidiReadError) as info:
      midi_io.read_midi(path)
    assert info.value.reason == 'unreadable'


def test_limits_are_configurable():
  limits = midi_io.MidiLimits(max_num_notes=10)
  with pytest.raises(midi_io.MidiReadError, match='too_many_notes'):
    midi_io.read_midi(broken_midi.MELODY, limits)
  with pytest.raises(midi_io.MidiReadError, match='too_long'):
    midi_io.read_midi(broken_midi.MELODY, midi_io.MidiLimits(max_total_time=10.0))
  with pytest.raises(midi_io.MidiReadError, match='too_large'):
    midi_io.read_midi(broken_midi.DRUMS, midi_io.MidiLimits(max_file_bytes=1000))
  with pytest.raises(midi_io.MidiReadError, match='absurd_tempo'):
    midi_io.read_midi(broken_midi.DRUMS, midi_io.MidiLimits(max_qpm=60))


def test_error_pickles_for_worker_processes():
  error = midi_io.MidiReadError('a/b.mid', 'truncated', 'track 1 needs 9 bytes')
  again = pickle.loads(pickle.dumps(error))
  assert (again.path, again.reason, str(again)) == (error.path, error.reason, str(error))
  assert 'a/b.mid' in str(error) and 'truncated' in str(error)


_OPS = st.lists(st.tuples(st.sampled_from(['flip', 'insert', 'delete', 'truncate']),
                          st.floats(0, 1, exclude_max=True), st.integers(0, 255)),
                min_size=1, max_size=6)
# Length-preserving flips past the header reach mido's event parser and pretty_midi.
_FLIPS = st.lists(st.tuples(st.just('flip'), st.floats(0.05, 1, exclude_max=True),
                            st.integers(1, 255)), min_size=1, max_size=4)


@pytest.fixture(scope='module')
def fuzz_dir(tmp_path_factory):
  return tmp_path_factory.mktemp('fuzz')


@pytest.fixture(scope='module')
def melody_converter():
  return config_boundary.converter_of(config_lib.get_config('cat-mel_2bar_small:tiny'))


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(source=st.sampled_from(broken_midi.REAL_SMALL), ops=st.one_of(_OPS, _FLIPS))
def test_fuzzed_real_bytes_never_raise(source, ops, fuzz_dir, melody_converter):
  path = fuzz_dir / 'fuzzed.mid'
  path.write_bytes(broken_midi.mutate(source.read_bytes(), ops))
  try:
    midi_io.read_midi(path)
  except midi_io.MidiReadError as e:
    assert e.reason in midi_io.REASONS
  result = convert_files.process_file(path, melody_converter)  # must not raise either
  assert result.reason in ('',) + tuple(midi_io.REASONS) + convert_files.REASONS_AFTER_READ
  assert result.reason != 'reader_error'
