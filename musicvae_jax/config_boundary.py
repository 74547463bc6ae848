"""Where the ConfigDict stops: ``run_spec(config)`` turns it, once, into frozen typed specs.

Everything below the CLI and the training loop takes ``specs.RunSpec`` (or one of its parts)
and never reads a ConfigDict. Derived quantities are derived here, not stated in configs: the
sequence length is ``data.slice_bars`` × steps per bar, and a hierarchical decoder's levels are
(bars, steps per bar). Workdirs written before these were derived still carry
``model.max_seq_len`` / ``model.level_lengths`` in their config.json; those are accepted when
they agree with what the data section gives and refused, naming the field, when they do not.

The model's heads and step input come from the converter the data section names: its part
depths and how it feeds a step to the network (one-hot, or the drum roll).
"""

from __future__ import annotations

import dataclasses

from musicvae_jax import converters
from musicvae_jax import errors
from musicvae_jax import specs

# Magenta's decoder names -> (decoder kind, one bar decoder per part).
DECODERS = {'categorical_lstm': ('lstm', False), 'multi_categorical_lstm': ('lstm', False),
            'hierarchical': ('hierarchical', False), 'hierarchical_split': ('hierarchical', True),
            'groove_lstm': ('groove_lstm', False),
            'multi_label_rnn_nade': ('nade_lstm', False)}
# Keys of config.json files written before the sequence length and levels were derived.
LEGACY_MODEL_KEYS = ('max_seq_len', 'level_lengths')
# Fields of the data section that are not converter options.
_DATA_FIELDS = ('converter', 'slice_bars', 'steps_per_quarter', 'quarters_per_bar',
                'transpose_range', 'eval_fraction', 'split_seed')
PART_NAMES = {1: ('',), 3: ('melody', 'bass', 'drums')}


class ModelConfigError(errors.UserError, ValueError):
  """A model section that cannot be built, with the field to change."""


def data_spec(data) -> specs.DataSpec:
  """The data section, frozen; its converter options checked against the converter."""
  options = tuple(sorted((k, _freeze(v)) for k, v in data.items() if k not in _DATA_FIELDS))
  spec = specs.DataSpec(
      converter=str(data.converter), slice_bars=int(data.slice_bars),
      steps_per_quarter=int(data.get('steps_per_quarter', 4)),
      quarters_per_bar=int(data.get('quarters_per_bar', 4)), converter_options=options,
      transpose_range=tuple(int(x) for x in data.get('transpose_range', (0, 0))),
      eval_fraction=float(data.get('eval_fraction', 0.1)),
      split_seed=int(data.get('split_seed', 0)))
  converters.get_converter(spec)  # refuses unknown converters and options, naming the field
  return spec


