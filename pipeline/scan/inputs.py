"""Turning ``--input`` values into video references.

An input is either a file pattern on any Beam filesystem or a manifest: a
``.csv`` or ``.parquet`` file with a ``uri`` column and an optional
``video_id`` column.  Every file is read through ``FileSystems``.
"""
from __future__ import annotations

import csv
import hashlib
import io
import posixpath
from typing import Iterator, List

from apache_beam.io.filesystems import FileSystems

from pipeline.storage import files as storage
from pipeline.storage.parquet import read_parquet_file
from pipeline.records import VideoRef

MANIFEST_SUFFIXES = ('.csv', '.parquet')
URI_COLUMN = 'uri'
VIDEO_ID_COLUMN = 'video_id'


class InputError(ValueError):
  """An ``--input`` that cannot be used at all (bad manifest, no match)."""


def stable_video_id(uri: str) -> str:
  """The default ``video_id``: a stable hash of the normalized URI."""
  return hashlib.sha256(uri.encode('utf-8')).hexdigest()[:20]


def is_manifest(spec: str) -> bool:
  return spec.lower().endswith(MANIFEST_SUFFIXES)


def _resolve(uri: str, manifest: str) -> str:
  """Relative manifest entries are relative to the manifest's folder."""
  if storage.has_scheme(uri) or posixpath.isabs(uri):
    return storage.normalize_uri(uri)
  folder = manifest.rsplit('/', 1)[0] if '/' in manifest else '.'
  return storage.normalize_uri(FileSystems.join(folder, uri))


def _manifest_rows(manifest: str) -> List[dict]:
  if manifest.lower().endswith('.parquet'):
    table = read_parquet_file(manifest)
    rows = table.to_pylist()
    columns = table.column_names
  else:
    with FileSystems.open(manifest,
                          mime_type='application/octet-stream') as f:
      reader = csv.DictReader(io.TextIOWrapper(f, encoding='utf-8-sig',
                                               newline=''))
      rows = list(reader)
      columns = reader.fieldnames or []
  if URI_COLUMN not in columns:
    raise InputError(f'manifest {manifest} has no "{URI_COLUMN}" column '
                     f'(columns: {list(columns)})')
  return rows


def read_manifest(manifest: str) -> Iterator[VideoRef]:
  """One reference per manifest row with a non-empty ``uri``.

  Missing files are not checked here: they reach the ledger as ``failed``
  rows with ``error_kind = not_found``.
  """
  for row in _manifest_rows(manifest):
    uri = (row.get(URI_COLUMN) or '').strip()
    if not uri:
      continue
    uri = _resolve(uri, manifest)
    video_id = str(row.get(VIDEO_ID_COLUMN) or '').strip()
    yield VideoRef(video_id or stable_video_id(uri), uri)


def match_pattern(pattern: str) -> Iterator[VideoRef]:
  """Every file matching a pattern; a plain path that is missing still
  yields a reference, so it is recorded as ``not_found``."""
  pattern = storage.normalize_uri(pattern)
  metadata = FileSystems.match([pattern])[0].metadata_list
  if not metadata and not any(c in pattern for c in '*?['):
    metadata_paths = [pattern]
  else:
    metadata_paths = sorted(m.path for m in metadata)
  for path in metadata_paths:
    uri = storage.normalize_uri(path)
    yield VideoRef(stable_video_id(uri), uri)


def expand_input(spec: str) -> Iterator[VideoRef]:
  """References for one ``--input`` value."""
  if is_manifest(spec):
    yield from read_manifest(storage.normalize_uri(spec))
  else:
    yield from match_pattern(spec)


def check_input(spec: str) -> None:
  """Fails fast, before the job starts, on an input that cannot work: a
  missing or malformed manifest, or a glob that matches nothing."""
  uri = storage.normalize_uri(spec)
  if is_manifest(spec):
    if not FileSystems.exists(uri):
      raise InputError(f'manifest {spec} does not exist')
    _manifest_rows(uri)
  elif any(c in uri for c in '*?['):
    if not FileSystems.match([uri], limits=[1])[0].metadata_list:
      raise InputError(f'--input {spec} matches no files')
