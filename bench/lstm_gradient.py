"""Value + gradient of one LSTM layer over a sequence: hand-written VJP vs autodiff vs nnx.

  python bench/lstm_gradient.py [--rounds=9] [--quick] [--write]
  python bench/train.py --lstm_gradient ...   (the same rows, in bench/train.py's run)

The question this answers: does ``models/lstm.py`` earn its hand-written backward pass? The
same layer (Magenta's ``LSTMBlockCell``: gates i, j, f, o, forget bias +1) is timed four ways
in one run, every call of the table interleaved round-robin, so a slow spell of the shared
machine falls on all of them:

- ``custom VJP``: ``lstm.lstm_scan``, the package's ``jax.custom_vjp``, after the input is
  projected onto the gates for all steps at once (one GEMM), as the package's layers do;
- ``autodiff``: the same hoisted projection and cell in a plain ``jax.lax.scan``,
  differentiated by JAX (written here, not in the package);
- ``nnx.OptimizedLSTMCell``: Flax's cell, ``jax.lax.scan`` over the split cell, autodiff. It
  multiplies x by its input kernel inside every step, as that cell is written. Its gate order
  is i, f, g, o and it has no run-time forget bias, so the Magenta weights are permuted into it
  and the +1 folded into its bias: it computes the same function;
- ``autodiff, x·W in the step``: the Magenta-layout cell differentiated by JAX with x
  projected inside the step, as the nnx cell does; it tells whether a difference between
  ``autodiff`` and nnx comes from the cell or from where the projection is done.

Each call is one jitted ``jax.value_and_grad`` of a loss that puts a fixed random weight on
every output (the h sequence, final c, final h), with respect to the input x, the kernel
(input and recurrent rows), the bias and the initial state. Before timing, the bench asserts
that all four give autodiff's loss and gradients (relative L2 difference < 1e-4 per array,
float32), so they are timed doing the same work.

Shapes are single layers of the real configs (configs/*.py), with a dense x of the layer's full
Magenta input width: cat-mel_2bar_small's decoder layer 0 (90-class output + z 256; the model
itself gathers rows for the one-hot part and projects z once per sequence) and its encoder, one
direction, with a length mask; hierdec-mel_16bar's bar decoder layer 0 at bench/train.py's
halved widths (H 512, input 90 + conductor embedding 512, 16 steps, batch 16 x 16 bars).
``--write`` puts the table in the ``## lstm gradient`` section of BENCHMARKS.md.
"""

import argparse
import dataclasses
import os
import pathlib
import platform
import statistics
import sys
import time

import flax
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / 'bench'))

from musicvae_jax.models import lstm  # pylint: disable=wrong-import-position
import report  # bench/report.py  # pylint: disable=wrong-import-position


@dataclasses.dataclass(frozen=True)
class Shape:
  name: str
  steps: int
  batch: int
  in_size: int
  hidden: int
  masked: bool


SHAPES = (
    Shape('cat-mel_2bar_small decoder layer 0', 32, 512, 90 + 256, 256, False),
    Shape('cat-mel_2bar_small encoder, one direction', 32, 512, 90, 512, True),
    Shape('hierdec-mel_16bar (halved) bar decoder layer 0', 16, 16 * 16, 90 + 512, 512, False),
)
CUSTOM, AUTODIFF, NNX, IN_STEP = ('custom VJP', 'autodiff', 'nnx.OptimizedLSTMCell',
                                  'autodiff, x·W in the step')
# Why models/lstm.py is what it is; the figures above it in BENCHMARKS.md are the evidence.
VERDICT = (
    'The package keeps the custom VJP in `lstm.lstm_scan`: of the implementations that take the '
    'projected input for all steps (lstm_scan\'s contract, which lets the layers build it from '
    'one-hot rows and z without a GEMM), it is the fastest, by the margin on its line: a few '
    'percent on the decoder layers, more on the masked encoder. nnx.OptimizedLSTMCell is faster '
    'again, but `autodiff, x·W in the step` matches it, so its edge comes from projecting x '
    'inside the loop, not from the cell; taking it would change how the layers feed lstm_scan, '
    'and is measured here only for a dense x.')
NNX_ORDER = (0, 2, 1, 3)  # nnx gate blocks i, f, g, o are Magenta's blocks 0, 2, 1, 3


