"""The reviewers' data: an output root's datasets, queried with DuckDB.

Every dataset is read through Beam's ``FileSystems`` (local, ``gs://`` or
any other scheme) into pyarrow, then queried by DuckDB on the Arrow tables,
so a root on a bucket DuckDB cannot reach (a GCS emulator, a private
endpoint) is queried exactly like a local one.

Files written by older scans may lack columns added since (the clip
``thumbnail``, new ledger counters): they read as nulls, except the
columns of ``schemas.DEFAULTS_OF_OLD_FILES``: a clip or score from before
audio scanning has ``modality`` ``visual``.

Clips of both modalities are rows of one ``flagged_clips``: an audio
clip (``modality`` ``audio``) carries the audio model's name, version and
threshold, and its video's ledger row names that model in
``audio_model_name`` and ``audio_model_version``.

One answer per video: a root may hold several scans of the same videos
(a re-scan writes its own ``scan=<id>`` partition beside the first).  By
default (``load_review_data``) every query sees, for each video (its
``video_id`` and file, ``video_uri``) and model version, the rows of one
scan only: the latest scan that scored it (a later run that skipped it,
``--skip-scanned``, or failed on it does not hide the answer of the scan
that did look at it).  Two different files that two scans gave one
``video_id`` stay two videos.  ``select_scans`` with explicit scan ids
gives exactly those scans instead.  A ``rescan rethreshold`` partition
(clips only, re-assembled from a scan's stored ``frame_scores``, its rows
carrying ``source_scan_id``) never answers by default, so it cannot double
a video's clips; named with ``--scan`` it is shown with its source scan's
ledger rows.  A clip's id depends on its video,
label, start and model version, never on the scan
(``pipeline.scan.clips.clip_id``), so a verdict recorded on a clip of one
scan attaches to the same clip found again by a re-scan.

Also here: appending a verdict to the append-only ``reviews`` dataset
(who, when, what, why), each clip's verdict history, the outcome of
several reviewers' verdicts (``OUTCOME_RULE``) and the measured precision
per model version it gives.
"""
from __future__ import annotations

import dataclasses
import datetime
import getpass
import io
import os
import secrets
from typing import Any
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

import schemas
from pipeline.runtime.private import private_files
from pipeline.runtime.usage import listing
from pipeline.storage import files as storage_files
from pipeline.storage import parquet as parquet_output
from pipeline.storage import scan_state
from pipeline.storage.parquet import read_dataset
from pipeline.storage.parquet import read_parquet_files
from schemas import review_tables

LATEST_SCAN = 'latest'
CLIP_ORDER = 'peak_score DESC, mean_score DESC, video_uri, start_ms, label'


def scan_state_rows(root: str) -> List[Dict[str, Any]]:
  """Every scan under ``root`` with its recorded state
  (``scan_state.describe``: ``complete``, ``running or killed, 1 of 3
  waves committed``, ``failed, ...``, or a scan from before states)."""
  return [{'scan_id': scan_id, 'state': scan_state.describe(state)}
          for scan_id, state in sorted(scan_state.scan_states(root).items())]


@dataclasses.dataclass(frozen=True)
class ReviewData:
  """The clips and ledger rows a query sees, the hash matches and the
  verdicts."""
  clips: pa.Table
  videos: pa.Table
  hash_matches: pa.Table
  reviews: pa.Table


class ReviewUsageError(ValueError):
  """A question the root cannot answer as asked: a root with no scan
  output, or a scan, label, model version, video or clip it does not
  hold.  The commands print it as one line and exit 2."""


def load_all_review_data(root: str) -> ReviewData:
  """Every scan's rows under ``root``, duplicates of re-scanned videos
  included (``load_review_data`` keeps one answer per video)."""
  return ReviewData(
      clips=read_dataset(root, 'flagged_clips'),
      videos=read_dataset(root, 'videos'),
      hash_matches=read_dataset(root, 'hash_matches'),
      reviews=read_parquet_files(review_tables.reviews_glob(root),
                                 review_tables.REVIEWS))


def load_review_data(root: str, scans: Sequence[str] = ()) -> ReviewData:
  """What the review commands and the page show: by default each video's
  latest scan per model version (``select_scans``), or exactly ``scans``
  (ids, or ``latest``) when given."""
  return select_scans(load_all_review_data(root), scans)


# Ledger statuses of a scan that looked at the video: its answer stands
# until a later scan looks again.
SCORED_STATUSES = (schemas.STATUS_SCANNED, schemas.STATUS_PARTIAL)
# The ledger's ``audio_status`` values of a scan whose audio model heard
# the soundtrack (``schemas.tables.VIDEOS``).
AUDIO_SCORED_STATUSES = ('ok', 'partial')
_ANSWER_KEYS = ('video_id', 'video_uri', 'model_name', 'model_version',
                'scan_id')


def _sql_list(values: Sequence[str]) -> str:
  return ', '.join(f"'{v}'" for v in values)


