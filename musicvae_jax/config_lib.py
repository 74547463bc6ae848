"""Shared ConfigDict builders and the name -> config lookup used by every CLI.

Config files live in the repository's top-level ``configs/`` folder (installed as the package
``musicvae_jax.configs``), one file per Magenta config name: ``cat_mel_2bar_small.py`` is
``cat-mel_2bar_small``. Each exposes ``get_config(arg=None)``; ``arg='tiny'`` gives the variant
that trains in seconds on a CPU.

On the command line a config is named as Magenta names it, optionally with a variant:
``--config=cat-mel_2bar_small`` or ``--config=cat-mel_2bar_small:tiny``; single values are
overridden with ``--config.<group>.<key>=<value>`` (absl/ml_collections config flags).
"""

from __future__ import annotations

import difflib
import importlib
import importlib.resources
import json
import pathlib
import re

import ml_collections

from musicvae_jax import errors

# Constants the configs use (c.MEL_PROGRAMS), defined by the converters' vocabulary. Looked up on
# first use: importing the converters loads note-seq (about 2 s), which a CLI's --help and every
# config that does not need them should not wait for.
_FROM_VOCABULARY = ('MEL_PROGRAMS', 'REDUCED_DRUM_PITCH_CLASSES')


def __getattr__(name: str):
  if name in _FROM_VOCABULARY:
    from musicvae_jax.converters import vocabulary  # pylint: disable=g-import-not-at-top
    return getattr(vocabulary, name)
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


class UnknownConfigError(errors.UserError, ValueError):
  """A config name that no file in configs/ defines."""


def _configs_dir() -> pathlib.Path:
  return pathlib.Path(str(importlib.resources.files('musicvae_jax.configs')))


def config_names() -> list[str]:
  """Every config name, Magenta-style (hyphen after the model family)."""
  names = []
  for path in sorted(_configs_dir().glob('*.py')):
    if path.stem.startswith('_'):
      continue
    names.append(module_to_name(path.stem))
  return names


# Families Magenta names without a hyphen after the family (groovae_4bar).
_UNHYPHENATED_FAMILIES = ('groovae', 'musicoder', 'chordkey')
# Other names Magenta gives a config here: its configs.py names the GrooVAE hits-control config
# after the TFDS data set it reads.
CONFIG_ALIASES = {'groovae_2bar_hits_control_tfds': 'groovae_2bar_hits_control'}


def module_to_name(stem: str) -> str:
  family, _, rest = stem.partition('_')
  return stem if family in _UNHYPHENATED_FAMILIES else f'{family}-{rest}'


def name_to_module(name: str) -> str:
  return name.replace('-', '_')


def split_name(spec: str) -> tuple[str, str | None]:
  """'cat-mel_2bar_small:tiny' -> ('cat-mel_2bar_small', 'tiny'); an alias gives its config."""
  name, sep, arg = spec.partition(':')
  return CONFIG_ALIASES.get(name, name), (arg if sep else None)


def config_path(spec: str) -> str:
  """Path of the config file for a name (keeping a ':variant' suffix), for absl config flags."""
  name, arg = split_name(spec)
  check_name(name)
  path = _configs_dir() / f'{name_to_module(name)}.py'
  return str(path) + (f':{arg}' if arg is not None else '')


# Every config name of Magenta's configs.py (and the README's name of one GrooVAE checkpoint's),
# so a Magenta name this toolkit lacks is named as such, not "corrected" to a different model.
MAGENTA_CONFIG_NAMES = (
    'cat-mel_2bar_small', 'cat-mel_2bar_big', 'cat-mel_2bar_med_chords', 'cat-drums_2bar_small',
    'cat-drums_2bar_big', 'nade-drums_2bar_reduced', 'nade-drums_2bar_full', 'flat-trio_16bar',
    'hierdec-trio_16bar', 'hier-trio_16bar', 'flat-mel_16bar', 'hierdec-mel_16bar',
    'hier-mel_16bar', 'hier-multiperf_vel_1bar_med', 'hier-multiperf_vel_1bar_big',
    'hier-multiperf_vel_1bar_med_chords', 'hier-multiperf_vel_1bar_big_chords', 'groovae_4bar',
    'groovae_2bar_humanize', 'groovae_2bar_tap_fixed_velocity',
    'groovae_2bar_tap_fixed_velocity_note_dropout', 'groovae_2bar_add_closed_hh',
    'groovae_2bar_hits_control_tfds', 'groovae_2bar_hits_control')


