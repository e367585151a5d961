"""Query results as text: aligned tables for people, JSON and CSV for
scripts, and a video's timeline and a scan's stats as text.

``rescan review`` prints what these return; they take the rows
``pipeline.review.query`` returns and know nothing of flags.
"""
from __future__ import annotations

import csv
import datetime
import decimal
import io
import json
from typing import Any
from typing import Callable
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple

import schemas
from pipeline.review import query as review_query
from pipeline.runtime.terminal import json_printable
from pipeline.runtime.terminal import printable

TABLE, JSON, CSV = 'table', 'json', 'csv'
FORMATS = (TABLE, JSON, CSV)
MAX_CELL_CHARS = 48
SPARK_WIDTH = 60

# A table column: header, and how to get its text from a row.
Column = Tuple[str, Callable[[Dict[str, Any]], Any]]


def seconds(ms: Optional[int]) -> str:
  return '' if ms is None else f'{ms / 1000:.1f}s'


def _score(value: Optional[float]) -> str:
  return '' if value is None else f'{value:.3f}'


def _when(value: Optional[datetime.datetime]) -> str:
  """A verdict's time, to the second, in UTC."""
  if value is None:
    return ''
  return value.astimezone(datetime.timezone.utc).strftime(
      '%Y-%m-%d %H:%M:%SZ')


def count_line(shown: int, matching: int, noun: str) -> str:
  """What a limit left out, said: ``3 of 14 matching clips shown``."""
  return f'{shown} of {matching} matching {noun} shown'


def _cell(value: Any, whole: bool = False) -> str:
  text = printable(value)
  if len(text) > MAX_CELL_CHARS and not whole:
    text = '…' + text[-(MAX_CELL_CHARS - 1):]
  return text


# Columns printed whole, however long: who said what.
WHOLE_COLUMNS = frozenset({'verdicts'})


