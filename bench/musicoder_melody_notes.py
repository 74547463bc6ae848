"""Melody identification note by note over whole songs (``musicoder.melody_notes``), with or
without a frozen MusiCoder encoder's features, at a fraction of the training songs.

  python bench/musicoder_melody_notes.py --split_file=runs/musicoder/pop909_split.csv \
      --fraction=0.1 --seeds=0 --encoder=none|pretrained|random \
      --pretrained=runs/musicoder/pre_both6k --out=runs/musicoder/melody_notes.jsonl

``--encoder=pretrained`` adds the workdir's encoder's hidden state at each note's onset frame;
``random`` the same encoder shape freshly initialised (the scratch control for a frozen
encoder); ``none`` the note features alone (``--pretrained`` then unused). The fraction keeps
the songs that ``bench/musicoder_tasks.py`` keeps at the same seed. Scored on the split's test
songs: note F1 against the MELODY track, beside the skyline rule on the same notes, and every
note's accuracy among the three classes.

``--note_order=tracks`` reads the notes as token-per-note taggers published on POP909 read
them: a copy of a pitch struck on two tracks stays two notes, and within an onset the notes
come in the order the file lists its tracks (MELODY, BRIDGE, PIANO), each track's by rising
pitch. That order tells a sequence model which track a note is on; a user's own piano MIDI
does not carry it. The toolkit's reader (``melody_notes.read_song``: one note per key press,
highest first) is ``--note_order=pitch``, the default. The arm measures how much of a
published figure the order alone can buy.
"""

import argparse
import json
import pathlib
import sys
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def read_in_track_order(path, converter):
  """A ``melody_notes.Song`` of ``path`` in the file's track order within an onset, copies
  kept (see ``--note_order``)."""
  from musicvae_jax.musicoder import song_notes  # pylint: disable=g-import-not-at-top
  pitch, start, end, velocity, classes, track = song_notes.read_notes(path, converter)
  order = np.lexsort((pitch, track, start))
  return song_notes.Song(str(path), pitch[order], start[order], end[order], velocity[order],
                         classes[order])


def main():
  p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  p.add_argument('--split_file', required=True)
  p.add_argument('--fraction', type=float, default=0.1)
  p.add_argument('--seeds', default='0')
  p.add_argument('--steps', type=int, default=1500)
  p.add_argument('--encoder', default='none', choices=('none', 'pretrained', 'random'))
  p.add_argument('--pretrained', default='runs/musicoder/pre_both6k')
  p.add_argument('--attention_heads', type=int, default=0)
  p.add_argument('--dropout', type=float, default=0.0)
  p.add_argument('--length', type=int, default=512)
  p.add_argument('--batch_size', type=int, default=16)
  p.add_argument('--note_order', default='pitch', choices=('pitch', 'tracks'))
  p.add_argument('--out', default='')
  a = p.parse_args()
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  # pylint: disable=g-import-not-at-top
  from musicvae_jax import checkpointing, config_boundary, config_lib, converters
  from musicvae_jax.models import musicoder  # pylint: disable=g-import-not-at-top
  from musicvae_jax.musicoder import embedding, melody_notes  # pylint: disable=g-import-not-at-top
  t0 = time.time()
  embedder = None
  if a.encoder != 'none':
    embedder = embedding.Embedder.load(a.pretrained)
    if a.encoder == 'random':
      run = checkpointing.load_run_spec(a.pretrained)
      embedder = embedding.Embedder(musicoder.build(run.model, 0), embedder.converter)
  # Without an encoder the notes are read as the musicoder config reads them (no workdir needed).
  converter = embedder.converter if embedder else converters.get_converter(
      config_boundary.data_spec(config_lib.get_config('musicoder').data))
  if a.note_order == 'tracks':
    if embedder is not None:
      p.error('--note_order=tracks reads the note features alone (--encoder=none)')
    from musicvae_jax.musicoder import tasks  # pylint: disable=g-import-not-at-top
    songs = {}
    for row in tqdm(tasks.read_split_file(a.split_file), desc='songs'):
      if row['split'] in ('train', 'test'):
        songs.setdefault(row['split'], []).append(read_in_track_order(row['path'], converter))
  else:
    songs = melody_notes.read_split(a.split_file, converter, embedder, splits=('train', 'test'),
                                    progress=lambda it, n: tqdm(it, total=n, desc='songs'))
  read_s = time.time() - t0
  for seed in [int(s) for s in a.seeds.split(',')]:
    t1 = time.time()
    result = melody_notes.run(songs, melody_notes.Settings(
        steps=a.steps, seed=seed, attention_heads=a.attention_heads, dropout=a.dropout,
        length=a.length, batch_size=a.batch_size),
                              a.fraction, log_every=100,
                              log=lambda line: print(line, flush=True))
    result.update(encoder=a.encoder, note_order=a.note_order,
                  pretrained=a.pretrained if embedder else '',
                  train_s=round(time.time() - t1), read_s=round(read_s))
    print(json.dumps(result), flush=True)
    if a.out:
      with open(a.out, 'a') as f:
        f.write(json.dumps(result) + '\n')


if __name__ == '__main__':
  main()
