"""Magenta's published checkpoints by URL, downloaded once into the user's cache.

``fetch(url)`` takes an ``http(s)://`` URL or a ``gs://bucket/path`` one (read as
``https://storage.googleapis.com/bucket/path``) and returns the local file under
``cache_dir()/downloads``. Bytes go to ``<name>.part`` first; an interrupted transfer is
continued with an HTTP Range request (up to ``attempts`` times in one call, and again by the next
call, so re-running the command continues where it stopped), with a progress bar
(``musicvae_jax.progress``); the file gets its final name only when it is complete. A later call with the same URL finds it there and downloads nothing.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import pathlib
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

from musicvae_jax import errors
from musicvae_jax import progress as progress_bars

URL_SCHEMES = ('http://', 'https://', 'gs://')
# Magenta's published MusicVAE checkpoints (its README's table): <id>.tar under PUBLISHED_ROOT,
# each with the config it loads with.
PUBLISHED_ROOT = 'https://storage.googleapis.com/magentadata/models/music_vae/checkpoints/'
PUBLISHED = {
    'cat-mel_2bar_big': 'cat-mel_2bar_big', 'hierdec-mel_16bar': 'hierdec-mel_16bar',
    'hierdec-trio_16bar': 'hierdec-trio_16bar',
    'cat-drums_2bar_small.lokl': 'cat-drums_2bar_small',
    'cat-drums_2bar_small.hikl': 'cat-drums_2bar_small',
    'nade-drums_2bar_full': 'nade-drums_2bar_full', 'groovae_4bar': 'groovae_4bar',
    'groovae_2bar_humanize': 'groovae_2bar_humanize',
    'groovae_2bar_tap_fixed_velocity': 'groovae_2bar_tap_fixed_velocity',
    'groovae_2bar_add_closed_hh': 'groovae_2bar_add_closed_hh',
    'groovae_2bar_hits_control': 'groovae_2bar_hits_control_tfds'}
GCS_HTTPS = 'https://storage.googleapis.com/'
CHUNK = 1 << 20


class DownloadError(errors.UserError, ConnectionError):
  """A URL that could not be fetched (not found, refused, or cut off too often)."""


class _Incomplete(Exception):
  pass


def cache_dir() -> pathlib.Path:
  """``$XDG_CACHE_HOME/musicvae_jax/magenta`` (``~/.cache/...`` without the variable)."""
  root = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
  return pathlib.Path(root) / 'musicvae_jax' / 'magenta'


def is_url(path) -> bool:
  return str(path).startswith(URL_SCHEMES)


def https_url(url: str) -> str:
  """``gs://bucket/path`` -> ``https://storage.googleapis.com/bucket/path``; others unchanged."""
  return GCS_HTTPS + url[len('gs://'):] if url.startswith('gs://') else url


def published_urls(config_name: str) -> list[str]:
  """The URLs of Magenta's published checkpoints that load with ``config_name``."""
  base = config_name.partition(':')[0]
  return [f'{PUBLISHED_ROOT}{id_}.tar' for id_, name in PUBLISHED.items() if name == base]


def local_path(url: str) -> pathlib.Path:
  """Where ``fetch(url)`` keeps the file: a folder per URL, the URL's file name inside."""
  https = https_url(url)
  name = pathlib.PurePosixPath(urllib.parse.urlparse(https).path).name or 'download'
  return cache_dir() / 'downloads' / hashlib.sha256(https.encode()).hexdigest()[:16] / name


def _total_of(content_range: str | None) -> int | None:
  found = re.search(r'/(\d+)\s*$', content_range or '')
  return int(found.group(1)) if found else None


def _transfer(url: str, part: pathlib.Path, progress: bool, timeout: float) -> None:
  """One request: appends to ``part`` from its current size. Raises _Incomplete if cut off."""
  start = part.stat().st_size if part.exists() else 0
  headers = {'Range': f'bytes={start}-'} if start else {}
  try:
    response = urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                      timeout=timeout)
  except urllib.error.HTTPError as e:
    if e.code == 416 and start and _total_of(e.headers.get('Content-Range')) == start:
      return  # the .part already holds every byte
    if e.code == 416:  # the .part is longer than the file: start again
      part.unlink()
      raise _Incomplete(f'HTTP 416 at byte {start}') from None
    raise DownloadError(f'{url}: HTTP {e.code} {e.reason}; check the URL (Magenta\'s '
                        'checkpoints are listed in BUILD.md).') from None
  with response:
    if response.status == 206:
      total = _total_of(response.headers.get('Content-Range'))
    else:  # the server ignored the range: the body is the whole file
      start = 0
      length = response.headers.get('Content-Length')
      total = int(length) if length else None
    with open(part, 'ab' if start else 'wb') as out, progress_bars.bar(
        total=total, initial=start, unit='B', unit_scale=True, unit_divisor=1024,
        desc=part.name[:-len('.part')], enabled=progress) as bar:
      while chunk := response.read(CHUNK):
        out.write(chunk)
        bar.update(len(chunk))
  size = part.stat().st_size
  if total is not None and size < total:
    raise _Incomplete(f'the connection closed at byte {size} of {total}')


def fetch(url: str, *, attempts: int = 3, progress: bool = True, timeout: float = 60,
          log=lambda msg: print(msg, file=sys.stderr)) -> pathlib.Path:
  """The local copy of ``url``, downloaded (or continued) if the cache lacks it."""
  dest = local_path(url)
  if dest.is_file():
    log(f'{url}: already downloaded to {dest}')
    return dest
  dest.parent.mkdir(parents=True, exist_ok=True)
  part = dest.with_name(dest.name + '.part')
  https, reason = https_url(url), ''
  for attempt in range(attempts):
    if part.exists():
      log(f'{url}: continuing the download at byte {part.stat().st_size}')
    elif attempt == 0:
      log(f'{url}: downloading to {dest}')
    try:
      _transfer(https, part, progress, timeout)
    except DownloadError:
      raise
    except (_Incomplete, OSError, http.client.HTTPException) as e:
      reason = str(e) or type(e).__name__
      continue
    part.rename(dest)
    return dest
  held = part.stat().st_size if part.exists() else 0
  raise DownloadError(f'{url}: the download stopped after {attempts} tries ({reason}); '
                      f'{held} bytes are kept in {part}, and running the same command again '
                      'continues from there.')


def resolve(checkpoint, **kwargs):
  """A local checkpoint path as given; a URL fetched into the cache first."""
  return fetch(str(checkpoint), **kwargs) if is_url(checkpoint) else checkpoint
