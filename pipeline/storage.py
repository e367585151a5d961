"""Reading stored uploads through Beam's filesystems, never through ``open``.

Local paths, ``gs://`` and every other Beam filesystem go through
``FileSystems``; decoders read through a ``CountingReader`` so that the
bytes actually fetched from storage are measured.
"""
from __future__ import annotations

import io
import os
from typing import BinaryIO

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipeline import media_errors


def has_scheme(uri: str) -> bool:
  return '://' in uri


def normalize_uri(uri: str) -> str:
  """Local paths become absolute so a file has one name across scans."""
  return uri if has_scheme(uri) else os.path.abspath(uri)


def file_size(uri: str) -> int:
  """Size in bytes; raises ``MediaError(not_found)`` when there is no file."""
  matches = FileSystems.match([uri])[0].metadata_list
  exact = [m for m in matches if m.path == uri] or matches
  if not exact:
    raise media_errors.MediaError(media_errors.NOT_FOUND,
                                  f'no such file: {uri}')
  return exact[0].size_in_bytes


class CountingReader(io.RawIOBase):
  """A seekable binary reader that counts the bytes it hands out."""

  def __init__(self, raw: BinaryIO):
    super().__init__()
    self._raw = raw
    self.bytes_read = 0

  def readable(self) -> bool:
    return True

  def seekable(self) -> bool:
    return True

  def read(self, size: int = -1) -> bytes:
    data = self._raw.read(size)
    self.bytes_read += len(data)
    return data

  def readinto(self, buffer) -> int:
    data = self.read(len(buffer))
    buffer[:len(data)] = data
    return len(data)

  def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
    return self._raw.seek(offset, whence)

  def tell(self) -> int:
    return self._raw.tell()

  def close(self) -> None:
    if not self.closed:
      self._raw.close()
    super().close()


def open_media(uri: str) -> CountingReader:
  """Opens a stored upload for streaming, seekable reads."""
  raw = FileSystems.open(uri, mime_type='application/octet-stream',
                         compression_type=CompressionTypes.UNCOMPRESSED)
  return CountingReader(raw)
