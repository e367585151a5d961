"""``rescan review``: query a scan's output root from a terminal or a script.

    rescan review top       --output ROOT [--label L] [--min-score S]
                            [--model-version V] [--scan ID|latest]
                            [--video ID|URI] [--limit N]
    rescan review video ID  --output ROOT [--scan ID|latest]
    rescan review stats     --output ROOT [--scan ID|latest]
    rescan review precision --output ROOT
    rescan review verdict CLIP_ID VERDICT --output ROOT [--reviewer R]
                            [--note TEXT]

Every query command prints a table for people, or ``--format json|csv``
for scripts.  ``ROOT`` may be local or on any Beam filesystem (``gs://``).
"""
from __future__ import annotations

import argparse
import csv
import datetime
import getpass
import io
import json
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from pipeline.review import query as review_query
from schemas import review_tables

FORMATS = ('table', 'json', 'csv')
MAX_CELL_CHARS = 48
SPARK_WIDTH = 60

# A table column: header, and how to get its text from a row.
Column = Tuple[str, Callable[[Dict[str, Any]], Any]]


def seconds(ms: Optional[int]) -> str:
  return '' if ms is None else f'{ms / 1000:.1f}s'


def _score(value: Optional[float]) -> str:
  return '' if value is None else f'{value:.3f}'


def _cell(value: Any) -> str:
  text = '' if value is None else str(value)
  if len(text) > MAX_CELL_CHARS:
    text = '…' + text[-(MAX_CELL_CHARS - 1):]
  return text


