"""The reviewers' data: an output root's datasets, queried with DuckDB.

Every dataset is read through Beam's ``FileSystems`` (local, ``gs://`` or
any other scheme) into pyarrow, then queried by DuckDB on the Arrow tables,
so a root on a bucket DuckDB cannot reach (a GCS emulator, a private
endpoint) is queried exactly like a local one.

Files written by older scans may lack columns added since (the clip
``thumbnail``, new ledger counters): they read as nulls.

Also here: appending a verdict to the append-only ``reviews`` dataset, and
turning verdicts into measured precision per model version.
"""
from __future__ import annotations

import dataclasses
import datetime
import io
import secrets
from typing import Any, Dict, List, Optional, Sequence, Tuple

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

import schemas
from pipeline.runtime.private import private_files
from pipeline.storage import parquet as parquet_output
from schemas import review_tables
from schemas.hash_tables import HASH_MATCHES

LATEST_SCAN = 'latest'
CLIP_ORDER = 'peak_score DESC, mean_score DESC, video_uri, start_ms, label'


def relaxed(schema: pa.Schema) -> pa.Schema:
  """``schema`` with every field nullable (old files may lack new ones)."""
  return pa.schema([f.with_nullable(True) for f in schema],
                   metadata=schema.metadata)


def conform_to_schema(table: pa.Table, schema: pa.Schema) -> pa.Table:
  """``table`` with exactly ``schema``'s columns, in order: a column the
  file lacks becomes nulls, a column the schema lacks is dropped."""
  columns = [table.column(f.name).cast(f.type) if f.name in table.column_names
             else pa.nulls(table.num_rows, f.type) for f in schema]
  return pa.Table.from_arrays(columns, schema=relaxed(schema))


def read_parquet_files(pattern: str, schema: pa.Schema) -> pa.Table:
  """Every Parquet file matching ``pattern`` on any Beam filesystem, as
  one table with ``schema`` (see ``conform_to_schema``).  A file that is
  no Parquet, or whose columns do not fit, raises
  ``parquet_output.BrokenParquetFile`` naming it."""
  tables = []
  for path in parquet_output.parquet_paths(pattern):
    table = parquet_output.read_parquet_file(path)
    try:
      tables.append(conform_to_schema(table, schema))
    except (pa.ArrowException, ValueError) as exc:
      raise parquet_output.BrokenParquetFile(
          f"{path} does not hold this dataset's columns: "
          f"{' '.join(str(exc).split())}") from exc
  if not tables:
    return relaxed(schema).empty_table()
  return pa.concat_tables(tables)


@dataclasses.dataclass(frozen=True)
class ReviewData:
  """Every scan's clips and ledger, the hash matches and the verdicts."""
  clips: pa.Table
  videos: pa.Table
  hash_matches: pa.Table
  reviews: pa.Table


def load_review_data(root: str) -> ReviewData:
  return ReviewData(
      clips=read_parquet_files(schemas.dataset_glob(root, 'flagged_clips'),
                               schemas.FLAGGED_CLIPS),
      videos=read_parquet_files(schemas.dataset_glob(root, 'videos'),
                                schemas.VIDEOS),
      hash_matches=read_parquet_files(
          schemas.dataset_glob(root, 'hash_matches'), HASH_MATCHES),
      reviews=read_parquet_files(review_tables.reviews_glob(root),
                                 review_tables.REVIEWS))


def connect(data: ReviewData) -> duckdb.DuckDBPyConnection:
  """An in-memory DuckDB with the four tables registered under their
  dataset names."""
  con = duckdb.connect()
  con.register('flagged_clips', data.clips)
  con.register('videos', data.videos)
  con.register('hash_matches', data.hash_matches)
  con.register('reviews', data.reviews)
  return con


def video_durations_ms(data: ReviewData
                       ) -> Dict[Tuple[str, str], Optional[int]]:
  """Each ledger row's ``duration_ms`` by ``(video_id, scan_id)``: clip
  extraction clamps its context to it."""
  return {(v['video_id'], v['scan_id']): v['duration_ms']
          for v in data.videos.select(
              ['video_id', 'scan_id', 'duration_ms']).to_pylist()}


def _rows(con: duckdb.DuckDBPyConnection, sql: str,
          params: Sequence[Any] = ()) -> List[Dict[str, Any]]:
  return con.sql(sql, params=list(params)).to_arrow_table().to_pylist()


@dataclasses.dataclass(frozen=True)
class ClipFilter:
  """Which clips a reviewer asked for; empty fields do not filter."""
  labels: Tuple[str, ...] = ()
  min_score: Optional[float] = None
  model_versions: Tuple[str, ...] = ()
  scans: Tuple[str, ...] = ()      # scan ids, or 'latest'
  videos: Tuple[str, ...] = ()     # video ids or video URIs
  limit: Optional[int] = None


