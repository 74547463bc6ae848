"""16-bar melodies: the hierarchical decoder against the flat one at equal size and budget.

  python bench/melody_16bar.py --data=<hierdec-mel_16bar dataset> \
      --model hierdec=<workdir or model> --model flat=<workdir or model> \
      [--heldout=<folder of per-style MIDI folders>] [--out=<dir>]

For each model: teacher-forced and sampled accuracy on the dataset's eval split (the MusicVAE
paper's Table 1 columns; ``training.evaluate``, as musicvae-evaluate), per style with
--heldout (each subfolder scored as musicvae-evaluate --midi does, and the split's figure their
window-weighted mean), and simple statistics of
prior samples against the held-out windows: notes a bar, pitch range, the share of bars that
repeat an earlier bar of the same window exactly (long-term structure), the share of silent
steps. A bar repeats if its 16 labels equal those of an earlier bar that has a note onset;
bars without one are left out. With --out: the training curves of each workdir's metrics.jsonl (curves.png) and every
figure as JSON (melody_16bar.json). Prints markdown tables.
"""

import argparse
import json
import pathlib
import sys

import jax
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# pylint: disable=wrong-import-position
from musicvae_jax.generation import trained_model
from musicvae_jax.input_pipeline import pipeline
from musicvae_jax.training import evaluate

STEPS_PER_BAR = 16


def heldout_labels(data_dir, split='eval') -> np.ndarray:
  """[N, T] labels of every window of a prepared split."""
  rows = []
  for batch in pipeline.eval_dataset(data_dir, batch_size=256, split=split):
    keep = batch['lengths'] > 0
    rows.append(batch['labels'][keep][..., 0])
  return np.concatenate(rows)


def melody_stats(labels_NxT: np.ndarray) -> dict:
  """Means over windows: onsets a bar, pitch range, repeated-bar share, silent-step share."""
  onset_NxT = labels_NxT >= 2  # 0 no event, 1 note off, 2.. note onsets
  pitch = np.where(onset_NxT, labels_NxT, np.nan)
  with np.errstate(all='ignore'):
    span_N = np.nanmax(pitch, axis=1) - np.nanmin(pitch, axis=1)
  # Sounding: after an onset until a note off (no event holds the state).
  state = np.where(labels_NxT == 1, 0, np.where(onset_NxT, 1, -1))
  sounding = np.zeros_like(labels_NxT, bool)
  cur = np.zeros(len(labels_NxT), bool)
  for t in range(labels_NxT.shape[1]):
    cur = np.where(state[:, t] == 1, True, np.where(state[:, t] == 0, False, cur))
    sounding[:, t] = cur
  bars_NxBxS = labels_NxT.reshape(len(labels_NxT), -1, STEPS_PER_BAR)
  repeats = []
  for bars in bars_NxBxS:  # bars with a note onset: after the first, how many copy an earlier one
    seen, rep, later = set(), 0, 0
    for bar in bars:
      if not (bar >= 2).any():
        continue
      key = bar.tobytes()
      if seen:
        rep, later = rep + (key in seen), later + 1
      seen.add(key)
    if later:
      repeats.append(rep / later)
  return dict(windows=int(len(labels_NxT)),
              notes_per_bar=float(onset_NxT.sum(1).mean() / bars_NxBxS.shape[1]),
              pitch_range=float(np.nanmean(span_N)),
              repeated_bar_share=float(np.mean(repeats)),
              silent_step_share=float(1.0 - sounding.mean()))