def format_table(rows: Sequence[Dict[str, Any]],
                 columns: Sequence[Column]) -> str:
  """Rows as left-aligned text columns under a header; long cells keep
  their end (file names matter more than bucket prefixes), except in
  ``WHOLE_COLUMNS``."""
  if not rows:
    return '(no rows)'
  cells = [[_cell(get(row), header in WHOLE_COLUMNS)
            for header, get in columns] for row in rows]
  headers = [header for header, _ in columns]
  widths = [max(len(h), *(len(r[i]) for r in cells))
            for i, h in enumerate(headers)]
  lines = ['  '.join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
  lines += ['  '.join(c.ljust(w) for c, w in zip(row, widths)).rstrip()
            for row in cells]
  return '\n'.join(lines)


def _json_value(value: Any) -> Any:
  """What DuckDB and Arrow return besides JSON's types: timestamps, dates
  and times as ISO text, durations as seconds, ``DECIMAL`` (DuckDB's
  ``sum`` and ``round``) as a number."""
  if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
    return value.isoformat()
  if isinstance(value, datetime.timedelta):
    return value.total_seconds()
  if isinstance(value, decimal.Decimal):
    return int(value) if value == value.to_integral_value() else float(value)
  if isinstance(value, (bytes, bytearray, memoryview)):
    return None  # thumbnails are for the report page, not for scripts
  raise TypeError(f'not JSON serializable: {type(value).__name__}')


def format_json(value: Any) -> str:
  """JSON, with hidden characters of names as ``\\uXXXX`` escapes (the
  same value, safe to print on a terminal)."""
  return json_printable(json.dumps(value, default=_json_value,
                                   ensure_ascii=False, indent=2))


# A cell starting with one of these is a formula to a spreadsheet
# (CSV injection): "=HYPERLINK(...)" in a file name would run when a
# reviewer opens the export.
FORMULA_PREFIXES = ('=', '+', '-', '@', '\t', '\r')


def csv_cell(value: Any) -> Any:
  """One CSV cell: timestamps as ISO text, thumbnails left out, text with
  its hidden characters escaped and a leading formula character
  neutralised by a ``'`` (numbers stay numbers)."""
  if isinstance(value, datetime.datetime):
    return value.isoformat()
  if isinstance(value, (bytes, bytearray, memoryview)):
    return ''
  if not isinstance(value, str):
    return value
  if value.startswith(FORMULA_PREFIXES):
    value = "'" + value
  return printable(value)


def format_csv(rows: Sequence[Dict[str, Any]]) -> str:
  """Rows as CSV; the header is the union of the rows' keys, in order."""
  fields: List[str] = []
  for row in rows:
    fields += [k for k in row if k not in fields]
  buffer = io.StringIO()
  writer = csv.DictWriter(buffer, fieldnames=fields, restval='',
                          lineterminator='\n')
  writer.writeheader()
  for row in rows:
    writer.writerow({k: csv_cell(v) for k, v in row.items()})
  return buffer.getvalue().rstrip('\n')


def format_rows(fmt: str, rows: Sequence[Dict[str, Any]],
                columns: Sequence[Column], document: Any = None) -> str:
  """Rows in one of ``FORMATS``; JSON prints ``document`` instead of the
  rows when given (a whole result, not just its table)."""
  if fmt == JSON:
    return format_json(rows if document is None else document)
  if fmt == CSV:
    return format_csv(rows)
  return format_table(rows, columns)


CLIP_COLUMNS: Sequence[Column] = (
    ('peak', lambda r: _score(r['peak_score'])),
    ('mean', lambda r: _score(r['mean_score'])),
    ('label', lambda r: r['label']),
    ('modality', lambda r: r['modality']),
    ('start', lambda r: seconds(r['start_ms'])),
    ('end', lambda r: seconds(r['end_ms'])),
    ('video', lambda r: r['video_uri']),
    ('model', lambda r: r['model_version']),
    ('scan', lambda r: r['scan_id']),
    ('clip_id', lambda r: r['clip_id']),
)
TIMELINE_COLUMNS: Sequence[Column] = (
    ('start', lambda r: seconds(r['start_ms'])),
    ('end', lambda r: seconds(r['end_ms'])),
    ('label', lambda r: r['label']),
    ('modality', lambda r: r['modality']),
    ('peak', lambda r: _score(r['peak_score'])),
    ('at', lambda r: seconds(r['peak_ms'])),
    ('mean', lambda r: _score(r['mean_score'])),
    # Sampled frames, or for an audio clip soundtrack windows.
    ('frames', lambda r: r['frames']),
    ('verdict', lambda r: r.get('outcome') or ''),
    ('clip_id', lambda r: r['clip_id']),
)
VERDICT_HISTORY_COLUMNS: Sequence[Column] = (
    ('when', lambda r: _when(r['reviewed_at'])),
    ('reviewer', lambda r: r['reviewer']),
    ('verdict', lambda r: r['verdict']),
    ('clip_id', lambda r: r['clip_id']),
    ('note', lambda r: r['note'] or ''),
)
DISPUTE_COLUMNS: Sequence[Column] = (
    ('outcome', lambda r: r['outcome']),
    ('peak', lambda r: _score(r['peak_score'])),
    ('label', lambda r: r['label']),
    ('start', lambda r: seconds(r['start_ms'])),
    ('video', lambda r: r['video_uri']),
    ('last verdict', lambda r: _when(r['last_reviewed_at'])),
    ('clip_id', lambda r: r['clip_id']),
    ('verdicts', lambda r: r['verdicts']),
)
HASH_MATCH_COLUMNS: Sequence[Column] = (
    ('bank', lambda r: r['bank']),
    ('entry', lambda r: r['entry_id']),
    ('label', lambda r: r['label']),
    ('query %', lambda r: f"{r['query_match_pct']:.1f}"),
    ('compared %', lambda r: f"{r['compared_match_pct']:.1f}"),
    ('frames', lambda r: r['matched_frames']),
    ('first', lambda r: seconds(r['first_match_ms'])),
    ('last', lambda r: seconds(r['last_match_ms'])),
    ('mirrored', lambda r: 'yes' if r.get('mirrored') else ''),
    ('copy of clip', lambda r: r.get('source_clip_id') or ''),
)
# ``rescan review matches``: every match, with its video.
MATCH_LIST_COLUMNS: Sequence[Column] = (
    ('video', lambda r: r['video_uri']),) + tuple(HASH_MATCH_COLUMNS)


def percent(share: Optional[float]) -> str:
  """A coverage share as ``57%``, floored (never rounds up to 100%)."""
  # The epsilon undoes binary rounding (0.57 * 100 == 56.99...).
  return '' if share is None else f'{int(share * 100 + 1e-9)}%'


VIDEO_COLUMNS: Sequence[Column] = (
    ('status', lambda r: r['status']),
    ('coverage', lambda r: percent(r['coverage'])),
    ('scored', lambda r: '' if r['samples_expected'] is None
     else f"{r['frames_scored']}/{r['samples_expected']}"),
    ('error', lambda r: r['error_kind'] or ''),
    ('clips', lambda r: r['clips']),
    ('video', lambda r: r['video_uri']),
    ('scan', lambda r: r['scan_id']),
    ('video_id', lambda r: r['video_id']),
)
PRECISION_COLUMNS: Sequence[Column] = (
    ('model', lambda r: r['model_name']),
    ('version', lambda r: r['model_version']),
    ('reviewed', lambda r: r['reviewed']),
    ('violating', lambda r: r['violating']),
    ('not violating', lambda r: r['not_violating']),
    ('unsure', lambda r: r['unsure']),
    ('disputed', lambda r: r['disputed']),
    ('precision', lambda r: '' if r['precision'] is None
     else f"{r['precision']:.3f}"),
)


def _columns_of(rows: Sequence[Dict[str, Any]]) -> List[Column]:
  """Every key of the rows as a column (for the stats sections)."""
  keys: List[str] = []
  for row in rows:
    keys += [k for k in row if k not in keys]
  return [(k, lambda r, k=k: r.get(k)) for k in keys]


def format_timeline_text(timeline: review_query.VideoTimeline,
                         width: int = SPARK_WIDTH) -> str:
  """A video's ledger facts, a sparkline per label and its clip rows
  (names from the data printed with their hidden characters escaped)."""
  video = {key: printable(value) if isinstance(value, str) else value
           for key, value in timeline.video.items()}
  lines = [f"video    {video['video_uri']}",
           f"id       {video['video_id']}",
           f"scan     {video['scan_id']}  model {video['model_name']} "
           f"{video['model_version']}",
           f"status   {video['status']}"
           + (f"  ({video['error_kind']}: {video['error_message']})"
              if video.get('error_kind') else ''),
           f"duration {seconds(video.get('duration_ms'))}  "
           f"codec {video.get('codec') or '?'}  "
           f"{video.get('width') or '?'}x{video.get('height') or '?'}  "
           f"clips {len(timeline.clips)}", '']
  if video.get('audio_model_name'):
    audio_clips = sum(c.get('modality') == schemas.MODALITY_AUDIO
                      for c in timeline.clips)
    lines[-1:-1] = [
        f"audio    {video.get('audio_status') or '?'}  model "
        f"{video['audio_model_name']} {video.get('audio_model_version')}  "
        f"coverage {percent(video.get('audio_coverage')) or '?'}  "
        f"audio clips {audio_clips}"]
  sparklines = {printable(label): line for label, line in
                review_query.sparklines_by_label(timeline, width).items()}
  if sparklines:
    label_width = max(len(label) for label in sparklines)
    duration = seconds(video.get('duration_ms'))
    for label, line in sparklines.items():
      lines.append(f'{label.ljust(label_width)}  |{line}|')
    lines.append(f"{' ' * label_width}   0s{duration.rjust(width - 2)}")
    lines.append('')
  lines.append(format_table(timeline.clips, TIMELINE_COLUMNS))
  if timeline.verdicts:
    lines += ['', 'verdict history (oldest first):',
              format_table(timeline.verdicts, VERDICT_HISTORY_COLUMNS)]
  if timeline.hash_matches:
    lines += ['', 'hash matches:',
              format_table(timeline.hash_matches, HASH_MATCH_COLUMNS)]
    lines += [copy_of_clip_line(m) for m in timeline.hash_matches
              if m.get('source_clip_id')]
  return '\n'.join(lines)


def copy_of_clip_line(match: Dict[str, Any]) -> str:
  """"copy of clip X": where the confirmed clip a match came from is, and
  the command that shows it."""
  clip = printable(match['source_clip_id'])
  how = ' (mirrored)' if match.get('mirrored') else ''
  if match.get('source_video_id') is None:
    return f'copy of clip {clip}{how} (the clip is not under this root)'
  return (f"copy of clip {clip}{how}: "
          f"{printable(match['source_video_uri'])} "
          f"{seconds(match['source_start_ms'])}-"
          f"{seconds(match['source_end_ms'])}; see: rescan review video "
          f"{printable(match['source_video_id'])}")


def timeline_document(timeline: review_query.VideoTimeline
                      ) -> Dict[str, Any]:
  """A video's timeline as one JSON document."""
  return {'video': timeline.video, 'clips': timeline.clips,
          'sparklines': review_query.sparklines_by_label(timeline),
          'hash_matches': timeline.hash_matches,
          'verdicts': timeline.verdicts}


def format_stats_text(stats: Dict[str, List[Dict[str, Any]]]) -> str:
  blocks = [f"{name.replace('_', ' ')}:\n"
            f'{format_table(rows, _columns_of(rows))}'
            for name, rows in stats.items()]
  return '\n\n'.join(blocks)


def stats_csv_rows(stats: Dict[str, List[Dict[str, Any]]]
                   ) -> List[Dict[str, Any]]:
  """The stats sections as one list of rows, each tagged with its
  ``section`` (CSV has one table)."""
  return [{'section': name, **row} for name, rows in stats.items()
          for row in rows]
