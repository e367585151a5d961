"""Which file a name stands for, and reading it.

``identify`` is the one answer to "which file is this": the canonical name
(``canonical_uri``: local paths absolute with ``..`` and symlinks resolved,
remote schemes lower-cased) and the version stored there (size, update
time; locally inode and ctime; on GCS generation and CRC32C).  Prefix
checks (``is_allowed``), deduplication of inputs, ``--skip-scanned`` and
every reopening go by it.

``gs://`` and every other Beam filesystem are read through Beam; local
files through ``open_local``, which opens exactly the canonical path that
was checked.  Decoders read through a ``StorageReader``: a seekable stream
that counts the bytes it hands out and survives transient storage errors by
reopening the object at the same offset, a bounded number of times.
"""
from __future__ import annotations

import base64
import binascii
import errno
import functools
import hashlib
import io
import logging
import os
import re
import stat as stat_module
import threading
import time
import urllib.parse
from typing import BinaryIO, Callable, NamedTuple, Optional, Sequence, Tuple

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystem import FileSystem
from apache_beam.io.filesystems import FileSystems

from pipeline.media import errors as media_errors
from pipeline.records import SourceVersion

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


# Schemes taken as remote even when their filesystem is not installed, so
# that a missing extra fails loudly instead of reading a local path.
_KNOWN_REMOTE_SCHEMES = frozenset({'gs', 's3', 'hdfs', 'azfs', 'http',
                                   'https'})
_SCHEME = re.compile(r'([A-Za-z][-A-Za-z0-9+.]*)://')
FILE_SCHEME = 'file'


@functools.lru_cache(maxsize=1)
def _registered_schemes() -> frozenset:
  """Beam's filesystems register when ``apache_beam.io.filesystems`` is
  imported, before this runs."""
  schemes = {fs.scheme() for fs in FileSystem.get_all_subclasses()}
  return frozenset(s.lower() for s in schemes if s) | _KNOWN_REMOTE_SCHEMES


def scheme_of(uri: str) -> Optional[str]:
  """The lower-cased scheme of a URI on a Beam filesystem (``gs``,
  ``s3``, ...), ``file`` for a ``file://`` URI, ``None`` for a local path.

  Only a registered scheme at the very start makes a remote URI:
  ``uploads/evil://l.mp4`` and ``gs:/x`` are local relative paths, as Beam
  itself reads them; ``GS://b/x`` is ``gs://b/x`` (schemes are
  case-insensitive)."""
  found = _SCHEME.match(uri)
  if found is None:
    return None
  scheme = found.group(1).lower()
  if scheme == FILE_SCHEME or scheme in _registered_schemes():
    return scheme
  return None


def has_scheme(uri: str) -> bool:
  """Whether ``uri`` names an object on a remote Beam filesystem (not a
  local path, nor a ``file://`` URI)."""
  return scheme_of(uri) not in (None, FILE_SCHEME)


def _local_path(uri: str) -> str:
  """The local path a local name stands for: a ``file://`` URI is
  percent-decoded (it is a URI); a plain path is taken literally (``%2e``
  in a file name is three characters, as the filesystem sees it).  A
  ``file://`` URI with a host other than ``localhost`` keeps its literal
  text, which names no file."""
  if scheme_of(uri) != FILE_SCHEME:
    return uri
  parsed = urllib.parse.urlsplit(uri)
  if parsed.netloc not in ('', 'localhost'):
    return uri
  return urllib.parse.unquote(parsed.path)


def canonical_uri(uri: str) -> str:
  """The one name of a file: the key of prefix checks, deduplication,
  ``--skip-scanned`` and every later reopening.

  Local: absolute, ``..`` and symlinks resolved (``os.path.realpath``; a
  symlink loop is left unresolved and then fails to open).  Remote: the
  scheme lower-cased and the rest kept as is (object names are literal:
  neither ``..`` nor percent-encoding means anything to GCS).  Does no
  read of the file's content."""
  scheme = scheme_of(uri)
  if scheme is not None and scheme != FILE_SCHEME:
    return scheme + uri[len(scheme):]
  path = _local_path(uri)
  try:
    return os.path.realpath(path)
  except (ValueError, OSError):  # NUL in the name, or a loop (strict os)
    return os.path.abspath(path)


def normalize_uri(uri: str) -> str:
  """A file's one name across scans (``canonical_uri``)."""
  return canonical_uri(uri)


class FileIdentity(NamedTuple):
  """Which file a name stands for (``uri``, canonical) and which version
  of it is stored now (``version``)."""
  uri: str
  version: SourceVersion


