"""Every musicvae-* command line the documentation shows is one the toolkit accepts.

The commands are collected from the Markdown docs, the Colab notebooks and each CLI module's
docstring (the first thing its --help prints), and each is checked against setup.py's console
scripts, the flags the command really defines (absl, in a fresh interpreter per command, since
two commands' modules cannot be imported into one process) and the configs config_lib resolves.
The --help of every console script is checked here too.
"""

from __future__ import annotations

import ast
import concurrent.futures
import dataclasses
import json
import pathlib
import re
import subprocess
import sys

import ml_collections
import pytest

from musicvae_jax import config_lib
from tests import cli_process

REPO = pathlib.Path(__file__).resolve().parents[1]
CLI_DIR = REPO / 'musicvae_jax' / 'cli'
MARKDOWN_DOCS = ('README.md', 'BUILD.md', 'data/README.md', 'colab/README.md')
NOTEBOOKS = 'colab/*.ipynb'
# Overrides in a command without --config are checked against this config (train's default use).
DEFAULT_CONFIG = 'cat-mel_2bar_small'
SUBCOMMANDS = {'musicvae-attributes': ('compute', 'apply')}
# absl reads these itself, without defining them as flags of any module.
ABSL_SPECIAL_FLAGS = ('flagfile', 'undefok')
SHELL_FENCES = ('', 'bash', 'sh', 'shell', 'console', 'zsh', 'text')

# A command name where a command can start: not inside a word, a path, a placeholder, a value
# (TPU_NAME=musicvae-pod) or a variable.
PROGRAM = re.compile(r'(?<![\w./<=@:$-])musicvae-[a-z0-9]+(?:-[a-z0-9]+)*')
# <dir>, <MIDI folder>, <musicvae-prepare output>: one token, whatever it holds. A '<' followed
# by a space is a shell redirection, not a placeholder.
PLACEHOLDER = re.compile(r'<[^<>\s][^<>\n]*>')
# Where a shell command ends: &&, ;, a | or & word, a # comment.
COMMAND_END = re.compile(r'&&|;|(?<!\S)(?:\|\|?|&)(?!\S)|(?<!\S)#')


# ---- what the toolkit defines ---------------------------------------------------------------
def console_scripts() -> dict[str, str]:
  """setup.py's console_scripts: {'musicvae-train': 'musicvae_jax.cli.train:run', ...}."""
  tree = ast.parse((REPO / 'setup.py').read_text(encoding='utf-8'))
  for node in ast.walk(tree):
    if isinstance(node, ast.keyword) and node.arg == 'entry_points':
      scripts = ast.literal_eval(node.value)['console_scripts']
      return dict(line.replace(' ', '').split('=', 1) for line in scripts)
  raise AssertionError('setup.py has no entry_points')


CONSOLE_SCRIPTS = console_scripts()

# Runs a console script's target with entry.run replaced, to learn which module and shared flag
# modules it hands to entry.run (what --help lists and the command accepts).
_INTROSPECT = '''
import importlib, json, sys
from absl import app, flags
from musicvae_jax.cli import entry
seen = {}
entry.run = lambda main, module, prog, shared=(): seen.update(module=module, shared=shared)
module, func = sys.argv[1].split(':')
getattr(importlib.import_module(module), func)()
app.define_help_flags()
own = list(flags.FLAGS.get_flags_for_module(seen['module']))
for other in seen['shared']:
  own += flags.FLAGS.get_flags_for_module(other)
standard = [f for m, fs in flags.FLAGS.flags_by_module_dict().items() if m.startswith('absl.')
            for f in fs]
print(json.dumps({
    'flags': {f.name: isinstance(f, flags.BooleanFlag) for f in own},
    'standard': sorted({n for f in standard for n in (f.name, f.short_name) if n}),
}))
'''


@dataclasses.dataclass(frozen=True)
class Command:
  flags: dict[str, bool]  # name -> is a boolean flag (so --no<name> works too)
  standard: frozenset[str]  # absl's own flags: --help, --helpfull, --verbosity, ...

  @property
  def takes_config(self) -> bool:
    return 'config' in self.flags


def _introspect(target: str) -> Command:
  proc = subprocess.run([sys.executable, '-c', _INTROSPECT, target], capture_output=True,
                        text=True, timeout=300, check=False)
  assert proc.returncode == 0, f'{target}: cannot list its flags\n{proc.stderr[-3000:]}'
  info = json.loads(proc.stdout.strip().splitlines()[-1])
  return Command(info['flags'], frozenset(info['standard']) | set(ABSL_SPECIAL_FLAGS))


