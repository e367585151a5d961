"""``rescan review``: query a scan's output root from a terminal or a script.

    rescan review top       --output ROOT [--label L] [--min-score S]
                            [--model-version V] [--scan ID|latest]
                            [--video ID|URI] [--limit N]
    rescan review video ID  --output ROOT [--scan ID|latest]
    rescan review stats     --output ROOT [--scan ID|latest]
    rescan review videos    --output ROOT [--status S] [--scan ID|latest]
                            [--limit N]
    rescan review precision --output ROOT
    rescan review verdict CLIP_ID VERDICT --output ROOT [--reviewer R]
                            [--note TEXT]

Every query command prints a table for people, or ``--format json|csv``
for scripts (``pipeline.review.formats``).  ``ROOT`` may be local or on any
Beam filesystem (``gs://``).
"""
from __future__ import annotations

import argparse
import getpass
import sys
from typing import Optional, Sequence, Tuple

import schemas
from pipeline.cli import clip_filters
from pipeline.review import formats
from pipeline.review import query as review_query
from pipeline.runtime import flag_types
from pipeline.runtime import usage
from pipeline.runtime.terminal import printable
from pipeline.storage.parquet import BrokenParquetFile
from schemas import review_tables


VIDEO_STATUSES = (schemas.STATUS_PARTIAL, schemas.STATUS_FAILED,
                  schemas.STATUS_SCANNED, schemas.STATUS_SKIPPED)


def build_parser() -> argparse.ArgumentParser:
  parser = usage.OneLineArgumentParser(
      prog='rescan review',
      description='Query the flagged clips, ledger, hash matches and '
      'verdicts under an output root (local or gs://).')
  commands = parser.add_subparsers(dest='command', required=True)

  def command(name: str, help_text: str) -> argparse.ArgumentParser:
    sub = commands.add_parser(name, help=help_text, description=help_text)
    sub.add_argument('--output', required=True, metavar='ROOT',
                     help='the scan output root (local or gs://)')
    sub.add_argument('--format', choices=formats.FORMATS,
                     default=formats.TABLE,
                     help='table for people, json or csv for scripts')
    return sub

  top = command('top', 'the highest-scoring clips')
  clip_filters.add_clip_filter_arguments(top)
  video = command('video', "one video's clips, in time order, and a "
                  'sparkline of where they are')
  video.add_argument('video', metavar='ID', help='a video id or video URI')
  video.add_argument('--scan', default=None,
                     help='which scan (default: the latest that saw it)')
  stats = command('stats', 'counts by status, label, model version and '
                  'scan, and failures by error kind')
  stats.add_argument('--scan', action='append', default=[],
                     help='only this scan id or "latest" (repeatable)')
  videos = command('videos', 'ledger rows by status, least covered first: '
                   'by default the videos a scan did not fully look at '
                   '("partial": fewer samples scored than --min-coverage '
                   'asks; "failed")')
  videos.add_argument('--status', action='append', default=[],
                      choices=VIDEO_STATUSES,
                      help='only this status (repeatable; default: partial '
                      'and failed)')
  videos.add_argument('--scan', action='append', default=[],
                      help='only this scan id or "latest" (repeatable; '
                      'default: every scan)')
  videos.add_argument('--limit', type=flag_types.non_negative_int, default=0,
                      help='at most this many rows (default %(default)s: all)')
  command('precision', 'measured precision per model version from the '
          'verdicts in ROOT/reviews/')
  verdict = command('verdict', 'record a verdict on a clip (appends one '
                    'file to ROOT/reviews/)')
  verdict.add_argument('clip_id')
  verdict.add_argument('verdict', choices=review_tables.VERDICTS)
  verdict.add_argument('--reviewer', default=getpass.getuser())
  verdict.add_argument('--note', default=None)
  return parser


def run_command(args: argparse.Namespace) -> Tuple[int, str]:
  """Runs one parsed command; returns its exit code and its output."""
  if args.command == 'verdict':
    path = review_query.append_verdict(args.output, args.clip_id,
                                       args.verdict, args.reviewer, args.note)
    if args.format == formats.TABLE:
      return 0, (f'recorded {args.verdict} for {printable(args.clip_id)}: '
                 f'{printable(path)}')
    return 0, formats.format_rows(
        args.format, [{'clip_id': args.clip_id, 'verdict': args.verdict,
                       'written': path}], ())
  con = review_query.connect(review_query.load_review_data(args.output))
  if args.command == 'top':
    rows = review_query.top_clips(con, clip_filters.clip_filter_from_args(args))
    return 0, formats.format_rows(args.format, rows, formats.CLIP_COLUMNS)
  if args.command == 'video':
    timeline = review_query.video_timeline(con, args.video, args.scan)
    if timeline is None:
      return 1, f'rescan review: no scan under {args.output} saw {args.video!r}'
    if args.format == formats.TABLE:
      return 0, formats.format_timeline_text(timeline)
    return 0, formats.format_rows(args.format, timeline.clips,
                                  formats.TIMELINE_COLUMNS,
                                  formats.timeline_document(timeline))
  if args.command == 'stats':
    stats = review_query.scan_stats(con, args.scan)
    stats['precision_by_model_version'] = (
        review_query.precision_by_model_version(con))
    if args.format == formats.TABLE:
      return 0, formats.format_stats_text(stats)
    return 0, formats.format_rows(args.format, formats.stats_csv_rows(stats),
                                  (), stats)
  if args.command == 'videos':
    rows = review_query.list_videos(con, review_query.VideoFilter(
        statuses=tuple(args.status) or review_query.UNSEEN_STATUSES,
        scans=tuple(args.scan), limit=args.limit or None))
    return 0, formats.format_rows(args.format, rows, formats.VIDEO_COLUMNS)
  rows = review_query.precision_by_model_version(con)
  return 0, formats.format_rows(args.format, rows, formats.PRECISION_COLUMNS)


def main(argv: Optional[Sequence[str]] = None) -> int:
  args = build_parser().parse_args(list(sys.argv[1:] if argv is None
                                        else argv))
  try:
    code, text = run_command(args)
  except review_query.VerdictError as exc:
    print(f'rescan review: error: {printable(exc)}', file=sys.stderr)
    return 2
  except (BrokenParquetFile, OSError) as exc:
    # A broken file under ROOT, or a ROOT that cannot be read or written.
    print(f'rescan review: error: {printable(usage.one_line(exc))}',
          file=sys.stderr)
    return 1
  print(text, file=sys.stdout if code == 0 else sys.stderr)
  return code


if __name__ == '__main__':
  sys.exit(main())
