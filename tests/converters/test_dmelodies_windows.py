"""dMelodies items as windows: MIDI written from an item reads back as the same tokens, real
melodies outside the vocabulary are skipped and counted, and the prepared dataset holds exactly
the items it names, from the dMelodies split it says."""

import numpy as np
import pytest
from note_seq import midi_io as note_seq_midi

from musicvae_jax import converters
from musicvae_jax import specs
from musicvae_jax.converters import dmelodies
from musicvae_jax.converters import midi_io
from musicvae_jax.input_pipeline import dmelodies_dataset
from musicvae_jax.input_pipeline import pipeline

SPEC = specs.DataSpec(converter='dmelodies', slice_bars=2, steps_per_quarter=2)


def test_items_written_as_midi_read_back_as_their_tokens(tmp_path):
  converter = converters.get_converter(SPEC)
  assert converter.part_depths == (52,) and converter.max_seq_len == 16
  items = dmelodies.generate(np.linspace(0, dmelodies.NUM_ITEMS - 1, 25).astype(int))
  for k, tokens in enumerate(items.tokens):
    path = tmp_path / f'{k}.mid'
    note_seq_midi.note_sequence_to_midi_file(converter.from_labels(tokens[:, None]), str(path))
    windows = converter.extract(midi_io.read_midi(path)).windows
    assert len(windows) == 1 and np.array_equal(windows[0][:, 0], tokens), k


def test_real_melodies_outside_the_vocabulary_are_counted_not_kept(shared_midi):
  converter = converters.get_converter(SPEC)
  path = sorted((shared_midi / 'melody').glob('*.mid'))[0]
  got = converter.extract(midi_io.read_midi(path))
  assert sum(got.skipped.values()) > 0
  for w in got.windows:  # whatever is kept holds only dMelodies tokens
    assert w.shape == (16, 1) and w.max() < 52


def test_only_two_bars_of_eighths_are_accepted():
  with pytest.raises(converters.ConverterConfigError, match='slice_bars=2, steps_per_quarter=2'):
    converters.get_converter(specs.DataSpec(converter='dmelodies', slice_bars=2))


def test_prepared_dataset_holds_the_items_it_names(tmp_path):
  out = tmp_path / 'data'
  info = dmelodies_dataset.write(out, train_items=300, eval_items=100, seed=3)
  assert info['splits']['train']['windows'] == 300
  split = dmelodies.generate().split
  train, test = dmelodies_dataset.items(out, 'train'), dmelodies_dataset.items(out, 'eval')
  assert len(set(train)) == 300 and np.all(split[train] == 0)
  assert len(set(test)) == 100 and np.all(split[test] == 2)
  batch = next(iter(pipeline.eval_dataset(out, batch_size=100)))
  assert np.array_equal(batch['labels'][..., 0], dmelodies.generate(test).tokens)
  assert np.array_equal(batch['source'], test)
  pipeline.check_fits(out, seq_len=16, part_depths=(52,))
  with pytest.raises(dmelodies_dataset.DMelodiesDatasetError, match='already holds a dataset'):
    dmelodies_dataset.write(out, train_items=10, eval_items=10)