def _local_identity(path: str) -> FileIdentity:
  try:
    stat = os.stat(path)
  except (FileNotFoundError, NotADirectoryError, ValueError) as exc:
    raise media_errors.MediaError(media_errors.NOT_FOUND,
                                  f'no such file: {path}') from exc
  except OSError as exc:  # a symlink loop, a permission error
    raise media_errors.MediaError(
        media_errors.NOT_FOUND if exc.errno == errno.ELOOP else
        media_errors.PERMISSION_DENIED if exc.errno == errno.EACCES else
        media_errors.IO_ERROR,
        f'cannot stat {path}: {media_errors.short_message(exc)}') from exc
  if not stat_module.S_ISREG(stat.st_mode):
    raise media_errors.MediaError(media_errors.NOT_FOUND,
                                  f'not a regular file: {path}')
  return FileIdentity(path, SourceVersion(
      stat.st_size, stat.st_mtime, inode=stat.st_ino,
      changed_s=stat.st_ctime))


def md5_hex(base64_md5: Optional[str]) -> Optional[str]:
  """GCS's ``md5Hash`` (base64 of the 16 bytes) as the 32-digit hex every
  hash list uses; ``None`` when absent (composite objects have none) or
  not an MD5."""
  if not base64_md5:
    return None
  try:
    raw = base64.b64decode(base64_md5, validate=True)
  except (binascii.Error, ValueError):
    return None
  return raw.hex() if len(raw) == hashlib.md5().digest_size else None


def _gcs_facts(uri: str) -> Tuple[Optional[int], Optional[str],
                                  Optional[str]]:
  """The generation, CRC32C and MD5 (hex) of a GCS object, from its
  metadata: no byte of the content is read."""
  bucket, _, name = uri[len('gs://'):].partition('/')
  blob = _gcs().client.bucket(bucket).get_blob(name)
  if blob is None:
    raise media_errors.MediaError(media_errors.NOT_FOUND,
                                  f'no such file: {uri}')
  return blob.generation, blob.crc32c, md5_hex(blob.md5_hash)


def identify(uri: str) -> FileIdentity:
  """The canonical name of ``uri`` and the version stored there now.

  Locally: size, mtime, inode and ctime of the resolved path; on GCS:
  size, update time, generation, CRC32C and MD5 (metadata only); elsewhere
  size and update time.  Raises ``MediaError(not_found)`` when there is no regular file.
  Callers open ``identity.uri`` (``open_media(identity.uri,
  expected=identity.version)``), never the name they were given."""
  canonical = canonical_uri(uri)
  if not has_scheme(canonical):
    return _local_identity(canonical)
  matches = FileSystems.match([canonical])[0].metadata_list
  exact = [m for m in matches if m.path == canonical]
  if not exact:
    raise media_errors.MediaError(media_errors.NOT_FOUND,
                                  f'no such file: {canonical}')
  version = SourceVersion(exact[0].size_in_bytes,
                          float(exact[0].last_updated_in_seconds or 0.0))
  if canonical.startswith('gs://'):
    generation, crc32c, md5 = _gcs_facts(canonical)
    version = version._replace(generation=generation, crc32c=crc32c, md5=md5)
  return FileIdentity(canonical, version)


def _ms(seconds: Optional[float]) -> Optional[int]:
  return None if seconds is None else round(seconds * 1000)


# Identity facts compared as they are, and those compared to the
# millisecond (ledgers store microseconds; filesystems report finer).  The
# MD5 is recorded, not compared: on GCS the generation and CRC32C already
# pin the version, and a ledger written before MD5s were recorded must
# still vouch.
_EXACT_FACTS = ('inode', 'generation', 'crc32c')
_TIME_FACTS = ('changed_s',)


def same_version(recorded: SourceVersion, current: SourceVersion,
                 verify_digest: bool = False) -> bool:
  """Whether ``current`` is the version that was ``recorded``: same size
  and update time (to the millisecond), and every identity fact the
  storage gives now (local inode and ctime, GCS generation and CRC32C)
  recorded and equal: a fact the record lacks cannot vouch.  With
  ``verify_digest`` the content SHA-256 must be recorded and equal too.
  The one rule for "is this still that file", for ``--skip-scanned`` and
  wherever a recorded version is held against the stored one."""
  if (recorded.size_bytes != current.size_bytes or
      _ms(recorded.updated_s) != _ms(current.updated_s)):
    return False
  for fact in _EXACT_FACTS + _TIME_FACTS:
    now = getattr(current, fact)
    then = getattr(recorded, fact)
    if fact in _TIME_FACTS:
      now, then = _ms(now), _ms(then)
    if now is not None and now != then:
      return False
  if verify_digest:
    return recorded.sha256 is not None and recorded.sha256 == current.sha256
  return True


def source_version(uri: str) -> SourceVersion:
  """Raises ``MediaError(not_found)`` when there is no file."""
  return identify(uri).version


def file_size(uri: str) -> int:
  """Size in bytes; raises ``MediaError(not_found)`` when there is no file."""
  return source_version(uri).size_bytes


DIGEST_CHUNK_BYTES = 1024 * 1024


class Digests(NamedTuple):
  """The cryptographic digests of a file's content, hex."""
  md5: str
  sha256: str


