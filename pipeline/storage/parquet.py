"""Writing and reading back the scan's Parquet datasets on any filesystem."""
from __future__ import annotations

import contextlib
from typing import Iterator, List, Optional, Sequence

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.parquetio import ReadAllFromParquet
from apache_beam.io.parquetio import WriteToParquet

import schemas

from pipeline.storage import scan_state
from pipeline.storage.claims import check_output_root
from pipeline.storage.scan_ids import check_scan_id


class BrokenParquetFile(ValueError):
  """A file that should be Parquet and is not (garbage, truncated, another
  table's schema): the message names the file, so that one bad file under a
  root is one line to act on, not a traceback."""


def _as_dict(record) -> dict:
  return record._asdict()


class WriteDataset(beam.PTransform):
  """Typed records -> ``ROOT/<dataset>/scan=<id>/<prefix>-*.parquet``,
  the prefix ``part``, or with ``--waves`` the wave's own
  (``scan_state.wave_file_prefix``).

  What the sink deletes, and why it can only be this scan's own files
  (Beam 2.77, ``apache_beam/io/filebasedsink.py``; every ``FileSystems``
  delete expands its paths as globs first, ``*`` never crossing a ``/``):

  - ``pre_finalize`` deletes the files matching the final-name glob,
    ``<prefix>-*-of-<NNNNN>.parquet`` with the prefix
    ``ROOT/<dataset>/scan=<id>/part``: files of this partition folder only,
    because the prefix ends in ``/part`` (``scan=a`` never matches
    ``scan=ab``) and neither the id (``check_scan_id``) nor the root
    (``check_output_root``) may hold a glob character; with waves the
    prefix ends in ``/wave-00002-of-00004-part``, so a wave's job deletes
    only its own wave's files, never a committed wave's;
  - ``finalize_write`` deletes the temporary shards it renamed and its
    temporary folder ``ROOT/<dataset>/scan=<id>/beam-temp-<prefix>-<uuid1>``,
    inside the same partition folder.  A killed job leaves that folder
    and, when killed while renaming, some of its final files: readers skip
    both (``scan_state.committed_paths``), later scans delete them
    (``scan_state.clean_orphans``).

  That delete is also why one id must never be written twice under one
  root: a rerun would replace the earlier files of that id, so a run claims
  its id first (``pipeline.storage.claims.claim_scan``).
  """

  def __init__(self, root: str, dataset: str, scan_id: str,
               wave: int = 0, waves: int = 1):
    super().__init__()
    check_output_root(root)
    check_scan_id(scan_id)
    self._prefix = (schemas.partition_dir(root, dataset, scan_id) + '/' +
                    scan_state.wave_file_prefix(wave, waves))
    self._schema = schemas.DATASETS[dataset]

  def expand(self, records):
    return (records
            | 'ToRows' >> beam.Map(_as_dict)
            | 'WriteParquet' >> WriteToParquet(
                self._prefix, self._schema, file_name_suffix='.parquet',
                codec='zstd'))


class ReadFiles(beam.PTransform):
  """Pipeline start -> the rows (dicts) of the Parquet files ``paths``,
  listed by the launcher (``scan_state.committed_paths``) instead of a
  glob, which would also read uncommitted files."""

  def __init__(self, paths: List[str],
               columns: Optional[Sequence[str]] = None):
    super().__init__()
    self._paths = list(paths)
    self._columns = list(columns) if columns is not None else None

  def expand(self, pbegin):
    return (pbegin
            | 'ListFiles' >> beam.Create(self._paths)
            | 'ReadAll' >> ReadAllFromParquet(columns=self._columns))


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


def check_parquet_footers(paths: List[str]) -> int:
  """Reads the footer of every file of ``paths`` (a few KB each, not the
  data): a file that is no Parquet raises ``BrokenParquetFile`` naming it,
  before a job that would read it inside Beam starts.  Returns how many
  files there are."""
  for path in paths:
    with open_parquet_file(path):
      pass
  return len(paths)


def column_max(paths: Sequence[str], column: str) -> Optional[object]:
  """The largest value of ``column`` in the files of ``paths`` (``None``
  when they hold no rows), from the row groups' statistics in the footers;
  a row group written without them has that one column read, never the
  other columns or the whole file."""
  best = None
  for path in paths:
    with open_parquet_file(path) as parquet:
      meta = parquet.metadata
      leaf = next((j for j in range(meta.num_columns)
                   if meta.schema.column(j).path == column), None)
      if leaf is None:
        raise BrokenParquetFile(f'{path} has no column {column!r}')
      for group in range(meta.num_row_groups):
        chunk = meta.row_group(group).column(leaf)
        stats = chunk.statistics
        if meta.row_group(group).num_rows == 0:
          continue
        if stats is not None and stats.has_min_max:
          value = stats.max
        else:
          value = pc.max(parquet.read_row_group(
              group, columns=[column]).column(column)).as_py()
        if value is not None and (best is None or value > best):
          best = value
  return best


def parquet_paths(pattern: str) -> List[str]:
  """The files matching ``pattern``, through ``FileSystems`` (any scheme),
  in name order."""
  return sorted(metadata.path
                for metadata in FileSystems.match([pattern])[0].metadata_list)


