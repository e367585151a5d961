"""Writing and reading back the scan's Parquet datasets on any filesystem."""
from __future__ import annotations

import contextlib
from typing import Iterator, List

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.parquetio import WriteToParquet

import schemas

from pipeline.storage.claims import check_output_root
from pipeline.storage.scan_ids import check_scan_id


class BrokenParquetFile(ValueError):
  """A file that should be Parquet and is not (garbage, truncated, another
  table's schema): the message names the file, so that one bad file under a
  root is one line to act on, not a traceback."""


def _as_dict(record) -> dict:
  return record._asdict()


class WriteDataset(beam.PTransform):
  """Typed records -> ``ROOT/<dataset>/scan=<id>/part-*.parquet``.

  What the sink deletes, and why it can only be this scan's own files
  (Beam 2.77, ``apache_beam/io/filebasedsink.py``; every ``FileSystems``
  delete expands its paths as globs first, ``*`` never crossing a ``/``):

  - ``pre_finalize`` deletes the files matching the final-name glob,
    ``<prefix>-*-of-<NNNNN>.parquet`` with the prefix
    ``ROOT/<dataset>/scan=<id>/part``: files of this partition folder only,
    because the prefix ends in ``/part`` (``scan=a`` never matches
    ``scan=ab``) and neither the id (``check_scan_id``) nor the root
    (``check_output_root``) may hold a glob character;
  - ``finalize_write`` deletes the temporary shards it renamed and its
    temporary folder ``ROOT/<dataset>/scan=<id>/beam-temp-part-<uuid1>``,
    inside the same partition folder.

  That delete is also why one id must never be written twice under one
  root: a rerun would replace the earlier files of that id, so a run claims
  its id first (``pipeline.storage.claims.claim_scan``).
  """

  def __init__(self, root: str, dataset: str, scan_id: str):
    super().__init__()
    check_output_root(root)
    check_scan_id(scan_id)
    self._prefix = schemas.partition_dir(root, dataset, scan_id) + '/part'
    self._schema = schemas.DATASETS[dataset]

  def expand(self, records):
    return (records
            | 'ToRows' >> beam.Map(_as_dict)
            | 'WriteParquet' >> WriteToParquet(
                self._prefix, self._schema, file_name_suffix='.parquet',
                codec='zstd'))


def read_parquet_file(path: str) -> pa.Table:
  """One Parquet file, read whole through ``FileSystems`` (any scheme).

  ``ParquetFile``, not ``pq.read_table``: read_table's dataset scanner
  finishes releasing the buffer on an Arrow thread after it returns, and if
  the interpreter is exiting by then the process aborts ("terminate called
  without an active exception", pyarrow 25; apache/arrow#33975).
  """
  with FileSystems.open(path, mime_type='application/octet-stream') as f:
    data = f.read()
  try:
    return pq.ParquetFile(pa.BufferReader(data)).read()
  except pa.ArrowException as exc:
    raise BrokenParquetFile(f'{path} is not a readable Parquet file: '
                            f'{_one_line(exc)}') from exc


@contextlib.contextmanager
def open_parquet_file(path: str) -> Iterator[pq.ParquetFile]:
  """One Parquet file opened through ``FileSystems`` (any scheme) with only
  its footer read: the rows are then read in batches
  (``ParquetFile.iter_batches``), never whole.  A file that is no Parquet
  raises ``BrokenParquetFile`` naming it."""
  with FileSystems.open(
      path, mime_type='application/octet-stream',
      compression_type=CompressionTypes.UNCOMPRESSED) as f:
    try:
      parquet = pq.ParquetFile(f)
    except pa.ArrowException as exc:
      raise BrokenParquetFile(f'{path} is not a readable Parquet file: '
                              f'{_one_line(exc)}') from exc
    yield parquet


def check_parquet_footers(pattern: str) -> int:
  """Reads the footer of every file matching ``pattern`` (a few KB each,
  not the data): a file that is no Parquet raises ``BrokenParquetFile``
  naming it, before a job that would read it inside Beam starts.  Returns
  how many files there are."""
  paths = parquet_paths(pattern)
  for path in paths:
    with open_parquet_file(path):
      pass
  return len(paths)


def parquet_paths(pattern: str) -> List[str]:
  """The files matching ``pattern``, through ``FileSystems`` (any scheme),
  in name order."""
  return sorted(metadata.path
                for metadata in FileSystems.match([pattern])[0].metadata_list)


def read_tables(pattern: str) -> List[pa.Table]:
  """Every Parquet file matching ``pattern``, read through ``FileSystems``
  (any scheme), one table per file."""
  return [read_parquet_file(path) for path in parquet_paths(pattern)]


def read_partition(root: str, dataset: str, scan_id: str) -> pa.Table:
  """One scan's rows of one dataset, through ``FileSystems`` (any scheme).
  The id is checked first: a glob character in it would read other scans."""
  check_scan_id(scan_id)
  schema = schemas.DATASETS[dataset]
  tables = [cast_file(read_parquet_file(path), schema, path)
            for path in parquet_paths(
                schemas.partition_dir(root, dataset, scan_id) + '/*.parquet')]
  if not tables:
    return schema.empty_table()
  return pa.concat_tables(tables)


def cast_file(table: pa.Table, schema: pa.Schema, path: str) -> pa.Table:
  """``table`` (read from ``path``) cast to ``schema``; a file of another
  table raises ``BrokenParquetFile`` naming it."""
  try:
    return table.cast(schema)
  except (pa.ArrowException, ValueError, KeyError) as exc:
    raise BrokenParquetFile(f'{path} does not hold this dataset\'s columns: '
                            f'{_one_line(exc)}') from exc


def _one_line(exc: Exception) -> str:
  return ' '.join(str(exc).split())
