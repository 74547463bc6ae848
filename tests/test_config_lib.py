"""Config names, variants and their agreement with the converters."""

import pytest

from musicvae_jax import config_boundary
from musicvae_jax import config_lib

MAGENTA_NAMES = ('cat-mel_2bar_small', 'cat-mel_2bar_big', 'flat-mel_16bar', 'hierdec-mel_16bar',
                 'cat-drums_2bar_small', 'cat-drums_2bar_big', 'flat-trio_16bar',
                 'hierdec-trio_16bar')


def test_every_magenta_config_of_the_three_families_is_here():
  assert set(MAGENTA_NAMES) <= set(config_lib.config_names())


@pytest.mark.parametrize('name', MAGENTA_NAMES)
@pytest.mark.parametrize('variant', ['', ':tiny'])
def test_config_and_converter_agree(name, variant):
  """The sequence length and the levels are derived from the data section, and fit the windows
  the converter cuts; Magenta's 16-bar hierarchical configs have levels [16, 16]."""
  config = config_lib.get_config(name + variant)
  converter = config_boundary.converter_of(config)
  spec = config_boundary.model_spec(config)
  assert 'max_seq_len' not in config.model and 'level_lengths' not in config.model
  assert spec.seq_len == converter.max_seq_len == (256 if '16bar' in name else 32)
  if spec.hierarchical:
    assert spec.level_lengths == (16, 16)
  else:
    assert spec.level_lengths == ()
  assert config.name == name + variant


def test_tiny_variant_is_small_and_keeps_the_data():
  full, tiny = (config_lib.get_config(f'hierdec-mel_16bar{v}') for v in ('', ':tiny'))
  assert tiny.model.z_size < full.model.z_size and tiny.train.batch_size < full.train.batch_size
  assert len(tiny.model.dec_rnn_size) == len(full.model.dec_rnn_size)
  assert tiny.data.to_dict() == full.data.to_dict()


def test_magenta_hyperparameters_of_two_configs():
  mel = config_lib.get_config('cat-mel_2bar_small')
  assert (mel.model.enc_rnn_size, mel.model.dec_rnn_size, mel.model.z_size) == ((512,), (256, 256),
                                                                                256)
  assert (mel.model.max_beta, mel.model.beta_rate, mel.model.sampling_rate) == (0.2, 0.99999, 1000)
  assert mel.data.valid_programs == tuple(range(32)) and mel.data.transpose_range == (-5, 5)
  trio = config_lib.get_config('hierdec-trio_16bar')
  assert (trio.model.free_bits, trio.train.batch_size, trio.data.gap_bars) == (256, 256, 2)


@pytest.mark.parametrize('bad,suggestion', [('cat-mel_2bar_smal', 'cat-mel_2bar_small'),
                                            ('hierdec_mel_16bar', 'hierdec-mel_16bar')])
def test_unknown_name_suggests_the_right_one(bad, suggestion):
  with pytest.raises(config_lib.UnknownConfigError, match=suggestion):
    config_lib.get_config(bad)


def test_unknown_variant_names_the_only_one():
  with pytest.raises(config_lib.UnknownConfigError, match=':tiny'):
    config_lib.get_config('cat-mel_2bar_small:huge')


def test_argv_rewrite_points_absl_at_the_config_file():
  argv = config_lib.rewrite_config_argv(['prog', '--config=cat-drums_2bar_small:tiny', '--x=1'])
  assert argv[1].endswith('cat_drums_2bar_small.py:tiny') and argv[2] == '--x=1'


def _reference_config_names() -> list[str]:
  """The first column of the reference's per-config table (section 1.1): Magenta's configs."""
  from conftest import SHARED  # pylint: disable=import-outside-toplevel
  text = (SHARED / 'reference' / 'magenta_musicvae.md').read_text()
  table = text.split('### 1.1')[1].split('###')[0]
  cells = [line.split('|')[1].strip() for line in table.splitlines()
           if line.startswith('| ') and not line.startswith('| config') and '---' not in line]
  return [cell.split(' / ')[0] for cell in cells]


def test_every_magenta_config_name_is_known_as_magentas():
  names = _reference_config_names()
  assert len(names) >= 20 and 'groovae_2bar_humanize' in names
  assert set(names) <= set(config_lib.MAGENTA_CONFIG_NAMES)


def test_magenta_config_not_here_yet_says_so_instead_of_suggesting_another():
  missing = [n for n in _reference_config_names()
             if config_lib.split_name(n)[0] not in config_lib.config_names()]
  assert missing  # chords, NADE, multiperf, hier-*: not in this toolkit yet
  assert not [n for n in missing if n.startswith('groovae')]
  for name in missing:
    with pytest.raises(config_lib.UnknownConfigError) as err:
      config_lib.get_config(name)
    message = str(err.value)
    assert message.startswith(f'{name} is a Magenta config not in musicvae_jax yet; the '
                              'configs here are: ')
    assert 'Did you mean' not in message
    assert all(known in message for known in config_lib.config_names())


def test_a_published_drum_checkpoint_name_points_at_its_config():
  with pytest.raises(config_lib.UnknownConfigError, match='--config=cat-drums_2bar_small'):
    config_lib.get_config('cat-drums_2bar_small.hikl')
