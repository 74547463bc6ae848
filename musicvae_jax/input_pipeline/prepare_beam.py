"""The preparation of ``prepare`` as an Apache Beam pipeline, for corpora one machine is slow on.

The output folder is the one ``prepare.prepare`` writes, byte for byte (shards, sources.txt,
skipped.jsonl, dataset.json); only run.json differs, and says ``'runner': 'beam'``. The driver
lists the files and writes the small summary files; the pipeline does the heavy part:

  Create((source, path)) -> Reshuffle -> read + convert each file (``convert_files.process_file``)
      -> per file: its window records, and its metadata (reason, counts; a few hundred bytes)
  metadata -> one small list of (source, split, window count) -> prefix sums in file order
      = every file's first record index within its split, and each split's shard count
  records + that layout (a side input) -> keyed by (split, shard index) -> GroupByKey
      -> sorted within the shard -> written as ``<split>-SSSSS-of-NNNNN.array_record``

So the records land where the in-process job puts them whatever order the workers finish in.
Each shard is written under a unique scratch name and renamed into place, so a bundle Beam
retries rewrites the same bytes harmlessly. The metadata comes back to the driver as JSON lines
in ``<output>/.scratch/``, read after the pipeline ends and deleted with that folder. Memory: the
worker writing a shard holds its records (``records_per_shard`` x 16 + 2*T*P bytes), and the
driver the metadata of every file.

Runners: by default the local DirectRunner (``--direct_num_workers=N
--direct_running_mode=multi_processing`` spreads it over N processes). A remote runner
(``--runner=DataflowRunner ...``) needs every worker to read the input folder and write the
output folder at the same local paths, i.e. a shared filesystem mounted alike everywhere, and
musicvae_jax installed on the workers; the shards are written with plain file calls, not Beam's
filesystems, so gs:// and other URLs do not work. That set-up is untested: the tests run the
DirectRunner only.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pathlib
import shutil
import sys
import uuid
from typing import Any

from array_record.python.array_record_module import ArrayRecordReader
from array_record.python.array_record_module import ArrayRecordWriter
from musicvae_jax import specs
from musicvae_jax.converters import get_converter, midi_io
from musicvae_jax.input_pipeline import convert_files
from musicvae_jax.input_pipeline import prepare
from musicvae_jax.input_pipeline import records
from musicvae_jax.input_pipeline import shards

_META_PREFIX = 'files'  # <scratch>/files-SSSSS-of-NNNNN.jsonl: one JSON line per source file


def prepare_beam(run: specs.RunSpec, input_dir, output_dir, *, records_per_shard: int = 65_536,
                 preview: int = 0, overwrite: bool = False,
                 limits: midi_io.MidiLimits = midi_io.MidiLimits(),
                 beam_options: list[str] | None = None, progress: bool = True,
                 split_csv=None, split_column: str = 'split') -> dict[str, Any]:
  """``prepare.prepare`` as a Beam pipeline; returns the same dict (with run.json's as 'run').

  ``beam_options`` are Beam's own command-line options, e.g. ['--direct_num_workers=2',
  '--direct_running_mode=multi_processing'] (default: the DirectRunner, one worker).
  """
  beam_options = list(beam_options or [])
  beam, pipeline = _pipeline(beam_options)  # before the output folder is touched
  job = prepare.Job(run, input_dir, output_dir, records_per_shard, overwrite, limits, split_csv,
                    split_column)
  try:
    scratch = job.out / prepare.SCRATCH_DIR
    scratch.mkdir()
    if progress:
      print(f'prepare: {len(job.files)} files through a Beam pipeline '
            f"({' '.join(beam_options) or 'DirectRunner'})", file=sys.stderr)
    _build(beam, pipeline, job, scratch)
    pipeline.run().wait_until_finish()  # raises if the pipeline failed
    firsts = []  # (file, split, index of its first record) of the files that get a preview
    for meta in _read_metadata(scratch, len(job.files)):
      split = job.add(meta['file'], meta['reason'], meta['message'], meta['dropped'],
                      meta['warnings'], meta['windows'])
      if split and len(firsts) < preview:  # as prepare: the first window of the first files
        firsts.append((meta['file'], split, job.windows[split] - meta['windows']))
    shard_names = {s: _shard_names(s, job.windows[s], records_per_shard) for s in prepare.SPLITS}
    missing = [n for names in shard_names.values() for n in names if not (job.out / n).is_file()]
    if missing:
      raise prepare.PrepareError(f'The Beam pipeline ended without writing {missing[:3]} in '
                                 f'{job.out}; with a remote runner, --output must be a folder '
                                 'every worker shares.')
    previews = []
    for rel_path, split, at in firsts:
      labels = _read_window(job.out / shard_names[split][at // records_per_shard],
                            at % records_per_shard)
      previews.append(prepare.write_preview(job.converter, labels, rel_path, 0, job.out))
    shutil.rmtree(scratch)
    return job.finish(shard_names, previews, runner='beam', beam_options=beam_options)
  finally:
    job.close()


def _pipeline(beam_options: list[str]):
  """(the apache_beam module, an empty pipeline); bad options are a PrepareError."""
  try:
    import apache_beam as beam  # pylint: disable=g-import-not-at-top
    from apache_beam.options import pipeline_options  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise prepare.PrepareError(f'--runner=beam needs Apache Beam ({e}); install it with '
                               'pip install -e ".[beam]"') from e
  options = pipeline_options.PipelineOptions(beam_options)
  usage = io.StringIO()
  try:
    with contextlib.redirect_stderr(usage):  # argparse's page of usage would bury the error
      options.get_all_options()
  except SystemExit as e:
    error = (usage.getvalue().strip().splitlines() or ['?'])[-1].split('error: ', 1)[-1]
    raise prepare.PrepareError(f'Bad Beam option in {beam_options}: {error}') from e
  return beam, beam.Pipeline(options=options)  # a ValueError names an unknown runner


def _build(beam, pipeline, job: prepare.Job, scratch: pathlib.Path) -> None:
  """Adds the transforms of the module docstring to ``pipeline``."""
  per_shard = job.records_per_shard
  converted = (
      pipeline
      | 'Files' >> beam.Create(list(enumerate(job.files)))
      | 'Spread' >> beam.Reshuffle()  # Create's elements would otherwise stay on one worker
      | 'Convert' >> beam.FlatMap(_Convert(job.run.data, str(job.input_dir), job.limits,
                                           job.splitter)
                                  ).with_outputs('meta', main='records'))
  _ = (converted.meta
       | 'MetaJson' >> beam.Map(json.dumps)
       | 'WriteMeta' >> beam.io.WriteToText(str(scratch / _META_PREFIX),
                                            file_name_suffix='.jsonl'))
  layout = beam.pvalue.AsSingleton(
      converted.meta
      | 'Counts' >> beam.Map(_count)
      | 'AllCounts' >> beam.combiners.ToList()
      | 'Layout' >> beam.Map(_layout, per_shard))
  _ = (converted.records
       | 'Place' >> beam.FlatMap(_place, per_shard, layout)
       | 'ByShard' >> beam.GroupByKey()
       | 'WriteShards' >> beam.Map(_write_shard, str(job.out), str(scratch), per_shard, layout))


class _Convert:
  """One file -> its records (main output) and its metadata ('meta'), on a worker.

  A plain callable rather than a ``beam.DoFn`` so that this module imports without Beam. Each
  copy Beam unpickles on a worker builds its converter once, on first use.
  """

  def __init__(self, data: specs.DataSpec, input_dir: str, limits, splitter):
    self._args = data, input_dir, limits, splitter
    self._converter = None

  def __getstate__(self):
    return {'_args': self._args, '_converter': None}

  def __call__(self, item):
    from apache_beam import pvalue  # pylint: disable=g-import-not-at-top
    source, rel_path = item
    data, input_dir, limits, splitter = self._args
    if self._converter is None:
      self._converter = get_converter(data)
    res = convert_files.process_file(os.path.join(input_dir, rel_path), self._converter, limits)
    split = '' if res.reason else splitter(rel_path)
    yield pvalue.TaggedOutput('meta', {
        'source': source, 'file': rel_path, 'split': split, 'windows': len(res.windows),
        'reason': res.reason, 'message': res.message, 'dropped': res.dropped,
        'warnings': res.warnings})
    if split:
      yield source, split, [records.encode(w, source, i) for i, w in enumerate(res.windows)]


def _count(meta: dict) -> tuple[int, str, int]:
  return meta['source'], meta['split'], meta['windows']


def _layout(counts, records_per_shard: int) -> dict[str, dict]:
  """Each file's first record index in its split (files in source order), and shard counts."""
  start, total = {}, dict.fromkeys(prepare.SPLITS, 0)
  for source, split, num_windows in sorted(counts):
    if split:
      start[source] = total[split]
      total[split] += num_windows
  return {'start': start, 'windows': total,
          'shards': {s: -(-n // records_per_shard) for s, n in total.items()}}


def _place(item, records_per_shard: int, layout):
  """A file's records -> ((split, shard index), (position in shard, records)), per shard."""
  source, split, recs = item
  done = 0
  while done < len(recs):
    shard, position = divmod(layout['start'][source] + done, records_per_shard)
    take = min(len(recs) - done, records_per_shard - position)
    yield (split, shard), (position, recs[done:done + take])
    done += take


def _write_shard(keyed, out_dir: str, scratch_dir: str, records_per_shard: int, layout) -> str:
  """Writes one shard's records in order, checking that none is missing; returns its name."""
  (split, shard), pieces = keyed
  name = shards.shard_name(split, shard, layout['shards'][split])
  want = min(records_per_shard, layout['windows'][split] - shard * records_per_shard)
  tmp = os.path.join(scratch_dir, f'{name}.{uuid.uuid4().hex}')  # unique per attempt
  writer = ArrayRecordWriter(tmp, shards.WRITER_OPTIONS)
  expected = 0
  for position, recs in sorted(pieces, key=lambda piece: piece[0]):
    if position != expected:
      raise RuntimeError(f'{name}: records {expected}..{position - 1} missing')
    for record in recs:
      writer.write(record)
    expected += len(recs)
  writer.close()
  if expected != want:
    raise RuntimeError(f'{name}: {expected} records, not {want}')
  os.replace(tmp, os.path.join(out_dir, name))
  return name


def _shard_names(split: str, num_windows: int, records_per_shard: int) -> list[str]:
  count = -(-num_windows // records_per_shard)
  return [shards.shard_name(split, i, count) for i in range(count)]


def _read_metadata(scratch: pathlib.Path, num_files: int) -> list[dict]:
  """The pipeline's per-file metadata, in source order; one entry for each file, exactly."""
  found = []
  for path in sorted(scratch.glob(f'{_META_PREFIX}-*.jsonl')):
    with open(path, encoding='utf-8') as f:
      found += [json.loads(line) for line in f if line.strip()]
  found.sort(key=lambda meta: meta['source'])
  if [meta['source'] for meta in found] != list(range(num_files)):
    raise prepare.PrepareError(f'The Beam pipeline reported {len(found)} results for '
                               f'{num_files} files in {scratch}.')
  return found


def _read_window(shard: pathlib.Path, position: int):
  reader = ArrayRecordReader(str(shard))
  try:
    return records.decode(reader.read([position])[0])['labels']
  finally:
    reader.close()
