"""``TrainedModel``: encode, decode, sample, interpolate and reconstruct with a trained MusicVAE.

Shapes: N = sequences, T = steps, P = parts, Z = latent size.

    model = TrainedModel.from_workdir('runs/mel2')        # or from_workdir() for the bundled one
    z, mu, sigma = model.encode(note_sequences)
    melodies = model.sample(8, key=jax.random.key(0), temperature=0.5)
    morph = model.interpolate(seq_a, seq_b, num_steps=7, key=jax.random.key(1))
    a, b = model.read_windows('a.mid'), model.read_windows('b.mid')   # longer pieces
    pieces = model.interpolate_windows(a.labels, b.labels, 7, key=jax.random.key(1))
    again = model.reconstruct_windows(a.labels, key=jax.random.key(3), num_outputs=2)
    denser = model.steer(labels, model.attribute_vectors()['note_density'], [0, 1, 2],
                         key=jax.random.key(2))

Decoding is one jitted function (the decoder's ``lax.scan``) per batch size. Batches are padded
to a power of two (at most ``max_batch_size``), so a handful of shapes ever compile;
``sample_batches`` pads its last batch to the full one, so a long run compiles one shape.
Output i of a call draws its randomness from ``fold_in(key, i)`` alone, so it does not depend on
how the call was batched or padded, nor on the call's other codes: the same key gives the same
music, and decoding the first k codes alone gives the first k outputs. (Code i decoded alone is
output 0 and draws on ``fold_in(key, 0)``, so it gives what it gave inside the batch only when
greedy.)

Encoding and decoding run data-parallel over ``devices``: by default every local accelerator
(GPU/TPU), or one CPU device (XLA's CPU device already uses every core). Batches are then split
over the devices, and padded to a multiple of their number; the outputs do not depend on it.

``temperature=0`` decodes greedily (argmax at every step); Magenta has no such mode and
approximates it with a tiny temperature. A negative, infinite or nan temperature raises
``TemperatureError`` (a ``ValueError``).

A GrooVAE model (``model.groove``) reads and writes float windows [N, T, 27] (hits | velocities
| offsets, General MIDI drum classes) in place of labels: ``encode_labels`` takes the converter's
encoder inputs and ``controls_NxTxC``, ``decode_labels`` the decoder's controls and hits to keep
(``generation.groove`` holds what is done with them).

A chord-conditioned model (``model.chords``, cat-mel_2bar_med_chords) reads and writes windows
[N, T, 2], the melody and the chord class of every step: ``encode_labels`` takes them as the
converter stores them, ``decode_labels(chords_NxT=)`` decodes under given chords and returns them
with the melody, and ``sample(chords_WxT=)`` decodes each code under a progression of W windows
(``converters.chords.progression_classes``), joined into one piece.

``sample(n, key=k)`` draws all n codes in one call from ``fold_in(k, 0x5A)`` and decodes code i
with ``fold_in(k, i)``; ``sample_batches`` yields the same music a batch at a time, so a seed's
outputs do not depend on the batching. With JAX's default (partitionable) random numbers the
first m of n codes are the m codes of ``sample(m)``, so a larger count only adds outputs.
"""

from __future__ import annotations

import functools
import math
import pathlib
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from musicvae_jax import checkpointing
from musicvae_jax import errors
from musicvae_jax import specs
from musicvae_jax.converters import get_converter
from musicvae_jax.distributed import mesh as mesh_lib
from musicvae_jax.generation import attribute_vectors
from musicvae_jax.generation import inputs
from musicvae_jax.generation import interpolation
from musicvae_jax.generation import midi_inputs
from musicvae_jax.generation import model_files
from musicvae_jax.generation import reconstruction
from musicvae_jax.models import vae

with warnings.catch_warnings():  # note_seq's pydub warns that there is no ffmpeg
  warnings.simplefilter('ignore', RuntimeWarning)
  from note_seq import sequences_lib


