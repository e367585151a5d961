"""Writing and reading back the scan's Parquet datasets on any filesystem."""
from __future__ import annotations

from typing import List

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.parquetio import WriteToParquet

import schemas

from pipeline.storage.claims import check_output_root
from pipeline.storage.scan_ids import check_scan_id


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
    return pq.ParquetFile(pa.BufferReader(f.read())).read()


def read_tables(pattern: str) -> List[pa.Table]:
  """Every Parquet file matching ``pattern``, read through ``FileSystems``
  (any scheme), one table per file."""
  return [read_parquet_file(metadata.path)
          for metadata in FileSystems.match([pattern])[0].metadata_list]


def read_partition(root: str, dataset: str, scan_id: str) -> pa.Table:
  """One scan's rows of one dataset, through ``FileSystems`` (any scheme).
  The id is checked first: a glob character in it would read other scans."""
  check_scan_id(scan_id)
  tables = read_tables(
      schemas.partition_dir(root, dataset, scan_id) + '/*.parquet')
  schema = schemas.DATASETS[dataset]
  if not tables:
    return schema.empty_table()
  return pa.concat_tables([t.cast(schema) for t in tables])
