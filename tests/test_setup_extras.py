"""The extras in setup.py, and the install lines of README.md and BUILD.md that name them.

setup.py is read as Python source (its ``extras_require`` literal), so nothing is installed.
"""

import ast
import re

import pytest

from conftest import REPO

DOCS = ('README.md', 'BUILD.md')
# `pip install -e ".[a,b]"` or `pip install musicvae_jax[a]`: the bracketed names.
_EXTRAS_IN_INSTALL = re.compile(r'pip install[^\n`]*?(?:\.|musicvae_jax)\[([\w,\s-]+)\]')


def _extras() -> dict[str, list[str]]:
  tree = ast.parse((REPO / 'setup.py').read_text())
  for node in ast.walk(tree):
    if isinstance(node, ast.keyword) and node.arg == 'extras_require':
      return ast.literal_eval(node.value)
  raise AssertionError('setup.py has no extras_require')


def _project(requirement: str) -> str:
  return re.split(r'[\[<>=!~; ]', requirement, maxsplit=1)[0].lower()


def test_tensorboard_has_an_extra():
  assert 'tensorboard' in map(_project, _extras()['tensorboard'])


def test_the_notebook_extra_brings_jupyter_and_a_kernel():
  projects = set(map(_project, _extras()['notebook']))
  assert projects & {'jupyterlab', 'notebook', 'jupyter'}, projects
  assert 'ipykernel' in projects


def test_the_test_extra_stays_free_of_the_viewers():
  projects = set(map(_project, _extras()['test']))
  assert not projects & {'tensorboard', 'jupyterlab', 'notebook', 'jupyter'}, projects


@pytest.mark.parametrize('doc', DOCS)
def test_every_install_line_names_extras_that_exist(doc):
  text = (REPO / doc).read_text()
  named = {e.strip() for group in _EXTRAS_IN_INSTALL.findall(text) for e in group.split(',')}
  assert named, f'{doc} names no extra'
  assert named <= set(_extras()), f'{doc} names extras setup.py lacks: {named - set(_extras())}'


@pytest.mark.parametrize('doc', DOCS)
def test_where_tensorboard_is_run_its_extra_is_named(doc):
  """A reader told to run `tensorboard --logdir` is told how to install it."""
  text = (REPO / doc).read_text()
  if 'tensorboard --logdir' in text:
    assert 'tensorboard' in {e.strip() for group in _EXTRAS_IN_INSTALL.findall(text)
                             for e in group.split(',')}