@pytest.fixture(scope='module')
def commands() -> dict[str, Command]:
  with concurrent.futures.ThreadPoolExecutor(max_workers=len(CONSOLE_SCRIPTS)) as pool:
    return dict(zip(CONSOLE_SCRIPTS, pool.map(_introspect, CONSOLE_SCRIPTS.values())))


# ---- collecting documented command lines ----------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Invocation:
  where: str  # file:line
  prog: str
  args: tuple[str, ...]

  def __str__(self):
    return ' '.join((self.prog,) + self.args)


def _at(prefix: str, sep: str = ':'):
  """Names line n of a document for messages: README.md:17."""
  return lambda line: f'{prefix}{sep}{line}'


def _indent(line: str) -> int:
  return len(line) - len(line.lstrip())


def scan(text: str, where, first_line: int = 1, *, with_args: bool = True) -> list[Invocation]:
  """The musicvae-* invocations in one logical command text (newlines are plain whitespace).

  ``where(line)`` names a line for messages. A name followed by anything but whitespace
  (``musicvae-sample,``) is a mention and takes no arguments; so is every name in prose.
  """
  text = PLACEHOLDER.sub('<>', text)  # keeps every newline, so line numbers stay right
  matches = list(PROGRAM.finditer(text))
  found = []
  for i, match in enumerate(matches):
    rest = text[match.end():matches[i + 1].start() if i + 1 < len(matches) else len(text)]
    args = ()
    if with_args and rest[:1].isspace():
      args = tuple(COMMAND_END.split(rest, maxsplit=1)[0].split())
    line = first_line + text[:match.start()].count('\n')
    found.append(Invocation(where(line), match.group(), args))
  return found


def scan_shell(lines: list[tuple[int, str]], where) -> list[Invocation]:
  """Shell lines (number, text): backslash continuations joined, `$ ` prompts dropped."""
  found, i = [], 0
  while i < len(lines):
    first, text = lines[i]
    text = re.sub(r'^\s*\$ ', '', text)
    while text.rstrip().endswith('\\') and i + 1 < len(lines):
      i += 1
      text = text.rstrip()[:-1] + '\n' + lines[i][1]
    found += scan(text, where, first)
    i += 1
  return found


def scan_markdown(text: str, where) -> list[Invocation]:
  """Shell fences line by line; inline code spans (which may cross lines) inside paragraphs."""
  found, paragraph, fence, block, language = [], [], None, [], ''

  def flush():
    if not paragraph:
      return
    first, body = paragraph[0][0], '\n'.join(line for _, line in paragraph)
    prose = body
    for span in re.finditer(r'(`+)(.+?)(?<!`)\1(?!`)', body, re.S):
      # In a table cell \| is a literal |, as in --split=eval\|train.
      code = span.group(2).replace('\\|', '|')
      found.extend(scan(code, where, first + body[:span.start(2)].count('\n')))
      prose = prose[:span.start()] + re.sub(r'[^\n]', ' ', span.group()) + prose[span.end():]
    found.extend(scan(prose, where, first, with_args=False))
    paragraph.clear()

  for number, line in enumerate(text.split('\n'), 1):
    opening = re.match(r'^\s*(`{3,}|~{3,})\s*([\w+-]*)', line)
    if fence is None and opening:
      flush()
      fence, language, block = opening.group(1), opening.group(2).lower(), []
    elif fence is not None and line.strip().startswith(fence) and not line.strip(fence[0]).strip():
      if language in SHELL_FENCES:
        found += scan_shell(block, where)
      fence = None
    elif fence is not None:
      block.append((number, line))
    elif line.strip():
      paragraph.append((number, line))
    else:
      flush()
  flush()
  return found


def scan_docstring(doc: str, where, first_line: int) -> list[Invocation]:
  """Plain text: a usage line goes on over the following, more indented lines."""
  lines, found, i = doc.split('\n'), [], 0
  while i < len(lines):
    start, text = i, lines[i]
    while i + 1 < len(lines) and lines[i + 1].strip() and (
        _indent(lines[i + 1]) > _indent(lines[start]) or text.rstrip().endswith('\\')):
      i += 1
      text = text.rstrip().removesuffix('\\') + '\n' + lines[i]
    found += scan(text, where, first_line + start)
    i += 1
  return found