# ------------------------------------------------------------------------ the layers
# Each maps (params, x [T, B, D], c0, h0, mask [T, B] or None) to (h [T, B, H], c_T, h_T).

def _scan_cell(step_gates, xs_TxBx, c0, h0, mask):
  """lax.scan of Magenta's cell; ``step_gates(x_t, h_prev)`` gives the pre-activations."""
  def step(carry, xs):
    c_prev, h_prev = carry
    c, h = lstm.cell_from_preactivations(step_gates(xs[0], h_prev), c_prev)
    if mask is not None:  # a masked step keeps the state, as lstm_scan does
      keep = xs[1][:, None] > 0
      c, h = jnp.where(keep, c, c_prev), jnp.where(keep, h, h_prev)
    return (c, h), h

  xs = (xs_TxBx,) if mask is None else (xs_TxBx, mask)
  (c_t, h_t), h_seq = jax.lax.scan(step, (c0, h0), xs)
  return h_seq, c_t, h_t


def _hoisted(params, x_TxBxD):
  d = x_TxBxD.shape[-1]
  return jnp.einsum('tbd,dg->tbg', x_TxBxD, params['kernel'][:d]) + params['bias'], d


def custom_vjp_layer(params, x_TxBxD, c0, h0, mask):
  xw, d = _hoisted(params, x_TxBxD)
  return lstm.lstm_scan(xw, params['kernel'][d:], c0, h0, mask)


def autodiff_layer(params, x_TxBxD, c0, h0, mask):
  xw, d = _hoisted(params, x_TxBxD)
  w_h = params['kernel'][d:]
  return _scan_cell(lambda xw_t, h: xw_t + h @ w_h, xw, c0, h0, mask)


def in_step_layer(params, x_TxBxD, c0, h0, mask):
  d = x_TxBxD.shape[-1]
  w_x, w_h, b = params['kernel'][:d], params['kernel'][d:], params['bias']
  return _scan_cell(lambda x_t, h: x_t @ w_x + h @ w_h + b, x_TxBxD, c0, h0, mask)


def nnx_layer(graphdef, cell_params, x_TxBxD, c0, h0, mask):
  def step(carry, xs):
    new, _ = nnx.merge(graphdef, cell_params)(carry, xs[0])
    if mask is not None:
      new = tuple(jnp.where(xs[1][:, None] > 0, n, o) for n, o in zip(new, carry))
    return new, new[1]

  xs = (x_TxBxD,) if mask is None else (x_TxBxD, mask)
  (c_t, h_t), h_seq = jax.lax.scan(step, (c0, h0), xs)
  return h_seq, c_t, h_t


def _permute_gates(a):
  """Magenta's gate blocks into nnx's order, or back (the permutation is its own inverse)."""
  blocks = jnp.split(a, 4, axis=-1)
  return jnp.concatenate([blocks[k] for k in NNX_ORDER], axis=-1)


def nnx_cell(params, in_size: int):
  """An OptimizedLSTMCell computing the same function as Magenta's cell with ``params``."""
  hidden = params['kernel'].shape[-1] // 4
  cell = nnx.OptimizedLSTMCell(in_size, hidden, rngs=nnx.Rngs(0))
  forget = jnp.zeros((4 * hidden,)).at[hidden:2 * hidden].set(lstm.FORGET_BIAS)  # nnx's f
  cell.dense_i.kernel.set_value(_permute_gates(params['kernel'][:in_size]))
  cell.dense_h.kernel.set_value(_permute_gates(params['kernel'][in_size:]))
  cell.dense_h.bias.set_value(_permute_gates(params['bias']) + forget)
  return cell


def _loss(outputs, weights):
  return sum(jnp.sum(o * w) for o, w in zip(outputs, weights))