def check_name(name: str) -> None:
  known = config_names()
  if CONFIG_ALIASES.get(name, name) in known:
    return
  if name in MAGENTA_CONFIG_NAMES:
    raise UnknownConfigError(
        f'{name} is a Magenta config not in musicvae_jax yet; the configs here are: '
        f'{", ".join(known)}.')
  if re.fullmatch(r'cat-drums_2bar_small\.(lokl|hikl)', name):
    raise UnknownConfigError(
        f'{name} names a published checkpoint, not a config: it loads with '
        '--config=cat-drums_2bar_small.')
  close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
  hint = f' Did you mean {" or ".join(repr(c) for c in close)}?' if close else ''
  raise UnknownConfigError(
      f'Unknown config {name!r}.{hint} Known configs: {", ".join(known)}. '
      "Append ':tiny' for the small CPU variant.")


def get_config(spec: str) -> ml_collections.ConfigDict:
  """The ConfigDict for 'name' or 'name:variant'."""
  name, arg = split_name(spec)
  check_name(name)
  module = importlib.import_module(f'musicvae_jax.configs.{name_to_module(name)}')
  return module.get_config(arg)


def rewrite_config_argv(argv: list[str]) -> list[str]:
  """Maps ``--config=<name>[:variant]`` to the config file's path so absl can load it.

  Raises UnknownConfigError with the list of names when the name is not a config.
  """
  out = []
  for i, arg in enumerate(argv):
    if arg.startswith('--config=') and not arg[len('--config='):].split(':')[0].endswith('.py'):
      out.append('--config=' + config_path(arg[len('--config='):]))
    elif arg == '--config' and i + 1 < len(argv):
      out.append(arg)
    elif i > 0 and argv[i - 1] == '--config' and not arg.split(':')[0].endswith('.py'):
      out.append(config_path(arg))
    else:
      out.append(arg)
  return out


WORKDIR_CONFIG = 'config.json'  # what a training workdir holds its config in
_WORKDIR_LOADER = '_workdir.py'  # configs/_workdir.py: get_config(workdir) -> workdir_config


def _flag_value(argv: list[str], name: str) -> str | None:
  for i, arg in enumerate(argv):
    if arg.startswith(f'--{name}='):
      return arg.split('=', 1)[1]
    if arg == f'--{name}' and i + 1 < len(argv):
      return argv[i + 1]
  return None


def resume_argv(argv: list[str]) -> list[str]:
  """Without ``--config``, a ``--workdir`` that holds a run is the config: ``argv`` gains
  ``--config=<configs/_workdir.py>:<workdir>``, so ``--config.*`` overrides apply to the config
  the run was started with (``musicvae-train --workdir=W --config.train.num_steps=600``)."""
  workdir = _flag_value(argv, 'workdir')
  if (_flag_value(argv, 'config') is not None or not workdir
      or not (pathlib.Path(workdir).expanduser() / WORKDIR_CONFIG).is_file()):
    return list(argv)
  return [argv[0], f'--config={_configs_dir() / _WORKDIR_LOADER}:{workdir}', *argv[1:]]


def workdir_config(workdir) -> ml_collections.ConfigDict:
  """A workdir's config.json, with the train keys added since it was written (defaults)."""
  path = pathlib.Path(workdir).expanduser() / WORKDIR_CONFIG
  config = ml_collections.ConfigDict(json.loads(path.read_text()))
  if 'train' in config:
    for key, value in train(batch_size=0).items():
      if key not in config.train:
        config.train[key] = value
  return config


# ---- builders used by the files in configs/ ------------------------------------------------

def melody_data(*, slice_bars: int, valid_programs=None, transpose_range=(0, 0)):
  return ml_collections.ConfigDict(dict(
      converter='melody', slice_bars=slice_bars, steps_per_quarter=4, quarters_per_bar=4,
      min_pitch=21, max_pitch=108, valid_programs=valid_programs, skip_polyphony=False,
      max_bars=100, gap_bars=1.0, max_windows_per_sequence=None,
      transpose_range=transpose_range, eval_fraction=0.1, split_seed=0))


def dmelodies_data():
  """dMelodies items: 16 eighth-note tokens (``musicvae-dmelodies --dataset``)."""
  return ml_collections.ConfigDict(dict(
      converter='dmelodies', slice_bars=2, steps_per_quarter=2, quarters_per_bar=4,
      transpose_range=(0, 0), eval_fraction=0.1, split_seed=0))


