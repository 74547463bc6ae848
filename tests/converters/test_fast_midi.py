"""The fast MIDI reader against note-seq: same NoteSequence, same windows, same reason codes.

note-seq (mido + pretty_midi) is the definition of correct. Files are parsed both ways in a pool
of two processes: a fixed stride of every folder of the shared data (the full set is
``bench/midi_equivalence.py``), hand-made files for each of pretty_midi's rules, and real files
with flipped bytes.
"""

import collections
import concurrent.futures
import hashlib
import json
import multiprocessing
import random
import struct
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import broken_midi
from cli_process import argv
from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax.converters import drums as drums_lib
from musicvae_jax.converters import fast_extract
from musicvae_jax.converters import midi_io
from musicvae_jax.converters import note_arrays

CONFIGS = ('cat-mel_2bar_small', 'cat-drums_2bar_small', 'hierdec-trio_16bar')
STRIDE = 1  # every file of every shared folder, POP909 included (2,720 files, about a minute)


def fields(sequence) -> tuple:
  """Everything of a NoteSequence the converters read, and the instrument names."""
  return ([(n.pitch, n.velocity, n.start_time, n.end_time, n.instrument, n.program, n.is_drum)
           for n in sequence.notes],
          [(t.time, t.qpm) for t in sequence.tempos],
          [(t.time, t.numerator, t.denominator) for t in sequence.time_signatures],
          [(k.time, k.key, k.mode) for k in sequence.key_signatures],
          sequence.total_time, sequence.ticks_per_quarter,
          [(i.instrument, i.name) for i in sequence.instrument_infos])


_CONVERTERS = {}


def _converters() -> dict:
  if not _CONVERTERS:
    _CONVERTERS.update({c: config_boundary.converter_of(config_lib.get_config(c))
                        for c in CONFIGS})
  return _CONVERTERS


def extraction_of(extraction) -> tuple:
  """(count, digest of the windows in order, their shapes and dtypes, sorted skip counts)."""
  found = [w.tobytes() for w in extraction.windows]
  return (len(found), hashlib.sha256(b''.join(found)).hexdigest(),
          sorted({(w.shape, w.dtype.str) for w in extraction.windows}),
          sorted(extraction.skipped.items()))


def outcome(data: bytes, parser: str, windows: bool = False):
  """(fields or the MidiReadError reason, warning texts, {config: windows} or None).

  With ``parser='fast'`` the windows and skip counts come from the path prepare takes with
  ``--midi_parser=fast``: the reader's arrays through ``fast_extract``, no NoteSequence.
  """
  counts = collections.Counter()
  try:
    sequence = midi_io.read_midi_bytes(data, parser=parser, warning_counts=counts)
  except midi_io.MidiReadError as e:
    return e.reason, sorted(counts), None
  per_config = None
  if windows:
    if parser == 'fast':
      arrays = midi_io.read_midi_bytes(data, arrays=True)
      per_config = {c: extraction_of(fast_extract.extract(conv, arrays))
                    for c, conv in _converters().items()}
    else:
      per_config = {c: extraction_of(conv.extract(sequence))
                    for c, conv in _converters().items()}
  return fields(sequence), sorted(counts), per_config


def both(path_or_data, windows: bool = False):
  data = path_or_data if isinstance(path_or_data, bytes) else path_or_data.read_bytes()
  return outcome(data, 'fast', windows), outcome(data, 'note_seq', windows)


def compare_all(items, windows: bool = False) -> list:
  # Forked workers start at once; once JAX is loaded (other tests in this process), its threads
  # make fork unsafe and the workers come from a fork server instead (as prepare's pool does).
  context = multiprocessing.get_context('forkserver' if 'jax' in sys.modules else 'fork')
  with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as pool:
    return list(pool.map(both, items, [windows] * len(items), chunksize=8))