def scan_notebook(path: pathlib.Path, name: str) -> list[Invocation]:
  """Markdown cells as Markdown; in code cells, ``!`` shell lines and %%bash / %%sh cells."""
  found = []
  for number, cell in enumerate(json.loads(path.read_text(encoding='utf-8'))['cells'], 1):
    source = cell['source'] if isinstance(cell['source'], str) else ''.join(cell['source'])
    where = _at(f'{name}:cell {number} line', ' ')
    if cell['cell_type'] == 'markdown':
      found += scan_markdown(source, where)
    elif cell['cell_type'] == 'code':
      lines = list(enumerate(source.split('\n'), 1))
      if lines and re.match(r'%%(bash|sh|script bash)\b', lines[0][1]):
        found += scan_shell(lines[1:], where)
      else:
        shell, going_on = [], False
        for n, line in lines:  # a !line and the lines its trailing backslashes continue it on
          if going_on or line.lstrip().startswith('!'):
            shell.append((n, line if going_on else line.lstrip()[1:]))
            going_on = line.rstrip().endswith('\\')
        found += scan_shell(shell, where)
  return found


def documented_invocations() -> list[Invocation]:
  found = []
  for name in MARKDOWN_DOCS:
    path = REPO / name
    if path.is_file():
      found += scan_markdown(path.read_text(encoding='utf-8'), _at(name))
  for path in sorted(REPO.glob(NOTEBOOKS)):
    found += scan_notebook(path, str(path.relative_to(REPO)))
  for path in sorted(CLI_DIR.glob('*.py')):
    tree = ast.parse(path.read_text(encoding='utf-8'))
    if tree.body and isinstance(tree.body[0], ast.Expr) and isinstance(
        getattr(tree.body[0], 'value', None), ast.Constant):
      name = str(path.relative_to(REPO))
      found += scan_docstring(tree.body[0].value.value, _at(name), tree.body[0].lineno)
  return found


# ---- checking one invocation ----------------------------------------------------------------
def is_placeholder(value: str) -> bool:
  """<dir>, ..., $HOME, N, X: stands for a value the reader picks."""
  return (not value or '<' in value or '...' in value or '$' in value or '{' in value
          or re.fullmatch(r'[A-Z][A-Z0-9_]*', value) is not None)


def _config_field(name: str, key: str):
  """The field ``key`` ('train.batch_size') of config ``name``; KeyError when it has none."""
  node = config_lib.get_config(name)
  for part in key.split('.'):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      raise KeyError(part)
    node = node[part]
  return node


def _value_fits(field, value: str) -> bool:
  """Whether a --config.* value parses as the field's type (what absl's config flags require)."""
  try:
    if isinstance(field, bool):
      return value.lower() in ('true', 'false', '1', '0')
    if isinstance(field, int):
      int(value)
    elif isinstance(field, float):
      float(value)
  except ValueError:
    return False
  return True


def problems(inv: Invocation, commands: dict[str, Command]) -> list[str]:
  """What is wrong with a documented command line, [] when it would be accepted."""
  command = commands.get(inv.prog)
  if command is None:
    return [f'{inv.prog} is not a console script in setup.py ({", ".join(sorted(commands))})']
  found, positional, config, overrides = [], [], None, []
  for raw in inv.args:
    token = raw.strip('[]')
    if token == '--':
      break
    if not token.startswith('--'):
      if not token.startswith('-') and not is_placeholder(token) and token not in ('|', '\\'):
        positional.append(token)
      continue
    name, has_value, value = token[2:].partition('=')
    if name.startswith('config.'):
      if not command.takes_config:
        found.append(f'{raw}: {inv.prog} takes no --config, so no --config.* overrides')
      elif '<' not in name:
        overrides.append((name.removeprefix('config.'), value if has_value else None, raw))
      continue
    if name == 'config' and command.takes_config and has_value:
      config = value
    defined = (name in command.flags or name in command.standard
               or (name.startswith('no') and command.flags.get(name[2:], False)))
    if not defined:
      found.append(f'{raw}: {inv.prog} defines no flag --{name}')
  if config is not None and not is_placeholder(config):
    try:
      config_lib.get_config(config)
    except (config_lib.UnknownConfigError, ImportError) as e:
      found.append(f'--config={config}: {type(e).__name__}: {e}')
      config = None
  base = DEFAULT_CONFIG if config is None or is_placeholder(config) else config
  for key, value, raw in overrides:
    try:
      field = _config_field(base, key)
    except KeyError:
      found.append(f'{raw}: config {base} has no field {key}')
      continue
    if value is not None and not is_placeholder(value) and not _value_fits(field, value):
      found.append(f'{raw}: {key} is a {type(field).__name__} in {base}')
  if inv.prog in SUBCOMMANDS and inv.args:
    allowed = SUBCOMMANDS[inv.prog]
    only_help = all(a.strip('[]') in ('--help', '-h', '--helpshort', '--helpfull')
                    for a in inv.args)
    if positional and positional[0] not in allowed:
      found.append(f'{inv.prog} takes {" or ".join(allowed)} first, not {positional[0]!r}')
    elif not positional and not only_help:
      found.append(f'{inv.prog} needs {" or ".join(allowed)} before its flags')
  return found