def answering_scans(data: ReviewData) -> pa.Table:
  """For each ``(video_id, video_uri, model_name, model_version)`` the one
  scan whose rows answer for it: the latest (``scanned_at``, then
  ``scan_id``) that scored the video, else the latest that saw it at all
  (only failed or skipped rows).  Clip rows count as scored (old roots
  may lack a ledger row).  A scan's audio model answers for the video
  under its own name and version (the ledger's ``audio_model_name`` and
  ``audio_model_version``), apart from its visual model: a re-scan that
  heard no gunfire hides the audio clips of an earlier scan."""
  con = connect(data)
  return con.sql(f"""
      WITH runs AS (
        SELECT video_id, video_uri, model_name, model_version, scan_id,
               max(scanned_at) AS scanned_at,
               bool_or(status IN ({_sql_list(SCORED_STATUSES)})) AS scored
        FROM videos GROUP BY ALL
        UNION ALL
        SELECT video_id, video_uri, audio_model_name, audio_model_version,
               scan_id, max(scanned_at),
               bool_or(audio_status IN ({_sql_list(AUDIO_SCORED_STATUSES)}))
        FROM videos WHERE audio_model_name IS NOT NULL GROUP BY ALL
        UNION ALL
        SELECT video_id, video_uri, model_name, model_version, scan_id,
               max(scanned_at), true FROM flagged_clips GROUP BY ALL),
      candidates AS (
        SELECT video_id, video_uri, model_name, model_version, scan_id,
               max(scanned_at) AS scanned_at, bool_or(scored) AS scored
        FROM runs GROUP BY ALL)
      SELECT video_id, video_uri, model_name, model_version, scan_id
      FROM candidates QUALIFY row_number() OVER (
        PARTITION BY video_id, video_uri, model_name, model_version
        ORDER BY scored DESC, scanned_at DESC NULLS LAST, scan_id DESC) = 1
      """).to_arrow_table().cast(pa.schema(
          [pa.field(k, pa.string()) for k in _ANSWER_KEYS]))


def _keep(table: pa.Table, keys: pa.Table, columns: Sequence[str]
          ) -> pa.Table:
  """The rows of ``table`` whose ``columns`` appear in ``keys``, with
  ``table``'s schema."""
  if table.num_rows == 0:
    return table
  kept = table.join(keys.select(list(columns)), keys=list(columns),
                    join_type='left semi')
  return kept.select(table.column_names).cast(table.schema)


def _only_scans(table: pa.Table, scans: Sequence[str]) -> pa.Table:
  return _keep(table, pa.table({'scan_id': pa.array(list(scans),
                                                    pa.string())}),
               ('scan_id',))


def scan_ids(data: ReviewData) -> List[str]:
  """The scans under the root, oldest first."""
  con = connect(data)
  return [r['scan_id'] for r in _rows(con, """
      SELECT scan_id FROM (
        SELECT scan_id, scanned_at FROM videos
        UNION ALL SELECT scan_id, scanned_at FROM flagged_clips)
      GROUP BY scan_id ORDER BY max(scanned_at), scan_id""")]


def rethreshold_sources(data: ReviewData) -> Dict[str, str]:
  """The ``rescan rethreshold`` partitions among ``data``'s clips: their id
  -> the scan whose stored scores they were re-assembled from."""
  con = connect(data)
  return {r['scan_id']: r['source_scan_id'] for r in _rows(con, """
      SELECT DISTINCT scan_id, source_scan_id FROM flagged_clips
      WHERE source_scan_id IS NOT NULL""")}


def _scans_own_clips(table: pa.Table) -> pa.Table:
  """The clips scans flagged themselves (no rethreshold partition's)."""
  if table.num_rows == 0:
    return table
  return table.filter(pc.is_null(table.column('source_scan_id')))


def select_scans(data: ReviewData, scans: Sequence[str] = ()) -> ReviewData:
  """``data`` with one answer per video: without ``scans``, the rows of
  each video's answering scan (``answering_scans``); with ``scans`` (ids,
  or ``latest`` for the most recent), the rows of exactly those scans.  An
  id the root does not hold raises ``ReviewUsageError``.

  A ``rescan rethreshold`` partition (clips only, re-assembled from a
  scan's stored scores) never answers by default: the scan's own clips
  do, so nothing counts twice.  Named in ``scans`` it is shown instead,
  with the ledger rows of its source scan; ``latest`` is the latest scan,
  never a rethreshold partition."""
  if scans:
    known = scan_ids(data)
    resolved = resolve_scans(connect(data), scans)
    unknown = [s for s in scans if s != LATEST_SCAN and s not in known]
    if unknown or not resolved:
      raise ReviewUsageError(
          f'no scan {unknown[0] if unknown else LATEST_SCAN!r} under this '
          f'root (scans: {listing(known)})')
    sources = rethreshold_sources(data)
    ledgers = list(resolved) + [sources[s] for s in resolved if s in sources]
    return dataclasses.replace(data, clips=_only_scans(data.clips, resolved),
                               videos=_only_scans(data.videos, ledgers))
  own = dataclasses.replace(data, clips=_scans_own_clips(data.clips))
  answers = answering_scans(own)
  return dataclasses.replace(data, clips=_keep(own.clips, answers,
                                               _ANSWER_KEYS),
                             videos=_answering_ledger_rows(data.videos,
                                                           answers))