def latest_scan_id(con: duckdb.DuckDBPyConnection) -> Optional[str]:
  """The scan with the most recent ``scanned_at`` (ids need not sort)."""
  rows = _rows(con, """
      SELECT scan_id FROM (
        SELECT scan_id, scanned_at FROM videos
        UNION ALL SELECT scan_id, scanned_at FROM flagged_clips)
      GROUP BY scan_id ORDER BY max(scanned_at) DESC, scan_id DESC LIMIT 1""")
  return rows[0]['scan_id'] if rows else None


def resolve_scans(con: duckdb.DuckDBPyConnection,
                  scans: Sequence[str]) -> Tuple[str, ...]:
  """Scan ids with ``latest`` replaced by the most recent scan's id."""
  latest = latest_scan_id(con) if LATEST_SCAN in scans else None
  return tuple(latest if s == LATEST_SCAN else s for s in scans
               if s != LATEST_SCAN or latest is not None)


def _in(column: str, values: Sequence[Any]) -> str:
  return f"{column} IN ({', '.join('?' for _ in values)})"


def clip_conditions(con: duckdb.DuckDBPyConnection, clip_filter: ClipFilter
                    ) -> Tuple[str, List[Any]]:
  """A SQL ``WHERE`` clause over ``flagged_clips`` and its parameters."""
  conditions: List[str] = []
  params: List[Any] = []
  if clip_filter.labels:
    conditions.append(_in('label', clip_filter.labels))
    params += clip_filter.labels
  if clip_filter.min_score is not None:
    conditions.append('peak_score >= ?')
    params.append(clip_filter.min_score)
  if clip_filter.model_versions:
    conditions.append(_in('model_version', clip_filter.model_versions))
    params += clip_filter.model_versions
  if clip_filter.scans:
    scans = resolve_scans(con, clip_filter.scans) or ('',)
    conditions.append(_in('scan_id', scans))
    params += scans
  if clip_filter.videos:
    conditions.append(f"({_in('video_id', clip_filter.videos)} OR "
                      f"{_in('video_uri', clip_filter.videos)})")
    params += list(clip_filter.videos) * 2
  return ('WHERE ' + ' AND '.join(conditions)) if conditions else '', params


def top_clips(con: duckdb.DuckDBPyConnection, clip_filter: ClipFilter,
              with_thumbnails: bool = False) -> List[Dict[str, Any]]:
  """The highest-scoring clips that pass ``clip_filter``."""
  where, params = clip_conditions(con, clip_filter)
  columns = '*' if with_thumbnails else '* EXCLUDE (thumbnail)'
  limit = f'LIMIT {int(clip_filter.limit)}' if clip_filter.limit else ''
  return _rows(con, f'SELECT {columns} FROM flagged_clips {where} '
               f'ORDER BY {CLIP_ORDER} {limit}', params)


# The ledger statuses of videos that were not fully looked at: what
# ``rescan review videos`` lists by default.
UNSEEN_STATUSES = (schemas.STATUS_PARTIAL, schemas.STATUS_FAILED)
VIDEO_LIST_COLUMNS = ('status', 'coverage', 'frames_scored',
                      'samples_expected', 'error_kind', 'error_message',
                      'clips', 'duration_ms', 'codec', 'video_id',
                      'video_uri', 'model_name', 'model_version', 'scan_id',
                      'scanned_at')


@dataclasses.dataclass(frozen=True)
class VideoFilter:
  """Which ledger rows a reviewer asked for; empty fields do not filter."""
  statuses: Tuple[str, ...] = UNSEEN_STATUSES
  scans: Tuple[str, ...] = ()      # scan ids, or 'latest'
  limit: Optional[int] = None


def list_videos(con: duckdb.DuckDBPyConnection,
                video_filter: VideoFilter) -> List[Dict[str, Any]]:
  """Ledger rows by status (default: ``partial`` and ``failed``, the
  videos a scan did not fully look at), least covered first.  Rows of
  older scans, written before coverage was recorded, have a null
  ``coverage`` and come first: nothing vouches for them."""
  conditions: List[str] = []
  params: List[Any] = []
  if video_filter.statuses:
    conditions.append(_in('status', video_filter.statuses))
    params += video_filter.statuses
  if video_filter.scans:
    scans = resolve_scans(con, video_filter.scans) or ('',)
    conditions.append(_in('scan_id', scans))
    params += scans
  where = ('WHERE ' + ' AND '.join(conditions)) if conditions else ''
  limit = f'LIMIT {int(video_filter.limit)}' if video_filter.limit else ''
  return _rows(con, f"SELECT {', '.join(VIDEO_LIST_COLUMNS)} FROM videos "
               f'{where} ORDER BY coverage ASC NULLS FIRST, status, '
               f'video_uri, scan_id {limit}', params)