def model_spec(config, data: specs.DataSpec | None = None) -> specs.ModelSpec:
  """The model section, checked against the data section it will read."""
  m = config.model
  data = data or data_spec(config.data)
  converter = converters.get_converter(data)
  if m.get('family', 'musicvae') == 'dsae':
    return _dsae_spec(m, data, converter)
  if m.get('family', 'musicvae') == 'musicoder':
    return _musicoder_spec(m, data, converter)
  if m.get('family', 'musicvae') == 'chordkey':
    return _chordkey_spec(m, data, converter)
  multiperf = data.converter == 'multiperf'
  if m.encoder not in specs.ENCODER_KINDS:
    raise ModelConfigError(f'model.encoder={m.encoder!r}: choose one of '
                           f'{", ".join(specs.ENCODER_KINDS)}.')
  if (m.encoder == 'hierarchical_lstm') != multiperf:
    raise ModelConfigError(
        f'model.encoder={m.encoder!r} with data.converter={data.converter!r}: multi-instrument '
        "performance windows (converter 'multiperf') are encoded by 'hierarchical_lstm' (a "
        "bidirectional LSTM per track, then over the tracks), every other converter's by "
        "'bidirectional_lstm'.")
  if m.decoder not in DECODERS:
    raise ModelConfigError(f'model.decoder={m.decoder!r}: choose one of {", ".join(DECODERS)}.')
  if m.z_size <= 0:
    raise ModelConfigError('model.z_size must be positive (decoder-only models are not built).')
  kind, split = DECODERS[m.decoder]
  keep_prob = float(m.get('dropout_keep_prob', 1.0))
  if multiperf:
    return _multiperf_spec(m, data, converter, kind, split, keep_prob)
  if kind == 'groove_lstm':
    return _groove_spec(m, data, converter, keep_prob)
  roll_output = bool(getattr(converter, 'roll_output', False))
  if (kind == 'nade_lstm') != roll_output:
    raise ModelConfigError(
        f'model.decoder={m.decoder!r} with data.roll_output={roll_output}: drum-roll windows '
        "(roll_output=True) are decoded by 'multi_label_rnn_nade', and it decodes only them.")
  if keep_prob != 1.0:
    raise ModelConfigError('model.dropout_keep_prob < 1 is not supported: no config of the '
                           'melody, drums or trio families uses dropout.')
  levels = (data.slice_bars, data.steps_per_bar) if kind == 'hierarchical' else ()
  _check_legacy(m, data.seq_len, levels)
  if kind == 'nade_lstm':
    return _nade_spec(m, data, converter)
  depths = tuple(converter.part_depths)
  names = PART_NAMES.get(len(depths), ('',) * len(depths))
  heads = tuple(specs.Head('categorical', int(d), n) for d, n in zip(depths, names))
  roll = bool(getattr(converter, 'roll_input', False))
  step_input = specs.StepInput('drum_roll' if roll else 'one_hot', int(converter.input_depth))
  chords = int(getattr(converter, 'control_depth', 0) or 0)  # chord-conditioned melody: 49
  if chords and kind != 'lstm':
    raise ModelConfigError(f'model.decoder={m.decoder!r}: chord controls '
                           "(data.chord_encoding) are built for 'categorical_lstm' only.")
  encoder, coder = specs.EncoderSpec('bidirectional_lstm', _sizes(m.enc_rnn_size)), None
  if m.encoder == 'musicoder':
    encoder, coder = _musicoder_encoder(config, depths, roll or chords)
  return specs.ModelSpec(
      heads=heads, input=step_input, encoder=encoder,
      decoder=specs.DecoderSpec(kind, _sizes(m.dec_rnn_size), levels, split),
      z_size=int(m.z_size), seq_len=data.seq_len,
      controls=(specs.Control('chords', chords),) if chords else (), musicoder=coder)


def _musicoder_encoder(config, depths, other_input) -> tuple[specs.EncoderSpec,
                                                              specs.MusiCoderSpec]:
  """The encoder seam: MusiCoder's pretrained transformer as a melody model's encoder, its
  architecture (and, at the start of training, its weights) from config.train.init_from."""
  if tuple(depths) != (90,) or other_input:
    raise ModelConfigError("model.encoder='musicoder' reads one-part melody windows (90 "
                           'classes, no chords): use it with the cat-mel and *-mel_16bar '
                           'configs.')
  source = str(config.train.get('init_from', ''))
  if not source:
    raise ModelConfigError("model.encoder='musicoder' takes its architecture and weights from a "
                           'musicvae-pretrain workdir: pass --config.train.init_from=<that dir>.')
  from musicvae_jax import checkpointing  # pylint: disable=g-import-not-at-top  (it imports us)
  pretrained = checkpointing.load_run_spec(source)
  if pretrained.model.family != 'musicoder':
    raise ModelConfigError(f"model.encoder='musicoder': config.train.init_from={source} holds a "
                           f'{pretrained.name} model, not a musicvae-pretrain workdir.')
  coder = pretrained.model.musicoder
  return specs.EncoderSpec('musicoder', (coder.width,) * coder.num_layers), coder


