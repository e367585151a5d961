"""The review page's queue: one page of the clips a reviewer filtered and
sorted, each with its outcome and verdict history, and the counts the page
shows ("reviewed x of N", "51–100 of M").

The served page asks for one page at a time (``GET /api/clips``), so an
output of 10,000 clips never ships 10,000 cards to the browser.  It runs
on the tables of ``query.connect`` (one answer per video already chosen)
and on top of ``query.clip_conditions`` (the command line's clip filters),
with the outcomes of ``query.OUTCOME_RULE``.

Filters (all optional, combined with AND): a label, a modality (the
visual or the audio model's clips), a peak score range, a
verdict state (an outcome: a verdict, or ``disputed`` for a tie), only
unreviewed clips, only clips whose reviewers disagree (any outcome, as
``rescan review disputes`` lists them) and a video (its id, or part of its
URI).  Sorts: ``score`` (highest peak first), ``time`` (newest scan first,
then by video and time in it) and ``video`` (by video URI, then time in
the video).
"""
from __future__ import annotations

import collections
import dataclasses
from typing import Any
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple

import duckdb

import schemas
from pipeline.review import query as review_query
from schemas import review_tables

# Every order ends on (scan_id, clip_id): pages never overlap or skip.
_TIE_BREAK = 'scan_id, clip_id'
SORTS: Dict[str, str] = {
    'score': f'{review_query.CLIP_ORDER}, {_TIE_BREAK}',
    'time': f'scanned_at DESC, video_uri, start_ms, label, {_TIE_BREAK}',
    'video': f'video_uri, start_ms, label, {_TIE_BREAK}',
}
DEFAULT_SORT = 'score'


def sort_keys(sort: str) -> List[Tuple[str, int]]:
  """``SORTS[sort]`` as ``(column, 1 ascending | -1 descending)`` pairs:
  how the static export sorts its embedded clips the same way."""
  keys = []
  for term in SORTS[sort].split(','):
    column, _, direction = term.strip().partition(' ')
    keys.append((column, -1 if direction.strip().upper() == 'DESC' else 1))
  return keys

OUTCOME_CHOICES: Tuple[str, ...] = (*review_tables.VERDICTS,
                                    review_query.DISPUTED)
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_OFFSET = 10 ** 9
_rows = review_query._rows  # pylint: disable=protected-access


class QueueError(ValueError):
  """A queue request with a value out of range (the API answers 400)."""


@dataclasses.dataclass(frozen=True)
class QueueQuery:
  """What the page asks for; empty fields do not filter."""
  label: Optional[str] = None
  modality: Optional[str] = None    # one of schemas.MODALITIES
  min_score: Optional[float] = None
  max_score: Optional[float] = None
  outcome: Optional[str] = None     # one of OUTCOME_CHOICES
  unreviewed: bool = False
  disputed: bool = False            # reviewers' latest verdicts differ
  video: Optional[str] = None       # a video id, or part of a video URI
  sort: str = DEFAULT_SORT
  offset: int = 0
  limit: int = DEFAULT_PAGE_SIZE

  def check(self) -> None:
    """Raises ``QueueError`` for a value the queue cannot take."""
    for name in ('min_score', 'max_score'):
      value = getattr(self, name)
      if value is not None and not 0.0 <= value <= 1.0:
        raise QueueError(f'{name} must be in [0, 1], got {value}')
    if self.modality is not None and self.modality not in schemas.MODALITIES:
      raise QueueError('modality must be one of '
                       f"{', '.join(schemas.MODALITIES)}")
    if self.outcome is not None and self.outcome not in OUTCOME_CHOICES:
      raise QueueError(f"outcome must be one of {', '.join(OUTCOME_CHOICES)}")
    if self.sort not in SORTS:
      raise QueueError(f"sort must be one of {', '.join(SORTS)}")
    if not 0 <= self.offset <= MAX_OFFSET:
      raise QueueError(f'offset must be in [0, {MAX_OFFSET}]')
    if not 1 <= self.limit <= MAX_PAGE_SIZE:
      raise QueueError(f'limit must be in [1, {MAX_PAGE_SIZE}]')


@dataclasses.dataclass(frozen=True)
class QueuePage:
  """One page of the queue.  ``total``: clips passing every filter (the M
  of "51–100 of M"); ``matching``: clips passing the filters other than
  the verdict state (the N of "reviewed x of N"), ``reviewed`` and
  ``disputes`` of those."""
  clips: List[Dict[str, Any]]
  total: int
  matching: int
  reviewed: int
  disputes: int
  offset: int
  limit: int