@pytest.fixture(scope='module')
def shared_results(shared_midi):
  folders = sorted(p for p in shared_midi.iterdir() if p.is_dir())
  paths = []
  for folder in folders + [shared_midi.parent / 'pop909' / 'songs']:
    found = sorted(folder.rglob('*.mid'))
    assert found, folder
    paths.extend(found[::STRIDE])
  return paths, compare_all(paths, windows=True)


def test_shared_data_parses_identically(shared_results):
  paths, results = shared_results
  differ = [p.name for p, (fast, slow) in zip(paths, results) if fast[:2] != slow[:2]]
  assert not differ
  read = [fast for fast, _ in results if not isinstance(fast[0], str)]
  assert len(read) > 0.9 * len(paths) > 300
  # The stride reaches drums, several instruments and programs, tempo changes and names.
  notes = [n for f in read for n in f[0][0]]
  assert any(n[6] for n in notes) and any(n[4] > 2 for n in notes)
  assert any(len(f[0][1]) > 1 for f in read) and any(f[0][6] for f in read)


def test_shared_data_gives_identical_windows(shared_results):
  paths, results = shared_results
  differ = [(p.name, c) for p, (fast, slow) in zip(paths, results) if fast[2] is not None
            for c in CONFIGS if fast[2][c] != slow[2][c]]
  assert not differ
  for config in CONFIGS:  # every converter gives windows on the subset, and skips pieces
    assert sum(fast[2][config][0] for fast, _ in results if fast[2]) > 0
    assert any(fast[2][config][3] for fast, _ in results if fast[2])


# ---- hand-made files, one per rule of pretty_midi's -------------------------------------------
def _vlq(value: int) -> bytes:
  out = [value & 0x7F]
  while value > 0x7F:
    value >>= 7
    out.append(0x80 | (value & 0x7F))
  return bytes(reversed(out))


def midi_file(*tracks, division: int = 96) -> bytes:
  """A type-1 file; each track a list of (absolute tick, event bytes)."""
  out = b'MThd' + struct.pack('>LHHH', 6, 1, len(tracks), division)
  for events in tracks:
    body, tick = b'', 0
    for at, raw in events:
      body += _vlq(at - tick) + raw
      tick = at
    out += b'MTrk' + struct.pack('>L', len(body)) + body
  return out


def on(ch, pitch, vel=100):
  return bytes([0x90 | ch, pitch, vel])


def off(ch, pitch, vel=64):
  return bytes([0x80 | ch, pitch, vel])


def meta(kind, payload):
  return bytes([0xFF, kind]) + _vlq(len(payload)) + payload


