"""Sampling throughput: sequences/s decoded from z at batch 1 and 64, beside the peers' figures.

  python bench/sample.py [--repeats=7] [--quick] [--write]

Two models, both at the shapes of shared/reference/performance.md: cat-mel_2bar_small as
configured (2 bars, 32 steps) and hierdec-mel_16bar with every width and z halved (encoder
[1024, 1024], conductor and bar decoder [512, 512], z 256; 16 bars of 16 steps). Weights are
freshly initialised: decoding does the same work whatever the weights are.

Three ways of decoding are timed, each the median over ``--repeats`` calls after compile and a
warm-up call, interleaved round-robin so a slow spell of the shared machine falls on all:

- ``TrainedModel.decode_labels``: the public path (one jitted ``lax.scan`` decode per batch,
  each output with its own key, labels copied back to the host);
- the bare jitted ``MusicVAE.sample`` (one key for the batch), to show what the per-output keys
  cost;
- ``TrainedModel.sample`` end to end: prior draw, decode, and conversion to NoteSequences (the
  Python side that a user's ``sample()`` call also pays).

The peers' sequences/s at batch 64 come from performance.md, measured on a 2-core AVX-512 Xeon
whose float32 matmul peak is about 390 GFLOP/s. This machine's peak is measured in the same run
(``bench/train.py``'s ``matmul_peak``, before and after), so each row also gives the decoder's
LSTM GFLOP/s (Magenta's count, ``lstm_flops(decoder_only=True)``) as a fraction of the peak, and
the peers' figures are converted the same way with their machine's 390 GFLOP/s: the fraction is
the figure that carries over between machines (performance.md), sequences/s is not.
``--write`` puts the table in the ``## sample`` section of BENCHMARKS.md.
"""

import argparse
import os
import pathlib
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from musicvae_jax import config_boundary  # pylint: disable=wrong-import-position
from musicvae_jax.generation import trained_model  # pylint: disable=wrong-import-position
from musicvae_jax.models import vae  # pylint: disable=wrong-import-position
import peers  # bench/peers.py  # pylint: disable=wrong-import-position
import report  # bench/report.py  # pylint: disable=wrong-import-position
import train as train_bench  # bench/train.py: configs and CPU name  # pylint: disable=wrong-import-position

CATMEL = 'cat-mel_2bar_small'
HIERDEC = train_bench.HIERDEC
# performance.md, sampling sequences/s at batch 64: every peer, best first.
PEER_PEAK = 390.0  # GFLOP/s, performance.md's machine
PEERS = {CATMEL: [('straightforward Flax linen port', 2000), ('PyTorch eager', 1533),
                  ('Magenta TF graph', 1153)],
         HIERDEC: [('straightforward Flax port', 93), ('PyTorch eager + FTZ', 80),
                   ('Magenta TF graph', 55)]}


def build(name: str) -> trained_model.TrainedModel:
  config = (train_bench.make_config('hierdec-mel_16bar', train_bench.HALVED) if name == HIERDEC
            else train_bench.make_config(name, {}))
  run = config_boundary.run_spec(config)
  params = nnx.to_pure_dict(nnx.state(vae.build_model(run.model), nnx.Param))
  return trained_model.TrainedModel(run, jax.tree.map(np.asarray, params), max_batch_size=64)


def runners(model: trained_model.TrainedModel, batch: int):
  """{way: call(i)} for one model and batch; call i uses its own key and codes."""
  graphdef, _ = nnx.split(model.module(), nnx.Param)
  params = model.params

  @jax.jit
  def bare(params, z, key):
    return nnx.merge(graphdef, nnx.State(params)).sample(z, key, 1.0)['samples']

  def codes(i):
    return model.sample_z(batch, key=jax.random.key(i))

  return {
      'TrainedModel.decode_labels': lambda i: model.decode_labels(
          codes(i), key=jax.random.key(i), temperature=1.0),
      'bare jitted MusicVAE.sample': lambda i: np.asarray(
          bare(params, jnp.asarray(codes(i)), jax.random.key(i))),
      'TrainedModel.sample (+ NoteSequences)': lambda i: model.sample(
          batch, key=jax.random.key(i), temperature=1.0),
  }


