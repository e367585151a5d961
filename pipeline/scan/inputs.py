"""Turning ``--input`` values into video references.

An input is either a file pattern on any Beam filesystem or a manifest: a
``.csv`` or ``.parquet`` file with a ``uri`` column and an optional
``video_id`` column.  Every file is read through ``FileSystems``.
"""
from __future__ import annotations

import csv
import io
import os
import posixpath
import shlex
from typing import Iterator, Sequence

import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from pipeline.storage import files as storage
from pipeline.storage.parquet import BrokenParquetFile
from pipeline.storage.parquet import open_parquet_file
from pipeline.records import VideoRef
from pipeline.scan.identities import stable_video_id

MANIFEST_SUFFIXES = ('.csv', '.parquet')
URI_COLUMN = 'uri'
VIDEO_ID_COLUMN = 'video_id'


class InputError(ValueError):
  """An ``--input`` that cannot be used at all (bad manifest, no match)."""


def is_manifest(spec: str) -> bool:
  return spec.lower().endswith(MANIFEST_SUFFIXES)


def _resolve(uri: str, manifest: str) -> str:
  """Relative manifest entries are relative to the manifest's folder."""
  if storage.has_scheme(uri) or posixpath.isabs(uri):
    return storage.normalize_uri(uri)
  folder = manifest.rsplit('/', 1)[0] if '/' in manifest else '.'
  return storage.normalize_uri(FileSystems.join(folder, uri))


def _manifest_rows(manifest: str) -> Iterator[dict]:
  """The manifest's rows, streamed (a batch of a Parquet manifest or a CSV
  line at a time: a manifest of any length is never held whole); every way
  a manifest can be unusable (not UTF-8, not CSV, not Parquet, no text
  ``uri`` column, no row naming a video) is one ``InputError`` naming the
  file, raised when the reading reaches it."""
  listed = False
  rows = (_parquet_rows(manifest) if manifest.lower().endswith('.parquet')
          else _csv_rows(manifest))
  for row in rows:
    listed = listed or bool(str(row.get(URI_COLUMN) or '').strip())
    yield row
  if not listed:
    raise InputError(f'manifest {manifest} lists no videos (no row has a '
                     f'"{URI_COLUMN}")')


def _check_columns(manifest: str, columns: Sequence[str]) -> None:
  if URI_COLUMN not in columns:
    raise InputError(f'manifest {manifest} has no "{URI_COLUMN}" column '
                     f'(columns: {list(columns)})')


# Rows of a Parquet manifest read at a time.
MANIFEST_BATCH_ROWS = 8192


def _parquet_rows(manifest: str) -> Iterator[dict]:
  try:
    with open_parquet_file(manifest) as table:
      _check_uri_type(manifest, table.schema_arrow)
      _check_columns(manifest, table.schema_arrow.names)
      for batch in table.iter_batches(batch_size=MANIFEST_BATCH_ROWS):
        yield from batch.to_pylist()
  except BrokenParquetFile as exc:
    raise InputError(f'manifest {exc}') from exc
  except pa.ArrowException as exc:
    raise InputError(f'manifest {manifest} is not a readable Parquet file: '
                     f"{' '.join(str(exc).split())}") from exc


def _csv_rows(manifest: str) -> Iterator[dict]:
  """A CSV manifest's rows, or ``InputError`` saying which line is not
  UTF-8 CSV (a field over ``csv.field_size_limit()``, 128 KiB, is no URI
  either)."""
  with FileSystems.open(manifest, mime_type='application/octet-stream') as f:
    reader = csv.DictReader(io.TextIOWrapper(f, encoding='utf-8-sig',
                                             newline=''))
    try:
      _check_columns(manifest, list(reader.fieldnames or []))
      yield from reader
    except UnicodeDecodeError as exc:
      raise InputError(f'manifest {manifest} is not UTF-8 text '
                       f'({exc.reason}, byte 0x{exc.object[exc.start]:02x}); '
                       'save it as UTF-8') from exc
    except csv.Error as exc:
      raise InputError(f'manifest {manifest} line {reader.line_num} is not '
                       f'valid CSV: {exc}') from exc


def _check_uri_type(manifest: str, schema: pa.Schema) -> None:
  """A Parquet manifest's ``uri`` column must hold text (or be all
  nulls)."""
  if URI_COLUMN not in schema.names:
    return
  kind = schema.field(URI_COLUMN).type
  if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)
          or pa.types.is_null(kind)):
    raise InputError(f'manifest {manifest}: column "{URI_COLUMN}" holds '
                     f'{kind}, not text')


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
    yield VideoRef(video_id or stable_video_id(uri), uri,
                   explicit_id=bool(video_id))


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
  missing or malformed manifest, a glob that matches nothing, or a
  folder (which would become one failed row: say how to scan its files)."""
  uri = storage.normalize_uri(spec)
  if _is_folder(uri):
    raise InputError(
        f'--input {spec} is a folder; to scan the files under it, pass '
        f"--input {shlex.quote(spec.rstrip('/') + '/**')} (quoted, so that "
        'the shell does not expand it)')
  if is_manifest(spec):
    if not FileSystems.exists(uri):
      raise InputError(f'manifest {spec} does not exist')
    for _ in _manifest_rows(uri):  # streamed: checked, never held
      pass
  elif any(c in uri for c in '*?['):
    if not FileSystems.match([uri], limits=[1])[0].metadata_list:
      raise InputError(f'--input {spec} matches no files')


def _is_folder(uri: str) -> bool:
  """A local directory, or on an object store a prefix with objects under
  it and no object of its own name."""
  if any(c in uri for c in '*?['):
    return False
  if not storage.has_scheme(uri):
    return os.path.isdir(uri)
  if FileSystems.exists(uri):
    return False
  return bool(FileSystems.match([uri.rstrip('/') + '/**'],
                                limits=[1])[0].metadata_list)