def curves(workdirs: dict, path: pathlib.Path) -> dict:
  """Eval accuracy (teacher-forced, sampled) and train accuracy per step, plotted."""
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  out = {}
  fig, axes = plt.subplots(1, 2, figsize=(11, 4))
  for name, workdir in workdirs.items():
    metrics = pathlib.Path(workdir) / 'metrics.jsonl'
    if not metrics.exists():
      continue
    rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    train = [(r['step'], r['accuracy']) for r in rows if r.get('split') == 'train']
    ev = [(r['step'], r.get('teacher_forced_accuracy'), r.get('sampled_accuracy')) for r in rows
          if r.get('split') == 'eval_eval']
    out[name] = dict(train=train, eval=ev)
    axes[0].plot(*zip(*train), label=f'{name} train (teacher-forced)')
    if ev:
      steps, tf, sa = zip(*ev)
      axes[1].plot(steps, tf, marker='o', label=f'{name} teacher-forced')
      axes[1].plot(steps, sa, marker='x', linestyle='--', label=f'{name} sampled')
  axes[0].set(xlabel='step', ylabel='accuracy', title='training batches')
  axes[1].set(xlabel='step', ylabel='accuracy', title='held-out 16-bar windows')
  for ax in axes:
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--data', required=True)
  parser.add_argument('--model', action='append', required=True, help='name=workdir')
  parser.add_argument('--samples', type=int, default=256)
  parser.add_argument('--temperature', type=float, action='append')
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--heldout', default=None)
  parser.add_argument('--out', default=None)
  args = parser.parse_args()
  models = dict(m.split('=', 1) for m in args.model)
  temperatures = args.temperature or [0.5, 1.0]
  result = dict(heldout=melody_stats(heldout_labels(args.data)), models={})
  for name, workdir in models.items():
    if args.heldout:
      styles = {d.name: evaluate.evaluate_midi(workdir, d, progress=False)
                for d in sorted(pathlib.Path(args.heldout).iterdir()) if d.is_dir()}
      n = sum(r['examples'] for r in styles.values())
      scores = {k: sum(r[k] * r['examples'] for r in styles.values()) / n
                for k in ('teacher_forced_accuracy', 'sampled_accuracy', 'kl_bits')}
      scores.update(examples=n, step=next(iter(styles.values()))['step'],
                    styles={k: {m: r[m] for m in ('examples', 'teacher_forced_accuracy',
                                                   'sampled_accuracy', 'kl_bits')}
                            for k, r in styles.items()})
    else:
      scores = evaluate.evaluate_workdir(workdir, args.data, split='eval', progress=False)
    model = trained_model.TrainedModel.from_workdir(workdir)
    key = jax.random.PRNGKey(args.seed)
    z = model.sample_z(args.samples, key=key)
    samples = {str(t): melody_stats(model.decode_labels(z, key=key, temperature=t)[..., 0])
               for t in temperatures}
    result['models'][name] = dict(
        workdir=workdir, step=scores['step'], windows=scores['examples'],
        teacher_forced_accuracy=scores['teacher_forced_accuracy'],
        sampled_accuracy=scores['sampled_accuracy'],
        kl_bits=scores.get('kl_bits'), styles=scores.get('styles', {}), samples=samples)
  print('| model | step | eval windows | teacher-forced | sampled | gap | KL bits |')
  print('| --- | ---: | ---: | ---: | ---: | ---: | ---: |')
  for name, m in result['models'].items():
    print(f"| {name} | {m['step']} | {m['windows']} | {m['teacher_forced_accuracy']:.3f} | "
          f"{m['sampled_accuracy']:.3f} | "
          f"{m['teacher_forced_accuracy'] - m['sampled_accuracy']:.3f} | {m['kl_bits']:.1f} |")
  for name, m in result['models'].items():
    for style, r in m['styles'].items():
      print(f"| {name}, {style} | {m['step']} | {r['examples']} | "
            f"{r['teacher_forced_accuracy']:.3f} | {r['sampled_accuracy']:.3f} | "
            f"{r['teacher_forced_accuracy'] - r['sampled_accuracy']:.3f} | {r['kl_bits']:.1f} |")
  print('\n| melodies | notes a bar | pitch range | repeated bars | silent steps |')
  print('| --- | ---: | ---: | ---: | ---: |')
  rows = [('held-out windows', result['heldout'])] + [
      (f'{name} prior samples, T={t}', s) for name, m in result['models'].items()
      for t, s in m['samples'].items()]
  for label, s in rows:
    print(f"| {label} ({s['windows']}) | {s['notes_per_bar']:.2f} | {s['pitch_range']:.1f} | "
          f"{s['repeated_bar_share']:.3f} | {s['silent_step_share']:.3f} |")
  if args.out:
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result['curves'] = curves(models, out / 'curves.png')
    (out / 'melody_16bar.json').write_text(json.dumps(result, indent=2) + '\n')


if __name__ == '__main__':
  main()