def measure(calls: dict, repeats: int) -> dict:
  times = {k: [] for k in calls}
  compile_s = {}
  for k, call in calls.items():
    start = time.perf_counter()
    call(0)
    compile_s[k] = time.perf_counter() - start
    call(1)
  for i in range(repeats):
    for k, call in calls.items():
      start = time.perf_counter()
      call(2 + i)
      times[k].append(time.perf_counter() - start)
  return {k: dict(median=statistics.median(v), best=min(v), compile=compile_s[k])
          for k, v in times.items()}


def peer_rounds(name, call, args, runnable) -> dict:
  """The project's public decode at batch 64 and each peer's sampling, in turn, per round."""
  rates = {'musicvae_jax': [], **{p.label: [] for p in runnable}}
  errors = {}
  for r in range(args.peer_rounds):
    times = []
    for i in range(args.repeats):
      start = time.perf_counter()
      call(1000 + r * args.repeats + i)
      times.append(time.perf_counter() - start)
    rates['musicvae_jax'].append(64 / statistics.median(times))
    print(f'  round {r + 1}: musicvae_jax {rates["musicvae_jax"][-1]:.1f} seq/s', file=sys.stderr)
    for peer in runnable:
      result = peers.run(args.peers_python, peer, config=train_bench.PEER_CONFIG[name],
                         batch=64, steps=1, train=False, sample=True, sample_batch=64,
                         sample_reps=args.repeats)
      if 'error' in result:
        errors[peer.label] = result['error']
        print(f'  round {r + 1}: {peer.label} failed: {result["error"]}', file=sys.stderr)
        continue
      rates[peer.label].append(result['sample_seq_s_median'])
      print(f'  round {r + 1}: {peer.label} {rates[peer.label][-1]:.1f} seq/s', file=sys.stderr)
  return {'rates': rates, 'errors': errors}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--repeats', type=int, default=7)
  parser.add_argument('--peer_rounds', type=int, default=2)
  parser.add_argument('--only_peers', action='store_true',
                      help='only the public decode at batch 64 against the peers')
  peers.add_flag(parser)
  parser.add_argument('--quick', action='store_true', help='smoke run: 2 repeats, 2-bar only')
  parser.add_argument('--write', action='store_true')
  args = parser.parse_args()
  runnable, not_run = peers.available(args.peers_python, args.peers)
  names = [CATMEL] if args.quick else [CATMEL, HIERDEC]
  repeats = 2 if args.quick else args.repeats
  args.repeats = repeats
  load = [os.getloadavg()[0]]
  started = time.perf_counter()
  sizes, peak_repeats = ((512, 1024), 1) if args.quick else ((1024, 2048, 3072), 3)
  print(f'matmul peak at {sizes}...', file=sys.stderr)
  peaks = [train_bench.matmul_peak(sizes, peak_repeats)]
  rows = []
  peer_results, peer_flops = {}, {}
  for name in names:
    model = build(name)
    flops = train_bench.lstm_flops(model.spec, decoder_only=True)
    if runnable:
      print(f'{name}, batch 64 against the peers...', file=sys.stderr)
      call = runners(model, 64)['TrainedModel.decode_labels']
      call(0)
      call(1)
      peer_results[(name, 64)] = peer_rounds(name, call, args, runnable)
      peer_flops[name] = flops
    for batch in (() if args.only_peers else (1, 64)):
      print(f'{name}, batch {batch}...', file=sys.stderr)
      for way, r in measure(runners(model, batch), repeats).items():
        rows.append(dict(config=name, batch=batch, way=way, rate=batch / r['median'],
                         best_rate=batch / r['best'], flops=flops, **r))
        print(f'  {way}: {rows[-1]["rate"]:.1f} seq/s (compile+first {r["compile"]:.1f} s)',
              file=sys.stderr)
  load.append(os.getloadavg()[0])
  peaks.append(train_bench.matmul_peak(sizes, peak_repeats))
  peak = max(p['peak'] for p in peaks)

  lines = ['| config | batch | decoding | s/call | sequences/s | best sequences/s | LSTM GFLOP/s '
           '| fraction of peak | best peer (batch 64) | peer seq/s | peer fraction '
           '| seq/s vs peer | fraction vs peer |',
           '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: '
           '| ---: |']
  for r in rows:
    peer = PEERS[r['config']][0]
    gflops = r['rate'] * r['flops'] / 1e9
    peer_fraction = peer[1] * r['flops'] / 1e9 / PEER_PEAK
    vs = (f"{r['rate'] / peer[1]:.2f}x | {gflops / peak / peer_fraction:.2f}x"
          if r['batch'] == 64 else '- | -')
    lines.append(f"| {r['config']} | {r['batch']} | {r['way']} | {r['median']:.4f} "
                 f"| {r['rate']:.1f} | {r['best_rate']:.1f} | {gflops:.0f} | {gflops / peak:.2f} "
                 f"| {peer[0]} | {peer[1]} | {peer_fraction:.2f} | {vs} |")
  public = {(r['config'], r['batch']): r['rate'] for r in rows
            if r['way'] == 'TrainedModel.decode_labels'}
  bare = {(r['config'], r['batch']): r['rate'] for r in rows
          if r['way'] == 'bare jitted MusicVAE.sample'}
  ratios = [f'- {c}: batch 64 / batch 1 throughput {public[(c, 64)] / public[(c, 1)]:.1f}x; '
            f'per-output keys cost {1 - public[(c, 64)] / bare[(c, 64)]:+.0%} at batch 64 '
            '(public path vs bare sample)' for c in names if not args.only_peers]
  text = '\n'.join([
      f'`python bench/sample.py{" --quick" if args.quick else ""}` on {report.cpu_name()} '
      f'({os.cpu_count()} cores), jax {jax.__version__}, load average {load[0]:.2f} -> '
      f'{load[1]:.2f}, {time.perf_counter() - started:.0f} s. Float32 matmul peak '
      f'{peaks[0]["peak"]:.0f} / {peaks[1]["peak"]:.0f} GFLOP/s (start / end; the larger is used). '
      f'Median of {repeats} calls after compile and one warm-up call; random weights (decoding '
      'costs the same whatever they are).',
      '', *lines, '', *ratios, '',
      'Peers: shared/reference/performance.md, sampling sequences/s at batch 64 on a 2-core '
      'machine of this class (2-bar: Flax linen 2,000, PyTorch 1,533, Magenta TF 1,153; 16-bar: '
      'Flax 93, PyTorch 80, Magenta TF 55), on a machine with a 390 GFLOP/s float32 matmul '
      'peak. "seq/s vs peer" divides this run\'s sequences/s by the best of them; "fraction vs '
      'peer" divides the fractions of each machine\'s own peak. LSTM FLOPs are counted as '
      'Magenta\'s kernels multiply (one-hot previous output and z or bar embedding included); '
      'here those shares are a row gather and one product per sequence or bar, so the count '
      'can come close to the peak.'])
  peer_text = ''
  if peer_results or not_run:
    versions = ', '.join(sorted({peers.version(args.peers_python, p) for p in runnable}))
    peer_text = (
        f'{train_bench.peer_table(peer_results, not_run, 2.0, peer_flops, peak, "sequences/s")}'
        f'\n\nSampling sequences/s at batch 64: the project\'s public path '
        '(`TrainedModel.decode_labels`, jitted scan, labels back on the host) and the sampling '
        f'of the programs of `shared/reference/peers/` ({versions}), in {args.peer_rounds} '
        f'rounds: each round times {repeats} calls of the project after compile, then runs each '
        f'peer as a subprocess (its own warm-up call, then {repeats} timed calls; its median is '
        'taken). Decoder LSTM FLOPs as in the table above.'
        f'\n\nCommand: `python bench/sample.py {" ".join(sys.argv[1:])}`, '
        f'{time.strftime("%Y-%m-%d")}.')
  if not args.only_peers:
    print(text)
  print(peer_text)
  if args.write:
    if not args.only_peers:
      report.write_section('sample', text)
    if peer_text:
      report.write_section('sample vs peers', peer_text)


if __name__ == '__main__':
  main()
