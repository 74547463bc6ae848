"""The README's two set-up commands do what it says: CI runs the second, the first works as typed.

The commands are read from README.md (section "Set up: two commands"), never copied here, so the
tests follow the README when it changes.
"""

import os
import pathlib
import re
import shlex
import shutil
import site
import subprocess
import sys
import time

import pretty_midi

REPO = pathlib.Path(__file__).resolve().parents[1]
SETUP_HEADING = '## Set up: two commands'
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'
# Whatever pip needs: resolving the (already installed) dependencies, and setuptools for build
# isolation, which may come from the package index.
INSTALL_TIMEOUT_S = 900


def setup_commands() -> list[str]:
  """The one-line commands of the README's ```bash blocks in its set-up section."""
  text = (REPO / 'README.md').read_text(encoding='utf-8')
  start = text.find('\n' + SETUP_HEADING + '\n')
  assert start >= 0, f'README.md has no "{SETUP_HEADING}" section'
  section = text[start + 1:]
  following = re.search(r'^## ', section[len(SETUP_HEADING):], re.M)
  if following:
    section = section[:len(SETUP_HEADING) + following.start()]
  blocks = re.findall(r'^```bash\n(.*?)^```', section, re.M | re.S)
  assert len(blocks) == 2, f'expected two ```bash blocks under "{SETUP_HEADING}", got {blocks}'
  commands = []
  for block in blocks:
    lines = [line for line in block.splitlines() if line.strip()]
    assert len(lines) == 1, f'a set-up block must be one command line, got {block!r}'
    commands.append(lines[0].strip())
  return commands


def _flag_value(tokens: list[str], name: str) -> str:
  """The value of --name=value or --name value in a tokenized command line."""
  for i, token in enumerate(tokens):
    if token.startswith(f'--{name}='):
      return token.split('=', 1)[1]
    if token == f'--{name}' and i + 1 < len(tokens):
      return tokens[i + 1]
  raise AssertionError(f'the README command {shlex.join(tokens)!r} has no --{name}; this test '
                       'reads what to expect from it')


def test_ci_runs_the_readme_test_command():
  lines = [line.strip() for line in (REPO / '.ci' / 'run').read_text().splitlines()]
  commands = [line for line in lines if line and not line.startswith('#')]
  assert commands, '.ci/run has no command line'
  assert commands[-1] == setup_commands()[1]


def _copy_repository(dest: pathlib.Path) -> None:
  """The files a fresh clone would have (plus new files not yet committed), without build output."""
  if (REPO / '.git').exists() and shutil.which('git'):
    # Read-only: lists tracked files and untracked ones that .gitignore does not exclude.
    listing = subprocess.run(
        ['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], cwd=REPO,
        capture_output=True, check=True).stdout
    paths = [pathlib.Path(p.decode()) for p in listing.split(b'\0') if p]
  else:
    skip_dirs = {'.git', '__pycache__'}
    paths = []
    for root, dirs, files in os.walk(REPO):
      rel_root = pathlib.Path(root).relative_to(REPO)
      dirs[:] = [d for d in dirs if d not in skip_dirs and not d.endswith('.egg-info')
                 and not (rel_root == pathlib.Path('.') and d == 'out')]
      paths.extend(rel_root / f for f in files)
  for rel in paths:
    src = REPO / rel
    if not src.is_file():  # tracked but deleted in the working tree
      continue
    (dest / rel).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dest / rel, follow_symlinks=False)


def _make_venv(venv: pathlib.Path) -> None:
  # --system-site-packages lets pip find the heavy dependencies (jax, flax, ...) already installed
  # for the running interpreter instead of downloading them; the venv's own site-packages comes
  # first on sys.path, so the package the command installs shadows any other install.
  subprocess.run([sys.executable, '-m', 'venv', '--system-site-packages', str(venv)], check=True,
                 capture_output=True, timeout=300)
  if sys.prefix != sys.base_prefix:
    # The running interpreter is itself a venv, whose packages --system-site-packages does not
    # reach (it adds the base interpreter's); a .pth file appends them after the venv's own.
    code = 'import sysconfig; print(sysconfig.get_paths()["purelib"])'
    purelib = subprocess.run([str(venv / 'bin' / 'python'), '-c', code], capture_output=True,
                             text=True, check=True).stdout.strip()
    pathlib.Path(purelib, '_running_interpreter.pth').write_text(
        '\n'.join(site.getsitepackages()) + '\n')


def _tail(text: str, n: int = 4000) -> str:
  return text[-n:] if text else '(empty)'


def test_first_setup_command_installs_and_samples_in_a_fresh_venv(tmp_path):
  command = setup_commands()[0]
  tokens = shlex.split(command)
  output_dir = pathlib.Path(_flag_value(tokens, 'output_dir'))
  num_outputs = int(_flag_value(tokens, 'num_outputs'))
  copy, venv = tmp_path / 'repo', tmp_path / 'venv'
  copy.mkdir()
  _copy_repository(copy)
  assert not (copy / output_dir).exists()
  _make_venv(venv)
  env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'XLA_FLAGS', 'PYTHONHOME')}
  env.update(PATH=f'{venv / "bin"}{os.pathsep}{os.environ.get("PATH", "")}',
             VIRTUAL_ENV=str(venv), JAX_PLATFORMS='cpu')

  start = time.monotonic()
  proc = subprocess.run(['bash', '-c', command], cwd=copy, env=env, capture_output=True,
                        text=True, timeout=INSTALL_TIMEOUT_S, check=False)
  elapsed = time.monotonic() - start
  report = (f'README command {command!r} in {copy} (venv {venv}), exit {proc.returncode} after '
            f'{elapsed:.0f} s\n--- stdout (tail):\n{_tail(proc.stdout)}\n--- stderr (tail):\n'
            f'{_tail(proc.stderr)}')
  assert proc.returncode == 0, report

  out = copy / output_dir
  midis = sorted(out.glob('*.mid')) if out.is_dir() else []
  assert len(midis) == num_outputs, f'{len(midis)} MIDI files in {out}\n{report}'
  for midi in midis:
    notes = sum(len(i.notes) for i in pretty_midi.PrettyMIDI(str(midi)).instruments)
    assert notes > 0, f'{midi.name} has no notes\n{report}'
    png = midi.with_suffix('.png')
    assert png.is_file(), f'no piano roll beside {midi.name}\n{report}'
    assert png.read_bytes()[:len(PNG_MAGIC)] == PNG_MAGIC, f'{png.name} is not a PNG\n{report}'

  # Run from outside the copy, so the current directory on sys.path cannot supply the package:
  # what is imported is what the command's pip installed into the venv.
  where = subprocess.run([str(venv / 'bin' / 'python'), '-c',
                          'import musicvae_jax; print(musicvae_jax.__file__)'], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=120, check=False)
  assert where.returncode == 0, where.stderr
  imported = pathlib.Path(where.stdout.strip()).resolve()
  assert imported.is_relative_to(copy.resolve()), (
      f'the venv imports musicvae_jax from {imported}, not from the copy {copy}')
  assert shutil.which('musicvae-sample', path=env['PATH']) == str(venv / 'bin' / 'musicvae-sample')