def _base_sql(con: duckdb.DuckDBPyConnection,
              clip_filter: review_query.ClipFilter, query: QueueQuery
              ) -> Tuple[str, List[Any]]:
  """``WITH ... base AS (...)``: the clips that pass the command line's
  filters and the page's label, score and video filters, each with its
  ``outcome`` (null: unreviewed), ``reviewers`` and ``distinct_verdicts``."""
  where, params = review_query.clip_conditions(con, clip_filter)
  conditions = [where[len('WHERE '):]] if where else []
  if query.label is not None:
    conditions.append('label = ?')
    params.append(query.label)
  if query.modality is not None:
    conditions.append('modality = ?')
    params.append(query.modality)
  if query.min_score is not None:
    conditions.append('peak_score >= ?')
    params.append(query.min_score)
  if query.max_score is not None:
    conditions.append('peak_score <= ?')
    params.append(query.max_score)
  if query.video:
    conditions.append('(video_id = ? OR contains(lower(video_uri), '
                      'lower(?)))')
    params += [query.video, query.video]
  clip_where = 'WHERE ' + ' AND '.join(conditions) if conditions else ''
  return f"""
      WITH {review_query.OUTCOMES_CTE},
      base AS (
        SELECT c.*, o.outcome, coalesce(o.reviewers, 0) AS reviewers,
               coalesce(o.distinct_verdicts, 0) AS distinct_verdicts
        FROM (SELECT * FROM flagged_clips {clip_where}) c
        LEFT JOIN outcomes o USING (clip_id))""", params


def _state_sql(query: QueueQuery) -> Tuple[str, List[Any]]:
  """The verdict-state filters, as a condition over ``base``."""
  conditions, params = [], []
  if query.unreviewed:
    conditions.append('outcome IS NULL')
  if query.outcome is not None:
    conditions.append('outcome = ?')
    params.append(query.outcome)
  if query.disputed:
    conditions.append('distinct_verdicts > 1')
  return ' AND '.join(conditions) or 'true', params


def queue_page(con: duckdb.DuckDBPyConnection,
               clip_filter: review_query.ClipFilter,
               query: QueueQuery) -> QueuePage:
  """One page of the clips that pass ``clip_filter`` (the command line's;
  its limit is not applied) and ``query``, in ``query.sort`` order, each
  with ``outcome``, ``reviewers``, ``distinct_verdicts`` and ``history``
  (``query.verdict_history``), thumbnails included."""
  query.check()
  base, params = _base_sql(con, dataclasses.replace(clip_filter, limit=None),
                           query)
  state, state_params = _state_sql(query)
  counts = _rows(con, f"""{base}
      SELECT count(*) AS matching,
             count(*) FILTER (outcome IS NOT NULL) AS reviewed,
             count(*) FILTER (distinct_verdicts > 1) AS disputes,
             count(*) FILTER ({state}) AS total FROM base""",
                 params + state_params)[0]
  clips = _rows(con, f"""{base}
      SELECT * FROM base WHERE {state} ORDER BY {SORTS[query.sort]}
      LIMIT {int(query.limit)} OFFSET {int(query.offset)}""",
                params + state_params)
  with_history(con, clips)
  return QueuePage(clips, counts['total'], counts['matching'],
                   counts['reviewed'], counts['disputes'], query.offset,
                   query.limit)


def with_history(con: duckdb.DuckDBPyConnection,
                 clips: Sequence[Dict[str, Any]]) -> None:
  """Adds each clip's ``history`` (every verdict on it, oldest first) and,
  where missing, its ``outcome``, ``reviewers`` and ``distinct_verdicts``
  (``query.clip_outcomes``)."""
  ids = sorted({c['clip_id'] for c in clips})
  history: Dict[str, List[Dict[str, Any]]] = collections.defaultdict(list)
  for row in review_query.verdict_history(con, ids):
    history[row.pop('clip_id')].append(row)
  outcomes = (review_query.clip_outcomes(con, ids)
              if any('outcome' not in c for c in clips) else {})
  for clip in clips:
    clip['history'] = history.get(clip['clip_id'], [])
    if 'outcome' not in clip:
      found = outcomes.get(clip['clip_id'], {})
      clip['outcome'] = found.get('outcome')
      clip['reviewers'] = found.get('reviewers') or 0
      clip['distinct_verdicts'] = found.get('distinct_verdicts') or 0


def labels(con: duckdb.DuckDBPyConnection) -> List[str]:
  """The labels of the clips, for the page's label filter."""
  return [r['label'] for r in _rows(
      con, 'SELECT DISTINCT label FROM flagged_clips ORDER BY label')]


def video_ids(con: duckdb.DuckDBPyConnection,
              clip_filter: review_query.ClipFilter) -> List[str]:
  """The videos of the clips that pass ``clip_filter``."""
  where, params = review_query.clip_conditions(con, clip_filter)
  return [r['video_id'] for r in _rows(
      con, f'SELECT DISTINCT video_id FROM flagged_clips {where} '
      'ORDER BY video_id', params)]


def clips_of_videos(con: duckdb.DuckDBPyConnection, ids: Sequence[str]
                    ) -> List[Dict[str, Any]]:
  """The clips (no thumbnails) of the videos ``ids``, for their
  timelines."""
  condition = f"video_id IN ({', '.join('?' for _ in ids or [''])})"
  return _rows(con, 'SELECT * EXCLUDE (thumbnail) FROM flagged_clips '
               f'WHERE {condition}', list(ids) or [''])


def count_hash_matches(con: duckdb.DuckDBPyConnection,
                       video_ids: Optional[Sequence[str]] = None) -> int:
  """How many hash matches there are (of ``video_ids`` when given): the M
  of the page's "N of M" hash matches."""
  if video_ids is None:
    return _rows(con, 'SELECT count(*) AS n FROM hash_matches')[0]['n']
  ids = list(video_ids) or ['']
  return _rows(con, 'SELECT count(*) AS n FROM hash_matches WHERE video_id '
               f"IN ({', '.join('?' for _ in ids)})", ids)[0]['n']
