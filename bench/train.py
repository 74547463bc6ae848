"""Training throughput of the jitted train step, as a fraction of this machine's matmul peak.

  python bench/train.py [--steps=7] [--quick] [--write] [--lstm_gradient]

Everything is measured in one run, so the figures are ratios on the same (noisy, shared) CPUs:

- the float32 matmul peak: the best GFLOP/s of ``jax.jit`` and numpy matmuls at square sizes
  1024-4096 (a few repeats each), measured at the start and again at the end of the run;
- examples/s of the full train step (``steps.make_train_step``, jitted with the state donated),
  the median over ``--steps`` timed steps after compile and one warm-up step, for
  cat-mel_2bar_small as configured (batch 512, Magenta's inverse-sigmoid scheduled sampling),
  the same with scheduled sampling off (pure teacher forcing), and hierdec-mel_16bar with every
  width and z halved (encoder [1024, 1024], conductor and bar decoder [512, 512], z 256) at
  batch 16, its bars decoded in parallel (one batch of B x 16 bars) and one after another
  (``sequential_teacher_forced`` below, Magenta's order);
- the hierarchical decoder alone (conductor + bar decoder, forward and backward of
  ``teacher_forced_logits`` from a fixed z), both ways, since the encoder dominates the full step.

Steps of the configs compared with each other are interleaved round-robin, so a slow spell of
the machine falls on both. Labels are real windows of the bundled melody MIDI (prepared into a
temp folder, read with ``pipeline.train_dataset``), or random valid labels where there are too
few windows for a batch (the ``labels`` column says which).

Achieved FLOP/s count only the LSTM math as Magenta does it, as the peers' figures in
shared/reference/performance.md do: 2·4·H·(in + H) per cell step of every LSTM (encoder
forward and backward directions of every layer, conductor, decoder layers; ``in`` is the layer's
full input width as Magenta's kernel has it, e.g. decoder layer 0: output depth + z or the
conductor embedding), times the steps, times 3 for forward plus backward, times examples/s.
The free-running pass that picks scheduled-sampling inputs is not counted (Magenta samples
inside its one decoder pass). ``--write`` puts the table in the ``## train`` section of
BENCHMARKS.md.
"""

import argparse
import contextlib
import dataclasses
import os
import pathlib
import platform
import statistics
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from musicvae_jax import config_boundary
from musicvae_jax import bundled_data  # pylint: disable=g-import-not-at-top,wrong-import-position
from musicvae_jax import config_lib  # pylint: disable=wrong-import-position
from musicvae_jax.input_pipeline import pipeline  # pylint: disable=wrong-import-position
from musicvae_jax.input_pipeline import prepare  # pylint: disable=wrong-import-position
from musicvae_jax.models import hierarchical  # pylint: disable=wrong-import-position
from musicvae_jax.models import vae  # pylint: disable=wrong-import-position
from musicvae_jax.training import family  # pylint: disable=wrong-import-position
from musicvae_jax.training import losses  # pylint: disable=wrong-import-position
from musicvae_jax.training import optimizer  # pylint: disable=wrong-import-position
from musicvae_jax.training import steps  # pylint: disable=wrong-import-position
import peers  # bench/peers.py
import report  # bench/report.py

HALVED = {'model.enc_rnn_size': [1024, 1024], 'model.dec_rnn_size': [512, 512],
          'model.z_size': 256}
HIERDEC = 'hierdec-mel_16bar (halved)'
# shared/reference/performance.md (2-core AVX-512 Xeon): (peer, examples/s, fraction of f32 peak).
PEERS = {'cat-mel_2bar_small': ('Magenta TF graph', 332, 0.59),
         HIERDEC: ('PyTorch eager + FTZ', 4.18, 0.64)}


# ------------------------------------------------------------------------------------ peak

def matmul_peak(sizes, repeats: int) -> dict:
  """Best float32 GFLOP/s of jax.jit and numpy square matmuls."""
  best = {'jax': 0.0, 'numpy': 0.0}
  mm = jax.jit(jnp.matmul)
  rng = np.random.default_rng(0)
  for n in sizes:
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    ja, jb = jnp.asarray(a), jnp.asarray(b)
    mm(ja, jb).block_until_ready()
    np.matmul(a, b)
    for _ in range(repeats):
      for name, run in (('jax', lambda: mm(ja, jb).block_until_ready()),
                        ('numpy', lambda: np.matmul(a, b))):
        start = time.perf_counter()
        run()
        best[name] = max(best[name], 2 * n ** 3 / (time.perf_counter() - start) / 1e9)
  best['peak'] = max(best['jax'], best['numpy'])
  return best