TEMPO_100 = meta(0x51, (600000).to_bytes(3, 'big'))
EOT = meta(0x2F, b'')
CASES = {
    # A note-off closes every open note of its pitch that started on an earlier tick.
    'overlapping_same_pitch': [[(0, on(0, 60)), (10, on(0, 60)), (20, off(0, 60)),
                                (30, off(0, 60)), (40, EOT)]],
    # Started on the note-off's tick: dropped alone, kept open when another note closes.
    'zero_length': [[(0, on(0, 60)), (0, off(0, 60)), (5, on(0, 62)), (10, on(0, 62)),
                     (10, off(0, 62)), (20, off(0, 62)), (21, on(0, 64)), (30, EOT)]],
    'velocity_0_is_off': [[(0, on(0, 60)), (12, on(0, 60, 0)), (12, off(0, 61)),
                           (20, EOT)]],
    # A note takes the program its channel has when it ends; instruments in order of creation.
    'program_change_mid_note': [[(0, bytes([0xC0, 5])), (0, on(0, 60)), (0, on(1, 48)),
                                 (10, bytes([0xC0, 7])), (20, off(0, 60)), (20, on(0, 60)),
                                 (25, off(1, 48)), (40, off(0, 60)), (41, EOT)]],
    'drums_and_tracks': [[(0, TEMPO_100), (0, meta(0x03, b'lead')), (0, on(0, 72)),
                          (48, off(0, 72)), (96, meta(0x51, (400000).to_bytes(3, 'big'))),
                          (96, meta(0x51, (400000).to_bytes(3, 'big'))),
                          (200, meta(0x51, (300000).to_bytes(3, 'big'))), (300, EOT)],
                         [(0, meta(0x03, b'')), (0, on(9, 36)), (10, off(9, 36)),
                          (10, meta(0x03, b'kit')), (20, on(9, 38)), (30, off(9, 38)),
                          (400, EOT)],
                         [(0, on(0, 50)), (0, bytes([0xC0, 33])), (100, off(0, 50)),
                          (120, EOT)]],
    'signatures': [[(0, meta(0x58, bytes([3, 3, 24, 8]))), (0, meta(0x59, bytes([0xFD, 1]))),
                    (0, on(0, 60)), (96, off(0, 60)), (96, meta(0x58, bytes([6, 3, 24, 8]))),
                    (96, meta(0x59, bytes([4, 0]))), (200, EOT)]],
    'tempo_on_other_track': [[(0, on(0, 60)), (96, off(0, 60)), (100, EOT)],
                             [(0, TEMPO_100), (0, meta(0x58, bytes([2, 2, 24, 8]))),
                              (100, EOT)]],
    # Running status (also after a sysex, whose length then follows at once) and system events.
    'running_status_and_sysex': [[(0, bytes([0x90, 60, 90])), (10, bytes([60, 0])),
                                  (10, bytes([0xF0, 3, 0x43, 0x10, 0xF7])),
                                  (12, bytes([0x05, 0x03, 0x7E, 0x7F, 0xF7])),
                                  (20, on(0, 62)), (30, bytes([62, 0])), (31, EOT)]],
    'numerator_0': [[(0, meta(0x58, bytes([0, 2, 24, 8]))), (0, on(0, 60)), (9, off(0, 60))]],
    # Refused before pretty_midi warns about the tempo on the second track: nothing counted.
    'numerator_0_tempo_on_track_2': [[(0, meta(0x58, bytes([0, 2, 24, 8]))), (0, on(0, 60)),
                                      (9, off(0, 60))], [(0, TEMPO_100)]],
    # mido reads the track count as a signed short: 32768 empty tracks are none.
    'track_count_over_32767': [[]] * 0x8000,
    'denominator_2_to_31': [[(0, meta(0x58, bytes([4, 31, 24, 8]))), (0, on(0, 60)),
                             (9, off(0, 60))]],
    'bad_key': [[(0, meta(0x59, bytes([9, 0]))), (0, on(0, 60)), (9, off(0, 60))]],
    'short_tempo': [[(0, meta(0x51, b'\x07')), (0, on(0, 60)), (9, off(0, 60))]],
    'sysex_high_byte': [[(0, bytes([0xF0, 2, 0x90, 0xF7])), (0, on(0, 60)), (9, off(0, 60))]],
    'undefined_status': [[(0, bytes([0xF4])), (0, on(0, 60)), (9, off(0, 60))]],
    'data_byte_over_127': [[(0, bytes([0x90, 60, 200])), (9, off(0, 60))]],
    'running_status_first': [[(0, bytes([60, 100])), (9, off(0, 60))]],
    'empty_track': [[(0, on(0, 60)), (9, off(0, 60))], []],
    'only_unpaired_notes': [[(0, on(0, 60)), (0, off(0, 60)), (9, EOT)]],
}
# What each hand-made file gives (note-seq and the fast reader agree on it, checked below).
EXPECTED = {'numerator_0': 'corrupt', 'numerator_0_tempo_on_track_2': 'corrupt',
            'track_count_over_32767': 'no_notes', 'denominator_2_to_31': 'corrupt',
            'bad_key': 'corrupt', 'short_tempo': 'corrupt', 'sysex_high_byte': 'corrupt',
            'undefined_status': 'corrupt', 'data_byte_over_127': 'corrupt',
            'running_status_first': 'corrupt', 'empty_track': 'corrupt',
            'only_unpaired_notes': 'no_notes'}


