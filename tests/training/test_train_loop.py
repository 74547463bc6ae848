"""musicvae-train / musicvae-evaluate end to end on real melodies, on 8 fake CPU devices."""

import json
import pathlib
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from musicvae_jax import checkpointing
from musicvae_jax import config_boundary
from musicvae_jax import config_lib
from musicvae_jax.input_pipeline import pipeline
from musicvae_jax.training import loop
from musicvae_jax.training import metrics_io

from tests import run_state

TINY = 'cat-mel_2bar_small:tiny'


def _cli(*args, check=True, **kwargs):
  """Runs a musicvae-* command in a fresh interpreter (as a user would)."""
  prog, *rest = args
  module = {'musicvae-train': 'train', 'musicvae-evaluate': 'evaluate'}[prog]
  code = f'import sys; sys.argv[0] = {prog!r}; from musicvae_jax.cli.{module} import run; run()'
  proc = subprocess.run([sys.executable, '-c', code, *rest], capture_output=True, text=True,
                        **kwargs)
  if check and proc.returncode:
    raise AssertionError(f'{prog} failed ({proc.returncode}):\n{proc.stderr[-3000:]}')
  return proc


def _train_args(data, workdir, *extra):
  return ('musicvae-train', f'--config={TINY}', f'--data={data}', f'--workdir={workdir}',
          '--progress=false', '--config.train.eval_every_steps=1000', *extra)


def _final_state(workdir):
  _, restored, data_state = loop.restore_workdir(workdir)
  return jax.device_get(restored), data_state