# ------------------------------------------------------------------------------------ FLOPs

def lstm_flops(spec: vae.ModelSpec, *, decoder_only: bool = False) -> float:
  """Forward LSTM FLOPs per example, Magenta's way: 2·4·H·(in + H) per cell step."""
  cell = lambda inp, h: 8 * h * (inp + h)
  total = 0
  if not decoder_only:
    inp = spec.input_depth
    for h in spec.enc_rnn_size:
      total += 2 * spec.max_seq_len * cell(inp, h)  # forward and backward directions
      inp = 2 * h
  if spec.hierarchical:
    bars = spec.level_lengths[0]
    inp = 1  # the conductor reads a constant zero scalar
    for h in spec.dec_rnn_size:
      total += bars * cell(inp, h)
      inp = h
    cond = spec.dec_rnn_size[-1]
  else:
    cond = spec.z_size
  groups = ([(d,) for d in spec.part_depths] if spec.decoder.split_parts
            else [spec.part_depths])
  for group in groups:
    inp = sum(group) + cond
    for h in spec.dec_rnn_size:
      total += spec.max_seq_len * cell(inp, h)
      inp = h
  return float(total)


# ------------------------------------------------------------------------------------ data

def make_config(name: str, overrides: dict):
  config = config_lib.get_config(name)
  for key, value in overrides.items():
    group, field = key.split('.')
    config[group][field] = value
  return config


def prepare_real(config, workdir: str) -> pathlib.Path:
  """Prepares the bundled melody MIDI for ``config`` (before JAX starts threads: it forks)."""
  out = pathlib.Path(workdir, f'{config.data.slice_bars}bar')
  prepare.prepare(config_boundary.run_spec(config), bundled_data.midi_dir('melody'), out, progress=False)
  return out


def real_batches(config, data_dir, batch: int, count: int):
  """``count`` batches of real windows from ``data_dir``, or None if it has too few."""
  try:
    ds = pipeline.train_dataset(data_dir, batch_size=batch, seed=0,
                                transpose_range=tuple(config.data.transpose_range))
  except pipeline.DatasetError as error:
    print(f'  real data unusable ({error}); using random labels', file=sys.stderr)
    return None
  it = iter(ds)
  keep = ('labels', 'lengths', 'mask')
  return [{k: jnp.asarray(b[k]) for k in keep} for b in (next(it) for _ in range(count))]


def random_batches(spec: vae.ModelSpec, batch: int, count: int):
  rng = np.random.default_rng(0)
  t, depths = spec.max_seq_len, spec.part_depths
  labels = lambda: np.stack([rng.integers(0, d, (batch, t)) for d in depths], axis=-1)
  return [dict(labels=jnp.asarray(labels(), jnp.int32),
               lengths=jnp.full((batch,), t, jnp.int32),
               mask=jnp.ones((batch, t), jnp.float32)) for _ in range(count)]


# ------------------------------------------------------------------------------------ runners

@dataclasses.dataclass
class Runner:
  """One measured thing: ``step(i)`` runs and blocks on step i; times are per step."""
  label: str
  step: object
  compile_s: float = 0.0
  times: list = dataclasses.field(default_factory=list)
  cpu: list = dataclasses.field(default_factory=list)  # process CPU seconds per timed step


def sequential_teacher_forced(decoder, z_BxZ, inputs_BxTxP):
  """Magenta's order: the bars of a hierarchical decoder decoded one after another (a scan)."""
  e_BxLxH = decoder.embeddings(z_BxZ)
  batch = e_BxLxH.shape[0]
  inputs_LxBxSxP = jnp.swapaxes(
      inputs_BxTxP.reshape((batch, decoder.num_bars, decoder.bar_steps, -1)), 0, 1)

  def bar(_, x):
    e_BxH, inputs_BxSxP = x
    return None, jnp.concatenate(
        [core.teacher_forced(e_BxH, inputs_BxSxP[..., parts])
         for core, parts in zip(decoder.cores, decoder.part_slices())], axis=-1)

  _, logits_LxBxSxO = jax.lax.scan(bar, None, (jnp.swapaxes(e_BxLxH, 0, 1), inputs_LxBxSxP))
  return jnp.swapaxes(logits_LxBxSxO, 0, 1).reshape((batch, -1, decoder.output_depth))


