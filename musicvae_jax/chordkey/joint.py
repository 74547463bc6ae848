"""The chord/key VAE with its language models as parameters: what ``musicvae-train`` trains.

Shapes: B chunks, T beats, C = 181 chords, K = 24 keys.

``vae.ChordKeyVAE`` and ``vae.Priors`` are the model and its generative story as
``bench/chordkey_vae.py`` trains them: the language models fitted on the labelled songs first,
then fixed. Here they are trained in the same jitted step as the rest, so one model, one
optimiser and one checkpoint hold everything and a run resumes exactly:

* the key model, log p(k_t | k_{t-1}), is a [K + 1, K] table of logits (row K: a chunk's first
  beat); the chord model is either a [2, C + 1, C] table of key-relative transition logits per
  mode (row C: the first beat) or the LSTM of ``language_models.Recurrent``;
* they learn by maximum likelihood on the labelled beats of each batch (``lm_loss``), where
  the counts of ``language_models.Transition.fit`` would give the same tables at convergence,
  save its add-alpha smoothing;
* the VAE's label KL reads them through a stop-gradient (``priors``), as a fixed prior: the
  classifier is pulled towards the language models, never the other way.

The tables are zero (uniform) at the start and their logits are ``lm_scale`` x the parameters,
so that Adam, whose steps are about the learning rate whatever the gradient, reaches log-odds of
5-10 within a training run.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from musicvae_jax import specs
from musicvae_jax.chordkey import language_models, vae, vocabulary

C, K = vocabulary.NUM_CHORDS, vocabulary.NUM_KEYS


def settings_of(spec: specs.ChordKeySpec) -> vae.Settings:
  """The ``vae.Settings`` a spec names."""
  return vae.Settings(classifier=spec.classifier, hidden=spec.hidden,
                      num_layers=spec.num_layers, vae=spec.vae, latent=spec.latent,
                      latent_scope=spec.latent_scope, embed=spec.embed, chord_lm=spec.chord_lm,
                      unlabelled_weight=spec.unlabelled_weight, temperature=spec.temperature,
                      chord_lm_moves_keys=spec.chord_lm_moves_keys)


class ChordKeyJoint(nnx.Module):
  """``vae``: the classifier, recognition network and decoder; ``key_lm`` and ``chord_lm``."""

  def __init__(self, spec: specs.ChordKeySpec, *, rngs: nnx.Rngs):
    self.spec = spec
    self.vae = vae.ChordKeyVAE(settings_of(spec), rngs=rngs)
    self.key_lm = nnx.Param(jnp.zeros((K + 1, K)))
    if spec.chord_lm == 'transition':
      self.chord_lm = nnx.Param(jnp.zeros((2, C + 1, C)))
    else:
      self.chord_lm = language_models.Recurrent(rngs=rngs)

  def __call__(self, x_BxTxF, mask_BxT):
    """(chord logits [B, T, C], key logits [B, T, K]) of the classifier."""
    return self.vae(x_BxTxF, mask_BxT)

  def key_log_p(self):
    return jax.nn.log_softmax(self.spec.lm_scale * self.key_lm[...])

  def chord_log_p(self):
    return jax.nn.log_softmax(self.spec.lm_scale * self.chord_lm[...])


def relative_chords(chords_BxT, keys_BxT):
  """Each beat's chord moved down by its key's tonic (``language_models.relative`` in jax)."""
  table = jnp.asarray(language_models.transposition_table())  # [tonic, relative] -> absolute
  inverse = jnp.argsort(table, axis=1)   # [tonic, absolute] -> relative (each row a permutation)
  return inverse[keys_BxT % 12, chords_BxT]


def lm_loss(model: ChordKeyJoint, batch: dict):
  """(key model nats, chord model nats) per labelled beat: their maximum-likelihood terms."""
  lab_BxT = batch['mask'] * batch['labelled'][:, None]
  n = jnp.maximum(lab_BxT.sum(), 1.0)
  keys, chords = batch['keys'], batch['chords']
  first = lambda x, start: jnp.concatenate([jnp.full_like(x[:, :1], start), x[:, :-1]], axis=1)
  key_nll = -model.key_log_p()[first(keys, K), keys]
  rel, modes = relative_chords(chords, keys), (keys >= 12).astype(jnp.int32)
  if isinstance(model.chord_lm, nnx.Param):
    chord_nll = -model.chord_log_p()[modes, first(rel, C), rel]
  else:
    chord_nll = optax.softmax_cross_entropy_with_integer_labels(model.chord_lm(rel, modes), rel)
  return (key_nll * lab_BxT).sum() / n, (chord_nll * lab_BxT).sum() / n


def priors(model: ChordKeyJoint) -> vae.Priors:
  """The language models as the VAE's fixed prior (no gradient flows into them)."""
  keys = language_models.KeyTransition(jax.lax.stop_gradient(model.key_log_p()))
  if isinstance(model.chord_lm, nnx.Param):
    return vae.Priors(keys, language_models.Transition(jax.lax.stop_gradient(model.chord_log_p())))
  graphdef, state = nnx.split(model.chord_lm)
  return vae.Priors(keys, (graphdef, jax.tree.map(jax.lax.stop_gradient, state)))