def _answering_ledger_rows(videos: pa.Table, answers: pa.Table) -> pa.Table:
  """The ledger rows whose scan answers for their video under its visual
  model or under its audio model (``answering_scans``)."""
  if videos.num_rows == 0:
    return videos
  con = duckdb.connect()
  con.register('videos', videos)
  con.register('answers', answers)
  return con.sql("""
      SELECT * FROM videos v WHERE EXISTS (
        SELECT 1 FROM answers a
        WHERE a.video_id = v.video_id AND a.video_uri = v.video_uri
          AND a.scan_id = v.scan_id
          AND ((a.model_name = v.model_name
                AND a.model_version = v.model_version)
               OR (a.model_name = v.audio_model_name
                   AND a.model_version = v.audio_model_version)))
      """).to_arrow_table().cast(videos.schema)


def check_root(root: str, data: ReviewData) -> None:
  """Raises ``ReviewUsageError`` when ``root`` holds no scan output: it
  does not exist, it is an empty or unrelated folder, or it is a folder of
  output roots (the root's parent), which the message then names."""
  if data.videos.num_rows or data.clips.num_rows:
    return
  if not storage_files.has_scheme(root) and not os.path.exists(root):
    raise ReviewUsageError(f'{root} does not exist (give the --output '
                           'root of a scan)')
  children = sorted({path[:path.index('/videos/')] for path in
                     parquet_output.parquet_paths(
                         f"{root.rstrip('/')}/*/videos/*/*.parquet")
                     if '/videos/' in path})
  if children:
    raise ReviewUsageError(
        f'{root} holds no scan output itself, but these folders in it do: '
        f'{listing(children, 3)}; pass one of them as --output')
  raise ReviewUsageError(f'{root} holds no scan output (no Parquet files '
                         'under videos/ or flagged_clips/): is it the '
                         '--output root of a scan?')


def connect(data: ReviewData) -> duckdb.DuckDBPyConnection:
  """An in-memory DuckDB with the four tables registered under their
  dataset names."""
  con = duckdb.connect()
  con.register('flagged_clips', data.clips)
  con.register('videos', data.videos)
  con.register('hash_matches', data.hash_matches)
  con.register('reviews', data.reviews)
  return con


def ledger_by_clip_scan(data: ReviewData,
                        columns: Optional[Sequence[str]] = None
                        ) -> Dict[Tuple[str, str], Dict[str, Any]]:
  """Each ledger row (``columns`` of it) by ``(video_id, scan_id)``, and
  by the id of each rethreshold partition of its scan: the row a clip's
  ``(video_id, scan_id)`` finds its video's ledger under."""
  names = list(columns or data.videos.column_names)
  rows = {(v['video_id'], v['scan_id']): v for v in data.videos.select(
      sorted({*names, 'video_id', 'scan_id'})).to_pylist()}
  for partition, source in rethreshold_sources(data).items():
    rows.update({(video_id, partition): row
                 for (video_id, scan_id), row in list(rows.items())
                 if scan_id == source})
  return rows


def video_durations_ms(data: ReviewData
                       ) -> Dict[Tuple[str, str], Optional[int]]:
  """Each ledger row's ``duration_ms`` by a clip's ``(video_id,
  scan_id)`` (``ledger_by_clip_scan``): clip extraction clamps its
  context to it."""
  return {key: row['duration_ms'] for key, row in
          ledger_by_clip_scan(data, ['duration_ms']).items()}


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
  modalities: Tuple[str, ...] = ()  # of schemas.MODALITIES
  limit: Optional[int] = None