def _bucket(n: int, cap: int, devices: int = 1) -> int:
  """A power of two >= n (at most cap), rounded up to a multiple of the device count."""
  size = 1
  while size < n and size < cap:
    size *= 2
  size = min(size, cap)
  return -(-size // devices) * devices


#: The noise added to a GrooVAE hit logit that fixes its draw (``decode_labels(hits_NxTxH=)``).
_FORCE = 1e6


class ChordsNeededError(errors.UserError, ValueError):
  """A chord-conditioned model asked to decode without chords, or chords for another model."""


class TemperatureError(errors.UserError, ValueError):
  """A sampling temperature that is negative, infinite or nan."""


def check_temperature(temperature) -> float:
  """``temperature`` as a float, or TemperatureError: 0 is greedy, else a positive number."""
  t = float(temperature)
  if not (math.isfinite(t) and t >= 0):
    raise TemperatureError(f'temperature={temperature}: use 0 (greedy) or a positive value (a '
                           'finite number).')
  return t


def default_devices() -> list:
  local = jax.local_devices()
  return local if local[0].platform != 'cpu' else local[:1]


class TrainedModel:
  """A MusicVAE with its parameters, its converter, and jitted encode/decode."""

  def __init__(self, run: specs.RunSpec, params, *, step: int = 0, info: dict | None = None,
               max_batch_size: int = 64, devices=None):
    self.run = run
    self.spec = run.model
    self.converter = get_converter(run.data)
    # GrooVAE: float [T, 27] windows (hits | velocities | offsets) in place of int labels, read
    # and written in the General MIDI drum classes (Magenta's 'infer' mode).
    self.groove = self.spec.decoder.kind == 'groove_lstm'
    # cat-mel_2bar_med_chords: decoded under a chord class a step (``chords_NxT``).
    self.chords = bool(self.spec.controls) and not self.groove
    if self.groove:
      self.converter = self.converter.for_inference()
    self.step = step
    self.info = dict(info or {})
    self.max_batch_size = max_batch_size
    # Only the graph is needed: shapes, no initialisation of weights that are replaced anyway.
    graphdef, _ = nnx.split(nnx.eval_shape(lambda: vae.build_model(self.spec)), nnx.Param)
    self.mesh = mesh_lib.make_mesh(default_devices() if devices is None else devices)
    self.num_devices = self.mesh.devices.size
    replicated, split = mesh_lib.replicated(self.mesh), mesh_lib.batch_sharding(self.mesh)
    self.params = jax.device_put(params, replicated)

    def encode_fn(params, labels, lengths, controls):
      model = nnx.merge(graphdef, nnx.State(params))
      labels, chords = model.split_controls(labels)  # a chord model's windows end in chords
      return model.encode(labels, lengths, controls_BxTxC=controls, controls_BxT=chords)

    shape_TxO = (self.spec.max_seq_len, sum(self.spec.part_depths))

    def decode_fn(params, z_NxZ, keys, temperature, greedy, chords=None):
      model = nnx.merge(graphdef, nnx.State(params))
      # Each sequence's sampling noise comes from its own key, drawn in one call before the
      # decode loop, so the loop itself runs on the whole batch with no random-number calls.
      gumbel = None if greedy else jax.vmap(lambda k: jax.random.gumbel(k, shape_TxO))(keys)
      return model.sample(z_NxZ, keys[0], temperature, greedy=greedy,
                          gumbel_BxTxO=gumbel, controls_BxT=chords)['samples']

    def groove_decode_fn(params, z_NxZ, keys, temperature, greedy, controls, bias,
                         hit_conditional):
      # Hits: logit / temperature + noise + bias > 0; greedy has no noise, so it is logit > 0.
      model = nnx.merge(graphdef, nnx.State(params))
      gumbel = jax.vmap(lambda k: jax.random.gumbel(k, shape_TxO))(keys)
      noise = bias if greedy else gumbel + bias
      return model.sample(z_NxZ, keys[0], temperature, gumbel_BxTxO=noise,
                          controls_BxTxC=controls, hit_conditional=hit_conditional)['samples']

    self._encode = jax.jit(encode_fn, in_shardings=(replicated, split, split, split),
                           out_shardings=split)
    self._decode = jax.jit(decode_fn, static_argnums=4,
                           in_shardings=(replicated, split, split, replicated),
                           out_shardings=split)
    self._decode_chords = jax.jit(decode_fn, static_argnums=4,
                                  in_shardings=(replicated, split, split, replicated, split),
                                  out_shardings=split)
    self._decode_groove = jax.jit(
        groove_decode_fn, static_argnums=(4, 7),
        in_shardings=(replicated, split, split, replicated, split, split), out_shardings=split)

  # ---- loading ------------------------------------------------------------------------------
  @classmethod
  def from_workdir(cls, workdir=None, *, step: int | None = None,
                   max_batch_size: int = 64, devices=None) -> 'TrainedModel':
    """From a training workdir, an exported model, or a bundled model.

    ``workdir=None`` is the default bundled model (cat-mel_2bar_small); ``'bundled:<name>'``
    names another one (``model_files.bundled_names()``).
    """
    workdir, bundled = model_files.resolve(workdir)
    run = checkpointing.load_run_spec(workdir)
    params, at_step, info = model_files.load_params(workdir, run.model, step=step)
    return cls(run, params, step=at_step,
               info=dict(info, workdir=str(workdir), bundled=bundled),
               max_batch_size=max_batch_size, devices=devices)

  def module(self) -> vae.MusicVAE:
    """The Flax NNX model holding these parameters (for direct use of its methods)."""
    model = vae.build_model(self.spec)
    nnx.update(model, nnx.State(jax.tree.map(jnp.asarray, self.params)))
    return model

  @property
  def name(self) -> str:
    return self.run.name

  # ---- windows ------------------------------------------------------------------------------
  def split_windows(self, note_sequence, *, source: str = '<input>',
                    strict_monophony: bool = False) -> inputs.Windows:
    """Consecutive windows of a longer piece (see ``inputs.split_windows``)."""
    return inputs.split_windows(note_sequence, self.converter, source=source,
                                strict_monophony=strict_monophony)

  def to_labels(self, note_sequences, *, strict_monophony: bool = False) -> np.ndarray:
    """[N, T, P] labels; every sequence must fit one window (else UnencodableInput)."""
    return np.stack([inputs.single_window(ns, self.converter, source=f'input {i}',
                                          strict_monophony=strict_monophony)
                     for i, ns in enumerate(note_sequences)])

  def to_note_sequences(self, labels_NxTxP, *, qpm: float = inputs.DEFAULT_QPM) -> list:
    """Each window as a NoteSequence at ``qpm``."""
    # A deliberate improvement on Magenta, whose outputs are always at note_seq's default 120 qpm:
    # the commands pass the input's tempo (or --qpm), so a 92 bpm groove comes back at 92 bpm.
    decode = self.converter.from_window if self.groove else self.converter.from_labels
    return [decode(np.asarray(l), qpm=qpm) for l in labels_NxTxP]

  # ---- encode -------------------------------------------------------------------------------
  def _window_shape(self) -> tuple[int, int]:
    return self.spec.max_seq_len, sum(self.spec.part_depths)

  def _controls(self, controls_NxTxC, n: int) -> np.ndarray:
    """[N, T, C] float32 controls (C = 0 for a model without controls)."""
    depth = self.spec.control_depth if self.groove else 0  # chords: ``chords_NxT``
    if controls_NxTxC is None:
      if depth:
        raise ValueError(f'{self.name} reads {depth} controls per step: pass controls_NxTxC.')
      return np.zeros((n, self.spec.max_seq_len, 0), np.float32)
    return np.asarray(controls_NxTxC, np.float32).reshape(n, self.spec.max_seq_len, depth)

  def encode_labels(self, labels_NxTxP, *, key=None, controls_NxTxC=None):
    """(z, mu, sigma) [N, Z] numpy. z = mu + sigma·ε with ε from ``key``, or mu without a key.

    A GrooVAE model reads float encoder inputs [N, T, 27] (``converter.input_from_target``) and,
    with controls, ``controls_NxTxC`` [N, T, C].
    """
    dtype = np.float32 if self.groove else np.int32
    labels = np.asarray(labels_NxTxP, dtype)
    n = len(labels)
    controls = self._controls(controls_NxTxC, n)
    mus, sigmas = [], []
    for start in range(0, n, self.max_batch_size):
      chunk = labels[start:start + self.max_batch_size]
      size = _bucket(len(chunk), self.max_batch_size, self.num_devices)
      padded = np.zeros((size,) + labels.shape[1:], dtype)
      padded[:len(chunk)] = chunk
      ctrl = np.zeros((size,) + controls.shape[1:], np.float32)
      ctrl[:len(chunk)] = controls[start:start + len(chunk)]
      lengths = np.full(size, labels.shape[1], np.int32)
      mu, sigma = self._encode(self.params, padded, lengths, ctrl)
      mus.append(np.asarray(mu)[:len(chunk)])
      sigmas.append(np.asarray(sigma)[:len(chunk)])
    mu = np.concatenate(mus) if mus else np.zeros((0, self.spec.z_size), np.float32)
    sigma = np.concatenate(sigmas) if sigmas else np.zeros_like(mu)
    if key is None:
      return mu.copy(), mu, sigma
    eps = np.asarray(jax.random.normal(key, mu.shape, jnp.float32))
    return mu + sigma * eps, mu, sigma

  def encode(self, note_sequences, *, key=None, strict_monophony: bool = False):
    """(z, mu, sigma) of NoteSequences that each fit one window, as Magenta's ``encode``."""
    return self.encode_labels(self.to_labels(note_sequences, strict_monophony=strict_monophony),
                              key=key)

  # ---- decode -------------------------------------------------------------------------------
  def decode_labels(self, z_NxZ, *, key, temperature: float = 1.0, controls_NxTxC=None,
                    hits_NxTxH=None, hit_conditional: bool | None = None,
                    chords_NxT=None) -> np.ndarray:
    """[N, T, P] labels decoded from codes; ``temperature=0`` is greedy.

    GrooVAE: [N, T, 27] float windows; ``controls_NxTxC`` for a model with controls;
    ``hits_NxTxH`` (1 hit, 0 none, nan free) fixes hits inside the decode loop, so what the
    decoder feeds back and plays on are those hits, and samples only the nan ones.
    ``hit_conditional`` (default: on when ``hits_NxTxH`` is given, else Magenta's decode): each
    played step's velocity and offset given that it is played (``groove_decoder.emit``).
    """
    if hit_conditional is None:
      hit_conditional = hits_NxTxH is not None
    temperature = check_temperature(temperature)
    z = np.asarray(z_NxZ, np.float32).reshape(-1, self.spec.z_size)
    keys = self._decode_keys(key, len(z))
    controls = self._controls(controls_NxTxC, len(z))
    if not self.groove:  # a chord model's chord class a step, [N, T] (a [T] one for all)
      controls = self._chords(chords_NxT, len(z))
    bias = np.zeros((len(z),) + self._window_shape(), np.float32)
    if hits_NxTxH is not None:
      hits = np.asarray(hits_NxTxH, np.float32)
      bias[..., :hits.shape[-1]] = np.where(np.isnan(hits), 0.0,
                                            np.where(hits > 0.5, _FORCE, -_FORCE))
    out = []
    for start in range(0, len(z), self.max_batch_size):
      rows = slice(start, start + self.max_batch_size)
      size = _bucket(len(z[rows]), self.max_batch_size, self.num_devices)
      out.append(self._decode_padded(z[rows], keys[rows], temperature, size,
                                     None if controls is None else controls[rows], bias[rows],
                                     bool(hit_conditional)))
    if not out:
      depth = sum(self.spec.part_depths) if self.groove else (
          len(self.spec.part_depths) + self.chords)
      return np.zeros((0, self.spec.max_seq_len, depth),
                      np.float32 if self.groove else np.int32)
    return np.concatenate(out)

  def window_chords(self, labels_NxTxL, chords_NxT=None):
    """The chords [N, T] a chord model decodes windows under: ``chords_NxT`` when given (one
    progression [T] for all, or one a window), else the windows' own (their last column).
    None for a model without chords, which is refused chords."""
    if chords_NxT is None:
      return np.asarray(labels_NxTxL)[..., -1].astype(np.int32) if self.chords else None
    return self._chords(chords_NxT, len(labels_NxTxL))

  def progression(self, text: str, windows: int | None = None) -> np.ndarray:
    """[W, T] chord classes of a progression such as 'C G Am F', one chord a bar, over
    ``windows`` windows (default: as many as the chords need), repeated from its start."""
    from musicvae_jax.converters import chords as chords_lib  # pylint: disable=g-import-not-at-top
    if not self.chords:
      raise ChordsNeededError(f'{self.name} is not chord-conditioned: it takes no chords.')
    if self.converter.kind == 'multiperf':
      # A window is a bar of 512 event rows whose times are not known before decoding: the
      # bar's chord is every row's (a deliberate simplification of the training windows, where
      # program-token rows hold no chord).
      return chords_lib.progression_classes(text, bars=1, steps_per_bar=self.spec.max_seq_len,
                                            windows=windows)
    return chords_lib.progression_classes(text, bars=self.run.data.slice_bars,
                                          steps_per_bar=self.run.data.steps_per_bar,
                                          windows=windows)

  def _chords(self, chords_NxT, n: int):
    """[N, T] int32 chord classes of a chord model (None for another model)."""
    if chords_NxT is None:
      return None
    if not self.chords:
      raise ChordsNeededError(f'{self.name} is not chord-conditioned: it takes no chords.')
    return np.broadcast_to(np.asarray(chords_NxT, np.int32), (n, self.spec.max_seq_len))

  @staticmethod
  def _decode_keys(key, n: int):
    """Code i's sampling key, ``fold_in(key, i)``, for i < n."""
    return jax.vmap(functools.partial(jax.random.fold_in, key))(jnp.arange(n))

  def _decode_padded(self, z_NxZ, keys, temperature: float, size: int, controls=None,
                     bias=None, hit_conditional: bool = False) -> np.ndarray:
    """[N, T, P] labels of codes with their keys, run as one batch of ``size`` >= N rows."""
    greedy = temperature == 0
    temp = jnp.float32(1.0 if greedy else temperature)
    padded = np.zeros((size, z_NxZ.shape[1]), np.float32)
    padded[:len(z_NxZ)] = z_NxZ
    rows = np.arange(size) % len(z_NxZ)  # padding rows reuse keys; their outputs are dropped
    if not self.groove and not self.chords:
      samples = self._decode(self.params, padded, keys[rows], temp, greedy)
      return np.asarray(samples)[:len(z_NxZ)]
    if self.chords:
      if controls is None:
        raise ChordsNeededError(f'{self.name} decodes under a chord a step: give chords '
                                '(musicvae-sample --chords="C G Am F").')
      chords = np.zeros((size, self.spec.max_seq_len), np.int32)
      chords[:len(z_NxZ)] = controls
      samples = np.asarray(self._decode_chords(self.params, padded, keys[rows], temp, greedy,
                                               chords))[:len(z_NxZ)]
      # The windows carry their chords, as the converter's: decoded MIDI holds them as text.
      return np.concatenate([samples, chords[:len(z_NxZ), :, None]], -1)
    if controls is None:
      controls = self._controls(None, len(z_NxZ))
    if bias is None:
      bias = np.zeros((len(z_NxZ),) + self._window_shape(), np.float32)
    samples = self._decode_groove(self.params, padded, keys[rows], temp, greedy, controls[rows],
                                  bias[rows], hit_conditional)
    return np.asarray(samples)[:len(z_NxZ)]

  def decode(self, z_NxZ, *, key, temperature: float = 1.0,
             qpm: float = inputs.DEFAULT_QPM) -> list:
    return self.to_note_sequences(self.decode_labels(z_NxZ, key=key, temperature=temperature),
                                  qpm=qpm)

  # ---- the user-level operations ------------------------------------------------------------
  def read_windows(self, path, *, strict_monophony: bool = False) -> inputs.Windows:
    """The consecutive windows of a MIDI file; a file it cannot use raises an errors.UserError."""
    return midi_inputs.read_windows(self.converter, path, strict_monophony=strict_monophony)

  def to_piece(self, labels_NxTxP, *, qpm: float = inputs.DEFAULT_QPM):
    """One NoteSequence at ``qpm``: consecutive windows decoded and joined again."""
    windows = self.to_note_sequences(labels_NxTxP, qpm=qpm)
    if self.converter.kind == 'multiperf':  # bars of up to 8 tracks: a part keeps its track
      from musicvae_jax.converters import multiperf  # pylint: disable=g-import-not-at-top
      return multiperf.join_windows(windows)
    return sequences_lib.concatenate_sequences(windows)

  def sample_z(self, n: int, *, key, same_z: bool = False) -> np.ndarray:
    """Codes from the prior N(0, I); ``same_z`` repeats one code n times (Magenta's option)."""
    shape = (1 if same_z else n, self.spec.z_size)
    z = np.asarray(jax.random.normal(jax.random.fold_in(key, 0x5A), shape, jnp.float32))
    return np.repeat(z, n, axis=0) if same_z else z

  def sample(self, n: int, *, key, temperature: float = 1.0, same_z: bool = False,
             qpm: float = inputs.DEFAULT_QPM, chords_WxT=None) -> list:
    """n NoteSequences decoded from codes of the prior (see the module's note on keys)."""
    return [ns for batch in self.sample_batches(n, key=key, temperature=temperature,
                                                same_z=same_z, qpm=qpm, chords_WxT=chords_WxT)
            for ns in batch]

  def sample_batches(self, n: int, *, key, temperature: float = 1.0, same_z: bool = False,
                     qpm: float = inputs.DEFAULT_QPM, batch_size: int | None = None,
                     chords_WxT=None):
    """``sample(n)`` as an iterator of lists of NoteSequences, one decoding call each.

    Each batch holds ``batch_size`` (default ``max_batch_size``) outputs, the last one fewer;
    it is decoded when asked for, so a long run can write each batch as it comes. Over several
    batches the last one is padded to the full size, so one compiled function serves them all.
    The outputs are those of one ``sample(n)`` call, whatever ``batch_size``.

    A chord model decodes each code under ``chords_WxT``, W windows of chord classes
    (``converters.chords.progression_classes``): output i is its code decoded under each
    window, joined (window w > 0 samples with ``fold_in(key_i, w)``).
    """
    if self.chords and chords_WxT is None:
      raise ChordsNeededError(f'{self.name} decodes under a chord a step: give chords '
                              '(musicvae-sample --chords="C G Am F").')
    progression = [None] if chords_WxT is None else [
        self._chords(c, 1)[0] for c in np.asarray(chords_WxT)]
    temperature = check_temperature(temperature)  # refused now, not at the first batch
    z = self.sample_z(n, key=key, same_z=same_z)
    batch = -(-(batch_size or self.max_batch_size) // self.num_devices) * self.num_devices
    size = batch if n > batch else _bucket(n, batch, self.num_devices)
    keys = self._decode_keys(key, n)

    def batches():
      for start in range(0, n, batch):
        chunk = slice(start, start + batch)
        if chords_WxT is None:
          labels = self._decode_padded(z[chunk], keys[chunk], temperature, size)
          yield self.to_note_sequences(labels, qpm=qpm)
          continue
        rows = len(z[chunk])
        windows = [self._decode_padded(
            z[chunk], keys[chunk] if w == 0 else jax.vmap(jax.random.fold_in)(
                keys[chunk], jnp.full(rows, w, jnp.uint32)), temperature, size,
            np.broadcast_to(c, (rows, len(c)))) for w, c in enumerate(progression)]
        yield [self.to_piece(np.stack([w[i] for w in windows]), qpm=qpm) for i in range(rows)]
    return batches()

  def interpolate(self, seq_a, seq_b, num_steps: int, *, key, method: str = 'slerp',
                  temperature: float = 1.0, strict_monophony: bool = False,
                  qpm: float | None = None, chords_T=None) -> list:
    """``num_steps`` sequences from ``seq_a`` to ``seq_b`` along a path between their mu's.

    The ends are decoded from the inputs' own mu, so they are reconstructions of the inputs.
    They are at ``qpm``, by default ``seq_a``'s tempo (Magenta's are at 120 whatever the input).
    This is ``interpolate_windows`` of one window each, but for the encoding: both inputs are
    encoded in one call, as always, because a code is not bit for bit the same when encoded in
    a batch of another size, and the same key should keep giving the same codes. A chord model
    decodes every step under ``chords_T``, by default ``seq_a``'s own chords.
    """
    check_temperature(temperature)  # before the encoding
    labels = self.to_labels([seq_a, seq_b], strict_monophony=strict_monophony)
    _, mu, _ = self.encode_labels(labels)
    chords = self.window_chords(labels[:1], None if chords_T is None else [chords_T])
    return interpolation.decode_paths(self, mu[:1], mu[1:], num_steps, key=key, method=method,
                                      temperature=temperature,
                                      qpm=inputs.qpm_of(seq_a) if qpm is None else qpm,
                                      chords_WxT=chords)

  def interpolate_windows(self, windows_a, windows_b, num_steps: int, *, key,
                          method: str = 'slerp', temperature: float = 1.0,
                          qpm: float = inputs.DEFAULT_QPM, chords_WxT=None) -> list:
    """``num_steps`` pieces morphing one piece's windows [Na, T, P] into another's [Nb, T, P].

    Window k of the first is morphed into window k of the second, for the first min(Na, Nb)
    windows; piece s joins step s of every window (``interpolation.decode_paths``, which says
    which key each output draws on). The first and last pieces are the inputs' reconstructions.
    The pieces are at ``qpm``: pass the first input's (``read_windows(a).qpm``) to keep its tempo.
    A chord model decodes window k under ``chords_WxT[k]`` (``progression``), by default the
    first input's own chords.
    """
    check_temperature(temperature)  # before the encoding
    n = min(len(windows_a), len(windows_b))
    _, mu_a, _ = self.encode_labels(windows_a[:n])
    _, mu_b, _ = self.encode_labels(windows_b[:n])
    chords = self.window_chords(windows_a[:n],
                                None if chords_WxT is None else np.asarray(chords_WxT)[:n])
    return interpolation.decode_paths(self, mu_a, mu_b, num_steps, key=key, method=method,
                                      temperature=temperature, qpm=qpm, chords_WxT=chords)

  def reconstruct(self, note_sequences, *, key, temperature: float = 1.0,
                  use_mean: bool = True, strict_monophony: bool = False,
                  chords_NxT=None) -> list:
    """Each input (one window each) encoded and decoded again, from mu or a posterior sample z.

    The inputs are reconstructed as the windows of one piece (``reconstruct_windows``); each
    output keeps its input's tempo.
    """
    labels = self.to_labels(note_sequences, strict_monophony=strict_monophony)
    result = self.reconstruct_windows(labels, key=key, temperature=temperature,
                                      use_mean=use_mean, chords_NxT=chords_NxT)
    return [self.converter.from_labels(mine, qpm=inputs.qpm_of(ns))
            for mine, ns in zip(result.labels[0], note_sequences)]

  def reconstruct_windows(self, labels_NxTxP, *, key, num_outputs: int = 1,
                          temperature: float = 1.0, use_mean: bool = True, chords_NxT=None
                          ) -> reconstruction.Reconstruction:
    """``num_outputs`` reconstructions [R, N, T, P] of a piece's windows, and their agreement.

    The keys are those of musicvae-reconstruct for the same seed (``reconstruction``). A chord
    model decodes under the windows' own chords, or ``chords_NxT`` (``progression``).
    """
    return reconstruction.reconstruct(self, labels_NxTxP, key=key, num_outputs=num_outputs,
                                      temperature=temperature, use_mean=use_mean,
                                      chords_NxT=chords_NxT)

  # ---- attribute vectors (MusicVAE paper, 5.5) ----------------------------------------------
  def attribute_vectors(self, path=None) -> dict:
    """{attribute: [Z] vector}: the model's own file, or ``path``; another model's is refused."""
    path = pathlib.Path(path) if path else attribute_vectors.own_file(self)
    vectors, meta = attribute_vectors.load(path)
    attribute_vectors.check_fits(path, meta, self)
    return vectors

  def steer(self, labels_NxTxP, vector_Z, amounts, *, key, temperature: float = 1.0
            ) -> np.ndarray:
    """[A, N, T, P]: each window decoded from its mu + amount × vector, for every amount.

    ``attribute_vectors.apply`` also measures the attribute on each result and joins its windows.
    """
    _, mu, _ = self.encode_labels(labels_NxTxP)
    vector = np.asarray(vector_Z, np.float32)
    z = np.concatenate([mu + float(k) * vector for k in amounts])
    labels = self.decode_labels(z, key=key, temperature=temperature)
    return labels.reshape((len(amounts), len(mu)) + labels.shape[1:])
