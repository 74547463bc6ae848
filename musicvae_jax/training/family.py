"""The one interface between a model family and the machinery every family shares.

Prepare, the grain pipeline, checkpointing with exact resume, metrics, sharding and
``musicvae-evaluate`` are written once; a model family (MusicVAE today; the chord/key VAE, the
MusiCoder's masked-pretraining transformer; DSAE / TS-DSAE) plugs in by
providing what differs:

- ``build(seed)``: its Flax NNX module, parameters from ``seed``;
- ``batch_keys``: the arrays of a prepared batch that go to the devices;
- ``check_dataset(data_dir)``: the prepared dataset's dataset.json, or a refusal naming the
  fix when its windows do not fit;
- ``example_transform()``: optionally, a map the pipeline applies to each stored example with
  its own seeded numpy Generator (GrooVAE derives its encoder inputs there);
- ``loss(model, batch, key, step)``: the scalar to minimise and the metrics to log (pure, traced
  inside the jitted train step);
- ``after_update(params, step)``: optionally, a pure map of the parameters after each
  optimiser update (TS-DSAE copies its frozen prior there when its first stage ends);
- ``eval_sums(model, batch, key, step)``: per-batch sums over real examples, so batches of any
  padding combine exactly; ``summarize(totals)`` turns the summed totals into the metrics, and
  ``format_table(rows)`` / ``headline(metrics)`` into what a person reads.

``for_spec(run_spec)`` picks the family that ``run_spec.model.family`` names (the GrooVAE family
for a ``groove_lstm`` decoder, the NADE family for a ``nade_lstm`` one).
"""

from __future__ import annotations

import abc

from musicvae_jax import specs


class Family(abc.ABC):
  """What the training loop and evaluation call; everything else is shared."""

  batch_keys: tuple[str, ...] = ()
  progress_metric = 'accuracy'  # the training metric the progress bar shows beside the loss

  def __init__(self, run: specs.RunSpec):
    self.run = run

  @abc.abstractmethod
  def build(self, seed: int = 0):
    """A freshly initialised Flax NNX module."""

  @abc.abstractmethod
  def check_dataset(self, data_dir) -> dict:
    """The dataset.json of ``data_dir``; a UserError when its windows do not fit the model."""

  def example_transform(self):
    """``(example, rng) -> example`` the pipeline maps each example with, or None."""
    return None

  @abc.abstractmethod
  def loss(self, model, batch: dict, key, step):
    """(scalar loss, {metric: scalar}) for one batch; traced inside the train step."""

  def after_update(self, params: dict, step):
    """The parameters after the update that made ``step`` (traced inside the train step)."""
    del step
    return params

  @abc.abstractmethod
  def eval_sums(self, model, batch: dict, key, step) -> dict:
    """{name: sum over the batch's real examples} for one evaluation batch."""

  @abc.abstractmethod
  def summarize(self, totals: dict) -> dict:
    """The evaluation metrics from the summed ``eval_sums`` of a whole split."""

  @abc.abstractmethod
  def format_table(self, rows: dict[str, dict]) -> str:
    """A plain-text table of ``summarize`` results, one row per split."""

  @abc.abstractmethod
  def headline(self, metrics: dict) -> str:
    """One line with the evaluation figures that matter most."""


def for_spec(run: specs.RunSpec) -> Family:
  """The family that builds, trains and scores ``run.model``."""
  # pylint: disable=g-import-not-at-top
  from musicvae_jax.training import chordkey_family
  from musicvae_jax.training import dsae_family
  from musicvae_jax.training import groove_family
  from musicvae_jax.training import musicoder_family
  from musicvae_jax.training import musicvae_family
  from musicvae_jax.training import nade_family
  families = {'musicvae': musicvae_family.MusicVAEFamily, 'groove': groove_family.GrooveFamily,
              'nade': nade_family.NadeFamily, 'dsae': dsae_family.DsaeFamily,
              'musicoder': musicoder_family.MusiCoderFamily,
              'chordkey': chordkey_family.ChordKeyFamily}
  # GrooVAE and nade-drums are MusicVAE's network with another decoder; their batches (GrooVAE),
  # losses and metrics differ.
  by_decoder = {'groove_lstm': 'groove', 'nade_lstm': 'nade'}
  name = by_decoder.get(run.model.decoder.kind, run.model.family)
  if name not in families:
    raise ValueError(f'no model family {name!r}; known: {", ".join(families)}.')
  return families[name](run)