def format_table(rows: Sequence[Dict[str, Any]],
                 columns: Sequence[Column]) -> str:
  """Rows as left-aligned text columns under a header; long cells keep
  their end (file names matter more than bucket prefixes)."""
  if not rows:
    return '(no rows)'
  cells = [[_cell(get(row)) for _, get in columns] for row in rows]
  headers = [header for header, _ in columns]
  widths = [max(len(h), *(len(r[i]) for r in cells))
            for i, h in enumerate(headers)]
  lines = ['  '.join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
  lines += ['  '.join(c.ljust(w) for c, w in zip(row, widths)).rstrip()
            for row in cells]
  return '\n'.join(lines)


def _json_value(value: Any) -> Any:
  if isinstance(value, (datetime.datetime, datetime.date)):
    return value.isoformat()
  if isinstance(value, bytes):
    return None  # thumbnails are for the report page, not for scripts
  raise TypeError(f'not JSON serializable: {type(value).__name__}')


def format_json(value: Any) -> str:
  return json.dumps(value, default=_json_value, ensure_ascii=False, indent=2)


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
    writer.writerow({k: (v.isoformat() if isinstance(v, datetime.datetime)
                         else '' if isinstance(v, bytes) else v)
                     for k, v in row.items()})
  return buffer.getvalue().rstrip('\n')


CLIP_COLUMNS: Sequence[Column] = (
    ('peak', lambda r: _score(r['peak_score'])),
    ('mean', lambda r: _score(r['mean_score'])),
    ('label', lambda r: r['label']),
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
    ('peak', lambda r: _score(r['peak_score'])),
    ('at', lambda r: seconds(r['peak_ms'])),
    ('mean', lambda r: _score(r['mean_score'])),
    ('frames', lambda r: r['frames']),
    ('clip_id', lambda r: r['clip_id']),
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
)
PRECISION_COLUMNS: Sequence[Column] = (
    ('model', lambda r: r['model_name']),
    ('version', lambda r: r['model_version']),
    ('reviewed', lambda r: r['reviewed']),
    ('violating', lambda r: r['violating']),
    ('not violating', lambda r: r['not_violating']),
    ('unsure', lambda r: r['unsure']),
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
  """A video's ledger facts, a sparkline per label and its clip rows."""
  video = timeline.video
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
  sparklines = review_query.sparklines_by_label(timeline, width)
  if sparklines:
    label_width = max(len(label) for label in sparklines)
    duration = seconds(video.get('duration_ms'))
    for label, line in sparklines.items():
      lines.append(f'{label.ljust(label_width)}  |{line}|')
    lines.append(f"{' ' * label_width}   0s{duration.rjust(width - 2)}")
    lines.append('')
  lines.append(format_table(timeline.clips, TIMELINE_COLUMNS))
  if timeline.hash_matches:
    lines += ['', 'hash matches:',
              format_table(timeline.hash_matches, HASH_MATCH_COLUMNS)]
  return '\n'.join(lines)


def format_stats_text(stats: Dict[str, List[Dict[str, Any]]]) -> str:
  blocks = [f"{name.replace('_', ' ')}:\n"
            f'{format_table(rows, _columns_of(rows))}'
            for name, rows in stats.items()]
  return '\n\n'.join(blocks)


def _stats_csv_rows(stats: Dict[str, List[Dict[str, Any]]]
                    ) -> List[Dict[str, Any]]:
  return [{'section': name, **row} for name, rows in stats.items()
          for row in rows]


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='rescan review',
      description='Query the flagged clips, ledger, hash matches and '
      'verdicts under an output root (local or gs://).')
  commands = parser.add_subparsers(dest='command', required=True)

  def command(name: str, help_text: str) -> argparse.ArgumentParser:
    sub = commands.add_parser(name, help=help_text, description=help_text)
    sub.add_argument('--output', required=True, metavar='ROOT',
                     help='the scan output root (local or gs://)')
    sub.add_argument('--format', choices=FORMATS, default='table',
                     help='table for people, json or csv for scripts')
    return sub

  top = command('top', 'the highest-scoring clips')
  review_query.add_clip_filter_arguments(top)
  video = command('video', "one video's clips, in time order, and a "
                  'sparkline of where they are')
  video.add_argument('video', metavar='ID', help='a video id or video URI')
  video.add_argument('--scan', default=None,
                     help='which scan (default: the latest that saw it)')
  stats = command('stats', 'counts by status, label, model version and '
                  'scan, and failures by error kind')
  stats.add_argument('--scan', action='append', default=[],
                     help='only this scan id or "latest" (repeatable)')
  command('precision', 'measured precision per model version from the '
          'verdicts in ROOT/reviews/')
  verdict = command('verdict', 'record a verdict on a clip (appends one '
                    'file to ROOT/reviews/)')
  verdict.add_argument('clip_id')
  verdict.add_argument('verdict', choices=review_tables.VERDICTS)
  verdict.add_argument('--reviewer', default=getpass.getuser())
  verdict.add_argument('--note', default=None)
  return parser


def _emit(fmt: str, rows: Sequence[Dict[str, Any]], columns: Sequence[Column],
          document: Any = None) -> str:
  if fmt == 'json':
    return format_json(rows if document is None else document)
  if fmt == 'csv':
    return format_csv(rows)
  return format_table(rows, columns)


def run_command(args: argparse.Namespace) -> Tuple[int, str]:
  """Runs one parsed command; returns its exit code and its output."""
  if args.command == 'verdict':
    path = review_query.append_verdict(args.output, args.clip_id,
                                       args.verdict, args.reviewer, args.note)
    if args.format == 'table':
      return 0, f'recorded {args.verdict} for {args.clip_id}: {path}'
    return 0, _emit(args.format, [{'clip_id': args.clip_id,
                                   'verdict': args.verdict, 'written': path}],
                    ())
  con = review_query.connect(review_query.load_review_data(args.output))
  if args.command == 'top':
    rows = review_query.top_clips(con, review_query.clip_filter_from_args(args))
    return 0, _emit(args.format, rows, CLIP_COLUMNS)
  if args.command == 'video':
    timeline = review_query.video_timeline(con, args.video, args.scan)
    if timeline is None:
      return 1, f'rescan review: no scan under {args.output} saw {args.video!r}'
    document = {'video': timeline.video, 'clips': timeline.clips,
                'sparklines': review_query.sparklines_by_label(timeline),
                'hash_matches': timeline.hash_matches}
    if args.format == 'table':
      return 0, format_timeline_text(timeline)
    return 0, _emit(args.format, timeline.clips, TIMELINE_COLUMNS, document)
  if args.command == 'stats':
    stats = review_query.scan_stats(con, args.scan)
    stats['precision_by_model_version'] = (
        review_query.precision_by_model_version(con))
    if args.format == 'table':
      return 0, format_stats_text(stats)
    return 0, _emit(args.format, _stats_csv_rows(stats), (), stats)
  rows = review_query.precision_by_model_version(con)
  return 0, _emit(args.format, rows, PRECISION_COLUMNS)


def main(argv: Optional[Sequence[str]] = None) -> int:
  args = build_parser().parse_args(list(sys.argv[1:] if argv is None
                                        else argv))
  try:
    code, text = run_command(args)
  except review_query.VerdictError as exc:
    print(f'rescan review: error: {exc}', file=sys.stderr)
    return 2
  print(text, file=sys.stdout if code == 0 else sys.stderr)
  return code


if __name__ == '__main__':
  sys.exit(main())
