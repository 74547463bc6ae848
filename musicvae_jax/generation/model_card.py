"""Model cards: what a shipped model was trained on, how it scores on music it never saw.

A card is the ``card`` object of a model folder's ``model.json`` (``musicvae-evaluate --card
--workdir=bundled:<name>`` prints it; data/README.md holds the same in prose):

  what          one line: the model
  trained_on    the data, with counts and splits
  training      the exact command(s)
  steps, batch_size, time
  heldout       [{style, data, windows, teacher_forced_accuracy, sampled_accuracy, ...}]: held-out
                figures per style (for other model kinds, their own metrics)
  weaknesses    [known weaknesses]
"""

import json
import pathlib

from musicvae_jax import errors
from musicvae_jax.generation import model_files

INFO_FILE = 'model.json'
FIELDS = ('what', 'trained_on', 'training', 'steps', 'batch_size', 'time')


class NoCardError(errors.UserError, ValueError):
  """A model folder without a card."""


def load(folder) -> dict:
  """The card of a model folder; raises NoCardError naming the folder if it has none."""
  path = pathlib.Path(folder) / INFO_FILE
  card = json.loads(path.read_text()).get('card') if path.exists() else None
  if not card:
    raise NoCardError(f'{folder} has no model card ({INFO_FILE} without a "card" object). '
                      'Cards come with the bundled models; see data/README.md.')
  return card


def text(workdir) -> str:
  """The card of ``workdir`` (a folder or bundled:<name>) as plain text."""
  folder, _ = model_files.resolve(workdir)
  card = load(folder)
  lines = [f'{workdir}: {card.get("what", "")}'.rstrip(': ')]
  for field in FIELDS[1:]:
    if field in card:
      lines.append(f'  {field.replace("_", " ")}: {card[field]}')
  rows = card.get('heldout', [])
  if rows:
    lines.append('  held out (music it never saw):')
    for row in rows:
      figures = ', '.join(f'{k.replace("_", " ")} {v:.3f}' if isinstance(v, float) else
                          f'{k.replace("_", " ")} {v}' for k, v in row.items()
                          if k not in ('style', 'data'))
      lines.append(f'    {row.get("style", "")}: {figures}' +
                   (f' ({row["data"]})' if 'data' in row else ''))
  for weakness in card.get('weaknesses', []):
    lines.append(f'  weakness: {weakness}')
  return '\n'.join(lines)