def pianoroll_data(*, slice_bars: int = 4):
  """Piano-roll frames (MusiCoder): 16th-note frames x 88 pitches with onsets and 8 velocity
  bins, read on the tempo map whatever the meter; non-overlapping windows of ``slice_bars``
  4/4 bars' worth of frames holding at least 4 onsets."""
  return ml_collections.ConfigDict(dict(
      converter='pianoroll', slice_bars=slice_bars, steps_per_quarter=4, quarters_per_bar=4,
      min_pitch=21, max_pitch=108, velocity_bins=8, hop_bars=0, min_notes=4,
      max_windows_per_sequence=None, transpose_range=(0, 0), eval_fraction=0.05, split_seed=0))


def drums_data(*, slice_bars: int):
  return ml_collections.ConfigDict(dict(
      converter='drums', slice_bars=slice_bars, steps_per_quarter=4, quarters_per_bar=4,
      max_bars=100, gap_bars=1.0, roll_input=True, max_windows_per_sequence=None,
      transpose_range=(0, 0), eval_fraction=0.1, split_seed=0))


def drum_roll_data(*, slice_bars: int, pitch_classes: str = 'reduced'):
  """The nade-drums data section: Magenta's DrumsConverter with ``roll_output=True``, multi-hot
  [T, D] windows over the 9 reduced classes or the 61 of ``pitch_classes='full'``."""
  data = drums_data(slice_bars=slice_bars)
  data.roll_output = True
  data.pitch_classes = pitch_classes
  return data


def groove_data(*, slice_bars: int, humanize=False, tapify=False, fixed_velocities=False,
                add_instruments=(), max_note_dropout_probability=0.0, hits_as_controls=False):
  """GrooVAE's data section: Magenta's GrooveConverter arguments under their own names
  (``slice_bars`` is its ``split_bars``); max_note_dropout_probability 0 means none. Magenta's
  ``max_tensors_per_notesequence=20`` is left out: its GrooveConverter never applies it."""
  return ml_collections.ConfigDict(dict(
      converter='groove', slice_bars=slice_bars, steps_per_quarter=4, quarters_per_bar=4,
      pitch_classes='roland', inference_pitch_classes='reduced', humanize=humanize,
      tapify=tapify, fixed_velocities=fixed_velocities, add_instruments=tuple(add_instruments),
      max_note_dropout_probability=float(max_note_dropout_probability),
      hits_as_controls=hits_as_controls, max_windows_per_sequence=None,
      transpose_range=(0, 0), eval_fraction=0.1, split_seed=0))


def trio_data(*, slice_bars: int):
  return ml_collections.ConfigDict(dict(
      converter='trio', slice_bars=slice_bars, steps_per_quarter=4, quarters_per_bar=4,
      max_bars=1024, gap_bars=2, min_pitch=21, max_pitch=108, max_windows_per_sequence=None,
      transpose_range=(0, 0), eval_fraction=0.1, split_seed=0))


def multiperf_data(*, chord_encoding=None, transpose_range=(-3, 3)):
  """The hier-multiperf data section: Magenta's MultiInstrumentPerformanceConverter arguments
  under their own names (``slice_bars`` is its ``hop_size_bars``; 24 steps a quarter). Windows
  are max_num_instruments x max_events_per_instrument rows (8 x 64 = 512); ``chord_encoding=
  'triad'`` adds a chord per row (the _chords configs)."""
  data = ml_collections.ConfigDict(dict(
      converter='multiperf', slice_bars=1, steps_per_quarter=24, quarters_per_bar=4,
      num_velocity_bins=8, chunk_size_bars=1, min_num_instruments=2, max_num_instruments=8,
      min_total_events=8, max_events_per_instrument=64, max_windows_per_sequence=None,
      transpose_range=tuple(transpose_range), eval_fraction=0.1, split_seed=0))
  if chord_encoding is not None:
    data.chord_encoding = chord_encoding
  return data


def model(*, encoder='bidirectional_lstm', decoder='categorical_lstm', enc_rnn_size,
          dec_rnn_size, z_size, free_bits=0.0, max_beta=1.0, beta_rate=0.0,
          sampling_schedule='constant', sampling_rate=0.0, dropout_keep_prob=1.0,
          nade_num_hidden=None):
  """The model section. The sequence length and a hierarchical decoder's levels are not stated:
  they follow from the data section (config_boundary derives them). ``nade_num_hidden``: the
  NADE's hidden units (decoder 'multi_label_rnn_nade' only)."""
  # NADE configs only: the other configs' config.json keep the keys they always had.
  nade = {} if nade_num_hidden is None else dict(nade_num_hidden=int(nade_num_hidden))
  return ml_collections.ConfigDict(dict(
      # Tuples, not lists: ml_collections can override a tuple field from the command line
      # (--config.model.dec_rnn_size=512,512), a list field not at all.
      encoder=encoder, decoder=decoder, enc_rnn_size=tuple(enc_rnn_size),
      dec_rnn_size=tuple(dec_rnn_size), z_size=z_size, free_bits=free_bits,
      max_beta=max_beta, beta_rate=beta_rate, sampling_schedule=sampling_schedule,
      sampling_rate=sampling_rate, dropout_keep_prob=dropout_keep_prob, **nade))