def content_digests(uri: str,
                    expected: Optional[SourceVersion] = None) -> Digests:
  """The MD5 and SHA-256 (hex) of a stored file's content, in one
  streaming read of all of it (``--digests``, ``--verify-digest``).

  When the storage vouched for an MD5 (``expected.md5``, GCS metadata) and
  the bytes read give another, they are not the version identified (the
  object was replaced while it was read): ``MediaError(io_error)``."""
  md5, sha256 = hashlib.md5(), hashlib.sha256()
  with open_media(uri, expected=expected) as reader:
    while True:
      chunk = reader.read(DIGEST_CHUNK_BYTES)
      if not chunk:
        break
      md5.update(chunk)
      sha256.update(chunk)
  digests = Digests(md5.hexdigest(), sha256.hexdigest())
  if expected is not None and expected.md5 not in (None, digests.md5):
    raise media_errors.MediaError(
        media_errors.IO_ERROR,
        f'{uri} changed while it was read: its content has MD5 '
        f'{digests.md5}, the version identified {expected.md5}')
  return digests


def content_sha256(uri: str,
                   expected: Optional[SourceVersion] = None) -> str:
  """The SHA-256 (hex) of a stored file's content (``content_digests``)."""
  return content_digests(uri, expected).sha256


def _has_dot_segment(uri: str) -> bool:
  segments = uri.split('://', 1)[-1].split('/')
  return any(segment in ('.', '..') for segment in segments)


def is_allowed(uri: str, prefixes: Sequence[str]) -> bool:
  """Whether the file ``uri`` names lies under one of ``prefixes`` (all
  allowed when there are none).  Both sides are canonical
  (``canonical_uri``): a local symlink or ``..`` leading outside every
  prefix is refused, ``/data/up`` does not admit ``/data/upload``, a
  remote URI with a ``.`` or ``..`` segment is refused (its meaning would
  depend on the client), and a local path never matches a remote prefix."""
  if not prefixes:
    return True
  target = canonical_uri(uri)
  if has_scheme(target) and _has_dot_segment(target):
    return False
  for prefix in prefixes:
    root = canonical_uri(prefix).rstrip('/')
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


def _opened_path(fd: int) -> Optional[str]:
  """The path the kernel opened ``fd`` at (Linux), else ``None``."""
  try:
    return os.readlink(f'/proc/self/fd/{fd}')
  except OSError:
    return None


def open_local(path: str,
               expected: Optional[SourceVersion] = None) -> BinaryIO:
  """Opens exactly the local file ``path`` names, which must be canonical
  (``canonical_uri``): the last component is opened with ``O_NOFOLLOW``,
  and the path the kernel actually opened must be ``path`` itself, so a
  symlink swapped in anywhere along it after the check is refused
  (``forbidden_uri``).  With ``expected``, the opened file's inode and size
  must be the checked ones.  Only regular files are opened."""
  path = _local_path(path)
  flags = os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0) | getattr(
      os, 'O_CLOEXEC', 0) | getattr(os, 'O_NONBLOCK', 0)
  try:
    fd = os.open(path, flags)
  except OSError as exc:
    if exc.errno == errno.ELOOP:
      raise media_errors.MediaError(
          media_errors.FORBIDDEN_URI,
          f'{path} is a symlink; only canonical paths are opened') from exc
    raise
  try:
    stat = os.fstat(fd)
    opened = _opened_path(fd)
    if opened is not None and opened != os.path.abspath(path):
      raise media_errors.MediaError(
          media_errors.FORBIDDEN_URI,
          f'{path} resolves to {opened}; only canonical paths are opened')
    if not stat_module.S_ISREG(stat.st_mode):
      raise media_errors.MediaError(media_errors.NOT_FOUND,
                                    f'not a regular file: {path}')
    if expected is not None and expected.inode is not None:
      if stat.st_ino != expected.inode:
        raise media_errors.MediaError(
            media_errors.FORBIDDEN_URI,
            f'{path} is another file now than the one that was checked')
      if stat.st_size != expected.size_bytes:
        raise media_errors.MediaError(
            media_errors.FORBIDDEN_URI,
            f'{path} has {stat.st_size} bytes now, '
            f'{expected.size_bytes} were checked')
    os.set_blocking(fd, True)
    return os.fdopen(fd, 'rb')
  except BaseException:
    os.close(fd)
    raise


def open_raw(uri: str, expected: Optional[SourceVersion] = None) -> BinaryIO:
  """A raw, seekable binary stream of a stored object (local files through
  ``open_local``)."""
  if not has_scheme(uri):
    return open_local(uri, expected)
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


def open_media(uri: str,
               expected: Optional[SourceVersion] = None) -> StorageReader:
  """Opens a stored upload for streaming, seekable reads.  A local ``uri``
  must be canonical (``open_local``); with ``expected`` (from
  ``identify``), a local file must still have the checked inode and size,
  at every reopening."""
  if expected is None:
    return StorageReader(uri)
  return StorageReader(uri, opener=lambda u: open_raw(u, expected))
