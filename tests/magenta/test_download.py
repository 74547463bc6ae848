"""Magenta checkpoints by URL: downloaded into the user's cache, resumably, then imported.

A real HTTP server on 127.0.0.1 (http.server in a thread, with Range support) serves a .tar of
the real Magenta cat-mel_2bar_small fixture (shared/reference/magenta_checkpoints/mel2); it can
cut its first responses off after some bytes, as a dropped connection does, and it records every
request's Range header.
"""

import http.server
import os
import re
import subprocess
import threading

import jax
import numpy as np
import pytest

from conftest import REPO
from conftest import SHARED
from conftest import magenta_tar
from musicvae_jax.generation.trained_model import TrainedModel
from musicvae_jax.magenta import download
from musicvae_jax.magenta import importer
from tests import cli_process

CONFIG = 'cat-mel_2bar_small'


class Server:
  """Serves ``files`` {url path: bytes}; ``cut[path] = [n, ...]``: the next responses to that
  path stop after n body bytes and close the connection."""

  def __init__(self, files):
    self.files, self.cut, self.requests = files, {}, []
    server = self

    class Handler(http.server.BaseHTTPRequestHandler):

      def do_GET(self):  # pylint: disable=invalid-name
        data = server.files.get(self.path)
        server.requests.append((self.path, self.headers.get('Range')))
        if data is None:
          self.send_error(404)
          return
        start = 0
        found = re.fullmatch(r'bytes=(\d+)-', self.headers.get('Range') or '')
        if found:
          start = int(found.group(1))
          if start >= len(data):
            self.send_response(416)
            self.send_header('Content-Range', f'bytes */{len(data)}')
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
          self.send_response(206)
          self.send_header('Content-Range', f'bytes {start}-{len(data) - 1}/{len(data)}')
        else:
          self.send_response(200)
        self.send_header('Content-Length', str(len(data) - start))
        self.end_headers()
        cuts = server.cut.get(self.path)
        end = start + cuts.pop(0) if cuts else len(data)
        self.wfile.write(data[start:end])
        self.close_connection = True

      def log_message(self, *args):
        pass

    self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
    self.thread.start()

  def url(self, path):
    return f'http://127.0.0.1:{self.httpd.server_address[1]}{path}'

  def ranges(self, path):
    return [r for p, r in self.requests if p == path]


@pytest.fixture(scope='module')
def tar_file(tmp_path_factory):
  return magenta_tar('mel2', tmp_path_factory.mktemp('tar') / 'cat-mel_2bar_small.tar')


@pytest.fixture(scope='module')
def server(tar_file):
  srv = Server({'/mel2.tar': tar_file.read_bytes()})
  yield srv
  srv.httpd.shutdown()
  srv.httpd.server_close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
  monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'cache'))
  return tmp_path / 'cache' / 'musicvae_jax' / 'magenta'


def _serve(server, tar_file, path, cuts=()):
  server.files[path] = tar_file.read_bytes()
  server.cut[path] = list(cuts)
  return server.url(path)


def test_import_by_url_gives_the_parameters_of_the_local_file(server, tar_file, tmp_path):
  url = _serve(server, tar_file, '/cli/cat-mel_2bar_small.tar')
  env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / 'cache'))
  proc = subprocess.run(
      cli_process.argv('musicvae-import-magenta', f'--checkpoint={url}', f'--config={CONFIG}',
                       f'--workdir={tmp_path / "by_url"}'),
      capture_output=True, text=True, env=env, cwd=REPO, timeout=600, check=False)
  assert proc.returncode == 0, proc.stderr
  assert server.ranges('/cli/cat-mel_2bar_small.tar') == [None]
  kept = tmp_path / 'cache' / 'musicvae_jax' / 'magenta' / 'downloads'
  assert [p.read_bytes() for p in kept.glob('*/*')] == [tar_file.read_bytes()]
  importer.import_checkpoint(tar_file, CONFIG, tmp_path / 'local', log=lambda _: None)
  by_url, local = (TrainedModel.from_workdir(tmp_path / w) for w in ('by_url', 'local'))
  got, got_tree = jax.tree.flatten(by_url.params)
  want, want_tree = jax.tree.flatten(local.params)
  assert got_tree == want_tree and len(got) > 5
  for a, b in zip(got, want):
    assert np.asarray(a).tobytes() == np.asarray(b).tobytes()
  record = (tmp_path / 'by_url' / importer.RECORD_FILE).read_text()
  assert url in record


def test_interrupted_download_continues_with_a_range_request(server, tar_file, cache):
  size = tar_file.stat().st_size
  url = _serve(server, tar_file, '/cut_once.tar', cuts=[size // 3])
  path = download.fetch(url, progress=False, log=lambda _: None)
  assert path.read_bytes() == tar_file.read_bytes()
  assert server.ranges('/cut_once.tar') == [None, f'bytes={size // 3}-']
  assert not list(path.parent.glob('*.part')) and path.is_relative_to(cache)


def test_rerun_continues_where_the_last_run_stopped(server, tar_file, cache):
  size = tar_file.stat().st_size
  url = _serve(server, tar_file, '/cut_twice.tar', cuts=[1000, size // 2])
  with pytest.raises(download.DownloadError, match='running the same command again continues'):
    download.fetch(url, attempts=2, progress=False, log=lambda _: None)
  part = download.local_path(url).with_name(download.local_path(url).name + '.part')
  assert part.stat().st_size == 1000 + size // 2
  assert not download.local_path(url).exists()
  path = download.fetch(url, attempts=1, progress=False, log=lambda _: None)
  assert path.read_bytes() == tar_file.read_bytes()
  assert server.ranges('/cut_twice.tar') == [None, 'bytes=1000-', f'bytes={1000 + size // 2}-']
  again = download.fetch(url, progress=False, log=lambda _: None)  # cached: no request
  assert again == path and len(server.ranges('/cut_twice.tar')) == 3


def test_missing_url_is_a_user_error_naming_the_status(server, cache):
  url = server.url('/no_such_checkpoint.tar')
  with pytest.raises(download.DownloadError, match='HTTP 404'):
    download.fetch(url, progress=False, log=lambda _: None)
  assert server.ranges('/no_such_checkpoint.tar') == [None]  # not retried


def test_gs_urls_read_from_googles_storage_over_https():
  url = 'gs://download.magenta.tensorflow.org/models/music_vae/colab2/checkpoints.tar.gz'
  assert download.https_url(url) == (
      'https://storage.googleapis.com/download.magenta.tensorflow.org/models/music_vae/'
      'colab2/checkpoints.tar.gz')
  assert download.local_path(url).name == 'checkpoints.tar.gz'


def test_build_md_lists_every_published_checkpoint_with_its_url():
  """The IDs come from the reference's section on published checkpoints, not from this code."""
  text = (SHARED / 'reference' / 'magenta_musicvae.md').read_text()
  line = next(l for l in text.splitlines() if 'music_vae/checkpoints/<ID>.tar' in l)
  listed = line.split('with IDs:')[1].split('. Load')[0].split(',')
  ids = [re.match(r'\s*([\w.-]+)', part).group(1) for part in listed]
  assert len(ids) == 11 and set(ids) == set(download.PUBLISHED)
  build = (REPO / 'BUILD.md').read_text()
  for id_ in ids:
    assert f'{download.PUBLISHED_ROOT}{id_}.tar' in build, id_
