"""A run's learning curves as one PNG, from the metrics.jsonl that training writes.

Three panels over steps: losses (train loss and reconstruction loss, eval loss), KL in bits
(train and eval, with the free-bits level when the config has one), and accuracy (train
teacher-forced accuracy; eval teacher-forced and sampled accuracy, the MusicVAE paper's columns;
GrooVAE: hit accuracy, and the eval hit F1).
"""

from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402  pylint: disable=g-import-not-at-top

from musicvae_jax.training import metrics_io  # noqa: E402

# (panel title, [(split, metric, label)])
_PANELS = (
    ('loss', [('train', 'loss', 'train loss'), ('train', 'r_loss', 'train reconstruction'),
              ('eval_eval', 'loss', 'eval loss')]),
    ('KL (bits)', [('train', 'kl_bits', 'train'), ('eval_eval', 'kl_bits', 'eval')]),
    ('accuracy', [('train', 'accuracy', 'train (teacher-forced)'),
                  ('eval_eval', 'teacher_forced_accuracy', 'eval teacher-forced'),
                  ('eval_eval', 'sampled_accuracy', 'eval sampled'),
                  # GrooVAE's metrics (a run has one family's or the other's)
                  ('train', 'hits_accuracy', 'train hit accuracy'),
                  ('eval_eval', 'hit_accuracy', 'eval hit accuracy'),
                  ('eval_eval', 'hit_f1', 'eval hit F1')]),
)


def curves(rows: list[dict]) -> dict[tuple[str, str], tuple[list[int], list[float]]]:
  """{(split, metric): (steps, values)} for every finite value the rows hold."""
  out: dict = {}
  for row in rows:
    for metric, value in row.items():
      if metric in ('step', 'split') or not isinstance(value, (int, float)):
        continue
      steps, values = out.setdefault((row['split'], metric), ([], []))
      steps.append(int(row['step']))
      values.append(float(value))
  return out


def write_training_curves(workdir, path=None, *, free_bits: float | None = None
                          ) -> pathlib.Path:
  """Draws ``<workdir>/metrics.jsonl`` to ``path`` (default ``<workdir>/curves.png``)."""
  workdir = pathlib.Path(workdir)
  rows = metrics_io.read_metrics(workdir)
  if not rows:
    raise FileNotFoundError(f'{workdir / metrics_io.METRICS_FILE}: no metrics yet; train first '
                            '(musicvae-train writes a line every log_every_steps).')
  data = curves(rows)
  fig, axes = plt.subplots(1, len(_PANELS), figsize=(5 * len(_PANELS), 3.6), dpi=100)
  for ax, (title, series) in zip(axes, _PANELS):
    for split, metric, label in series:
      if (split, metric) in data:
        steps, values = data[(split, metric)]
        ax.plot(steps, values, marker='o' if len(steps) < 20 else None, ms=3, label=label)
    if title.startswith('KL') and free_bits:
      ax.axhline(free_bits, color='0.5', ls='--', lw=1, label=f'free bits ({free_bits:g})')
    ax.set_title(title, fontsize=10)
    ax.set_xlabel('step')
    ax.grid(alpha=0.3)
    if ax.lines:
      ax.legend(fontsize=7)
  fig.suptitle(str(workdir.name), fontsize=10)
  fig.tight_layout()
  path = pathlib.Path(path) if path else workdir / 'curves.png'
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path)
  plt.close(fig)
  return path