def dsae_model(*, enc_rnn_size=256, dec_rnn_size=(256,), z_size=16, v_size=16,
               prior_rnn_size=64, stage1_steps=0, swap_weights=(0.0, 0.0, 0.0, 0.0),
               free_bits=16.0, swap_warmup_steps=0, v_beta=1.0,
               straight_through_swaps=False, swap_z_targets_train=False, z_input='tokens'):
  """The model section of DSAE / TS-DSAE (``models.dsae``): ``enc_rnn_size`` per direction of
  both encoders, ``dec_rnn_size`` the decoder MLP's hidden widths, ``z_size`` each z_t's size,
  ``v_size`` the global latent's; TS-DSAE: ``stage1_steps`` > 0 and ``swap_weights``;
  ``free_bits`` apply to z_1:T's KL (summed over the sequence); the swap weights rise from 0
  over ``swap_warmup_steps`` steps of stage 2; ``v_beta`` weighs v's KL against N(0, I) (the
  vanilla DSAE, TS-DSAE's stage 1; 1: the ELBO); ``straight_through_swaps``: the swap terms
  re-encode greedy decodes; ``swap_z_targets_train``: z's swap targets pass gradient;
  ``z_input``: what z_t's encoder reads, 'tokens' or 'contour' (``models.dsae.contour``)."""
  return ml_collections.ConfigDict(dict(
      family='dsae', enc_rnn_size=(int(enc_rnn_size),), dec_rnn_size=tuple(dec_rnn_size),
      z_size=z_size, v_size=v_size, prior_rnn_size=prior_rnn_size, stage1_steps=stage1_steps,
      swap_weights=tuple(float(w) for w in swap_weights), swap_warmup_steps=swap_warmup_steps,
      free_bits=float(free_bits), v_beta=float(v_beta),
      straight_through_swaps=bool(straight_through_swaps),
      swap_z_targets_train=bool(swap_z_targets_train), z_input=str(z_input), max_beta=1.0,
      beta_rate=0.0, sampling_schedule='constant', sampling_rate=0.0))


def musicoder_model(*, width=256, num_heads=4, num_layers=4, mlp_width=1024,
                    objectives=('cfm', 'ccm'), frame_fraction=0.15, frame_span=4,
                    channel_fraction=0.15, channel_span=12):
  """The model section of MusiCoder (``models.musicoder``): a transformer encoder pretrained by
  reconstructing masked cells; ``objectives`` any of 'cfm' (contiguous frames masked) and
  'ccm' (contiguous pitch channels masked). The VAE loss fields are kept for the shared
  machinery and unused."""
  return ml_collections.ConfigDict(dict(
      family='musicoder', width=width, num_heads=num_heads, num_layers=num_layers,
      mlp_width=mlp_width, objectives=tuple(objectives), frame_fraction=frame_fraction,
      frame_span=frame_span, channel_fraction=channel_fraction, channel_span=channel_span,
      enc_rnn_size=(), dec_rnn_size=(), z_size=0, free_bits=0.0, max_beta=1.0,
      beta_rate=0.0, sampling_schedule='constant', sampling_rate=0.0))


def musicoder_config(name: str, arg, objectives=('cfm', 'ccm')):
  """The musicoder configs: width 128, 4 heads, 4 layers, MLP 512 over four-bar windows;
  Adam at 1e-3, batch 64, 3,000 steps; ``objectives`` what each names."""
  config = build(name, pianoroll_data(slice_bars=4),
                 musicoder_model(width=128, num_heads=4, num_layers=4, mlp_width=512,
                                 objectives=objectives),
                 train(batch_size=64), arg)
  if arg != 'tiny':
    config.train.update(num_steps=3000, eval_every_steps=1000, learning_rate=1e-3,
                        checkpoint_every_steps=1000)
  return config


def chordkey_data(*, slice_bars: int = 32):
  """Windows of beats for the chord/key model (``chordkey.windows``): one step per
  beat, ``slice_bars`` x 4 beats per window; every transposition (the pitch classes roll)."""
  return ml_collections.ConfigDict(dict(
      converter='chordkey', slice_bars=slice_bars, steps_per_quarter=1, quarters_per_bar=4,
      min_notes=1, transpose_range=(0, 11), eval_fraction=0.1, split_seed=0))