def _multiperf_spec(m, data: specs.DataSpec, converter, kind: str, split: bool,
                    keep_prob: float) -> specs.ModelSpec:
  """hier-multiperf: one-hot tokens (490) in and out; the encoder reads each track's rows, then
  the tracks (levels (64, 8)); the conductor emits one embedding per track, each decoded row by
  row (levels (8, 64)); 49-way chord controls for the _chords configs."""
  if kind != 'hierarchical' or split:
    raise ModelConfigError(
        f"model.decoder={m.decoder!r}: multi-instrument performance windows (data.converter="
        "'multiperf') are decoded by 'hierarchical' (a conductor over the track slots, one "
        'decoder for every track).')
  if keep_prob != 1.0:
    raise ModelConfigError('model.dropout_keep_prob < 1 is not supported: no hier-multiperf '
                           'config uses dropout.')
  tracks, rows = data.multiperf_levels
  _check_legacy(m, data.seq_len, (tracks, rows))
  chords = int(converter.control_depth)
  return specs.ModelSpec(
      heads=(specs.Head('categorical', int(converter.output_depth)),),
      input=specs.StepInput('one_hot', int(converter.input_depth)),
      encoder=specs.EncoderSpec('hierarchical_lstm', _sizes(m.enc_rnn_size),
                                level_lengths=(rows, tracks)),
      decoder=specs.DecoderSpec('hierarchical', _sizes(m.dec_rnn_size), (tracks, rows)),
      z_size=int(m.z_size), seq_len=data.seq_len,
      controls=(specs.Control('chords', chords),) if chords else ())


def _groove_spec(m, data: specs.DataSpec, converter, keep_prob: float) -> specs.ModelSpec:
  """GrooVAE: dense 27-float steps in and out, optional hits controls, input dropout."""
  if not 0.0 < keep_prob <= 1.0:
    raise ModelConfigError(f'model.dropout_keep_prob={keep_prob}: must be in (0, 1].')
  if m.get('sampling_schedule', 'constant') != 'constant':
    raise ModelConfigError(f'model.sampling_schedule={m.sampling_schedule!r}: the groove_lstm '
                           "decoder trains with teacher forcing only; use 'constant'.")
  _check_legacy(m, data.seq_len, ())
  depth = int(converter.output_depth)
  if depth % 3:
    raise ModelConfigError(f'model.decoder=groove_lstm needs [hits | velocities | offsets] '
                           f'outputs; the {data.converter} converter gives {depth} values.')
  control = int(getattr(converter, 'control_depth', 0) or 0)
  return specs.ModelSpec(
      heads=specs.groove_heads(depth), input=specs.StepInput('dense', int(converter.input_depth)),
      encoder=specs.EncoderSpec('bidirectional_lstm', _sizes(m.enc_rnn_size)),
      decoder=specs.DecoderSpec('groove_lstm', _sizes(m.dec_rnn_size)),
      z_size=int(m.z_size), seq_len=data.seq_len,
      controls=(specs.Control('hits', control),) if control else (),
      dropout_keep_prob=keep_prob)


def _nade_spec(m, data: specs.DataSpec, converter) -> specs.ModelSpec:
  """nade-drums: [T, D] drum rolls in (with the NOR bit) and out, one NADE head of D bits."""
  hidden = int(m.get('nade_num_hidden') or 0)
  if hidden <= 0:
    raise ModelConfigError('model.nade_num_hidden must be a positive number of NADE hidden '
                           'units (Magenta: 128).')
  return specs.ModelSpec(
      heads=(specs.Head('multi_label', int(converter.output_depth)),),
      input=specs.StepInput('drum_roll', int(converter.input_depth)),
      encoder=specs.EncoderSpec('bidirectional_lstm', _sizes(m.enc_rnn_size)),
      decoder=specs.DecoderSpec('nade_lstm', _sizes(m.dec_rnn_size), nade_hidden=hidden),
      z_size=int(m.z_size), seq_len=data.seq_len)