def make_calls(shape: Shape, seed: int = 0) -> dict:
  """{implementation: (jitted value+grad call, its arguments)} for one shape."""
  rng = np.random.default_rng(seed)
  t, b, d, h = shape.steps, shape.batch, shape.in_size, shape.hidden
  f32 = lambda a: jnp.asarray(a, jnp.float32)
  limit = np.sqrt(6 / (d + h + 4 * h))  # glorot-uniform, as the package initialises
  params = dict(kernel=f32(rng.uniform(-limit, limit, (d + h, 4 * h))),
                bias=f32(rng.normal(scale=0.1, size=4 * h)))
  x = f32(rng.normal(size=(t, b, d)))
  c0, h0 = f32(rng.normal(size=(b, h))), f32(np.tanh(rng.normal(size=(b, h))))
  mask = None
  if shape.masked:
    lengths = rng.integers(1, t + 1, size=b)
    mask = f32(np.arange(t)[:, None] < lengths[None, :])
  weights = tuple(f32(rng.normal(size=s)) for s in ((t, b, h), (b, h), (b, h)))

  def jitted(layer):
    @jax.jit
    def call(params, x, c0, h0, mask, weights):
      loss = lambda *a: _loss(layer(*a, mask), weights)
      return jax.value_and_grad(loss, argnums=(0, 1, 2, 3))(params, x, c0, h0)
    return call

  graphdef, cell_params = nnx.split(nnx_cell(params, d), nnx.Param)
  args = (x, c0, h0, mask, weights)
  return {CUSTOM: (jitted(custom_vjp_layer), (params,) + args),
          AUTODIFF: (jitted(autodiff_layer), (params,) + args),
          NNX: (jitted(lambda *a: nnx_layer(graphdef, *a)), (cell_params,) + args),
          IN_STEP: (jitted(in_step_layer), (params,) + args)}


def _magenta_grads(impl, grads) -> dict:
  """Gradients in Magenta's layout (kernel [D + H, 4H], bias), whichever layer gave them."""
  p, dx, dc0, dh0 = grads
  if impl == NNX:
    kernel = _permute_gates(jnp.concatenate([p['dense_i']['kernel'][...],
                                             p['dense_h']['kernel'][...]], axis=0))
    bias = _permute_gates(p['dense_h']['bias'][...])
  else:
    kernel, bias = p['kernel'], p['bias']
  return dict(kernel=kernel, bias=bias, x=dx, c0=dc0, h0=dh0)


def check_same(shape: Shape, results: dict, rtol: float = 1e-4) -> float:
  """Asserts every implementation gives autodiff's loss and gradients; returns the worst diff."""
  ref_loss, ref = results[AUTODIFF][0], _magenta_grads(AUTODIFF, results[AUTODIFF][1])
  worst = 0.0
  for impl, (loss, grads) in results.items():
    grads = _magenta_grads(impl, grads)
    diffs = {'loss': abs(float(loss - ref_loss)) / abs(float(ref_loss))}
    for name, want in ref.items():
      want = np.asarray(want, np.float64)
      got = np.asarray(grads[name], np.float64)
      diffs[name] = np.linalg.norm(got - want) / np.linalg.norm(want)
    bad = {k: v for k, v in diffs.items() if not v < rtol}
    assert not bad, f'{shape.name}: {impl} differs from autodiff: {bad}'
    worst = max(worst, *diffs.values())
  return worst


# ------------------------------------------------------------------------ timing

def measure(shapes, rounds: int):
  """Compiles every call, checks they agree, then times all calls round-robin."""
  runners = []  # (shape, impl, call, args, compile s, times)
  worst = {}
  for shape in shapes:
    print(f'{shape.name}: T {shape.steps}, batch {shape.batch}, in {shape.in_size}, '
          f'H {shape.hidden}{", masked" if shape.masked else ""}', file=sys.stderr)
    results = {}
    for impl, (call, args) in make_calls(shape).items():
      start = time.perf_counter()
      results[impl] = jax.block_until_ready(call(*args))
      runners.append((shape, impl, call, args, time.perf_counter() - start, []))
    worst[shape] = check_same(shape, results)
    print(f'  same loss and gradients: largest relative difference {worst[shape]:.1e}',
          file=sys.stderr)
  for r in runners:  # one warm-up call each
    jax.block_until_ready(r[2](*r[3]))
  for k in range(rounds):
    for _, _, call, args, _, times in runners:
      start = time.perf_counter()
      jax.block_until_ready(call(*args))
      times.append(time.perf_counter() - start)
    print(f'  round {k + 1}/{rounds}', file=sys.stderr)
  return runners, worst