def test_sigkill_then_resume_gives_bitwise_equal_parameters(melody_dataset, tmp_path):
  n = 20
  straight = tmp_path / 'straight'
  _cli(*_train_args(melody_dataset, straight, f'--config.train.num_steps={n}',
                    f'--config.train.checkpoint_every_steps={n // 2}'))

  killed = tmp_path / 'killed'
  # A long run killed by SIGKILL as soon as its step-10 checkpoint is complete.
  code = ('import sys; sys.argv[0] = "musicvae-train"; '
          'from musicvae_jax.cli.train import run; run()')
  proc = subprocess.Popen(
      [sys.executable, '-c', code, *_train_args(melody_dataset, killed,
                                                '--config.train.num_steps=100000',
                                                f'--config.train.checkpoint_every_steps={n // 2}')[1:]],
      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
  deadline = time.time() + 300
  while not (killed / 'checkpoints' / str(n // 2)).is_dir():
    assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
    assert time.time() < deadline, 'no checkpoint within 300 s'
    time.sleep(0.01)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert proc.returncode == -signal.SIGKILL
  saved = sorted(int(p.name) for p in (killed / 'checkpoints').iterdir() if p.name.isdigit())
  assert saved and saved[-1] < n, f'the run got past step {n} before it was killed: {saved}'

  # The same command with the run length the straight run had: resumes from step 10.
  out = _cli(*_train_args(melody_dataset, killed, f'--config.train.num_steps={n}',
                          f'--config.train.checkpoint_every_steps={n // 2}'))
  del out
  # Bitwise: parameters, optimizer moments, step and the data iterator's position.
  run_state.assert_same_final_state(straight, killed, n)
  # The metrics file reads as one run: the resumed run's rows replaced the killed run's.
  rows_a = [r for r in metrics_io.read_metrics(straight) if r['split'] == 'train']
  rows_b = [r for r in metrics_io.read_metrics(killed) if r['split'] == 'train']
  assert [r['step'] for r in rows_a] == [r['step'] for r in rows_b]
  assert [r['loss'] for r in rows_a] == [r['loss'] for r in rows_b]


def _distinct_source_batch(data, n=16):
  """``n`` windows of ``n`` different tunes."""
  seen, rows = set(), []
  for batch in pipeline.eval_dataset(data, batch_size=64, split='train'):
    for i in range(len(batch['source'])):
      if batch['lengths'][i] and batch['source'][i] not in seen:
        seen.add(batch['source'][i])
        rows.append({k: batch[k][i] for k in ('labels', 'lengths', 'mask')})
  assert len(rows) >= n
  return {k: np.stack([r[k] for r in rows[:n]]) for k in rows[0]}


def test_tiny_model_overfits_16_real_melodies(melody_dataset):
  config = config_lib.get_config(TINY)
  config.train.learning_rate = 1e-2
  config.train.decay_rate = 1.0
  config.train.batch_size = 16
  config.model.enc_rnn_size, config.model.dec_rnn_size = [32], [32, 32]
  session, state = loop.new_session(config_boundary.run_spec(config))
  batch = session.put(_distinct_source_batch(melody_dataset))
  key = jax.random.PRNGKey(0)
  for i in range(1000):
    state, metrics = session.train_step(state, batch, key)  # key folded with the step
    if i % 10 == 9:
      # Bounds the steps in flight: XLA's CPU collectives across 8 fake devices stall (and
      # abort after 40 s) when about a hundred dispatched steps queue up with no host work
      # between them; musicvae-train puts each step's batch, which paces it.
      jax.block_until_ready(metrics)
  sums = jax.device_get(session.eval_step(state['params'], batch, key, jnp.int32(1000)))
  accuracy = float(sums['teacher_forced_hits'].sum() / sums['steps'])
  assert accuracy >= 0.99, accuracy
  assert float(metrics['r_loss']) < 5.0


def test_run_writes_config_checkpoints_and_metrics(melody_dataset, tmp_path):
  workdir = tmp_path / 'run'
  out = _cli(*_train_args(melody_dataset, workdir, '--config.train.num_steps=6',
                          '--config.train.log_every_steps=3',
                          '--config.train.checkpoint_every_steps=3',
                          '--config.train.eval_every_steps=6'))
  assert 'teacher-forced accuracy' in out.stdout
  config = json.loads((workdir / 'config.json').read_text())
  assert config['name'] == TINY and config['model']['z_size'] == 8
  assert sorted(int(p.name) for p in (workdir / 'checkpoints').iterdir()) == [3, 6]
  rows = metrics_io.read_metrics(workdir)
  train = [r for r in rows if r['split'] == 'train']
  assert [r['step'] for r in train] == [3, 6]
  for key in ('loss', 'r_loss', 'kl_bits', 'kl_loss', 'beta', 'learning_rate', 'accuracy',
              'global_norm', 'sampling_probability'):
    assert all(np.isfinite(r[key]) for r in train), key
  # Magenta's schedules, logged as used: lr(step) before the update of step 6.
  assert train[-1]['learning_rate'] == pytest.approx((1e-3 - 1e-5) * 0.9999 ** 5 + 1e-5,
                                                     rel=1e-6)
  for split in ('eval_train', 'eval_eval'):
    (row,) = [r for r in rows if r['split'] == split]
    assert 0.0 <= row['sampled_accuracy'] <= 1.0 and 0.0 <= row['teacher_forced_accuracy'] <= 1
  events = list((workdir / 'tensorboard').rglob('events.out.tfevents.*'))
  assert {p.parent.name for p in events} == {'train', 'eval_train', 'eval_eval'}


def test_evaluate_scores_a_checkpoint_on_another_dataset(melody_dataset, tmp_path):
  workdir = tmp_path / 'run'
  _cli(*_train_args(melody_dataset, workdir, '--config.train.num_steps=2'))
  from musicvae_jax import bundled_data  # pylint: disable=import-outside-toplevel
  from musicvae_jax.input_pipeline.prepare import prepare  # pylint: disable=import-outside-toplevel
  # Other tunes than the reels it was trained on: the bundled hornpipes.
  src = tmp_path / 'hornpipes'
  src.mkdir()
  for p in sorted(pathlib.Path(bundled_data.midi_dir('melody')).glob('nottingham_hpps*.mid'))[:12]:
    (src / p.name).write_bytes(p.read_bytes())
  data2 = tmp_path / 'hornpipes_data'
  config = config_lib.get_config('cat-mel_2bar_small')
  config.data.eval_fraction = 0.5
  prepare(config_boundary.run_spec(config), src, data2, workers=1, progress=False)
  report = tmp_path / 'eval.json'
  out = _cli('musicvae-evaluate', f'--workdir={workdir}', f'--data={data2}', '--split=all',
             f'--json={report}')
  result = json.loads(report.read_text())
  assert result['step'] == 2 and set(result['splits']) == {'train', 'eval'}
  info = pipeline.dataset_info(data2)
  assert result['examples'] == info['splits']['train']['windows'] + \
      info['splits']['eval']['windows']
  for key in ('teacher_forced_accuracy', 'sampled_accuracy'):
    assert 0.0 <= result[key] <= 1.0
    assert f'{result[key]:.4f}' in out.stdout
  # The same checkpoint scored twice gives the same figures (fixed evaluation key).
  again = _cli('musicvae-evaluate', f'--workdir={workdir}', f'--data={data2}', '--split=all')
  assert again.stdout == out.stdout.replace(f'wrote {report}\n', '')


def test_divergence_stops_with_a_message_and_keeps_the_last_good_checkpoint(melody_dataset,
                                                                            tmp_path):
  workdir = tmp_path / 'nan'
  proc = _cli(*_train_args(melody_dataset, workdir, '--config.train.num_steps=50',
                           '--config.train.learning_rate=1e30',
                           '--config.train.min_learning_rate=1e30',
                           '--config.train.log_every_steps=1',
                           '--config.train.checkpoint_every_steps=1'), check=False)
  assert proc.returncode == 1, proc.stderr[-2000:]
  assert 'stopped' in proc.stderr and 'last good checkpoint' in proc.stderr
  assert 'Traceback' not in proc.stderr
  state, _ = _final_state(workdir)
  assert all(np.isfinite(x).all() for x in jax.tree.leaves(state['params']))


@pytest.mark.parametrize('extra, message', [
    (('--config=cat-drums_2bar_small:tiny',), 'Prepare the MIDI again'),
])
def test_cli_mistakes_get_one_line(melody_dataset, tmp_path, extra, message):
  args = [f'--data={melody_dataset}', f'--workdir={tmp_path / "w"}', *extra]
  proc = _cli('musicvae-train', *args, check=False)
  assert proc.returncode == 2
  assert message in proc.stderr and 'Traceback' not in proc.stderr
  assert len(proc.stderr.strip().splitlines()) == 1


def test_resuming_with_another_model_config_is_refused(melody_dataset, tmp_path):
  workdir = tmp_path / 'w'
  # Layer widths are tuples in the configs, so the command line can set them.
  _cli(*_train_args(melody_dataset, workdir, '--config.train.num_steps=1',
                    '--config.model.dec_rnn_size=24,24'))
  assert json.loads((workdir / 'config.json').read_text())['model']['dec_rnn_size'] == [24, 24]
  state, _ = _final_state(workdir)
  layers = state['params']['decoder']['stack']['layers']
  assert [layers[i]['kernel'].shape[-1] for i in sorted(layers)] == [4 * 24] * 2  # 4 gates
  # Without --config the workdir's own config.json is used; the run is already complete.
  done = _cli('musicvae-train', f'--data={melody_dataset}', f'--workdir={workdir}',
              '--progress=false')
  assert 'already at step 1' in done.stdout
  proc = _cli(*_train_args(melody_dataset, workdir, '--config.model.z_size=4'), check=False)
  assert proc.returncode == 2
  assert 'model.z_size 8 -> 4' in proc.stderr and 'Traceback' not in proc.stderr
  assert 'model.dec_rnn_size [24, 24] -> [16, 16]' in proc.stderr
  proc = _cli('musicvae-evaluate', f'--workdir={tmp_path / "none"}',
              f'--data={melody_dataset}', check=False)
  assert proc.returncode == 2 and 'not a training workdir' in proc.stderr


def test_a_dataset_without_eval_windows_trains_and_scores_the_train_split(tmp_path,
                                                                          shared_midi):
  from musicvae_jax.input_pipeline.prepare import prepare  # pylint: disable=import-outside-toplevel
  src = tmp_path / 'midi'
  src.mkdir()
  for p in sorted((shared_midi / 'melody').glob('nottingham_reels*.mid'))[:6]:
    (src / p.name).write_bytes(p.read_bytes())
  config = config_lib.get_config(TINY)
  config.data.eval_fraction = 0.0
  data = tmp_path / 'data'
  prepare(config_boundary.run_spec(config), src, data, workers=1, progress=False)
  assert pipeline.dataset_info(data)['splits']['eval']['windows'] == 0
  config.train.num_steps = 2
  last = loop.train_and_evaluate(config, data, tmp_path / 'w', progress=False,
                                 log=lambda *_: None)
  assert 'eval_train' in last and 'eval_eval' not in last
  assert last['eval_train']['examples'] == 4 * config.train.batch_size


def test_resuming_on_other_data_warns_and_reads_it_from_its_start(tmp_path, melody_dataset):
  config = config_lib.get_config(TINY)
  config.train.num_steps = 2
  loop.train_and_evaluate(config, melody_dataset, tmp_path / 'w', progress=False,
                          log=lambda *_: None)
  other = tmp_path / 'other'
  src = tmp_path / 'midi'
  src.mkdir()
  from musicvae_jax import bundled_data  # pylint: disable=import-outside-toplevel
  from musicvae_jax.input_pipeline.prepare import prepare  # pylint: disable=import-outside-toplevel
  for p in sorted(pathlib.Path(bundled_data.midi_dir('melody')).glob('nottingham_hpps*.mid'))[:8]:
    (src / p.name).write_bytes(p.read_bytes())
  prepare(config_boundary.run_spec(config), src, other, workers=1, progress=False)
  messages = []
  config.train.num_steps = 3
  loop.train_and_evaluate(config, other, tmp_path / 'w', progress=False, log=messages.append)
  assert any('resuming' in m and 'step 2' in m for m in messages)
  assert any(str(other) in m and 'reading it from its start' in m for m in messages)
  state, data_state = _final_state(tmp_path / 'w')
  assert int(state['step']) == 3
  assert data_state['dataset']['splits'] == pipeline.dataset_info(other)['splits']


def test_a_run_checkpointed_before_the_optax_chain_resumes_where_it_stopped(melody_dataset,
                                                                           tmp_path):
  """A checkpoint whose optimiser state is Adam's moments alone (as written before the
  optimiser became one optax chain) resumes to what an uninterrupted run of today reaches."""
  config = config_lib.get_config(TINY)
  config.train.num_steps, config.train.checkpoint_every_steps = 2, 2
  config.train.eval_every_steps = 1000
  today, before = tmp_path / 'today', tmp_path / 'before'
  loop.train_and_evaluate(config, melody_dataset, today, progress=False)
  _, state, data_state = loop.restore_workdir(today)
  legacy = dict(state, opt_state=state['opt_state'][1].inner_state[0])  # ScaleByAdamState
  assert int(legacy['opt_state'].count) == 2
  checkpointing.check_or_write_config(before, config, write=True)
  mgr = checkpointing.manager(before)
  checkpointing.save(mgr, 2, legacy, data_state)
  mgr.close()
  config.train.num_steps = 4
  for workdir in (today, before):
    loop.train_and_evaluate(config, melody_dataset, workdir, progress=False)
  run_state.assert_same_final_state(today, before, 4)


def test_init_from_starts_a_fresh_run_from_another_models_parameters(melody_dataset, tmp_path):
  """config.train.init_from: the run's first step starts from the source's parameters (Adam
  afresh, so one step moves each by at most about the learning rate); resuming ignores it."""
  config = config_lib.get_config(TINY)
  config.train.eval_every_steps = 1000
  config.train.num_steps, config.train.checkpoint_every_steps = 4, 4
  config.train.seed = 1  # another initialisation than the fine-tuning run's own (seed 0)
  source = tmp_path / 'source'
  loop.train_and_evaluate(config, melody_dataset, source, progress=False)
  source_params = _final_state(source)[0]['params']

  config.train.seed = 0
  config.train.num_steps, config.train.checkpoint_every_steps = 1, 1
  config.train.init_from = str(source)
  messages = []
  loop.train_and_evaluate(config, melody_dataset, tmp_path / 'tuned', progress=False,
                          log=messages.append)
  assert any(f'parameters from {source}' in m for m in messages)
  tuned_params = _final_state(tmp_path / 'tuned')[0]['params']
  config.train.init_from = ''
  loop.train_and_evaluate(config, melody_dataset, tmp_path / 'fresh', progress=False)
  fresh_params = _final_state(tmp_path / 'fresh')[0]['params']

  def furthest(a, b):
    return max(jax.tree.leaves(jax.tree.map(lambda x, y: float(np.abs(x - y).max()), a, b)))
  lr = config.train.learning_rate
  assert 0 < furthest(tuned_params, source_params) <= 1.5 * lr
  assert furthest(fresh_params, source_params) > 50 * lr
  saved = json.loads((tmp_path / 'tuned' / 'config.json').read_text())
  assert saved['train']['init_from'] == str(source)

  # Resuming the fine-tuned run continues it: the source is not read again.
  config.train.init_from = str(source)
  config.train.num_steps = 2
  loop.train_and_evaluate(config, melody_dataset, tmp_path / 'tuned', progress=False)
  assert int(_final_state(tmp_path / 'tuned')[0]['step']) == 2

  # A source of other widths is refused, naming it and what to do.
  config.model.z_size = 4
  with pytest.raises(checkpointing.WorkdirError, match=r'init_from=.*same config and widths'):
    loop.train_and_evaluate(config, melody_dataset, tmp_path / 'other', progress=False)