def _dsae_spec(m, data: specs.DataSpec, converter) -> specs.ModelSpec:
  """DSAE / TS-DSAE over one categorical part (dMelodies tokens, melody classes)."""
  depths = tuple(getattr(converter, 'part_depths', ()))
  if len(depths) != 1 or getattr(converter, 'roll_output', False):
    raise ModelConfigError(
        f'model.family=dsae reads windows of one categorical part (data.converter '
        f"'dmelodies' or 'melody'); the {data.converter} converter gives parts {list(depths)}.")
  weights = tuple(float(w) for w in m.swap_weights)
  if len(weights) != 4 or min(weights) < 0:
    raise ModelConfigError(f'model.swap_weights={list(weights)}: four weights >= 0 (global '
                           'swap v, global swap z, local swap v, local swap z).')
  if any(weights) and int(m.stage1_steps) <= 0:
    raise ModelConfigError('model.swap_weights > 0 need model.stage1_steps > 0: the swap terms '
                           "are TS-DSAE's second stage.")
  dsae = specs.DsaeSpec(v_size=int(m.v_size), prior_rnn_size=int(m.prior_rnn_size),
                        stage1_steps=int(m.stage1_steps), swap_weights=weights,
                        swap_warmup_steps=int(m.get('swap_warmup_steps', 0)),
                        v_beta=float(m.get('v_beta', 1.0)),
                        straight_through_swaps=bool(m.get('straight_through_swaps', False)),
                        swap_z_targets_train=bool(m.get('swap_z_targets_train', False)),
                        z_input=str(m.get('z_input', 'tokens')),
                        token_pitches=_token_pitches(converter, depths[0]))
  if dsae.z_input not in ('tokens', 'contour'):
    raise ModelConfigError(f"model.z_input={dsae.z_input!r}: 'tokens' (z_t's encoder reads the "
                           "sequence) or 'contour' (its rests, holds and pitch directions).")
  if dsae.v_beta <= 0:
    raise ModelConfigError(f'model.v_beta={dsae.v_beta}: the weight of KL(q(v) || p(v)) must be '
                           '> 0 (1 is the ELBO).')
  return specs.ModelSpec(
      heads=(specs.Head('categorical', int(depths[0])),),
      input=specs.StepInput('one_hot', int(depths[0])),
      encoder=specs.EncoderSpec('bidirectional_lstm', _sizes(m.enc_rnn_size)),
      decoder=specs.DecoderSpec('mlp', _sizes(m.dec_rnn_size)),
      z_size=int(m.z_size), seq_len=data.seq_len, family='dsae', dsae=dsae)


def _token_pitches(converter, depth: int) -> tuple[int, ...]:
  """Each token's MIDI pitch (-1 for the rest and hold tokens 0 and 1) for z's contour input."""
  vocabulary = getattr(converter, 'vocabulary', None)
  if hasattr(vocabulary, 'pitch_of_token'):   # dMelodies
    return tuple(int(p) for p in vocabulary.pitch_of_token)
  low = int(getattr(converter, 'min_pitch'))   # melody: tokens 2.. are min_pitch..
  return (-1, -1) + tuple(range(low, low + depth - 2))


def _musicoder_spec(m, data: specs.DataSpec, converter) -> specs.ModelSpec:
  """MusiCoder's transformer over piano-roll frames (data.converter 'pianoroll')."""
  if data.converter != 'pianoroll':
    raise ModelConfigError(f"model.family=musicoder reads piano-roll frames: set "
                           f"data.converter='pianoroll' (it is {data.converter!r}).")
  objectives = tuple(str(o) for o in m.objectives)
  if not objectives or set(objectives) - set(specs.MASKING_OBJECTIVES):
    raise ModelConfigError(f'model.objectives={list(objectives)}: one or both of '
                           f'{", ".join(specs.MASKING_OBJECTIVES)}.')
  if int(m.width) % int(m.num_heads):
    raise ModelConfigError(f'model.width={m.width} must be a multiple of model.num_heads='
                           f'{m.num_heads}.')
  for name in ('frame_fraction', 'channel_fraction'):
    if not 0.0 < float(m[name]) < 1.0:
      raise ModelConfigError(f'model.{name}={m[name]}: a fraction between 0 and 1.')
  coder = specs.MusiCoderSpec(
      width=int(m.width), num_heads=int(m.num_heads), num_layers=int(m.num_layers),
      mlp_width=int(m.mlp_width), objectives=objectives,
      frame_fraction=float(m.frame_fraction), frame_span=int(m.frame_span),
      channel_fraction=float(m.channel_fraction), channel_span=int(m.channel_span),
      frames=data.seq_len)
  depths = tuple(converter.part_depths)
  return specs.ModelSpec(
      heads=tuple(specs.Head('categorical', d) for d in depths),
      input=specs.StepInput('dense', 4 * len(depths)),
      encoder=specs.EncoderSpec('transformer', (coder.width,) * coder.num_layers),
      decoder=specs.DecoderSpec('linear', ()), z_size=0, seq_len=data.seq_len,
      family='musicoder', musicoder=coder)


