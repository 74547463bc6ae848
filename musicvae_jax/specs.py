"""Frozen, typed descriptions of a run: what the data, the model, the loss and training need.

``config_boundary.run_spec(config)`` builds these once from a ConfigDict; below that line nothing
reads a ConfigDict. Quantities that follow from others are properties (the sequence length is
bars × steps per bar; the hierarchical levels are bars and steps per bar), never stated twice.

This module imports nothing from the package, so every room can depend on it.

The model is described in general terms so that other families drop in without reshaping it:
- ``heads``: what the decoder emits at each step, one head per output part. ``categorical``
  (a softmax over ``depth`` classes, one label per step) is what the melody, drums and trio
  families use; ``multi_label`` (``depth`` bits a step, a NADE over a drum roll: nade-drums);
  ``continuous`` (GrooVAE's hits / velocities / offsets).
- ``input``: how a step's labels are fed to the encoder and the decoder (``one_hot`` of every
  part, a ``drum_roll`` of class bits plus a silence bit, or ``dense`` float vectors as
  GrooVAE's [hits | velocities | offsets] steps).
- ``controls``: per-step control inputs given to encoder and decoder (49-way chords, 9-way hits).
- ``encoder`` / ``decoder``: kind, layer widths and, for hierarchical ones, their level lengths.
- ``dropout_keep_prob``: input dropout on every LSTM layer while training (GrooVAE: 0.3).
"""

from __future__ import annotations

import dataclasses
import math

HEAD_KINDS = ('categorical', 'multi_label', 'continuous')
INPUT_KINDS = ('one_hot', 'drum_roll', 'dense')
ENCODER_KINDS = ('bidirectional_lstm', 'hierarchical_lstm', 'musicoder')
DECODER_KINDS = ('lstm', 'hierarchical', 'groove_lstm', 'nade_lstm')
COMPUTE_DTYPES = ('float32', 'bfloat16')


@dataclasses.dataclass(frozen=True)
class DataSpec:
  """How MIDI becomes fixed-size windows: the converter and its options."""
  converter: str                  # 'melody', 'drums', 'trio', 'groove', 'multiperf'
  slice_bars: int
  steps_per_quarter: int = 4
  quarters_per_bar: int = 4
  # The converter's own options (name, value), e.g. (('gap_bars', 1.0), ('max_bars', 100)).
  converter_options: tuple[tuple[str, object], ...] = ()
  transpose_range: tuple[int, int] = (0, 0)
  eval_fraction: float = 0.1
  split_seed: int = 0

  @property
  def steps_per_bar(self) -> int:
    return self.steps_per_quarter * self.quarters_per_bar

  @property
  def seq_len(self) -> int:
    if self.converter == 'multiperf':
      return math.prod(self.multiperf_levels)
    return self.slice_bars * self.steps_per_bar

  @property
  def multiperf_levels(self) -> tuple[int, ...]:
    """Multi-instrument performance windows (converter 'multiperf'): (track slots, rows per
    track), (8, 64) in Magenta's configs: the hop's chunks (slice_bars // chunk_size_bars) x
    max_num_instruments, and max_events_per_instrument. () for every other converter."""
    if self.converter != 'multiperf':
      return ()
    options = dict(self.converter_options)
    chunks = self.slice_bars // int(options.get('chunk_size_bars', 1))
    return (chunks * int(options.get('max_num_instruments', 8)),
            int(options.get('max_events_per_instrument', 64)))


@dataclasses.dataclass(frozen=True)
class Head:
  """One output part of the decoder at each step."""
  kind: str    # one of HEAD_KINDS
  depth: int   # classes (categorical), bits (multi_label) or values (continuous)
  name: str = ''


GROOVE_PARTS = ('hits', 'velocities', 'offsets')