@contextlib.contextmanager
def bars_in_sequence(on: bool):
  """While tracing, the hierarchical decoder decodes its bars one after another."""
  parallel = hierarchical.HierarchicalDecoder.teacher_forced
  if on:
    hierarchical.HierarchicalDecoder.teacher_forced = sequential_teacher_forced
  try:
    yield
  finally:
    hierarchical.HierarchicalDecoder.teacher_forced = parallel


def train_runner(label, config, batches, *, scheduled_sampling=True, sequential=False):
  """The train step as musicvae-train jits it (state donated), on one device."""
  run = config_boundary.run_spec(config)
  if not scheduled_sampling:
    run = dataclasses.replace(run, loss=dataclasses.replace(
        run.loss, sampling_schedule='constant', sampling_rate=0.0))
  fam = family.for_spec(run)
  tx = optimizer.make(run.train)
  state = jax.jit(steps.make_init(fam, tx, run.train.seed))()
  with bars_in_sequence(sequential):  # compiled now, so the patch is seen while tracing
    train_step = jax.jit(steps.make_train_step(steps.graph_of(fam), fam, tx),
                         donate_argnums=0).lower(state, batches[0],
                                                 jax.random.PRNGKey(0)).compile()
  holder = {'state': state}

  def step(i):
    holder['state'], metrics = train_step(holder['state'], batches[i % len(batches)],
                                          jax.random.PRNGKey(i))
    jax.block_until_ready((holder['state'], metrics))

  return Runner(label, step)


def decoder_runner(label, model, batches, z, *, sequential):
  """Forward + backward of the hierarchical decoder's teacher-forced logits from a fixed z."""
  graphdef, params = nnx.split(model.decoder, nnx.Param)
  depths = model.spec.part_depths

  def loss(params, z, batch):
    decoder = nnx.merge(graphdef, params)
    decode = sequential_teacher_forced if sequential else type(decoder).teacher_forced
    logits = decode(decoder, z, vae.shift_right(batch['labels']))
    return jnp.mean(losses.reconstruction(logits, batch['labels'], batch['mask'], depths)[0])

  grads = jax.jit(jax.grad(loss))

  def step(i):
    jax.block_until_ready(grads(params, z, batches[i % len(batches)]))

  return Runner(label, step)


def measure(runners, timed: int, warmup: int = 1):
  """Compiles (first call) and warms up each runner, then times them round-robin."""
  for r in runners:
    start = time.perf_counter()
    r.step(0)
    r.compile_s = time.perf_counter() - start
    for i in range(warmup):
      r.step(1 + i)
  for i in range(timed):
    for r in runners:
      start, cpu = time.perf_counter(), time.process_time()
      r.step(1 + warmup + i)
      r.times.append(time.perf_counter() - start)
      r.cpu.append(time.process_time() - cpu)
  for r in runners:
    print(f'  {r.label}: compile+first {r.compile_s:.1f} s, steps '
          + ' '.join(f'{t:.2f}' for t in r.times), file=sys.stderr)
  return runners


# ------------------------------------------------------------------------------------ table

def row(config, what, batch, data, runner, flops, peak, peer=None):
  sec = statistics.median(runner.times)
  rate = batch / sec
  gflops = rate * 3 * flops / 1e9
  return dict(config=config, what=what, batch=batch, data=data, step_s=sec,
              best_s=min(runner.times), cores=sum(runner.cpu) / sum(runner.times), rate=rate,
              gflops=gflops, fraction=gflops / peak, compile_s=runner.compile_s, peer=peer)


def table(rows) -> str:
  lines = ['| config | step | batch | labels | s/step | best s/step | cores busy | examples/s '
           '| LSTM GFLOP/s | fraction of peak | peer (performance.md) | peer ex/s '
           '| peer fraction | fraction vs peer |',
           '| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: '
           '| ---: |']
  for r in rows:
    peer = r['peer']
    peer_cols = (f"{peer[0]} | {peer[1]:g} | {peer[2]:.2f} | {r['fraction'] / peer[2]:.2f}x"
                 if peer else '- | - | - | -')
    lines.append(f"| {r['config']} | {r['what']} | {r['batch']} | {r['data']} "
                 f"| {r['step_s']:.3f} | {r['best_s']:.3f} | {r['cores']:.2f} | {r['rate']:.1f} "
                 f"| {r['gflops']:.0f} "
                 f"| {r['fraction']:.2f} | {peer_cols} |")
  return '\n'.join(lines)