@dataclasses.dataclass(frozen=True)
class VideoTimeline:
  """One video in one scan: its ledger row, its clips in time order and
  the hash matches found for it."""
  video: Dict[str, Any]
  clips: List[Dict[str, Any]]
  hash_matches: List[Dict[str, Any]]


def video_timeline(con: duckdb.DuckDBPyConnection, video: str,
                   scan: Optional[str] = None) -> Optional[VideoTimeline]:
  """``video`` (an id or a URI) in ``scan``, by default its latest scan;
  ``None`` when no scan saw it."""
  scans = resolve_scans(con, (scan,)) if scan else ()
  scan_condition = f"AND {_in('scan_id', scans)}" if scan else ''
  ledger = _rows(con, f"""
      SELECT * FROM videos WHERE (video_id = ? OR video_uri = ?)
      {scan_condition} ORDER BY scanned_at DESC, scan_id DESC LIMIT 1""",
                 [video, video, *scans])
  if not ledger:
    return None
  row = ledger[0]
  clips = _rows(con, """
      SELECT * EXCLUDE (thumbnail) FROM flagged_clips
      WHERE video_id = ? AND scan_id = ? ORDER BY start_ms, label""",
                [row['video_id'], row['scan_id']])
  matches = top_hash_matches(con, [row['video_id']])
  return VideoTimeline(row, clips, matches)


def top_hash_matches(con: duckdb.DuckDBPyConnection,
                     video_ids: Optional[Sequence[str]] = None,
                     limit: Optional[int] = None) -> List[Dict[str, Any]]:
  """Hash matches, strongest first; only of ``video_ids`` when given."""
  where = f"WHERE {_in('video_id', list(video_ids) or [''])}" \
      if video_ids is not None else ''
  params = (list(video_ids) or ['']) if video_ids is not None else []
  limit_sql = f'LIMIT {int(limit)}' if limit else ''
  return _rows(con, f"""
      SELECT * FROM hash_matches {where}
      ORDER BY query_match_pct DESC, compared_match_pct DESC, video_uri,
               bank, entry_id {limit_sql}""", params)


SPARK_LEVELS = '▁▂▃▄▅▆▇█'
SPARK_EMPTY = '·'


def coverage_sparkline(clips: Sequence[Dict[str, Any]], duration_ms: int,
                       width: int = 60) -> str:
  """One character per ``duration_ms / width`` of the video: ``·`` where no
  clip covers it, else a bar as tall as the highest peak score of the
  clips that overlap it."""
  if duration_ms <= 0 or width <= 0:
    return ''
  cells: List[str] = []
  for cell in range(width):
    cell_start = duration_ms * cell / width
    cell_end = duration_ms * (cell + 1) / width
    scores = [c['peak_score'] for c in clips
              if c['start_ms'] < cell_end and c['end_ms'] > cell_start]
    if not scores:
      cells.append(SPARK_EMPTY)
      continue
    level = min(int(max(scores) * len(SPARK_LEVELS)), len(SPARK_LEVELS) - 1)
    cells.append(SPARK_LEVELS[max(level, 0)])
  return ''.join(cells)


def sparklines_by_label(timeline: VideoTimeline,
                        width: int = 60) -> Dict[str, str]:
  """A coverage sparkline per label of the video's clips."""
  duration = timeline.video.get('duration_ms') or max(
      (c['end_ms'] for c in timeline.clips), default=0)
  labels = sorted({c['label'] for c in timeline.clips})
  return {label: coverage_sparkline(
      [c for c in timeline.clips if c['label'] == label], duration, width)
          for label in labels}