def groove_heads(output_depth: int) -> tuple[Head, ...]:
  """GrooVAE's output, [hits | velocities | offsets] per drum class, as three heads."""
  return tuple(Head('continuous', output_depth // 3, name) for name in GROOVE_PARTS)


@dataclasses.dataclass(frozen=True)
class StepInput:
  """How one step's labels become the network's input vector."""
  kind: str    # one of INPUT_KINDS
  depth: int


@dataclasses.dataclass(frozen=True)
class Control:
  """A per-step control input, given alongside the step input (chords, hits, ...)."""
  name: str
  depth: int


@dataclasses.dataclass(frozen=True)
class EncoderSpec:
  kind: str = 'bidirectional_lstm'
  sizes: tuple[int, ...] = (512,)
  level_lengths: tuple[int, ...] = ()   # hierarchical_lstm: segments per level


@dataclasses.dataclass(frozen=True)
class DecoderSpec:
  kind: str = 'lstm'
  sizes: tuple[int, ...] = (256, 256)
  level_lengths: tuple[int, ...] = ()   # hierarchical: (bars, steps per bar)
  split_parts: bool = False             # hierarchical: one bar decoder per part (trio)
  nade_hidden: int = 0                  # nade_lstm: the NADE's hidden units (nade_num_hidden)


@dataclasses.dataclass(frozen=True)
class DsaeSpec:
  """What a disentangled sequential autoencoder (DSAE, TS-DSAE) adds to a model: the global
  latent v's size, the local prior LSTM's size, and TS-DSAE's two stages: for the first
  ``stage1_steps`` steps only v's encoder and the decoder train (z_t is masked to zero); then v's
  prior becomes a frozen copy of v's encoder, and the four swap-consistency KL terms enter with
  ``swap_weights`` (global swap: v's manifestation, z's invariance; local swap: v's invariance,
  z's manifestation), reaching them over ``swap_warmup_steps``. ``stage1_steps=0`` with zero
  weights is the vanilla DSAE. ``v_beta`` weighs v's KL where p(v) = N(0, I): the vanilla
  DSAE throughout, TS-DSAE's stage 1 (the informed prior of stage 2 keeps weight 1).
  ``straight_through_swaps``: the swap terms re-encode the greedy decode (one-hot rows, the
  softmax's gradient passed straight through) rather than the softmax itself, which can hold
  two keys at once. ``swap_z_targets_train``: the z terms' targets q(z_t) of the data pass
  gradient, so z's code on the data moves towards one that a swap keeps. ``z_input``: what
  z_t's encoder reads: ``tokens`` (TS-DSAE's choice, the sequence itself) or ``contour`` (per
  step: rest, hold, and whether a pitch goes up, down, stays or is the first, from
  ``token_pitches``, each token's MIDI pitch or -1): a view with no key in it."""
  v_size: int = 16
  prior_rnn_size: int = 64
  stage1_steps: int = 0
  swap_weights: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
  swap_warmup_steps: int = 0   # the swap weights rise linearly over this many stage-2 steps
  v_beta: float = 1.0   # v's KL weight against N(0, I) (times the loss's beta); 1 is the ELBO
  straight_through_swaps: bool = False   # swap terms re-encode greedy decodes (softmax's grad)
  swap_z_targets_train: bool = False   # z swap terms' targets q(z_t) pass gradient
  z_input: str = 'tokens'   # 'tokens' or 'contour' (what z_t's encoder reads)
  token_pitches: tuple[int, ...] = ()   # contour: each token's MIDI pitch, -1 for rest / hold

  @property
  def two_stage(self) -> bool:
    return self.stage1_steps > 0


MASKING_OBJECTIVES = ('cfm', 'ccm')


@dataclasses.dataclass(frozen=True)
class MusiCoderSpec:
  """MusiCoder's transformer and its masked-reconstruction pretraining: ``objectives`` names
  which maskings apply (``cfm``: contiguous frames, spans of ``frame_span`` frames covering
  about ``frame_fraction`` of a window; ``ccm``: contiguous pitch channels, bands of
  ``channel_span`` semitones covering about ``channel_fraction`` of the channels)."""
  width: int = 256
  num_heads: int = 4
  num_layers: int = 4
  mlp_width: int = 1024
  objectives: tuple[str, ...] = MASKING_OBJECTIVES
  frame_fraction: float = 0.15
  frame_span: int = 4
  channel_fraction: float = 0.15
  channel_span: int = 12
  frames: int = 64   # the frames of a pretraining window (the positions the encoder knows)


@dataclasses.dataclass(frozen=True)
class ChordKeySpec:
  """The joint chord and key model (``chordkey.vae``; the fields of its ``Settings``), and what
  training adds: ``labelled_fraction`` of the training songs keep their labels (the rest are
  read unlabelled, a fixed choice per song); ``lm_scale`` multiplies the language models'
  trained logits (they learn from the labelled beats in the same step as the rest)."""
  classifier: str = 'bilstm'
  hidden: int = 128
  num_layers: int = 2
  vae: bool = True
  latent: int = 8
  latent_scope: str = 'beat'
  embed: int = 32
  chord_lm: str = 'transition'
  unlabelled_weight: float = 0.1
  temperature: float = 0.5
  chord_lm_moves_keys: bool = True
  labelled_fraction: float = 1.0
  lm_scale: float = 8.0


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """Everything the model needs to be built: the config stops before this."""
  heads: tuple[Head, ...]
  input: StepInput
  encoder: EncoderSpec
  decoder: DecoderSpec
  z_size: int
  seq_len: int
  controls: tuple[Control, ...] = ()
  family: str = 'musicvae'
  dsae: DsaeSpec | None = None     # family 'dsae' only: z_size is then the size of each z_t
  # Family 'musicoder' (no latent: z_size 0), or a MusicVAE whose encoder is MusiCoder's
  # (encoder kind 'musicoder').
  musicoder: MusiCoderSpec | None = None
  chordkey: ChordKeySpec | None = None   # family 'chordkey' only
  dropout_keep_prob: float = 1.0   # input dropout on every LSTM layer, training only

  # ---- derived ------------------------------------------------------------------------------
  @property
  def part_depths(self) -> tuple[int, ...]:
    return tuple(h.depth for h in self.heads)

  @property
  def output_depth(self) -> int:
    return sum(self.part_depths)

  @property
  def input_depth(self) -> int:
    return self.input.depth

  @property
  def control_depth(self) -> int:
    return sum(c.depth for c in self.controls)

  @property
  def max_seq_len(self) -> int:   # Magenta's name
    return self.seq_len

  @property
  def hierarchical(self) -> bool:
    return self.decoder.kind == 'hierarchical'

  @property
  def level_lengths(self) -> tuple[int, ...]:
    return self.decoder.level_lengths

  @property
  def enc_rnn_size(self) -> tuple[int, ...]:
    return self.encoder.sizes

  @property
  def dec_rnn_size(self) -> tuple[int, ...]:
    return self.decoder.sizes


@dataclasses.dataclass(frozen=True)
class LossSpec:
  """MusicVAE's loss and schedule hyperparameters (Magenta's names)."""
  free_bits: float = 0.0
  max_beta: float = 1.0
  beta_rate: float = 0.0
  sampling_schedule: str = 'constant'
  sampling_rate: float = 0.0


@dataclasses.dataclass(frozen=True)
class TrainSpec:
  """Optimiser, run length, cadence and devices."""
  batch_size: int = 512
  num_steps: int = 200_000
  learning_rate: float = 1e-3
  decay_rate: float = 0.9999
  min_learning_rate: float = 1e-5
  grad_clip: float = 1.0
  grad_norm_clip_to_zero: float = 1e4
  seed: int = 0
  checkpoint_every_steps: int = 1000
  checkpoint_every_secs: float = 60.0   # also saved when this long since the last save; 0: off
  eval_every_steps: int = 1000
  log_every_steps: int = 100
  eval_num_batches: int = 0             # 0: the whole eval split
  fsdp: bool = False
  fsdp_size: int = -1                   # -1: every device
  compute_dtype: str = 'float32'
  init_from: str = ''                   # '': random init; else a model whose params start the run

  def fsdp_devices(self, num_devices: int) -> int:
    """How many devices share one copy of the state: 1 without FSDP."""
    if not self.fsdp:
      return 1
    return num_devices if self.fsdp_size in (-1, 0) else self.fsdp_size

  def eval_batches(self, eval_windows: int) -> int:
    """Batches per evaluation: as configured, or enough for the whole eval split."""
    if self.eval_num_batches:
      return self.eval_num_batches
    return max(1, math.ceil((eval_windows or 4 * self.batch_size) / self.batch_size))


@dataclasses.dataclass(frozen=True)
class RunSpec:
  name: str
  data: DataSpec
  model: ModelSpec
  loss: LossSpec
  train: TrainSpec
