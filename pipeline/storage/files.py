"""Reading stored uploads through Beam's filesystems, never through ``open``.

Local paths, ``gs://`` and every other Beam filesystem go through
``FileSystems``.  Decoders read through a ``StorageReader``: a seekable
stream that counts the bytes it hands out and survives transient storage
errors by reopening the object at the same offset, a bounded number of
times.
"""
from __future__ import annotations

import io
import logging
import os
import threading
import time
from typing import BinaryIO, Callable, NamedTuple, Optional, Sequence

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipeline.media import errors as media_errors

_LOGGER = logging.getLogger(__name__)

# GCS objects are fetched in ranges of this size: large enough to stream
# well, small enough that decoding one short segment of a long video does
# not pull tens of megabytes it will never use.
GCS_READ_CHUNK_BYTES = 4 * 1024 * 1024
MAX_READ_ATTEMPTS = 4
RETRY_BASE_DELAY_S = 0.2


def _transient_errors() -> tuple:
  errors = [ConnectionError, TimeoutError]
  try:
    from google.api_core import exceptions as gapi  # pylint: disable=import-outside-toplevel
    errors += [gapi.ServiceUnavailable, gapi.TooManyRequests,
               gapi.InternalServerError, gapi.GatewayTimeout,
               gapi.BadGateway]
  except ImportError:  # the gcp extra is absent: local files only
    pass
  try:
    import requests  # pylint: disable=import-outside-toplevel
    errors += [requests.ConnectionError, requests.Timeout]
  except ImportError:
    pass
  return tuple(errors)


TRANSIENT_ERRORS = _transient_errors()


def has_scheme(uri: str) -> bool:
  return '://' in uri


def normalize_uri(uri: str) -> str:
  """Local paths become absolute so a file has one name across scans."""
  return uri if has_scheme(uri) else os.path.abspath(uri)


class SourceVersion(NamedTuple):
  """What identifies one version of a stored object: its size and its last
  update (a new GCS generation has a new update time)."""
  size_bytes: int
  updated_s: float


def source_version(uri: str) -> SourceVersion:
  """Raises ``MediaError(not_found)`` when there is no file."""
  matches = FileSystems.match([uri])[0].metadata_list
  exact = [m for m in matches if m.path == uri] or matches
  if not exact:
    raise media_errors.MediaError(media_errors.NOT_FOUND,
                                  f'no such file: {uri}')
  return SourceVersion(exact[0].size_in_bytes,
                       float(exact[0].last_updated_in_seconds or 0.0))


def file_size(uri: str) -> int:
  """Size in bytes; raises ``MediaError(not_found)`` when there is no file."""
  return source_version(uri).size_bytes


def _canonical(uri: str) -> str:
  """Local paths resolved through ``..`` and symlinks; other URIs as are."""
  return uri if has_scheme(uri) else os.path.realpath(uri)


def is_allowed(uri: str, prefixes: Sequence[str]) -> bool:
  """Whether ``uri`` lies under one of ``prefixes`` (all allowed when there
  are none).  ``/data/up`` does not admit ``/data/upload``; ``..`` segments
  and, for local files, symlinks are resolved before comparing."""
  if not prefixes:
    return True
  if has_scheme(uri) and '/../' in uri + '/':
    return False
  target = _canonical(uri)
  for prefix in prefixes:
    root = _canonical(prefix).rstrip('/')
    if target == root or target.startswith(root + '/'):
      return True
  return False


_GCS_LOCK = threading.Lock()
_GCS_CLIENT = None


def _gcs():
  global _GCS_CLIENT  # pylint: disable=global-statement
  with _GCS_LOCK:
    if _GCS_CLIENT is None:
      from apache_beam.io.gcp import gcsio  # pylint: disable=import-outside-toplevel
      _GCS_CLIENT = gcsio.GcsIO()
    return _GCS_CLIENT


def open_raw(uri: str) -> BinaryIO:
  """A raw, seekable binary stream of a stored object."""
  if uri.startswith('gs://'):
    return _gcs().open(uri, 'rb', read_buffer_size=GCS_READ_CHUNK_BYTES)
  return FileSystems.open(uri, mime_type='application/octet-stream',
                          compression_type=CompressionTypes.UNCOMPRESSED)


class StorageReader(io.RawIOBase):
  """A seekable reader that counts bytes and retries transient errors.

  On a transient error it reopens the object, seeks back to where it was
  and tries again, at most ``MAX_READ_ATTEMPTS`` times per call.
  """

  def __init__(self, uri: str,
               opener: Callable[[str], BinaryIO] = open_raw,
               sleep: Callable[[float], None] = time.sleep):
    super().__init__()
    self._uri = uri
    self._opener = opener
    self._sleep = sleep
    self._raw: Optional[BinaryIO] = opener(uri)
    self._position = 0
    self.bytes_read = 0
    self.retries = 0

  def _with_retries(self, operation):
    for attempt in range(1, MAX_READ_ATTEMPTS + 1):
      try:
        return operation()
      except TRANSIENT_ERRORS as exc:
        if attempt == MAX_READ_ATTEMPTS:
          raise media_errors.MediaError(
              media_errors.IO_ERROR,
              f'storage kept failing after {attempt} attempts: '
              f'{media_errors.short_message(exc)}') from exc
        self.retries += 1
        _LOGGER.warning('transient storage error on %s (attempt %d): %s',
                        self._uri, attempt, media_errors.short_message(exc))
        self._sleep(RETRY_BASE_DELAY_S * 2 ** (attempt - 1))
        self._reopen()
    raise AssertionError('unreachable')

  def _reopen(self) -> None:
    try:
      if self._raw is not None:
        self._raw.close()
    except TRANSIENT_ERRORS:
      pass
    self._raw = self._opener(self._uri)
    self._raw.seek(self._position)

  def readable(self) -> bool:
    return True

  def seekable(self) -> bool:
    return True

  def read(self, size: int = -1) -> bytes:
    data = self._with_retries(lambda: self._raw.read(size))
    self._position += len(data)
    self.bytes_read += len(data)
    return data

  def readinto(self, buffer) -> int:
    data = self.read(len(buffer))
    buffer[:len(data)] = data
    return len(data)

  def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
    self._position = self._with_retries(lambda: self._raw.seek(offset, whence))
    return self._position

  def tell(self) -> int:
    return self._position

  def close(self) -> None:
    if not self.closed and self._raw is not None:
      self._raw.close()
    super().close()


def open_media(uri: str) -> StorageReader:
  """Opens a stored upload for streaming, seekable reads."""
  return StorageReader(uri)