# ---- the tests ------------------------------------------------------------------------------
def test_every_documented_command_is_accurate(commands):
  report = [f'{inv.where}: `{inv}`: {problem}'
            for inv in documented_invocations() for problem in problems(inv, commands)]
  assert not report, 'inaccurate documented commands:\n' + '\n'.join(report)


def test_the_docs_show_every_console_script_with_flags():
  invocations = documented_invocations()
  shown = {inv.prog for inv in invocations if any(a.startswith('--') for a in inv.args)}
  assert set(CONSOLE_SCRIPTS) <= shown, f'never shown with flags: {set(CONSOLE_SCRIPTS) - shown}'
  places = {inv.where.split(':')[0] for inv in invocations}
  assert {'README.md', 'BUILD.md', 'data/README.md'} <= places
  assert {f'musicvae_jax/cli/{t.split(":")[0].split(".")[-1]}.py'
          for t in CONSOLE_SCRIPTS.values()} <= places, 'a CLI docstring shows no command'


def test_collector_reads_every_kind_of_command_line(tmp_path):
  markdown = '\n'.join([
      '```bash',
      'musicvae-train --config=x --data=d \\',
      '    --workdir=w && musicvae-sample --seed=1   # --not_this',
      'export TPU_NAME=musicvae-pod',
      '```',
      '',
      'Prose about musicvae-export, then `musicvae-evaluate --workdir=<a dir>',
      '--split=eval\\|train` and `musicvae-import-magenta`.',
      '```python',
      'run("musicvae-prepare --in_python")',
      '```',
  ])
  where = _at('doc')
  got = [(i.where, i.prog, i.args) for i in scan_markdown(markdown, where)]
  assert got == [
      ('doc:2', 'musicvae-train', ('--config=x', '--data=d', '--workdir=w')),
      ('doc:3', 'musicvae-sample', ('--seed=1',)),
      ('doc:7', 'musicvae-evaluate', ('--workdir=<>', '--split=eval|train')),
      ('doc:8', 'musicvae-import-magenta', ()),
      ('doc:7', 'musicvae-export', ()),
  ]
  doc = ('musicvae-reconstruct: prose; not --a flag.\n\n'
         '  musicvae-reconstruct --input_midi=<a.mid>[,<b.mid>...] [--num_outputs=1]\n'
         '      [--sample_z]\n'
         'More prose with --prose_flag.\n')
  got = [(i.where, i.args) for i in scan_docstring(doc, where, 10)]
  assert got == [('doc:10', ()),
                 ('doc:12', ('--input_midi=<>[,<>...]', '[--num_outputs=1]', '[--sample_z]'))]
  notebook = tmp_path / 'n.ipynb'
  notebook.write_text(json.dumps({'cells': [
      {'cell_type': 'markdown', 'source': ['Run `musicvae-sample --num_outputs=2`.\n']},
      {'cell_type': 'code', 'source': ['x = 1\n', '!musicvae-attributes apply \\\n',
                                       '  --attribute=note_density\n']},
  ]}))
  got = [(i.where, i.prog, i.args) for i in scan_notebook(notebook, 'n.ipynb')]
  assert got == [('n.ipynb:cell 1 line 1', 'musicvae-sample', ('--num_outputs=2',)),
                 ('n.ipynb:cell 2 line 2', 'musicvae-attributes',
                  ('apply', '--attribute=note_density'))]


