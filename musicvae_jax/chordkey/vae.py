"""Joint chord and key estimation as a VAE: key -> chords -> notes, with a continuous style.

Shapes: B chunks, T beats, F = 37 features, C = 181 chords, K = 24 keys, E embedding width,
Z latent width.

The generative story (Wu & Yoshii 2022, on per-beat symbolic features instead of audio chroma):
keys k_1..T from a first-order key model, chords c_1..T from a chord language model given the
keys (``language_models``: key-relative first-order transition, or the LSTM), a per-beat
continuous latent z_t ~ N(0, I), and each beat's features x_t ~ Bernoulli(decoder(c_t, k_t, z_t))
(the features are per-beat chroma in [0, 1], a bass one-hot and a silence flag: soft targets of
a binary cross-entropy).

Inference: q(c_t, k_t | x) is the classifier (``classifier.ChordKeyClassifier``, a BiLSTM, or
``attention_classifier.TransformerClassifier``), q(z_t | x, c_t, k_t) a recognition network on
the beat's features, its neighbours' and the labels' embeddings.

The loss, in nats per beat:
* labelled beats: cross-entropy of the classifier on the true chord and key (the classifier
  alone trains on this only), plus the ELBO of x given the true labels (trains the decoder and
  the recognition network);
* every beat, labelled or not, weighted by ``unlabelled_weight``: the ELBO with the labels
  latent, -E_q[log p(x | c, k, z)] + KL(q(z) || N(0, I)) + KL(q(c, k | x) || p(c, k)), where
  (c, k) is a Gumbel-softmax relaxed sample from the classifier (temperature ``temperature``) and
  the label KL is the classifier's negative entropy minus the language models' expected
  log-probability (``language_models``: exact for the key model, mean-field for the chord model).
  This term is what lets unlabelled songs train the classifier, and what regularises it on
  labelled ones.

``make_trainer`` builds one jitted, donated train step for either setting (``Settings.vae``
False: the classifier alone); ``train`` samples chunks from labelled and unlabelled songs with a
seeded numpy RNG. ``save`` / ``load`` write a folder with ``params.npz`` and ``model.json``.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from musicvae_jax import errors
from musicvae_jax.chordkey import attention_classifier, classifier, language_models, vocabulary
from musicvae_jax.chordkey.classifier import NUM_FEATURES
from musicvae_jax.generation import model_files
from musicvae_jax.models import layers

C, K = vocabulary.NUM_CHORDS, vocabulary.NUM_KEYS
PARAMS_FILE, INFO_FILE = 'params.npz', 'model.json'


@dataclasses.dataclass(frozen=True)
class Settings:
  classifier: str = 'bilstm'     # 'bilstm' or 'transformer'
  hidden: int = 128              # BiLSTM units per direction / transformer width
  num_layers: int = 2            # BiLSTM layers / transformer blocks
  vae: bool = True               # False: the classifier trained alone
  latent: int = 8                # Z
  latent_scope: str = 'beat'     # 'beat': one z per beat; 'chunk': one z per chunk (a style)
  embed: int = 32                # E
  chord_lm: str = 'transition'   # 'transition' or 'recurrent'
  unlabelled_weight: float = 0.1   # chosen on the valid split (0.1 vs 0.5, bench/chordkey_vae.py)
  temperature: float = 0.5
  chord_lm_moves_keys: bool = True  # False: the chord LM term passes no gradient to the keys
  learning_rate: float = 2e-3

  def __post_init__(self):
    if self.classifier not in ('bilstm', 'transformer'):
      raise ValueError(f"classifier must be 'bilstm' or 'transformer', not {self.classifier!r}")
    if self.chord_lm not in ('transition', 'recurrent'):
      raise ValueError(f"chord_lm must be 'transition' or 'recurrent', not {self.chord_lm!r}")
    if self.latent_scope not in ('beat', 'chunk'):
      raise ValueError(f"latent_scope must be 'beat' or 'chunk', not {self.latent_scope!r}")


def build_classifier(settings: Settings, rngs: nnx.Rngs):
  if settings.classifier == 'bilstm':
    return classifier.ChordKeyClassifier(settings.hidden, settings.num_layers, rngs=rngs)
  return attention_classifier.TransformerClassifier(settings.hidden, settings.num_layers,
                                                    rngs=rngs)


class ChordKeyVAE(nnx.Module):
  """The classifier q(c, k | x), the recognition network q(z | x, c, k), the decoder
  p(x | c, k, z)."""

  def __init__(self, settings: Settings, *, rngs: nnx.Rngs):
    self.classifier = build_classifier(settings, rngs)
    self.per_chunk = settings.latent_scope == 'chunk'
    e, z, h = settings.embed, settings.latent, 128
    self.chord_embed = layers.Dense(C, e, rngs=rngs)
    self.key_embed = layers.Dense(K, e, rngs=rngs)
    self.recognise = layers.Dense(3 * NUM_FEATURES + 2 * e, h, rngs=rngs)
    self.posterior = layers.Dense(h, 2 * z, rngs=rngs)
    self.decode_in = layers.Dense(2 * e + z, h, rngs=rngs)
    self.decode_mid = layers.Dense(h, h, rngs=rngs)
    self.decode_out = layers.Dense(h, NUM_FEATURES, rngs=rngs)

  def __call__(self, x_BxTxF, mask_BxT):
    return self.classifier(x_BxTxF, mask_BxT)

  def elbo_terms(self, x_BxTxF, chord_BxTxC, key_BxTxK, rng, mask_BxT):
    """(reconstruction nats [B, T], KL of z [B, T]) for given (possibly soft) labels.

    With one z per chunk (``latent_scope='chunk'``) the recognition network's hidden vectors are
    averaged over the chunk's beats, and the chunk's KL is spread evenly over them, so that only
    the labels can explain how one beat differs from the next.
    """
    labels_BxTx2E = jnp.concatenate([self.chord_embed(chord_BxTxC), self.key_embed(key_BxTxK)],
                                    axis=-1)
    pad = jnp.zeros_like(x_BxTxF[:, :1])
    around_BxTx3F = jnp.concatenate([
        jnp.concatenate([pad, x_BxTxF[:, :-1]], 1), x_BxTxF,
        jnp.concatenate([x_BxTxF[:, 1:], pad], 1)], axis=-1)
    h_BxTxH = jax.nn.gelu(self.recognise(jnp.concatenate([around_BxTx3F, labels_BxTx2E], -1)))
    if self.per_chunk:
      n_B1 = jnp.maximum(mask_BxT.sum(1, keepdims=True), 1.0)
      h_Bx1xH = ((h_BxTxH * mask_BxT[..., None]).sum(1, keepdims=True) / n_B1[..., None])
      h_BxTxH = jnp.broadcast_to(h_Bx1xH, h_BxTxH.shape)
    mean_BxTxZ, log_var_BxTxZ = jnp.split(self.posterior(h_BxTxH), 2, axis=-1)
    noise_shape = mean_BxTxZ.shape[:1] + (1,) + mean_BxTxZ.shape[2:] if self.per_chunk else (
        mean_BxTxZ.shape)
    z_BxTxZ = mean_BxTxZ + jnp.exp(0.5 * log_var_BxTxZ) * jax.random.normal(rng, noise_shape)
    d_BxTxH = jax.nn.gelu(self.decode_in(jnp.concatenate([labels_BxTx2E, z_BxTxZ], -1)))
    logits_BxTxF = self.decode_out(jax.nn.gelu(self.decode_mid(d_BxTxH)))
    recon_BxT = optax.sigmoid_binary_cross_entropy(logits_BxTxF, x_BxTxF).sum(-1)
    kl_BxT = 0.5 * (jnp.exp(log_var_BxTxZ) + mean_BxTxZ ** 2 - 1.0 - log_var_BxTxZ).sum(-1)
    if self.per_chunk:
      kl_BxT = kl_BxT / n_B1
    return recon_BxT, kl_BxT


@dataclasses.dataclass(frozen=True)
class Priors:
  """The fixed language models of the generative story (fitted on the labelled songs)."""
  keys: language_models.KeyTransition
  chords: object   # language_models.Transition, or (graphdef, params) of a Recurrent

  @classmethod
  def fit(cls, labelled: list, settings: Settings, steps: int = 1500, seed: int = 0) -> Priors:
    keys = language_models.KeyTransition.fit([ex.keys_b for ex in labelled])
    seqs = [language_models.relative(ex.chords_b, ex.keys_b) for ex in labelled]
    if settings.chord_lm == 'transition':
      return cls(keys, language_models.Transition.fit(seqs))
    trainer, state = language_models.make_recurrent(seed=seed)
    state, _ = language_models.train_recurrent(trainer, state, seqs, steps, seed=seed)
    return cls(keys, (trainer.graphdef, state['params']))

  def expected_log_prob(self, chord_p_BxTxC, key_p_BxTxK, chord_lm_moves_keys=False):
    """[B, T] E_q[log p(k_t | k_{t-1}) + log p(c_t | c_<t, k_t)] (see language_models).

    Unless ``chord_lm_moves_keys``, the chord term sees the key distribution through a stop
    gradient: under the mean-field approximation a key-relative chord model pulls each beat's
    key towards the key in which its chord is the tonic, beat by beat.
    """
    keys_for_chords = key_p_BxTxK if chord_lm_moves_keys else jax.lax.stop_gradient(key_p_BxTxK)
    rel_BxTxC, mode_BxTx2 = language_models.relative_distribution(chord_p_BxTxC, keys_for_chords)
    if isinstance(self.chords, language_models.Transition):
      chords_BxT = language_models.transition_expectation(jnp.asarray(self.chords.log_p),
                                                          rel_BxTxC, mode_BxTx2)
    else:
      chords_BxT = language_models.recurrent_expectation(nnx.merge(*self.chords), rel_BxTxC,
                                                         mode_BxTx2)
    return self.keys.expectation(key_p_BxTxK) + chords_BxT


def _gumbel_softmax(rng, logits, temperature):
  return jax.nn.softmax((logits + jax.random.gumbel(rng, logits.shape)) / temperature)


def loss_fn(model: ChordKeyVAE, batch: dict, rng, settings: Settings, priors: Priors | None):
  """(loss, metrics). ``batch['labelled']`` [B] is 1 for chunks whose labels may be used."""
  chord_BxTxC, key_BxTxK = model(batch['x'], batch['mask'])
  mask_BxT = batch['mask']
  lab_BxT = mask_BxT * batch['labelled'][:, None]
  n_lab = jnp.maximum(lab_BxT.sum(), 1.0)
  n_all = jnp.maximum(mask_BxT.sum(), 1.0)
  ce_chord = optax.softmax_cross_entropy_with_integer_labels(chord_BxTxC, batch['chords'])
  ce_key = optax.softmax_cross_entropy_with_integer_labels(key_BxTxK, batch['keys'])
  supervised = ((ce_chord + ce_key) * lab_BxT).sum() / n_lab
  acc = ((jnp.argmax(chord_BxTxC, -1) == batch['chords']) * lab_BxT).sum() / n_lab
  metrics = {'supervised': supervised, 'chord_acc': acc}
  if not settings.vae:
    return supervised, metrics
  rng_l, rng_c, rng_k, rng_u = jax.random.split(rng, 4)
  recon_l, kl_l = model.elbo_terms(batch['x'], jax.nn.one_hot(batch['chords'], C),
                                   jax.nn.one_hot(batch['keys'], K), rng_l, mask_BxT)
  elbo_labelled = ((recon_l + kl_l) * lab_BxT).sum() / n_lab
  recon_u, kl_u = model.elbo_terms(
      batch['x'], _gumbel_softmax(rng_c, chord_BxTxC, settings.temperature),
      _gumbel_softmax(rng_k, key_BxTxK, settings.temperature), rng_u, mask_BxT)
  chord_lp, key_lp = jax.nn.log_softmax(chord_BxTxC), jax.nn.log_softmax(key_BxTxK)
  chord_p, key_p = jnp.exp(chord_lp), jnp.exp(key_lp)
  neg_entropy_BxT = (chord_p * chord_lp).sum(-1) + (key_p * key_lp).sum(-1)
  kl_labels_BxT = neg_entropy_BxT - priors.expected_log_prob(chord_p, key_p,
                                                              settings.chord_lm_moves_keys)
  elbo_all = ((recon_u + kl_u + kl_labels_BxT) * mask_BxT).sum() / n_all
  loss = supervised + elbo_labelled + settings.unlabelled_weight * elbo_all
  metrics.update(recon_labelled=(recon_l * lab_BxT).sum() / n_lab,
                 recon_latent=(recon_u * mask_BxT).sum() / n_all,
                 kl_labels=(kl_labels_BxT * mask_BxT).sum() / n_all)
  return loss, metrics


# --- training ----------------------------------------------------------------------------------

@dataclasses.dataclass
class Trainer:
  settings: Settings
  graphdef: object
  train_step: object   # (state, batch) -> (state, metrics)
  predict: object      # (params, x [B, T, F], mask [B, T]) -> (chord, key) log-probabilities
  traces: dict


def make_trainer(settings: Settings, priors: Priors | None = None, seed: int = 0,
                 decay_steps: int = 0):
  """(Trainer, initial state {'params', 'opt', 'step', 'rng'})."""
  if settings.vae and priors is None:
    raise ValueError('the VAE needs its language models: pass priors=Priors.fit(...)')
  model = ChordKeyVAE(settings, rngs=nnx.Rngs(seed))
  graphdef, params = nnx.split(model, nnx.Param)
  lr = (optax.cosine_decay_schedule(settings.learning_rate, decay_steps, alpha=0.05)
        if decay_steps else settings.learning_rate)
  tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(lr))
  state = {'params': params, 'opt': tx.init(params), 'step': jnp.zeros((), jnp.int32),
           'rng': jax.random.key_data(jax.random.key(seed + 1))}
  traces = {'train_step': 0, 'predict': 0}

  def train_step(state, batch):
    traces['train_step'] += 1
    rng = jax.random.fold_in(jax.random.wrap_key_data(state['rng']), state['step'])

    def loss_of(params):
      return loss_fn(nnx.merge(graphdef, params), batch, rng, settings, priors)

    (loss, metrics), grads = jax.value_and_grad(loss_of, has_aux=True)(state['params'])
    updates, opt = tx.update(grads, state['opt'], state['params'])
    return ({'params': optax.apply_updates(state['params'], updates), 'opt': opt,
             'step': state['step'] + 1, 'rng': state['rng']}, dict(metrics, loss=loss))

  def predict(params, x_BxTxF, mask_BxT):
    traces['predict'] += 1
    chord_BxTxC, key_BxTxK = nnx.merge(graphdef, params)(x_BxTxF, mask_BxT)
    return jax.nn.log_softmax(chord_BxTxC), jax.nn.log_softmax(key_BxTxK)

  return Trainer(settings, graphdef, jax.jit(train_step, donate_argnums=0), jax.jit(predict),
                 traces), state


def sample_batch(labelled: list, unlabelled: list, rng: np.random.Generator, batch_size: int,
                 length: int) -> dict:
  """``batch_size`` chunks of labelled songs, then as many of unlabelled ones (if any)."""
  parts = [(labelled, 1.0)] + ([(unlabelled, 0.0)] if unlabelled else [])
  batches = []
  for examples, flag in parts:
    b = classifier.sample_batch(examples, rng, batch_size, length)
    b['labelled'] = np.full(batch_size, flag, np.float32)
    batches.append(b)
  return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}


def train(trainer: Trainer, state, labelled: list, unlabelled: list, steps: int,
          batch_size: int = 16, length: int = 128, seed: int = 0, log_every: int = 0,
          log=print):
  """``steps`` train steps; unlabelled songs are only used by the VAE. Returns (state, losses)."""
  rng = np.random.default_rng(seed)
  unlabelled = unlabelled if trainer.settings.vae else []
  losses = []
  for i in range(steps):
    state, metrics = trainer.train_step(
        state, sample_batch(labelled, unlabelled, rng, batch_size, length))
    losses.append(float(metrics['loss']))
    if log_every and (i + 1) % log_every == 0:
      log(f'step {i + 1}: ' + ' '.join(f'{k} {float(v):.3f}' for k, v in sorted(metrics.items())))
  return state, losses


def predict_song(trainer: Trainer, params, x_bf: np.ndarray, bucket: int = 128):
  """Per-beat log-probabilities of a whole song's features [B, F]: (chords [B, C], keys [B, K])."""
  n = len(x_bf)
  t = -(-n // bucket) * bucket
  x = np.zeros((1, t, NUM_FEATURES), np.float32)
  x[0, :n] = x_bf
  mask = np.zeros((1, t), np.float32)
  mask[0, :n] = 1.0
  chord_lp, key_lp = trainer.predict(params, x, mask)
  return np.asarray(chord_lp[0, :n]), np.asarray(key_lp[0, :n])


# --- files -------------------------------------------------------------------------------------

def save(folder, trainer: Trainer, params, info: dict) -> None:
  """Writes ``params.npz`` (float32) and ``model.json`` (settings + ``info``)."""
  folder = pathlib.Path(folder)
  folder.mkdir(parents=True, exist_ok=True)
  arrays = {k: np.asarray(v, np.float32) for k, v in model_files._flat(nnx.to_pure_dict(params))}
  np.savez_compressed(folder / PARAMS_FILE, **arrays)
  (folder / INFO_FILE).write_text(json.dumps(
      dict(info, settings=dataclasses.asdict(trainer.settings)), indent=1) + '\n')


class ModelFileError(errors.UserError, ValueError):
  """A chord/key model folder that is missing or does not match its settings."""


def load(folder) -> tuple[Trainer, dict, dict]:
  """(Trainer (classifier only, no priors), params, info) from a folder ``save`` wrote."""
  folder = pathlib.Path(folder)
  for name in (PARAMS_FILE, INFO_FILE):
    if not (folder / name).is_file():
      raise ModelFileError(f'{folder} is not a chord/key model folder: it has no {name}. '
                           'Pass a folder written by bench/chordkey_vae.py --save_dir, or leave '
                           'the flag out to use the bundled POP909 model.')
  info = json.loads((folder / INFO_FILE).read_text())
  settings = Settings(**dict(info['settings'], vae=False))
  trainer, state = make_trainer(settings)
  template = nnx.to_pure_dict(state['params'])
  with np.load(folder / PARAMS_FILE) as arrays:
    try:
      values = model_files._unflat(template, dict(arrays))
    except Exception as e:  # noqa: BLE001 - reworded with the folder's name
      raise ModelFileError(f'{folder / PARAMS_FILE} does not match its {INFO_FILE}: {e}') from e
  params = state['params']
  nnx.replace_by_pure_dict(params, values)
  return trainer, params, info