def latest_scan_id(con: duckdb.DuckDBPyConnection) -> Optional[str]:
  """The scan with the most recent ``scanned_at`` (ids need not sort);
  never a rethreshold partition."""
  rows = _rows(con, """
      SELECT scan_id FROM (
        SELECT scan_id, scanned_at FROM videos
        UNION ALL SELECT scan_id, scanned_at FROM flagged_clips
        WHERE source_scan_id IS NULL)
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


class _Where:
  """A SQL ``WHERE`` clause built condition by condition, with its
  parameters in order (values never enter the SQL text)."""

  def __init__(self):
    self.conditions: List[str] = []
    self.params: List[Any] = []

  def add(self, condition: str, *params: Any) -> None:
    self.conditions.append(condition)
    self.params += params

  def add_in(self, column: str, values: Sequence[Any]) -> None:
    self.add(_in(column, values), *values)

  def add_scans(self, con: duckdb.DuckDBPyConnection,
                scans: Sequence[str]) -> None:
    """``scan_id`` among ``scans`` (``latest`` resolved; none match when
    ``latest`` names no scan)."""
    self.add_in('scan_id', resolve_scans(con, scans) or ('',))

  def clause(self) -> Tuple[str, List[Any]]:
    where = ('WHERE ' + ' AND '.join(self.conditions)
             if self.conditions else '')
    return where, self.params


def clip_conditions(con: duckdb.DuckDBPyConnection, clip_filter: ClipFilter
                    ) -> Tuple[str, List[Any]]:
  """A SQL ``WHERE`` clause over ``flagged_clips`` and its parameters."""
  where = _Where()
  if clip_filter.labels:
    where.add_in('label', clip_filter.labels)
  if clip_filter.min_score is not None:
    where.add('peak_score >= ?', clip_filter.min_score)
  if clip_filter.model_versions:
    where.add_in('model_version', clip_filter.model_versions)
  if clip_filter.modalities:
    where.add_in('modality', clip_filter.modalities)
  if clip_filter.scans:
    where.add_scans(con, clip_filter.scans)
  if clip_filter.videos:
    where.add(f"({_in('video_id', clip_filter.videos)} OR "
              f"{_in('video_uri', clip_filter.videos)})",
              *clip_filter.videos, *clip_filter.videos)
  return where.clause()


def top_clips(con: duckdb.DuckDBPyConnection, clip_filter: ClipFilter,
              with_thumbnails: bool = False) -> List[Dict[str, Any]]:
  """The highest-scoring clips that pass ``clip_filter``."""
  where, params = clip_conditions(con, clip_filter)
  columns = '*' if with_thumbnails else '* EXCLUDE (thumbnail)'
  limit = f'LIMIT {int(clip_filter.limit)}' if clip_filter.limit else ''
  return _rows(con, f'SELECT {columns} FROM flagged_clips {where} '
               f'ORDER BY {CLIP_ORDER} {limit}', params)


def count_clips(con: duckdb.DuckDBPyConnection,
                clip_filter: ClipFilter = ClipFilter()) -> int:
  """How many clip rows pass ``clip_filter`` (its limit aside): the M of
  "N of M shown".  One per clip, unless several scans were selected."""
  where, params = clip_conditions(con, clip_filter)
  return _rows(con, f'SELECT count(*) AS n FROM flagged_clips {where}',
               params)[0]['n']


def _column_values(con: duckdb.DuckDBPyConnection, sql: str) -> List[str]:
  """The non-null values of the one-column (``v``) query ``sql``."""
  return sorted(row['v'] for row in _rows(con, sql) if row['v'] is not None)


def resolve_video_names(data: ReviewData,
                        names: Sequence[str]) -> Tuple[str, ...]:
  """``names`` (video ids or URIs) with a local path the root does not
  know as typed (``archive/a.mp4``, ``./a.mp4``) replaced by its canonical
  URI, the name scans record (``storage.files.canonical_uri``)."""
  if not names:
    return ()
  known = set(_column_values(connect(data), _VIDEO_NAMES_SQL))
  resolved = []
  for name in names:
    if name not in known and not storage_files.has_scheme(name):
      canonical = storage_files.canonical_uri(name)
      name = canonical if canonical in known else name
    resolved.append(name)
  return tuple(resolved)


_VIDEO_NAMES_SQL = """
    SELECT video_id AS v FROM videos UNION SELECT video_uri FROM videos
    UNION SELECT video_id FROM flagged_clips
    UNION SELECT video_uri FROM flagged_clips"""


def check_names(data: ReviewData, labels: Sequence[str] = (),
                model_versions: Sequence[str] = (),
                videos: Sequence[str] = ()) -> None:
  """Raises ``ReviewUsageError`` for a label, model version or video (id
  or URI) that no scan under the root has: a typo, not an empty answer.
  ``data`` should be every scan's rows (``load_all_review_data``), so a
  name a re-scan no longer flags is still known."""
  con = connect(data)
  checks = (
      ('label', labels, 'SELECT DISTINCT label AS v FROM flagged_clips',
       True),
      ('model version', model_versions, """
          SELECT model_version AS v FROM videos
          UNION SELECT audio_model_version FROM videos
          UNION SELECT model_version FROM flagged_clips""", True),
      ('video', videos, _VIDEO_NAMES_SQL, False),
  )
  for kind, wanted, sql, list_known in checks:
    if not wanted:
      continue
    known = _column_values(con, sql)
    missing = [w for w in wanted if w not in set(known)]
    if missing:
      hint = f" ({kind}s: {listing(known)})" if list_known else ''
      raise ReviewUsageError(f'no scan under this root has {kind} '
                             f'{missing[0]!r}{hint}')


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


def _video_conditions(con: duckdb.DuckDBPyConnection,
                      video_filter: VideoFilter) -> Tuple[str, List[Any]]:
  where = _Where()
  if video_filter.statuses:
    where.add_in('status', video_filter.statuses)
  if video_filter.scans:
    where.add_scans(con, video_filter.scans)
  return where.clause()


def list_videos(con: duckdb.DuckDBPyConnection,
                video_filter: VideoFilter) -> List[Dict[str, Any]]:
  """Ledger rows by status (default: ``partial`` and ``failed``, the
  videos a scan did not fully look at), least covered first.  Rows of
  older scans, written before coverage was recorded, have a null
  ``coverage`` and come first: nothing vouches for them."""
  where, params = _video_conditions(con, video_filter)
  limit = f'LIMIT {int(video_filter.limit)}' if video_filter.limit else ''
  return _rows(con, f"SELECT {', '.join(VIDEO_LIST_COLUMNS)} FROM videos "
               f'{where} ORDER BY coverage ASC NULLS FIRST, status, '
               f'video_uri, scan_id {limit}', params)


def count_videos(con: duckdb.DuckDBPyConnection,
                 video_filter: VideoFilter) -> int:
  """How many ledger rows pass ``video_filter`` (its limit aside)."""
  where, params = _video_conditions(con, video_filter)
  return _rows(con, f'SELECT count(*) AS n FROM videos {where}',
               params)[0]['n']


@dataclasses.dataclass(frozen=True)
class VideoTimeline:
  """One video in one scan: its ledger row, its clips in time order (each
  with its verdict ``outcome``, ``None`` when unreviewed), the hash
  matches found for it and every verdict on its clips, oldest first."""
  video: Dict[str, Any]
  clips: List[Dict[str, Any]]
  hash_matches: List[Dict[str, Any]]
  verdicts: List[Dict[str, Any]] = dataclasses.field(default_factory=list)


def video_timeline(con: duckdb.DuckDBPyConnection, video: str,
                   scan: Optional[str] = None) -> Optional[VideoTimeline]:
  """``video`` (an id or a URI) in ``scan``, by default its latest scan;
  ``None`` when no scan saw it."""
  scans = (resolve_scans(con, (scan,)) or ('',)) if scan else ()
  scan_condition = f"AND {_in('scan_id', scans)}" if scan else ''
  ledger = _rows(con, f"""
      SELECT * FROM videos WHERE (video_id = ? OR video_uri = ?)
      {scan_condition} ORDER BY scanned_at DESC, scan_id DESC LIMIT 1""",
                 [video, video, *scans])
  if not ledger:
    return None
  row = ledger[0]
  # The clips of its scan, or of a rethreshold partition of it when one
  # was selected (``select_scans``).
  clips = _rows(con, """
      SELECT * EXCLUDE (thumbnail) FROM flagged_clips
      WHERE video_id = ? AND (scan_id = ? OR source_scan_id = ?)
      ORDER BY start_ms, label""",
                [row['video_id'], row['scan_id'], row['scan_id']])
  clip_ids = [c['clip_id'] for c in clips]
  outcomes = clip_outcomes(con, clip_ids)
  for clip in clips:
    clip['outcome'] = outcomes.get(clip['clip_id'], {}).get('outcome')
  matches = top_hash_matches(con, [row['video_id']])
  return VideoTimeline(row, clips, matches, verdict_history(con, clip_ids))


def top_hash_matches(con: duckdb.DuckDBPyConnection,
                     video_ids: Optional[Sequence[str]] = None,
                     limit: Optional[int] = None,
                     source_clip_id: Optional[str] = None
                     ) -> List[Dict[str, Any]]:
  """Hash matches, strongest first; only of ``video_ids`` when given, only
  the copies of the confirmed clip ``source_clip_id`` when given.

  A match of a bank entry made from a confirmed clip (``source_clip_id``,
  ``rescan bank import --from-verdicts``) is a copy of that clip: it comes
  with the clip's ``source_video_id``, ``source_video_uri``,
  ``source_start_ms`` and ``source_end_ms`` (null when the root does not
  hold the clip)."""
  conditions = [f"{_in('m.video_id', list(video_ids) or [''])}"] \
      if video_ids is not None else []
  params = (list(video_ids) or ['']) if video_ids is not None else []
  if source_clip_id is not None:
    conditions.append('m.source_clip_id = ?')
    params.append(source_clip_id)
  where = f"WHERE {' AND '.join(conditions)}" if conditions else ''
  limit_sql = f'LIMIT {int(limit)}' if limit else ''
  return _rows(con, f"""
      WITH source AS (
        SELECT clip_id, any_value(video_id) AS source_video_id,
               any_value(video_uri) AS source_video_uri,
               any_value(start_ms) AS source_start_ms,
               any_value(end_ms) AS source_end_ms
        FROM flagged_clips GROUP BY clip_id)
      SELECT m.*, source.* EXCLUDE (clip_id)
      FROM hash_matches m LEFT JOIN source
        ON source.clip_id = m.source_clip_id {where}
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


def series_name(row: Dict[str, Any]) -> str:
  """What a clip's (or a score curve's) series is called on a timeline:
  its label, with `` (audio)`` for the audio model's (the two models may
  share a label)."""
  if row.get('modality') == schemas.MODALITY_AUDIO:
    return f"{row['label']} ({schemas.MODALITY_AUDIO})"
  return row['label']


def sparklines_by_label(timeline: VideoTimeline,
                        width: int = 60) -> Dict[str, str]:
  """A coverage sparkline per label of the video's clips, the audio
  model's labels apart and after the visual ones (``series_name``), on
  one time axis."""
  duration = timeline.video.get('duration_ms') or max(
      (c['end_ms'] for c in timeline.clips), default=0)
  series = sorted({(c.get('modality') == schemas.MODALITY_AUDIO,
                    series_name(c)) for c in timeline.clips})
  return {name: coverage_sparkline(
      [c for c in timeline.clips if series_name(c) == name], duration, width)
          for _, name in series}


def scan_stats(con: duckdb.DuckDBPyConnection,
               scans: Sequence[str] = ()) -> Dict[str, List[Dict[str, Any]]]:
  """Counts of distinct videos and clips: in all, by status, modality,
  label, model version (visual and audio models) and scan, failures by
  ``error_kind`` and, when a scan ran an audio model, the videos by
  ``audio_status`` with their audio coverage; over ``scans`` (all the
  rows ``con`` holds when empty)."""
  resolved = resolve_scans(con, scans) if scans else ()
  where = f"WHERE {_in('scan_id', resolved or ('',))}" if scans else ''
  params = list(resolved or ('',)) if scans else []
  failed_where = (where + ' AND ' if where else 'WHERE ') + "status = 'failed'"
  where_audio = ((where + ' AND ' if where else 'WHERE ')
                 + 'audio_model_name IS NOT NULL')

  def query(sql: str, times: int = 1) -> List[Dict[str, Any]]:
    return _rows(con, sql, list(params) * times)

  stats = {
      'totals': query(f"""
          SELECT (SELECT count(DISTINCT video_id) FROM videos {where})
                   AS videos,
                 (SELECT count(DISTINCT clip_id) FROM flagged_clips {where})
                   AS clips,
                 (SELECT count(DISTINCT scan_id) FROM videos {where})
                   AS scans""", 3),
      'videos_by_status': query(
          f'SELECT status, count(DISTINCT video_id) AS videos FROM videos '
          f'{where} GROUP BY status ORDER BY videos DESC, status'),
      'failures_by_error_kind': query(
          f'SELECT error_kind, count(DISTINCT video_id) AS videos '
          f'FROM videos {failed_where} GROUP BY error_kind '
          'ORDER BY videos DESC, error_kind'),
      'clips_by_modality': query(
          f'SELECT modality, count(DISTINCT clip_id) AS clips, '
          f'count(DISTINCT video_id) AS videos, '
          f'round(max(peak_score)::DOUBLE, 3) AS max_peak_score '
          f'FROM flagged_clips '
          f'{where} GROUP BY modality ORDER BY modality DESC'),
      'clips_by_label': query(
          f'SELECT modality, label, count(DISTINCT clip_id) AS clips, '
          f'count(DISTINCT video_id) AS videos, '
          f'round(max(peak_score)::DOUBLE, 3) AS max_peak_score '
          f'FROM flagged_clips '
          f'{where} GROUP BY modality, label '
          f'ORDER BY modality DESC, clips DESC, label'),
      'by_model_version': query(f"""
          WITH models AS (
            SELECT model_name, model_version, video_id, status, scan_id
            FROM videos
            UNION ALL
            SELECT audio_model_name, audio_model_version, video_id,
                   audio_status, scan_id
            FROM videos WHERE audio_model_name IS NOT NULL),
          v AS (
            SELECT model_name, model_version,
                   count(DISTINCT video_id) AS videos,
                   count(DISTINCT video_id) FILTER (status = 'failed')
                     AS failed
            FROM models {where} GROUP BY ALL),
          c AS (
            SELECT model_name, model_version,
                   count(DISTINCT clip_id) AS clips
            FROM flagged_clips {where} GROUP BY ALL)
          SELECT model_name, model_version, videos,
                 coalesce(clips, 0) AS clips, failed
          FROM v LEFT JOIN c USING (model_name, model_version)
          ORDER BY model_name, model_version""", 2),
      'by_scan': query(f"""
          WITH v AS (
            SELECT scan_id, min(scanned_at) AS scanned_at,
                   any_value(model_version) AS model_version,
                   count(*) AS videos,
                   count(*) FILTER (status = 'scanned') AS scanned,
                   count(*) FILTER (status = 'partial') AS partial,
                   count(*) FILTER (status = 'failed') AS failed
            FROM videos {where} GROUP BY scan_id),
          c AS (
            SELECT scan_id, count(DISTINCT clip_id) AS clips
            FROM flagged_clips {where} GROUP BY scan_id)
          SELECT v.*, coalesce(clips, 0) AS clips
          FROM v LEFT JOIN c USING (scan_id)
          ORDER BY scanned_at, scan_id""", 2),
      # Rows only for scans that ran an audio model (--audio-model).
      'audio_by_status': query(f"""
          SELECT audio_model_name, audio_model_version, audio_status,
                 count(DISTINCT video_id) AS videos,
                 sum(audio_windows_scored) AS windows_scored,
                 sum(audio_windows_expected) AS windows_expected,
                 round(sum(audio_windows_scored)
                       / nullif(sum(audio_windows_expected), 0), 4)
                   AS audio_coverage,
                 round(max(audio_max_score)::DOUBLE, 3) AS max_audio_score
          FROM videos {where_audio}
          GROUP BY ALL ORDER BY audio_model_name, audio_model_version,
                                videos DESC, audio_status"""),
  }
  if not stats['audio_by_status']:
    del stats['audio_by_status']  # no scan here had an audio model
  return stats


DISPUTED = 'disputed'
OUTCOME_RULE = (
    "each reviewer's latest verdict on a clip counts once, and the verdict "
    'most reviewers gave is the outcome; a tie for the most is "disputed": '
    'counted apart and left out of precision, like "unsure"')

# Each reviewer's latest verdict per clip.
_PER_REVIEWER = """
    SELECT clip_id, reviewer, verdict, reviewed_at, note FROM reviews
    QUALIFY row_number() OVER (PARTITION BY clip_id, reviewer
                               ORDER BY reviewed_at DESC, verdict) = 1"""
# ``OUTCOME_RULE`` as CTEs; ``outcomes`` has one row per reviewed clip.
_OUTCOMES = f"""
    per_reviewer AS ({_PER_REVIEWER}),
    votes AS (
      SELECT clip_id, verdict, count(*) AS votes
      FROM per_reviewer GROUP BY clip_id, verdict),
    ranked AS (
      SELECT *, max(votes) OVER (PARTITION BY clip_id) AS most FROM votes),
    tallies AS (
      SELECT clip_id,
             CASE WHEN count(*) FILTER (votes = most) > 1 THEN '{DISPUTED}'
                  ELSE any_value(verdict) FILTER (votes = most)
             END AS outcome,
             CAST(sum(votes) AS BIGINT) AS reviewers,
             count(*) AS distinct_verdicts
      FROM ranked GROUP BY clip_id),
    outcomes AS (
      SELECT t.*, p.verdicts, p.last_reviewed_at FROM tallies t JOIN (
        SELECT clip_id,
               string_agg(reviewer || ': ' || verdict, '; '
                          ORDER BY reviewer) AS verdicts,
               max(reviewed_at) AS last_reviewed_at
        FROM per_reviewer GROUP BY clip_id) p USING (clip_id))"""
# The same CTEs for the page's queue (``pipeline.review.queue``).
OUTCOMES_CTE = _OUTCOMES


def latest_verdicts(con: duckdb.DuckDBPyConnection) -> Dict[str, Dict]:
  """Each reviewed clip's most recent review row, whoever wrote it (what
  the page shows as "last verdict"; ``clip_outcomes`` applies
  ``OUTCOME_RULE`` over every reviewer)."""
  rows = _rows(con, """
      SELECT * FROM reviews QUALIFY row_number() OVER (
        PARTITION BY clip_id ORDER BY reviewed_at DESC, reviewer) = 1""")
  return {row['clip_id']: row for row in rows}


def verdict_history(con: duckdb.DuckDBPyConnection,
                    clip_ids: Optional[Sequence[str]] = None
                    ) -> List[Dict[str, Any]]:
  """Every verdict (who, when, what, note), oldest first; only on
  ``clip_ids`` when given."""
  where = f"WHERE {_in('clip_id', list(clip_ids) or [''])}" \
      if clip_ids is not None else ''
  params = (list(clip_ids) or ['']) if clip_ids is not None else []
  return _rows(con, f"""
      SELECT clip_id, reviewed_at, reviewer, verdict, note FROM reviews
      {where} ORDER BY reviewed_at, clip_id, reviewer""", params)


def clip_outcomes(con: duckdb.DuckDBPyConnection,
                  clip_ids: Optional[Sequence[str]] = None
                  ) -> Dict[str, Dict[str, Any]]:
  """Each reviewed clip's ``outcome`` under ``OUTCOME_RULE`` (a verdict or
  ``disputed``), its number of ``reviewers``, ``distinct_verdicts`` among
  their latest verdicts, those ``verdicts`` as text and
  ``last_reviewed_at``; only of ``clip_ids`` when given."""
  where = f"WHERE {_in('clip_id', list(clip_ids) or [''])}" \
      if clip_ids is not None else ''
  params = (list(clip_ids) or ['']) if clip_ids is not None else []
  rows = _rows(con, f'WITH {_OUTCOMES} SELECT * FROM outcomes {where}',
               params)
  return {row['clip_id']: row for row in rows}


def confirmed_clips(con: duckdb.DuckDBPyConnection, verdict: str
                    ) -> List[Dict[str, Any]]:
  """The clips whose outcome under ``OUTCOME_RULE`` is ``verdict``, one
  row each (from the latest scan that found it): ``clip_id``,
  ``video_id``, ``video_uri``, ``scan_id``, ``start_ms``, ``end_ms``,
  ``label`` and ``outcome`` (what ``rescan bank import --from-verdicts``
  banks)."""
  return _rows(con, f"""
      WITH {_OUTCOMES}
      SELECT c.clip_id, c.video_id, c.video_uri, c.scan_id, c.start_ms,
             c.end_ms, c.label, o.outcome
      FROM flagged_clips c JOIN outcomes o USING (clip_id)
      WHERE o.outcome = ?
      QUALIFY row_number() OVER (PARTITION BY c.clip_id
                                 ORDER BY c.scan_id DESC) = 1
      ORDER BY c.video_uri, c.start_ms, c.clip_id""", [verdict])


_DISPUTES_SQL = f"""
    WITH {_OUTCOMES},
    clips AS (
      SELECT clip_id, any_value(label) AS label,
             max(peak_score) AS peak_score, any_value(start_ms) AS start_ms,
             any_value(end_ms) AS end_ms, any_value(video_uri) AS video_uri,
             any_value(model_version) AS model_version
      FROM flagged_clips GROUP BY clip_id)
    SELECT outcome, reviewers, verdicts, label, peak_score, start_ms, end_ms,
           video_uri, model_version, clip_id, last_reviewed_at
    FROM outcomes JOIN clips USING (clip_id) WHERE distinct_verdicts > 1"""


def disputes(con: duckdb.DuckDBPyConnection,
             limit: Optional[int] = None) -> List[Dict[str, Any]]:
  """The clips (among those ``con`` holds) whose reviewers' latest
  verdicts differ: ties (``disputed``) first, then majorities, most
  recently reviewed first."""
  limit_sql = f'LIMIT {int(limit)}' if limit else ''
  return _rows(con, f"""{_DISPUTES_SQL}
      ORDER BY outcome = '{DISPUTED}' DESC, last_reviewed_at DESC, clip_id
      {limit_sql}""")


def count_disputes(con: duckdb.DuckDBPyConnection) -> int:
  return _rows(con, f'SELECT count(*) AS n FROM ({_DISPUTES_SQL})')[0]['n']


def precision_by_model_version(con: duckdb.DuckDBPyConnection
                               ) -> List[Dict[str, Any]]:
  """Measured precision of each model version over its reviewed clips
  (among those ``con`` holds), by ``OUTCOME_RULE``: violating / (violating
  + not violating); ``unsure`` and ``disputed`` outcomes are counted but
  left out of the ratio."""
  def outcome_count(outcome: str) -> str:
    return f"count(*) FILTER (outcome = '{outcome}')"
  violating = outcome_count(review_tables.VIOLATING)
  not_violating = outcome_count(review_tables.NOT_VIOLATING)
  return _rows(con, f"""
      WITH {_OUTCOMES},
      clip_models AS (
        SELECT DISTINCT clip_id, model_name, model_version
        FROM flagged_clips)
      SELECT model_name, model_version,
        count(*) AS reviewed,
        {violating} AS violating,
        {not_violating} AS not_violating,
        {outcome_count(review_tables.UNSURE)} AS unsure,
        {outcome_count(DISPUTED)} AS disputed,
        round({violating} / nullif({violating} + {not_violating}, 0), 4)
          AS precision
      FROM outcomes JOIN clip_models USING (clip_id)
      GROUP BY model_name, model_version ORDER BY model_name, model_version""")


class VerdictError(ReviewUsageError):
  """A verdict that cannot be recorded as given."""


MAX_REVIEWER_CHARS = 128


def default_reviewer() -> str:
  """The OS user: who runs ``rescan review verdict`` without
  ``--reviewer`` (a verdict needs a known author)."""
  try:
    return getpass.getuser()
  except (KeyError, OSError) as exc:
    raise VerdictError('cannot tell who you are (no user name in the '
                       'environment): pass --reviewer NAME') from exc


def check_reviewer(reviewer: str) -> None:
  """A reviewer name is one printable line: it is shown in every
  verdict's history and counted in ``OUTCOME_RULE``."""
  if (not reviewer or not reviewer.strip() or not reviewer.isprintable()
      or len(reviewer) > MAX_REVIEWER_CHARS):
    raise VerdictError(f'a reviewer is a printable name of 1 to '
                       f'{MAX_REVIEWER_CHARS} characters, got {reviewer!r}')


def check_clip_ids(data: ReviewData, clip_ids: Sequence[str]) -> None:
  """Raises ``VerdictError`` for a clip id no scan under the root found
  (``data``: every scan's rows, ``load_all_review_data``)."""
  known = set(data.clips.column('clip_id').to_pylist())
  missing = [c for c in clip_ids if c not in known]
  if missing:
    raise VerdictError(f'no scan under this root found a clip with id '
                       f'{missing[0]!r} (see "rescan review top")')


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
  check_reviewer(reviewer)
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