def _chordkey_spec(m, data: specs.DataSpec, converter) -> specs.ModelSpec:
  """The joint chord/key model over windows of beats (data.converter 'chordkey')."""
  if data.converter != 'chordkey':
    raise ModelConfigError(f"model.family=chordkey reads windows of beats: set "
                           f"data.converter='chordkey' (it is {data.converter!r}).")
  fields = {f.name: f.type for f in dataclasses.fields(specs.ChordKeySpec)}
  spec = specs.ChordKeySpec(**{k: type(getattr(specs.ChordKeySpec, k))(m[k])
                               for k in fields if k in m})
  choices = dict(classifier=('bilstm', 'transformer'), chord_lm=('transition', 'recurrent'),
                 latent_scope=('beat', 'chunk'))
  for name, allowed in choices.items():
    if getattr(spec, name) not in allowed:
      raise ModelConfigError(f'model.{name}={getattr(spec, name)!r}: one of '
                             f'{", ".join(repr(a) for a in allowed)}.')
  if not 0.0 < spec.labelled_fraction <= 1.0:
    raise ModelConfigError(f'model.labelled_fraction={spec.labelled_fraction}: the share of '
                           'training songs that keep their labels, in (0, 1].')
  depths = tuple(converter.part_depths)
  return specs.ModelSpec(
      heads=tuple(specs.Head('categorical', d) for d in depths),
      input=specs.StepInput('dense', converter.input_depth),
      encoder=specs.EncoderSpec(spec.classifier, (spec.hidden,) * spec.num_layers),
      decoder=specs.DecoderSpec('linear', ()), z_size=spec.latent, seq_len=data.seq_len,
      family='chordkey', chordkey=spec)


def loss_spec(config) -> specs.LossSpec:
  m = config.model
  spec = specs.LossSpec(free_bits=float(m.free_bits), max_beta=float(m.max_beta),
                        beta_rate=float(m.beta_rate), sampling_schedule=str(m.sampling_schedule),
                        sampling_rate=float(m.sampling_rate))
  if spec.sampling_schedule not in ('constant', 'exponential', 'inverse_sigmoid'):
    raise ModelConfigError(f'model.sampling_schedule={spec.sampling_schedule!r}: choose one of '
                           'constant, exponential, inverse_sigmoid.')
  return spec


def train_spec(config) -> specs.TrainSpec:
  t = config.train
  fields = {f: t[f] for f in specs.TrainSpec.__dataclass_fields__ if f in t}
  spec = specs.TrainSpec(**fields)
  if spec.compute_dtype not in specs.COMPUTE_DTYPES:
    raise ModelConfigError(f'config.train.compute_dtype={spec.compute_dtype!r}; use one of '
                           f'{specs.COMPUTE_DTYPES}.')
  return spec


def run_spec(config) -> specs.RunSpec:
  """The whole run, frozen: the one call that reads a ConfigDict."""
  data = data_spec(config.data)
  return specs.RunSpec(name=str(config.get('name', 'model')), data=data,
                       model=model_spec(config, data), loss=loss_spec(config),
                       train=train_spec(config))


def _sizes(value) -> tuple[int, ...]:
  return tuple(int(v) for v in value)


def _freeze(value):
  return tuple(value) if isinstance(value, list) else value


def _check_legacy(m, seq_len: int, levels: tuple[int, ...]) -> None:
  """Old config.json files state what is now derived; they must agree with it."""
  stated = m.get('max_seq_len')
  if stated is not None and int(stated) != seq_len:
    raise ModelConfigError(
        f'model.max_seq_len={stated} but the data windows have {seq_len} steps (data.slice_bars '
        'x steps per bar); drop model.max_seq_len: it is derived from the data section.')
  stated = m.get('level_lengths')
  if stated and tuple(int(x) for x in stated) != levels:
    want = list(levels) if levels else 'none (the decoder is flat)'
    raise ModelConfigError(
        f'model.level_lengths={list(stated)}: this decoder\'s levels are {want} (bars, steps '
        'per bar, from the data section); drop model.level_lengths: it is derived.')


def converter_of(config) -> converters.Converter:
  """The converter of a config's data section (for callers that hold a ConfigDict)."""
  return converters.get_converter(data_spec(config.data))
