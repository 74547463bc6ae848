"""The output-path checks every command makes before it works."""

import os

import pytest

from musicvae_jax import errors
from musicvae_jax import output_paths


def test_a_missing_folder_is_fine_and_a_file_is_refused(tmp_path):
  assert output_paths.check_dir(tmp_path / 'new' / 'deeper', 'output_dir') == (
      tmp_path / 'new' / 'deeper')
  (tmp_path / 'a.mid').write_bytes(b'x')
  with pytest.raises(errors.UserError, match=r'--output_dir=.*a\.mid is an existing file'):
    output_paths.check_dir(tmp_path / 'a.mid', 'output_dir')
  with pytest.raises(output_paths.OutputPathError, match=r'a\.mid is a file, so nothing'):
    output_paths.check_dir(tmp_path / 'a.mid' / 'sub', 'output_dir')


def test_a_file_flag_refuses_a_folder_and_a_place_under_a_file(tmp_path):
  assert output_paths.check_file(tmp_path / 'r.json', 'json') == tmp_path / 'r.json'
  with pytest.raises(output_paths.OutputPathError, match=r'is a folder; give a file name'):
    output_paths.check_file(tmp_path, 'json')
  (tmp_path / 'f').write_text('x')
  with pytest.raises(output_paths.OutputPathError, match=r'is a file, so nothing'):
    output_paths.check_file(tmp_path / 'f' / 'r.json', 'json')


@pytest.mark.skipif(os.geteuid() == 0, reason='root writes anywhere')
def test_a_read_only_folder_is_refused(tmp_path):
  ro = tmp_path / 'ro'
  ro.mkdir()
  ro.chmod(0o500)
  try:
    with pytest.raises(output_paths.OutputPathError, match='not writable'):
      output_paths.check_dir(ro / 'out', 'output_dir')
  finally:
    ro.chmod(0o700)