def read_partition(root: str, dataset: str, scan_id: str) -> pa.Table:
  """One scan's committed rows of one dataset
  (``scan_state.committed_paths``), through ``FileSystems`` (any scheme).
  The id is checked first: a glob character in it would read other scans."""
  check_scan_id(scan_id)
  schema = schemas.DATASETS[dataset]
  tables = [cast_file(read_parquet_file(path), schema, path)
            for path in scan_state.committed_paths(root, dataset, scan_id)]
  if not tables:
    return schema.empty_table()
  return pa.concat_tables(tables)


def read_partition_rows(root: str, dataset: str, scan_id: str,
                        column: str, values: Sequence[str],
                        batch_rows: int = 65_536) -> pa.Table:
  """One scan's committed rows of one dataset whose ``column`` is among
  ``values`` (``scan_state.committed_paths``), read file by file in record
  batches (``open_parquet_file``): memory holds the rows asked for and one
  batch, not the partition (``frame_scores`` of a long scan)."""
  check_scan_id(scan_id)
  schema = schemas.DATASETS[dataset]
  wanted = pa.array(sorted(set(values)), schema.field(column).type)
  tables = []
  for path in scan_state.committed_paths(root, dataset, scan_id):
    try:
      with open_parquet_file(path) as parquet:
        batches = [
            batch.filter(pc.is_in(batch.column(column), value_set=wanted))
            for batch in parquet.iter_batches(batch_size=batch_rows)]
    except pa.ArrowException as exc:  # a footer that reads, pages that do not
      raise BrokenParquetFile(f'{path} is not a readable Parquet file: '
                              f'{_one_line(exc)}') from exc
    if batches:
      tables.append(cast_file(pa.Table.from_batches(batches), schema, path))
  if not tables:
    return schema.empty_table()
  return pa.concat_tables(tables)


def cast_file(table: pa.Table, schema: pa.Schema, path: str) -> pa.Table:
  """``table`` (read from ``path``) cast to ``schema``, a column added
  since the file was written filled with its ``DEFAULTS_OF_OLD_FILES``
  value (``with_defaults``); a file of another table raises
  ``BrokenParquetFile`` naming it."""
  for name, value in schemas.DEFAULTS_OF_OLD_FILES.items():
    if name in schema.names and name not in table.column_names:
      table = table.append_column(
          name, pa.array([value] * table.num_rows, schema.field(name).type))
  try:
    return table.cast(schema)
  except (pa.ArrowException, ValueError, KeyError) as exc:
    raise BrokenParquetFile(f'{path} does not hold this dataset\'s columns: '
                            f'{_one_line(exc)}') from exc


def relaxed(schema: pa.Schema) -> pa.Schema:
  """``schema`` with every field nullable (old files may lack new ones)."""
  return pa.schema([f.with_nullable(True) for f in schema],
                   metadata=schema.metadata)


def conform_to_schema(table: pa.Table, schema: pa.Schema) -> pa.Table:
  """``table`` with exactly ``schema``'s columns, in order: a column the
  file lacks becomes nulls (``with_defaults`` then fills those that have
  a value for old files), a column the schema lacks is dropped."""
  columns = [table.column(f.name).cast(f.type) if f.name in table.column_names
             else pa.nulls(table.num_rows, f.type) for f in schema]
  return with_defaults(pa.Table.from_arrays(columns, schema=relaxed(schema)))


def with_defaults(table: pa.Table) -> pa.Table:
  """``table`` with the nulls of its columns in
  ``schemas.DEFAULTS_OF_OLD_FILES`` replaced by their value (a clip of a
  file from before audio scanning is a visual clip)."""
  for name, value in schemas.DEFAULTS_OF_OLD_FILES.items():
    if name in table.column_names and table.column(name).null_count:
      index = table.column_names.index(name)
      table = table.set_column(index, table.field(index),
                               pc.fill_null(table.column(name), value))
  return table


def read_parquet_files(pattern: str, schema: pa.Schema) -> pa.Table:
  """Every Parquet file matching ``pattern`` on any Beam filesystem, as
  one table with ``schema`` (``read_parquet_paths``)."""
  return read_parquet_paths(parquet_paths(pattern), schema)


def read_dataset(root: str, dataset: str,
                 scan_id: Optional[str] = None) -> pa.Table:
  """The committed rows of every scan (or of ``scan_id``) of ``dataset``
  under ``root`` (``scan_state.committed_paths``: never a killed wave's or
  a temporary file), with the dataset's schema relaxed: columns newer than
  a file are nulls."""
  return read_parquet_paths(
      scan_state.committed_paths(root, dataset, scan_id),
      schemas.DATASETS[dataset])


def read_parquet_paths(paths: Sequence[str], schema: pa.Schema) -> pa.Table:
  """The Parquet files ``paths`` on any Beam filesystem, as one table with
  ``schema`` (see ``conform_to_schema``).  A file that is no Parquet, or
  whose columns do not fit, raises ``BrokenParquetFile`` naming it."""
  tables = []
  for path in paths:
    table = read_parquet_file(path)
    try:
      tables.append(conform_to_schema(table, schema))
    except (pa.ArrowException, ValueError) as exc:
      raise BrokenParquetFile(
          f"{path} does not hold this dataset's columns: "
          f"{_one_line(exc)}") from exc
  if not tables:
    return relaxed(schema).empty_table()
  return pa.concat_tables(tables)


def _one_line(exc: Exception) -> str:
  return ' '.join(str(exc).split())
