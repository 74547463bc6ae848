"""Which split (train or eval) each source file goes to.

By default a stable hash of the file's relative path and ``config.data.split_seed`` sends an
``eval_fraction`` of the files to eval, so no song is in both. A dataset that comes with its own
split (the Groove MIDI Dataset's train/validation/test per performance) is honoured instead with
a split CSV: ``musicvae-prepare --split_csv=MANIFEST.csv --split_column=gmd_split``. Its ``file``
column names each file by its path under ``--input`` or by its bare name; the split column holds
``train`` or one of ``validation``/``eval``/``test`` (all three go to eval: this toolkit has two
splits). Files the CSV does not list, or lists with an empty split, are left out and counted.
"""

import csv
import dataclasses
import hashlib
import pathlib

TRAIN_VALUES = ('train',)
EVAL_VALUES = ('validation', 'valid', 'eval', 'test')


class SplitError(ValueError):
  """A split CSV that cannot be used; the message names the file and what to fix."""


def hashed_split(rel_path: str, split_seed: int, eval_fraction: float) -> str:
  """'eval' for a stable pseudo-random ``eval_fraction`` of the files, else 'train'."""
  digest = hashlib.sha256(f'{split_seed}:{rel_path}'.encode('utf-8')).digest()
  return 'eval' if int.from_bytes(digest[:8], 'big') / 2.0**64 < eval_fraction else 'train'


def read_split_csv(path, column: str) -> dict[str, str]:
  """{file as the CSV names it: 'train' | 'eval' | ''} from a CSV with ``file`` and ``column``."""
  path = pathlib.Path(path)
  try:
    with open(path, newline='', encoding='utf-8') as f:
      reader = csv.DictReader(f)
      fields = reader.fieldnames or []
      if 'file' not in fields or column not in fields:
        raise SplitError(f'{path}: needs a "file" column and a "{column}" column '
                         f'(it has: {", ".join(fields) or "no header"}); pass --split_column=<the '
                         'column that holds train/validation/test>.')
      table = {}
      for line, row in enumerate(reader, start=2):
        value = (row[column] or '').strip().lower()
        if value and value not in TRAIN_VALUES + EVAL_VALUES:
          raise SplitError(f'{path}, line {line}: split "{row[column]}" for {row["file"]} is not '
                           f'one of {", ".join(TRAIN_VALUES + EVAL_VALUES)} (or empty to leave '
                           'the file out).')
        table[row['file'].strip()] = ('train' if value in TRAIN_VALUES else
                                      'eval' if value else '')
  except OSError as e:
    raise SplitError(f'Split CSV {path} cannot be read: {e.strerror or e}.') from None
  except (csv.Error, UnicodeDecodeError) as e:
    raise SplitError(f'Split CSV {path} is not a readable CSV: {e}.') from None
  return table


@dataclasses.dataclass(frozen=True)
class Splitter:
  """``splitter(rel_path)`` -> 'train', 'eval', or '' (left out). Picklable, for Beam workers."""
  split_seed: int
  eval_fraction: float
  table: dict | None = None  # from a split CSV; None: the hash split
  source: str = ''  # the CSV's path and column, for dataset.json

  def __call__(self, rel_path: str) -> str:
    if self.table is None:
      return hashed_split(rel_path, self.split_seed, self.eval_fraction)
    found = self.table.get(rel_path)
    return found if found is not None else self.table.get(rel_path.rsplit('/', 1)[-1], '')

  def describe(self) -> dict:
    if self.table is None:
      return {'by': 'hash', 'split_seed': self.split_seed, 'eval_fraction': self.eval_fraction}
    return {'by': 'csv', 'csv': self.source}


def make_splitter(split_seed: int, eval_fraction: float, split_csv=None,
                  split_column: str = 'split') -> Splitter:
  if not split_csv:
    return Splitter(split_seed, eval_fraction)
  table = read_split_csv(split_csv, split_column)
  if not any(table.values()):
    raise SplitError(f'{split_csv}: column "{split_column}" gives no file a split; pass the '
                     'column that holds train/validation/test.')
  return Splitter(split_seed, eval_fraction, table,
                  f'{pathlib.Path(split_csv).resolve()} (column {split_column})')