@pytest.mark.parametrize('line, wrong', [
    ('musicvae-train --no_such_flag=1', '--no_such_flag'),
    ('musicvae-trian --config=cat-mel_2bar_small', 'not a console script'),
    ('musicvae-train --config=cat-mel_2bar_smal', 'cat-mel_2bar_smal'),
    ('musicvae-prepare --config=cat-drums_2bar_small --config.data.min_pitch=30', 'min_pitch'),
    ('musicvae-train --config.train.no_such_key=1', 'no_such_key'),
    ('musicvae-train --config.train.batch_size=big', 'batch_size'),
    ('musicvae-sample --config.train.batch_size=8', 'takes no --config'),
    ('musicvae-sample --noseed', '--noseed'),
    ('musicvae-evaluate --workdir=w --output_dir=o', '--output_dir'),
    ('musicvae-attributes steer --attribute=x', "'steer'"),
    ('musicvae-attributes --input_midi=a.mid --attribute=x', 'compute or apply'),
])
def test_checker_flags_a_wrong_command(commands, line, wrong):
  [inv] = scan(line, _at('test'))
  found = problems(inv, commands)
  assert len(found) == 1 and wrong in found[0], found


@pytest.mark.parametrize('line', [
    ('musicvae-train --config=cat-mel_2bar_small:tiny --noprogress --config.train.fsdp=True '
     '--config.model.free_bits=48 --verbosity=1 --data=<d> [--multihost]'),
    'musicvae-prepare --config=<name> --config.data.eval_fraction=0.05 --overwrite',
    'musicvae-sample --workdir=bundled:cat-drums_2bar_small --nowav --seed=N ...',
    'musicvae-attributes compute --data=<d> --split=train --helpfull',
    'musicvae-attributes --help',
    'musicvae-import-magenta --checkpoint=c.tar --config=cat-mel_2bar_big --workdir=w',
])
def test_checker_accepts_a_right_command(commands, line):
  [inv] = scan(line, _at('test'))
  assert problems(inv, commands) == []


# ---- --help -----------------------------------------------------------------------------------
def _defined_in_source(module: str, seen=None) -> set[str]:
  """Flag names of a CLI module's flags.DEFINE_* calls and of the CLI modules it imports.

  Read from the source, independently of absl, so a command that forgets to pass a shared flag
  module to entry.run shows up as a --help that lacks its flags.
  """
  seen = set() if seen is None else seen
  seen.add(module)
  tree = ast.parse((CLI_DIR / f'{module}.py').read_text(encoding='utf-8'))
  names = set()
  for node in ast.walk(tree):
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr.startswith('DEFINE') and node.args
        and isinstance(node.args[0], ast.Constant)):
      names.add(node.args[0].value)
    elif isinstance(node, ast.ImportFrom) and node.module == 'musicvae_jax.cli':
      for alias in node.names:
        if alias.name not in seen and (CLI_DIR / f'{alias.name}.py').is_file():
          names |= _defined_in_source(alias.name, seen)
  return names


@pytest.mark.parametrize('prog', sorted(CONSOLE_SCRIPTS))
def test_help_shows_the_commands_doc_and_exactly_its_flags(prog):
  target = CONSOLE_SCRIPTS[prog].split(':')[0]
  assert target.startswith('musicvae_jax.cli.'), target
  module = target.removeprefix('musicvae_jax.cli.')
  proc = subprocess.run(cli_process.argv(prog, '--help'), capture_output=True, text=True,
                        timeout=300, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  out = proc.stdout
  # Its own docstring, not absl's description of the console-script wrapper.
  source = (CLI_DIR / f'{module}.py').read_text(encoding='utf-8')
  doc = ast.get_docstring(ast.parse(source), clean=False)
  assert out.startswith(f'{prog}:') and out.startswith(doc.strip()), out[:300]
  listed = dict(re.findall(r'^  --([a-z0-9_]+): ?(.*)$', out, re.M))
  expected = _defined_in_source(module)
  assert sorted(listed) == sorted(expected)
  for name, text in listed.items():
    assert text.rsplit(' (default: ', 1)[0].strip(), f'--{name} has no help text'
  assert ('--config.<group>.<key>' in out) == ('config' in expected)
  if 'config' in expected:  # the names --config takes
    assert all(name in out for name in config_lib.config_names()), out