def table(runners) -> str:
  lines = ['| layer | T | batch | in | H | mask | implementation | ms/call (median) | best ms '
           '| vs fastest (median) | compile+first s |',
           '| --- | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: |']
  fastest = {}
  for shape, _, _, _, _, times in runners:
    fastest[shape] = min(fastest.get(shape, np.inf), statistics.median(times))
  for shape, impl, _, _, compile_s, times in runners:
    med = statistics.median(times)
    bold = '**' if med == fastest[shape] else ''
    lines.append(f'| {shape.name} | {shape.steps} | {shape.batch} | {shape.in_size} '
                 f'| {shape.hidden} | {"lengths" if shape.masked else "-"} | {impl} '
                 f'| {bold}{1e3 * med:.0f}{bold} | {1e3 * min(times):.0f} '
                 f'| {med / fastest[shape]:.2f}x | {compile_s:.1f} |')
  return '\n'.join(lines)


def ratios(runners, impl: str, base: str = AUTODIFF) -> str:
  """impl's time / base's time per shape: median calls, then best calls."""
  times = {(r[0], r[1]): r[5] for r in runners}
  shapes = list(dict.fromkeys(r[0] for r in runners))
  med = [statistics.median(times[s, impl]) / statistics.median(times[s, base]) for s in shapes]
  best = [min(times[s, impl]) / min(times[s, base]) for s in shapes]
  return (', '.join(f'**{m:.2f}x**' for m in med) + ' (best calls: '
          + ', '.join(f'{b:.2f}x' for b in best) + ')')




def run(*, rounds: int = 9, quick: bool = False, write: bool = False,
        command: str | None = None) -> str:
  """Measures, prints the table (and writes it with ``write``); returns its text."""
  shapes = SHAPES
  if quick:
    rounds = 2
    shapes = tuple(dataclasses.replace(s, batch=s.batch // 8) for s in SHAPES)
  started, load = time.perf_counter(), [os.getloadavg()[0]]
  runners, worst = measure(shapes, rounds)
  load.append(os.getloadavg()[0])
  command = command or 'python bench/lstm_gradient.py ' + ' '.join(sys.argv[1:])
  text = (
      f'{table(runners)}\n\n'
      'Time relative to `autodiff`, per layer in the order of the table:\n\n'
      + ''.join(f'- {impl}: {ratios(runners, impl)}\n' for impl in (CUSTOM, NNX, IN_STEP))
      + f'\n{VERDICT}\n\nOne jitted `jax.value_and_grad` of one LSTM layer per call (gradients for x, the '
      'kernel, the bias, c0 and h0; a random weight on every output); median and best of '
      f'{rounds} calls after compile and one warm-up call, all calls of the table interleaved '
      'round-robin. All four are checked in the run to give the same loss and gradients '
      f'(largest relative L2 difference {max(worst.values()):.0e}, float32). custom VJP: '
      '`lstm.lstm_scan` (hand-written backward pass) after one GEMM projecting x for all steps, '
      'as the package does; autodiff: the same in a `lax.scan` differentiated by JAX; '
      'nnx.OptimizedLSTMCell: Flax\'s cell with the Magenta weights permuted in (gate order, '
      'forget bias folded into its bias), scanned, x projected inside each step as that cell '
      'does; autodiff, x·W in the step: the Magenta cell projecting x inside each step too, '
      'which separates the cell from where the projection is done. x is dense at the '
      'layer\'s full Magenta input width; in the model, layer 0 gathers rows for the one-hot '
      'input and projects z or the bar embedding once per sequence, so only the layers above the '
      'first multiply a dense input.'
      f'\n\nCommand: `{command.strip()}` on {os.cpu_count()} CPUs ({report.cpu_name()}), '
      f'Python {platform.python_version()}, jax {jax.__version__}, flax {flax.__version__}, '
      f'{time.strftime("%Y-%m-%d")}; 1-minute load average {load[0]:.1f} at the start, '
      f'{load[1]:.1f} at the end; whole run {(time.perf_counter() - started) / 60:.1f} min.')
  print(text)
  if write:
    report.write_section('lstm gradient', text)
  return text


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--rounds', type=int, default=9, help='timed calls per row')
  parser.add_argument('--quick', action='store_true', help='smoke run: batch / 8, 2 rounds')
  parser.add_argument('--write', action='store_true')
  args = parser.parse_args()
  run(rounds=args.rounds, quick=args.quick, write=args.write)


if __name__ == '__main__':
  main()