# ------------------------------------------------------------------------------------ peers

PEER_CONFIG = {'cat-mel_2bar_small': 'cat-mel_2bar_small', HIERDEC: 'hierdec-mel_16bar'}


def peer_rounds(name, runner, batch, args, runnable) -> dict:
  """The project's runner and each peer, in turn, ``args.peer_rounds`` times.

  Each round times ``args.steps`` steps of the (already compiled) project runner, then runs each
  peer once as a subprocess (its own compile and warm-up, then ``args.steps`` timed steps), so a
  slow spell of the machine falls on all of them. Returns {label: [examples/s per round]}.
  """
  rates = {'musicvae_jax': [], **{p.label: [] for p in runnable}}
  errors = {}
  for r in range(args.peer_rounds):
    times = []
    for i in range(args.steps):
      start = time.perf_counter()
      runner.step(1000 + r * args.steps + i)
      times.append(time.perf_counter() - start)
    rates['musicvae_jax'].append(batch / statistics.median(times))
    print(f'  round {r + 1}: musicvae_jax {rates["musicvae_jax"][-1]:.1f} ex/s', file=sys.stderr)
    for peer in runnable:
      result = peers.run(args.peers_python, peer, config=PEER_CONFIG[name], batch=batch,
                         steps=args.steps)
      if 'error' in result:
        errors[peer.label] = result['error']
        print(f'  round {r + 1}: {peer.label} failed: {result["error"]}', file=sys.stderr)
        continue
      rates[peer.label].append(result['train_ex_s_median'])
      print(f'  round {r + 1}: {peer.label} {rates[peer.label][-1]:.1f} ex/s', file=sys.stderr)
  return {'rates': rates, 'errors': errors}


def peer_table(results: dict, not_run: list, goal: float, flops: dict, peak: float,
               unit: str = 'examples/s') -> str:
  """Markdown: per shape, the project and each peer, the ratio, and the ratio to the best."""
  lines = [f'| config | batch | program | {unit} per round | median {unit} | LSTM GFLOP/s '
           '| fraction of peak | musicvae_jax / this |',
           '| --- | ---: | --- | --- | ---: | ---: | ---: | ---: |']
  verdicts = []
  for (name, batch), res in results.items():
    medians = {k: statistics.median(v) for k, v in res['rates'].items() if v}
    ours = medians['musicvae_jax']
    for label, rate in medians.items():
      per_round = ', '.join(f'{v:.4g}' for v in res['rates'][label])
      gflops = rate * flops[name] / 1e9
      lines.append(f'| {name} | {batch} | {label} | {per_round} | {rate:.4g} | {gflops:.0f} '
                   f'| {gflops / peak:.2f} | {ours / rate:.2f}x |')
    for label, error in res['errors'].items():
      lines.append(f'| {name} | {batch} | {label} | failed: {error} | - | - | - | - |')
    others = {k: v for k, v in medians.items() if k != 'musicvae_jax'}
    if others:
      best = max(others, key=others.get)
      ratio = ours / others[best]
      verdicts.append(f'- {name}, batch {batch}: **{ratio:.2f}x** the best peer ({best}); goal '
                      f'{goal:g}x: {"met" if ratio >= goal else "NOT met"}')
  return '\n'.join(lines + [''] + verdicts + [f'- {line}' for line in not_run])


# ------------------------------------------------------------------------------------ main