def scan_stats(con: duckdb.DuckDBPyConnection,
               scans: Sequence[str] = ()) -> Dict[str, List[Dict[str, Any]]]:
  """Counts by status, label, model version and scan, and failures by
  ``error_kind``; over ``scans`` (all scans when empty)."""
  resolved = resolve_scans(con, scans) if scans else ()
  where = f"WHERE {_in('scan_id', resolved or ('',))}" if scans else ''
  params = list(resolved or ('',)) if scans else []
  failed_where = (where + ' AND ' if where else 'WHERE ') + "status = 'failed'"

  def query(sql: str, extra: Sequence[Any] = ()) -> List[Dict[str, Any]]:
    return _rows(con, sql, list(params) + list(extra))

  return {
      'videos_by_status': query(
          f'SELECT status, count(*) AS videos FROM videos {where} '
          'GROUP BY status ORDER BY videos DESC, status'),
      'failures_by_error_kind': query(
          f'SELECT error_kind, count(*) AS videos FROM videos '
          f'{failed_where} GROUP BY error_kind '
          'ORDER BY videos DESC, error_kind'),
      'clips_by_label': query(
          f'SELECT label, count(*) AS clips, '
          f'count(DISTINCT video_id) AS videos, '
          f'round(max(peak_score), 3) AS max_peak_score FROM flagged_clips '
          f'{where} GROUP BY label ORDER BY clips DESC, label'),
      'by_model_version': query(f"""
          SELECT model_name, model_version, count(*) AS videos,
                 sum(clips) AS clips, count(*) FILTER (status = 'failed')
                 AS failed FROM videos {where}
          GROUP BY model_name, model_version
          ORDER BY model_name, model_version"""),
      'by_scan': query(f"""
          SELECT scan_id, min(scanned_at) AS scanned_at,
                 any_value(model_version) AS model_version,
                 count(*) AS videos,
                 count(*) FILTER (status = 'scanned') AS scanned,
                 count(*) FILTER (status = 'partial') AS partial,
                 count(*) FILTER (status = 'failed') AS failed,
                 sum(clips) AS clips FROM videos {where}
          GROUP BY scan_id ORDER BY scanned_at, scan_id"""),
  }


def latest_verdicts(con: duckdb.DuckDBPyConnection) -> Dict[str, Dict]:
  """Each reviewed clip's verdict: its most recent review row."""
  rows = _rows(con, """
      SELECT * FROM reviews QUALIFY row_number() OVER (
        PARTITION BY clip_id ORDER BY reviewed_at DESC, reviewer) = 1""")
  return {row['clip_id']: row for row in rows}


def precision_by_model_version(con: duckdb.DuckDBPyConnection
                               ) -> List[Dict[str, Any]]:
  """Measured precision of each model version: among its reviewed clips
  (latest verdict per clip), violating / (violating + not violating);
  ``unsure`` verdicts are counted but left out of the ratio."""
  return _rows(con, f"""
      WITH latest AS (
        SELECT clip_id, verdict FROM reviews QUALIFY row_number() OVER (
          PARTITION BY clip_id ORDER BY reviewed_at DESC, reviewer) = 1),
      clip_models AS (
        SELECT DISTINCT clip_id, model_name, model_version
        FROM flagged_clips)
      SELECT model_name, model_version,
        count(*) AS reviewed,
        count(*) FILTER (verdict = '{review_tables.VIOLATING}') AS violating,
        count(*) FILTER (verdict = '{review_tables.NOT_VIOLATING}')
          AS not_violating,
        count(*) FILTER (verdict = '{review_tables.UNSURE}') AS unsure,
        round(count(*) FILTER (verdict = '{review_tables.VIOLATING}')
          / nullif(count(*) FILTER (verdict IN (
            '{review_tables.VIOLATING}', '{review_tables.NOT_VIOLATING}')), 0),
          4) AS precision
      FROM latest JOIN clip_models USING (clip_id)
      GROUP BY model_name, model_version ORDER BY model_name, model_version""")


class VerdictError(ValueError):
  """A verdict that cannot be recorded as given."""


@private_files()
def append_verdict(root: str, clip_id: str, verdict: str, reviewer: str,
                   note: Optional[str] = None,
                   reviewed_at: Optional[datetime.datetime] = None) -> str:
  """Writes one verdict as a new Parquet file under ``ROOT/reviews/``
  (never rewriting one), private like scan outputs; returns its path."""
  if verdict not in review_tables.VERDICTS:
    raise VerdictError(f'verdict must be one of {review_tables.VERDICTS}, '
                       f'got {verdict!r}')
  if not clip_id or not reviewer:
    raise VerdictError('a verdict needs a clip_id and a reviewer')
  reviewed_at = reviewed_at or datetime.datetime.now(datetime.timezone.utc)
  table = pa.Table.from_pylist(
      [dict(clip_id=clip_id, verdict=verdict, reviewer=reviewer,
            reviewed_at=reviewed_at, note=note or None)],
      schema=review_tables.REVIEWS)
  buffer = io.BytesIO()
  pq.write_table(table, buffer, compression='zstd')
  path = review_tables.review_file_path(root, reviewed_at,
                                        secrets.token_hex(4))
  with FileSystems.create(path, mime_type='application/octet-stream') as f:
    f.write(buffer.getvalue())
  return path