def loss(model: ChordKeyJoint, batch: dict, rng):
  """(scalar, metrics): ``vae.loss_fn`` with the learned priors, plus the language models'."""
  settings = settings_of(model.spec)
  total, metrics = vae.loss_fn(model.vae, batch, rng, settings,
                               priors(model) if settings.vae else None)
  if settings.vae:
    key_nll, chord_nll = lm_loss(model, batch)
    total = total + key_nll + chord_nll
    metrics = dict(metrics, key_lm_nll=key_nll, chord_lm_nll=chord_nll)
  return total, dict(metrics, loss=total)


def is_workdir(folder) -> bool:
  """Whether ``folder`` is a ``musicvae-train`` workdir (a config.json beside checkpoints/)."""
  import pathlib  # pylint: disable=g-import-not-at-top
  folder = pathlib.Path(folder)
  return (folder / 'config.json').is_file() and (folder / 'checkpoints').is_dir()


def load_workdir(folder, step: int | None = None):
  """(``vae.Trainer`` of the classifier, its params, info) from a ``musicvae-train`` workdir of
  a chordkey config: what ``annotate.Estimator`` reads, as from a ``vae.save`` folder."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from musicvae_jax import checkpointing  # pylint: disable=g-import-not-at-top
  run = checkpointing.load_run_spec(folder)
  if run.model.family != 'chordkey':
    raise vae.ModelFileError(f'{folder} holds a {run.name} model, not a chord/key one; pass a '
                             'workdir trained with --config=chordkey_vae.')
  if not checkpointing.has_checkpoint(folder):
    raise vae.ModelFileError(f'{folder} has no checkpoint yet; train first (musicvae-train '
                             f'--config=chordkey_vae ... --workdir={folder}).')
  template = jax.eval_shape(lambda: nnx.to_pure_dict(nnx.state(
      ChordKeyJoint(run.model.chordkey, rngs=nnx.Rngs(0)), nnx.Param)))
  mgr = checkpointing.manager(folder)
  try:
    params, at_step = checkpointing.restore_params(mgr, checkpointing.abstract(template), step)
  finally:
    mgr.close()
  settings = settings_of(run.model.chordkey)
  trainer, state = vae.make_trainer(vae.Settings(**dict(vars(settings), vae=False)))
  classifier_params = state['params']
  nnx.replace_by_pure_dict(classifier_params, jax.tree.map(np.asarray, params['vae']))
  info = dict(trained_on=f'musicvae-train workdir {folder} ({run.name}, step {at_step})',
              settings=vars(settings), step=int(at_step))
  return trainer, classifier_params, info