@pytest.fixture(scope='module')
def crafted():
  names = sorted(CASES)
  return dict(zip(names, compare_all([midi_file(*CASES[n]) for n in names])))


@pytest.mark.parametrize('name', sorted(CASES))
def test_hand_made_file_reads_as_note_seq_does(name, crafted):
  fast, slow = crafted[name]
  assert fast[:2] == slow[:2]
  if name in EXPECTED:
    assert fast[0] == EXPECTED[name]
  else:
    assert not isinstance(fast[0], str), fast[0]


def test_hand_made_files_reach_each_rule(crafted):
  notes = {name: fast[0][0] for name, (fast, _) in crafted.items() if name not in EXPECTED}
  # (pitch, velocity, start, end, instrument, program, is_drum); 120 qpm, 96 ticks per quarter.
  tick = 60 / 120 / 96
  assert [n[2:4] for n in notes['overlapping_same_pitch']] == pytest.approx(
      [(0, 20 * tick), (10 * tick, 20 * tick)])
  assert [(n[0], n[2]) for n in notes['zero_length']] == pytest.approx([(62, 5 * tick),
                                                                        (62, 10 * tick)])
  assert [(n[0], n[5], n[4]) for n in notes['program_change_mid_note']] == [
      (60, 7, 0), (60, 7, 0), (48, 0, 1)]
  drums = notes['drums_and_tracks']
  assert any(n[6] for n in drums) and len({n[4] for n in drums}) == 3
  assert len(crafted['drums_and_tracks'][0][0][1]) == 3  # repeated tempo dropped
  assert crafted['tempo_on_other_track'][0][1]  # pretty_midi's warning, counted


def test_flipped_bytes_give_the_same_outcome():
  rng = random.Random(16)
  sources = [p.read_bytes() for p in broken_midi.REAL_SMALL]
  mutants = []
  for _ in range(300):
    flips = [('flip', 0.02 + 0.98 * rng.random(), rng.randrange(1, 256))
             for _ in range(rng.randint(1, 2))]
    mutants.append(broken_midi.mutate(rng.choice(sources), flips))
  results = compare_all(mutants)
  assert [i for i, (fast, slow) in enumerate(results) if fast[:2] != slow[:2]] == []
  reasons = collections.Counter(f[0] if isinstance(f[0], str) else 'read' for f, _ in results)
  assert reasons['read'] > 50 and reasons['corrupt'] > 50


def test_parser_can_be_chosen():
  with pytest.raises(ValueError, match='parser'):
    midi_io.read_midi(broken_midi.MELODY, parser='symusic')
  with pytest.raises(ValueError, match='parser'):
    midi_io.MidiLimits(parser='symusic')
  fast = midi_io.read_midi(broken_midi.MELODY)
  slow = midi_io.read_midi(broken_midi.MELODY, parser='note_seq')
  assert fields(fast) == fields(slow)
  assert fast.filename == slow.filename == broken_midi.MELODY.name