def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--steps', type=int, default=7, help='timed steps per measurement')
  parser.add_argument('--catmel_batch', type=int, default=512)
  parser.add_argument('--hierdec_batch', type=int, default=16)
  parser.add_argument('--data', choices=('real', 'random'), default='real')
  parser.add_argument('--quick', action='store_true',
                      help='smoke run: small batches, 2 timed steps, small peak sizes')
  parser.add_argument('--write', action='store_true')
  parser.add_argument('--lstm_gradient', action='store_true',
                      help='also run bench/lstm_gradient.py\'s rows in this run')
  parser.add_argument('--peer_rounds', type=int, default=2,
                      help='rounds of (project, every peer) per shape, when peers run')
  parser.add_argument('--only_peers', action='store_true',
                      help='skip the project-internal pairs; measure against the peers only')
  peers.add_flag(parser)
  args = parser.parse_args()
  runnable, not_run = peers.available(args.peers_python, args.peers)
  if args.quick:
    args.steps, args.catmel_batch, args.hierdec_batch = 2, 64, 2
  sizes, repeats = ((512, 1024), 1) if args.quick else ((1024, 2048, 3072, 4096), 3)
  n_batches = min(args.steps + 2, 4)
  started = time.perf_counter()
  load = [os.getloadavg()[0]]

  measured = []  # (config, what, batch, labels, runner, forward FLOPs/example, peer)
  ratios = []  # (what, numerator runner, denominator runner)
  with tempfile.TemporaryDirectory() as workdir:
    configs = {'cat-mel_2bar_small': make_config('cat-mel_2bar_small', {}),
               HIERDEC: make_config('hierdec-mel_16bar', HALVED)}
    data_dirs = {}
    if args.data == 'real':  # first: prepare forks, and JAX must not have started threads yet
      print('preparing the bundled melody MIDI...', file=sys.stderr)
      data_dirs = {n: prepare_real(c, workdir) for n, c in configs.items()}

    print(f'matmul peak at {sizes}...', file=sys.stderr)
    peaks = [matmul_peak(sizes, repeats)]
    print(f"  jax {peaks[0]['jax']:.0f}, numpy {peaks[0]['numpy']:.0f} GFLOP/s", file=sys.stderr)

    def batches_for(name, spec, batch):
      batches = real_batches(configs[name], data_dirs[name], batch, n_batches) if data_dirs \
          else None
      data = 'real' if batches else 'random'
      print(f'{name} batch {batch} ({data} labels)...', file=sys.stderr)
      return batches or random_batches(spec, batch, n_batches), data

    peer_results = {}  # (name, batch) -> peer_rounds(...)
    peer_flops = {}

    def against_peers(name, runner, batch, spec):
      if runnable:
        print(f'{name} batch {batch} against the peers...', file=sys.stderr)
        peer_results[(name, batch)] = peer_rounds(name, runner, batch, args, runnable)
        peer_flops[name] = 3 * lstm_flops(spec)

    # cat-mel_2bar_small: scheduled sampling as configured vs pure teacher forcing (the peers
    # train with teacher forcing, so that row is the one compared with them).
    name, batch = 'cat-mel_2bar_small', args.catmel_batch
    config = configs[name]
    spec = config_boundary.model_spec(config)
    batches, data = batches_for(name, spec, batch)
    if args.only_peers:
      (tf,) = measure([train_runner('teacher forcing', config, batches,
                                    scheduled_sampling=False)], 1)
    else:
      ss, tf = measure([
          train_runner('scheduled sampling', config, batches),
          train_runner('teacher forcing', config, batches, scheduled_sampling=False)],
                       args.steps)
      sched = f'{config.model.sampling_schedule} sampling (rate {config.model.sampling_rate:g})'
      measured += [(name, f'train, {sched}', batch, data, ss, lstm_flops(spec), PEERS[name]),
                   (name, 'train, teacher forcing', batch, data, tf, lstm_flops(spec),
                    PEERS[name])]
      ratios.append(('cat-mel step time, scheduled sampling / teacher forcing', ss, tf))
      del ss
    against_peers(name, tf, batch, spec)
    del tf

    # hierdec-mel_16bar, halved: bars in parallel vs one after another, full step and decoder.
    name, batch = HIERDEC, args.hierdec_batch
    config = configs[name]
    spec = config_boundary.model_spec(config)
    batches, data = batches_for(name, spec, batch)
    if args.only_peers:
      (par,) = measure([train_runner('parallel bars', config, batches)], 1)
    else:
      par, seq = measure([
          train_runner('parallel bars', config, batches),
          train_runner('sequential bars', config, batches, sequential=True)], args.steps)
      measured += [(name, 'train, bars in parallel', batch, data, par, lstm_flops(spec),
                    PEERS[name]),
                   (name, 'train, bars sequential', batch, data, seq, lstm_flops(spec),
                    PEERS[name])]
      ratios.append(('hierdec full step time, sequential / parallel bars', seq, par))
      print(f'{HIERDEC} decoder alone, batch {batch}...', file=sys.stderr)
      model = vae.build_model(spec)
      z = jax.random.normal(jax.random.PRNGKey(1), (batch, spec.z_size), jnp.float32)
      dpar, dseq = measure([
          decoder_runner('decoder, parallel', model, batches, z, sequential=False),
          decoder_runner('decoder, sequential', model, batches, z, sequential=True)],
                           args.steps)
      flops = lstm_flops(spec, decoder_only=True)
      measured += [(name, 'decoder alone fwd+bwd, bars in parallel', batch, data, dpar, flops,
                    None),
                   (name, 'decoder alone fwd+bwd, bars sequential', batch, data, dseq, flops,
                    None)]
      ratios.append(('hierdec decoder alone fwd+bwd time, sequential / parallel bars', dseq,
                     dpar))
    against_peers(name, par, batch, spec)

    print('matmul peak again...', file=sys.stderr)
    peaks.append(matmul_peak(sizes, repeats))
    load.append(os.getloadavg()[0])

  peak = max(max(p['jax'], p['numpy']) for p in peaks)
  rows = [row(*m[:6], peak, m[6]) for m in measured]
  for r in rows:
    print(f"  {r['config']} {r['what']}: compile+first step {r['compile_s']:.1f} s",
          file=sys.stderr)
  notes = [f'{what}: **{statistics.median(a.times) / statistics.median(b.times):.2f}x** '
           f'(best steps: {min(a.times) / min(b.times):.2f}x)' for what, a, b in ratios]
  command = 'python bench/train.py ' + ' '.join(sys.argv[1:])
  by = {k: ', '.join(f'{p[k]:.0f}' for p in peaks) for k in ('jax', 'numpy')}
  text = (
      f'{table(rows)}\n\n'
      + ''.join(f'- {n}\n' for n in notes)
      + f'\nfloat32 matmul peak of this machine in the same run: **{peak:.0f} GFLOP/s**, the best '
      f"of jax.jit ({by['jax']}) and numpy ({by['numpy']}) at the start and the end of the run "
      f'(square {sizes[0]}-{sizes[-1]}, {repeats} repeats each). LSTM FLOPs are counted as in '
      '`shared/reference/performance.md` (2·4·H·(in+H) per cell step of every LSTM, x3 for '
      'forward + backward); fraction of peak = LSTM GFLOP/s / that peak. Peer figures are from '
      'that file (2 cores of an AVX-512 Xeon, f32 peak about 390 GFLOP/s; not this run): '
      'compare the fractions, not the examples/s. '
      f's/step is the median of {args.steps} timed steps after compile and one warm-up step, '
      'the two rows of each pair timed in turn, step by step; cores busy = process CPU time / '
      'wall time over those steps. Labels: real windows of the bundled melody MIDI '
      '(`pipeline.train_dataset`), or random valid labels where noted. hierdec halved: '
      'encoder [1024, 1024], conductor and bar decoder [512, 512], z 256, 16 bars x 16 steps.'
      f'\n\nCommand: `{command.strip()}` on {os.cpu_count()} CPUs ({report.cpu_name()}), '
      f'Python {platform.python_version()}, '
      f'jax {jax.__version__}, {time.strftime("%Y-%m-%d")}; 1-minute load average '
      f'{load[0]:.1f} at the start, {load[1]:.1f} at the end; whole run '
      f'{(time.perf_counter() - started) / 60:.1f} min.')
  peer_text = ''
  if peer_results or not_run:
    versions = ', '.join(sorted({peers.version(args.peers_python, p) for p in runnable}))
    peer_text = (
        f'{peer_table(peer_results, not_run, 1.5, peer_flops, peak)}\n\n'
        f'Training examples/s, the project\'s train step (teacher forcing, as the peers train) '
        f'and the programs of `shared/reference/peers/` ({versions}), in {args.peer_rounds} '
        f'rounds: each round times {args.steps} steps of the project\'s compiled step, then runs '
        'each peer as a subprocess (its own compile and warm-up, then the same number of timed '
        'steps; its median is taken). The per-round figures show the machine\'s drift. Same '
        'shapes: cat-mel_2bar_small at batch '
        f'{args.catmel_batch}; hierdec-mel_16bar with every width and z halved at batch '
        f'{args.hierdec_batch}. LSTM GFLOP/s and the fraction use the peak above.'
        f'\n\nCommand: `{command.strip()}`, {time.strftime("%Y-%m-%d")}.')
  if not args.only_peers:
    print(text)
  print(peer_text)
  if args.write:
    if not args.only_peers:
      report.write_section('train', text)
    if peer_text:
      report.write_section('train vs peers', peer_text)
  if args.lstm_gradient:
    import lstm_gradient  # bench/lstm_gradient.py  # pylint: disable=import-outside-toplevel
    lstm_gradient.run(quick=args.quick, write=args.write, command=command)


if __name__ == '__main__':
  main()