def chordkey_model(**settings):
  """The model section of the joint chord/key model (``specs.ChordKeySpec``'s fields). The
  VAE loss fields are kept for the shared machinery and unused."""
  from musicvae_jax import specs  # pylint: disable=g-import-not-at-top
  import dataclasses  # pylint: disable=g-import-not-at-top
  fields = {f.name: f.default for f in dataclasses.fields(specs.ChordKeySpec)}
  unknown = sorted(set(settings) - set(fields))
  if unknown:
    raise ValueError(f'chordkey_model: unknown setting {unknown[0]!r}')
  return ml_collections.ConfigDict(dict(
      family='chordkey', **dict(fields, **settings), enc_rnn_size=(), dec_rnn_size=(),
      z_size=0, free_bits=0.0, max_beta=1.0, beta_rate=0.0, sampling_schedule='constant',
      sampling_rate=0.0))


def chordkey_config(name: str, arg, **settings):
  """The chordkey configs: 128-beat windows, Adam at 2e-3 decaying to 1e-4 over 3,000 steps,
  batch 32."""
  config = build(name, chordkey_data(), chordkey_model(**settings), train(batch_size=32), arg)
  if arg != 'tiny':
    config.train.update(num_steps=3000, learning_rate=2e-3, decay_rate=0.999,
                        min_learning_rate=1e-4, eval_every_steps=1000,
                        checkpoint_every_steps=1000)
  return config


def train(*, batch_size):
  return ml_collections.ConfigDict(dict(
      batch_size=batch_size, num_steps=200_000, learning_rate=1e-3, decay_rate=0.9999,
      min_learning_rate=1e-5, grad_clip=1.0, grad_norm_clip_to_zero=10_000.0, seed=0,
      # A checkpoint every checkpoint_every_steps, and whenever checkpoint_every_secs (0: off)
      # have passed since the last one (as Magenta's 60 s); either way the run's result is
      # the same, only what a crash or Ctrl-C can lose differs.
      checkpoint_every_steps=1000, checkpoint_every_secs=60.0, eval_every_steps=1000,
      log_every_steps=100,
      eval_num_batches=0,  # 0: the whole eval split
      # Many devices (musicvae_jax.distributed): fsdp=True splits parameters and optimizer
      # state over fsdp_size devices (-1: all) instead of replicating them; compute_dtype
      # 'bfloat16' runs the model in bfloat16 on float32 master parameters.
      fsdp=False, fsdp_size=-1, compute_dtype='float32',
      # A workdir, exported model folder or bundled:<name> whose parameters start a fresh run
      # (fine-tuning; training/init_from.py). '' (default): random initialisation.
      init_from=''))


def build(name: str, data, model_cfg, train_cfg, arg: str | None):
  """Assembles a config and applies a variant ('tiny' shrinks every width for CPU tests)."""
  config = ml_collections.ConfigDict(dict(name=name, data=data, model=model_cfg,
                                          train=train_cfg))
  if arg in (None, ''):
    return config
  if arg != 'tiny':
    raise UnknownConfigError(f"Unknown variant {arg!r} of config {name!r}; the only variant "
                             "is ':tiny'.")
  config.name = f'{name}:tiny'
  config.model.enc_rnn_size = (16,) * len(config.model.enc_rnn_size)
  config.model.dec_rnn_size = (16,) * len(config.model.dec_rnn_size)
  config.model.z_size = 8
  if config.model.get('family') == 'musicoder':
    config.model.update(width=16, num_heads=2, num_layers=1, mlp_width=32, z_size=0)
  if 'nade_num_hidden' in config.model:
    config.model.nade_num_hidden = 16
  if config.model.get('family') == 'chordkey':
    config.model.update(hidden=16, num_layers=1, latent=4, embed=8, z_size=0)
    config.data.slice_bars = 4
  if config.model.get('family') == 'dsae':
    config.model.prior_rnn_size = 16
    config.model.v_size = 16
    if config.model.stage1_steps:
      config.model.stage1_steps = 10  # both stages within the tiny run's 20 steps
      config.model.swap_warmup_steps = 5
  config.train.batch_size = 8
  config.train.num_steps = 20
  config.train.checkpoint_every_steps = 10
  config.train.checkpoint_every_secs = 0.0  # runs of seconds: checkpoints at known steps only
  config.train.eval_every_steps = 10
  config.train.log_every_steps = 5
  return config