def test_prepare_reads_with_either_parser(shared_midi, tmp_path):
  """musicvae-prepare --midi_parser: the same windows and counts whichever reader."""
  folder = tmp_path / 'in'
  folder.mkdir()
  for path in sorted((shared_midi / 'multitrack').glob('*.mid'))[:6]:
    (folder / path.name).symlink_to(path)
  (folder / 'broken.mid').write_bytes(midi_file(*CASES['bad_key']))
  infos = {}
  for parser in (None, 'note_seq'):  # None: the default, fast
    out = tmp_path / f'out_{parser}'
    flag = [f'--midi_parser={parser}'] if parser else []
    proc = subprocess.run(argv('musicvae-prepare', '--config=cat-mel_2bar_small:tiny',
                               f'--input={folder}', f'--output={out}', '--workers=1', *flag),
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    infos[parser] = json.loads((out / 'dataset.json').read_text())
  assert infos[None]['midi_limits']['parser'] == 'fast'
  assert infos['note_seq']['midi_limits']['parser'] == 'note_seq'
  for key in ('counts', 'splits', 'skipped_files', 'dropped', 'midi_warnings'):
    assert infos['note_seq'][key] == infos[None][key], key
  assert infos['note_seq']['counts']['files_found'] == 7 and infos[None]['skipped_files']
  proc = subprocess.run(argv('musicvae-prepare', '--config=cat-mel_2bar_small:tiny',
                             f'--input={folder}', f'--output={tmp_path / "x"}',
                             '--midi_parser=symusic'), capture_output=True, text=True)
  assert proc.returncode != 0 and 'midi_parser' in proc.stderr and 'Traceback' not in proc.stderr


def test_caps_apply_before_the_events_are_stored():
  """A 360 kB file of 60k one-tick notes: refused on its count, with no event array built."""
  body = bytes([0x00, 0x90, 60, 100]) + bytes([0x01, 60, 0, 0x00, 61, 100]) * 60_000
  data = (b'MThd' + struct.pack('>LHHH', 6, 0, 1, 96) + b'MTrk' + struct.pack('>L', len(body))
          + body)
  midi_io.read_midi_bytes(midi_file(*CASES['zero_length']), parser='fast')  # code loaded
  tracemalloc.start()
  try:
    with pytest.raises(midi_io.MidiReadError, match='too_many_notes'):
      midi_io.read_midi_bytes(data, parser='fast')
    peak = tracemalloc.get_traced_memory()[1]
  finally:
    tracemalloc.stop()
  assert peak < 200_000, peak  # its 120k events x 6 int32 would take 2.9 MB


# ---- hand-made files for the array path's split, quantization and extraction -----------------
BAR = 384  # ticks of a 4/4 bar at 96 ticks per quarter
MELODY = (60, 62, 64, 65, 67, 69, 71, 72, 74, 76, 77)
BASS = (36, 38, 40, 41, 43)
UNMAPPED_DRUM = next(p for p in range(128) if p not in drums_lib.PITCH_TO_CLASS)
DRUM_HITS = (36, 42, 38, 42, 36, 46, 38, UNMAPPED_DRUM, 49, 42, 45, 51)


def tempo(qpm):
  return meta(0x51, round(6e7 / qpm).to_bytes(3, 'big'))


def time_signature(numerator, denominator_exp):
  return meta(0x58, bytes([numerator, denominator_exp, 24, 8]))


def notes(channel, pitches, start, stop, *, step=96, length=90, offset=0):
  """A note every ``step`` ticks in [start, stop), cycling through ``pitches``."""
  out = []
  for k, tick in enumerate(range(start, stop, step)):
    pitch = pitches[(k * 7 + offset) % len(pitches)]
    out += [(tick, on(channel, pitch)), (tick + length, off(channel, pitch))]
  return out


def track(*parts):
  events = sorted((e for part in parts for e in part), key=lambda e: e[0])
  return events + [(events[-1][0] + 1, EOT)]


def drums(start, stop):
  return notes(9, DRUM_HITS, start, stop, step=48, length=10)


EDGE_CASES = {
    # Split into two pieces (a repeated tempo is no change); both give windows.
    'tempo_change_mid_file': [track([(0, tempo(120)), (4 * BAR, tempo(90)),
                                     (6 * BAR, tempo(90))],
                                    notes(0, MELODY, 0, 8 * BAR), drums(0, 8 * BAR))],
    # The 3/4 piece is skipped (12 steps per bar), the 4/4 one converted.
    'time_signature_change': [track([(0, time_signature(4, 2)),
                                     (4 * BAR, time_signature(3, 2))],
                                    notes(0, MELODY, 0, 10 * BAR), drums(0, 10 * BAR))],
    'three_four': [track([(0, time_signature(3, 2))], notes(0, MELODY, 0, 8 * BAR),
                         drums(0, 8 * BAR))],
    # Long notes sound across the tempo change (off the beat): cut at the split.
    'notes_crossing_a_split': [track([(0, tempo(100)), (3 * BAR + 40, tempo(140))],
                                     notes(0, MELODY, 0, 7 * BAR, step=96, length=250),
                                     drums(0, 7 * BAR))],
    # Notes shorter than a step (one tick, quantized to zero length), one of zero ticks
    # (dropped by the reader), onsets on one step (the highest wins) and a silent note.
    'zero_length_notes': [track(notes(0, MELODY, 0, 4 * BAR, length=1),
                                notes(0, MELODY, 0, 4 * BAR, offset=3, length=5),
                                notes(0, MELODY, 4 * BAR, 5 * BAR, length=0),
                                notes(0, MELODY, 5 * BAR, 8 * BAR, step=24, length=6),
                                [(2 * BAR, on(0, 80, 0)), (2 * BAR + 9, off(0, 80))],
                                drums(0, 8 * BAR))],
    # A trio: melody (program 0), bass (program 33) and drums on channel 10, past 16 bars.
    'drums_on_channel_10': [track([(0, bytes([0xC1, 33]))], notes(0, MELODY, 0, 18 * BAR),
                                  notes(1, BASS, 0, 18 * BAR, step=192, length=180),
                                  drums(0, 18 * BAR))],
}


@pytest.fixture(scope='module')
def edge_cases():
  """Each hand-made file: (its arrays, {config: (array path, note-seq path) extraction})."""
  out = {}
  for name, tracks in EDGE_CASES.items():
    data = midi_file(*tracks)
    arrays = midi_io.read_midi_bytes(data, arrays=True)
    sequence = midi_io.read_midi_bytes(data, parser='note_seq')
    out[name] = arrays, {c: (fast_extract.extract(conv, arrays), conv.extract(sequence))
                         for c, conv in _converters().items()}
  return out


@pytest.mark.parametrize('name', sorted(EDGE_CASES))
def test_array_path_gives_note_seq_windows(name, edge_cases):
  _, per_config = edge_cases[name]
  for config, (fast, slow) in per_config.items():
    assert extraction_of(fast) == extraction_of(slow), config
    assert [w.tobytes() for w in fast.windows] == [w.tobytes() for w in slow.windows]


def test_edge_cases_reach_their_rules(edge_cases):
  def pieces(name):
    return note_arrays.split_on_time_changes(edge_cases[name][0])

  def extraction(name, config):
    return edge_cases[name][1][config][0]

  assert len(pieces('tempo_change_mid_file')) == 2
  assert extraction('tempo_change_mid_file', 'cat-mel_2bar_small').windows
  signature_change = extraction('time_signature_change', 'cat-mel_2bar_small')
  assert signature_change.windows and signature_change.skipped['steps_per_bar_not_16'] == 1
  assert dict(extraction('three_four', 'cat-drums_2bar_small').skipped) == {
      'steps_per_bar_not_16': 1}
  first, second = pieces('notes_crossing_a_split')
  assert first.notes['end'].max() == first.total_time < first.notes['start'].max() + 1
  assert np.any(edge_cases['notes_crossing_a_split'][0].end > second.notes['start'].min())
  quantized, _ = note_arrays.quantize(pieces('zero_length_notes')[0], 4)
  assert np.any(quantized.notes['qend'] - quantized.notes['qstart'] == 1)
  assert extraction('zero_length_notes', 'cat-mel_2bar_small').windows
  for config in CONFIGS:
    assert extraction('drums_on_channel_10', config).windows, config


def test_other_converters_get_the_note_sequence():
  """A converter with no array version (a subclass too) extracts from the built NoteSequence."""

  class Subclass(type(_converters()['cat-drums_2bar_small'])):
    pass

  converter = Subclass(slice_bars=2)
  data = midi_file(*EDGE_CASES['tempo_change_mid_file'])
  fast = fast_extract.extract(converter, midi_io.read_midi_bytes(data, arrays=True))
  slow = converter.extract(midi_io.read_midi_bytes(data, parser='note_seq'))
  assert fast.windows and extraction_of(fast) == extraction_of(slow)
