"""The package's rooms and the direction of its imports, as shared/DESIGN.md lays them out.

Every module of ``musicvae_jax`` is parsed (imports inside functions included) and each import
of the package is checked against the rules below; a CLI module may not grow past 100 lines.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / 'musicvae_jax'
# Leaves every room may import: they import nothing of the package themselves.
LEAVES = {'musicvae_jax.errors', 'musicvae_jax.specs'}
# The only modules that may read a ConfigDict: the boundary, the loop that writes config.json,
# the workdir reader, the Magenta import (which writes a workdir) and the commands.
CONFIG_READERS = {'musicvae_jax.config_lib', 'musicvae_jax.config_boundary',
                  'musicvae_jax.checkpointing', 'musicvae_jax.training.loop',
                  'musicvae_jax.magenta.importer'}
MAX_CLI_LINES = 100


def _module_name(path: pathlib.Path) -> str:
  parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
  return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def _imports(path: pathlib.Path) -> set[str]:
  """Every musicvae_jax module ``path`` imports (``from a import b`` counts as ``a.b``)."""
  found = set()
  for node in ast.walk(ast.parse(path.read_text(), str(path))):
    if isinstance(node, ast.Import):
      found.update(a.name for a in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
      found.add(node.module)
      found.update(f'{node.module}.{a.name}' for a in node.names)
  return {n for n in found if n == 'musicvae_jax' or n.startswith('musicvae_jax.')}


MODULES = {_module_name(p): _imports(p) for p in sorted(PACKAGE.rglob('*.py'))}


def _in(name: str, room: str) -> bool:
  return name == room or name.startswith(room + '.')


def _violations(room: str, allowed) -> list[str]:
  """Imports by modules of ``room`` of package modules outside ``allowed`` rooms."""
  bad = []
  for module, imports in MODULES.items():
    if not _in(module, room):
      continue
    for name in imports:
      if name in LEAVES or name == 'musicvae_jax' or any(_in(name, a) for a in allowed):
        continue
      bad.append(f'{module} imports {name}')
  return sorted(bad)


def test_the_walk_sees_the_whole_package():
  assert len(MODULES) > 50
  assert 'musicvae_jax.models.vae' in MODULES and 'musicvae_jax.cli.train' in MODULES
  assert 'musicvae_jax.specs' in MODULES['musicvae_jax.models.vae']


@pytest.mark.parametrize('room,allowed', [
    # Flax modules: specs in, parameters out; no converter, config or training code.
    ('musicvae_jax.models', ['musicvae_jax.models']),
    # Devices, meshes and processes: used by training and generation, importing neither.
    ('musicvae_jax.distributed', ['musicvae_jax.distributed']),
    # NoteSequence <-> numpy: no config, no jax-side code.
    ('musicvae_jax.converters', ['musicvae_jax.converters']),
    ('musicvae_jax.specs', []),
    ('musicvae_jax.errors', []),
])
def test_rooms_import_only_what_they_may(room, allowed):
  assert _violations(room, allowed) == []


def test_generation_does_not_reach_into_training():
  bad = [f'{m} imports {n}' for m, imports in MODULES.items() if _in(m, 'musicvae_jax.generation')
         for n in imports if _in(n, 'musicvae_jax.training')]
  assert bad == []


def test_nothing_imports_the_cli():
  bad = [f'{m} imports {n}' for m, imports in MODULES.items() if not _in(m, 'musicvae_jax.cli')
         for n in imports if _in(n, 'musicvae_jax.cli')]
  assert bad == []


def test_the_config_stops_at_the_boundary():
  """Below the CLI and the loop nothing imports the config machinery (it takes specs)."""
  config_modules = ('musicvae_jax.config_lib', 'musicvae_jax.config_boundary')
  bad = [f'{m} imports {n}' for m, imports in MODULES.items()
         if m not in CONFIG_READERS and not _in(m, 'musicvae_jax.cli')
         for n in imports if any(_in(n, c) for c in config_modules)]
  assert bad == []


def test_the_rules_catch_a_violation(tmp_path, monkeypatch):
  """The checks above are not vacuous: a model module importing a converter is caught."""
  monkeypatch.setitem(MODULES, 'musicvae_jax.models.bad',
                      {'musicvae_jax.converters', 'musicvae_jax.config_lib'})
  assert _violations('musicvae_jax.models', ['musicvae_jax.models']) == [
      'musicvae_jax.models.bad imports musicvae_jax.config_lib',
      'musicvae_jax.models.bad imports musicvae_jax.converters']


@pytest.mark.parametrize('path', sorted((PACKAGE / 'cli').glob('*.py')), ids=lambda p: p.name)
def test_cli_modules_stay_thin(path):
  lines = len(path.read_text().splitlines())
  assert lines <= MAX_CLI_LINES, f'{path.name} has {lines} lines; move the logic into the library'
