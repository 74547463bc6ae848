"""Writing a benchmark's figures into its own section of BENCHMARKS.md."""

import pathlib
import platform
import re

REPO = pathlib.Path(__file__).resolve().parents[1]


def write_section(name: str, text: str, path: pathlib.Path = REPO / 'BENCHMARKS.md') -> None:
  """Replaces the section '## <name>' (or appends it), leaving the other sections as they are."""
  old = path.read_text() if path.exists() else '# Benchmarks\n'
  section = f'## {name}\n\n{text}\n'
  pattern = re.compile(rf'^## {re.escape(name)}\n.*?(?=^## |\Z)', re.S | re.M)
  new = pattern.sub(lambda _: section + '\n', old) if pattern.search(old) else (
      old.rstrip('\n') + '\n\n' + section)
  path.write_text(new.rstrip('\n') + '\n')


def cpu_name() -> str:
  """The processor's model name, for a table's caption."""
  try:
    for line in pathlib.Path('/proc/cpuinfo').read_text().splitlines():
      if line.startswith('model name'):
        return line.split(':', 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()
