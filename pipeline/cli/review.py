"""``rescan review``: query a scan's output root from a terminal or a script.

    rescan review top       --output ROOT [--label L] [--min-score S]
                            (below a scan's threshold: near-misses from
                            its frame_scores)
                            [--model-version V] [--scan ID|latest]
                            [--video ID|URI] [--limit N]
    rescan review video ID  --output ROOT [--scan ID|latest]
    rescan review matches   --output ROOT [--clip CLIP_ID] [--limit N]
    rescan review stats     --output ROOT [--scan ID|latest]
    rescan review videos    --output ROOT [--status S] [--scan ID|latest]
                            [--limit N]
    rescan review precision --output ROOT [--scan ID|latest]
    rescan review disputes  --output ROOT [--scan ID|latest] [--limit N]
    rescan review verdict CLIP_ID VERDICT --output ROOT [--reviewer R]
                            [--note TEXT]

One answer per video: without ``--scan``, every command sees each video's
latest scan per model version (``pipeline.review.query.select_scans``), so
a re-scan into the same root counts once.  Every query command prints a
table for people, or ``--format json|csv`` for scripts
(``pipeline.review.formats``); a command that shows fewer rows than match
says "N of M" on stderr.  A root with no scan output, or a scan, label,
model version, video or clip the root does not hold, is a usage error
(one line, exit 2), never an empty answer.  ``ROOT`` may be local or on
any Beam filesystem (``gs://``).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Optional
from typing import Sequence

import schemas
from pipeline.cli import clip_filters
from pipeline.review import formats
from pipeline.review import frame_scores as stored_scores
from pipeline.review import query as review_query
from pipeline.runtime import flag_types
from pipeline.runtime import usage
from pipeline.runtime.terminal import printable
from pipeline.storage.parquet import BrokenParquetFile
from schemas import review_tables


VIDEO_STATUSES = (schemas.STATUS_PARTIAL, schemas.STATUS_FAILED,
                  schemas.STATUS_SCANNED, schemas.STATUS_SKIPPED)
SCAN_HELP = (f'only this scan id, or "{review_query.LATEST_SCAN}" for the '
             'most recent scan (repeatable; default: each video\'s latest '
             'scan per model version)')
PRECISION_HELP = ('measured precision per model version from the verdicts '
                  'in ROOT/reviews/: violating / (violating + not '
                  f'violating), where {review_query.OUTCOME_RULE}')


@dataclasses.dataclass(frozen=True)
class Output:
  """What a command prints: ``text`` on stdout (stderr when ``code`` is
  not 0) and ``note`` (what a limit left out) on stderr."""
  code: int
  text: str
  note: str = ''


def build_parser() -> argparse.ArgumentParser:
  parser = usage.OneLineArgumentParser(
      prog='rescan review',
      description='Query the flagged clips, ledger, hash matches and '
      'verdicts under an output root (local or gs://).  Each video counts '
      'once: its latest scan per model version, unless --scan names scans.')
  commands = parser.add_subparsers(dest='command', required=True)

  def command(name: str, help_text: str) -> argparse.ArgumentParser:
    sub = commands.add_parser(name, help=help_text, description=help_text)
    sub.add_argument('--output', required=True, metavar='ROOT',
                     help='the scan output root (local or gs://)')
    sub.add_argument('--format', choices=formats.FORMATS,
                     default=formats.TABLE,
                     help='table for people, json or csv for scripts')
    return sub

  def scans(sub: argparse.ArgumentParser) -> None:
    sub.add_argument('--scan', action='append', default=[], help=SCAN_HELP)

  def limit(sub: argparse.ArgumentParser, what: str) -> None:
    sub.add_argument('--limit', type=flag_types.non_negative_int, default=0,
                     help=f'at most this many {what} (default %(default)s: '
                     'all); stderr says how many of how many are shown')

  top = command('top', 'the highest-scoring clips')
  clip_filters.add_clip_filter_arguments(top)
  video = command('video', "one video's clips, in time order, a sparkline "
                  'of where they are, and who gave which verdict when')
  video.add_argument('video', metavar='ID', help='a video id or video URI')
  video.add_argument('--scan', default=None,
                     help='which scan (default: its latest scan)')
  matches = command('matches', 'the known-content hash matches under ROOT '
                    '(rescan match, or a scan with --bank), strongest '
                    'first; a match of a bank entry made from a confirmed '
                    'clip names it ("copy of clip")')
  matches.add_argument('--clip', default=None, metavar='CLIP_ID',
                       help='only the copies of this confirmed clip')
  scans(matches)
  limit(matches, 'matches')
  stats = command('stats', 'counts of distinct videos and clips by status, '
                  'label, model version and scan, failures by error kind, '
                  'and precision (' + review_query.OUTCOME_RULE + ')')
  scans(stats)
  videos = command('videos', 'ledger rows by status, least covered first: '
                   'by default the videos a scan did not fully look at '
                   '("partial": fewer samples scored than --min-coverage '
                   'asks; "failed")')
  videos.add_argument('--status', action='append', default=[],
                      choices=VIDEO_STATUSES,
                      help='only this status (repeatable; default: partial '
                      'and failed)')
  scans(videos)
  limit(videos, 'rows')
  precision = command('precision', PRECISION_HELP)
  scans(precision)
  disputed = command('disputes', 'the clips whose reviewers\' latest '
                     'verdicts differ (outcome "disputed" for a tie, else '
                     'the majority verdict), ties first')
  scans(disputed)
  limit(disputed, 'clips')
  verdict = command('verdict', 'record a verdict on a clip found by a scan '
                    'under ROOT (appends one file to ROOT/reviews/; earlier '
                    'verdicts stay in its history)')
  verdict.add_argument('clip_id')
  verdict.add_argument('verdict', choices=review_tables.VERDICTS)
  verdict.add_argument('--reviewer', default=None,
                       help='who decides (default: the OS user name)')
  verdict.add_argument('--note', default=None)
  return parser


def _verdict(args: argparse.Namespace,
             everything: review_query.ReviewData) -> Output:
  review_query.check_clip_ids(everything, [args.clip_id])
  reviewer = (args.reviewer if args.reviewer is not None
              else review_query.default_reviewer())
  path = review_query.append_verdict(args.output, args.clip_id,
                                     args.verdict, reviewer, args.note)
  if args.format == formats.TABLE:
    return Output(0, f'recorded {args.verdict} by {printable(reviewer)} for '
                  f'{printable(args.clip_id)}: {printable(path)}')
  return Output(0, formats.format_rows(
      args.format, [{'clip_id': args.clip_id, 'verdict': args.verdict,
                     'reviewer': reviewer, 'written': path}], ()))


def _limited(args: argparse.Namespace, rows: Sequence[dict],
             columns: Sequence[formats.Column], matching: int,
             noun: str) -> Output:
  note = formats.count_line(len(rows), matching, noun)
  return Output(0, formats.format_rows(args.format, rows, columns), note)


def run_command(args: argparse.Namespace) -> Output:
  """Runs one parsed command."""
  everything = review_query.load_all_review_data(args.output)
  review_query.check_root(args.output, everything)
  if args.command == 'verdict':
    return _verdict(args, everything)
  if args.command == 'top':
    data, clip_filter = clip_filters.load_selected(args, everything)
    reached = None
    if clip_filter.min_score is not None:
      reached = stored_scores.with_near_misses(
          args.output, data, clip_filter.min_score, clip_filter.labels)
      data = reached.data
    con = review_query.connect(data)
    rows = review_query.top_clips(con, clip_filter)
    shown = _limited(args, rows, formats.CLIP_COLUMNS,
                     review_query.count_clips(con, clip_filter), 'clips')
    if reached is not None and reached.note():
      return dataclasses.replace(shown, note='\n'.join(
          filter(None, (reached.note(), shown.note))))
    return shown
  if args.command == 'video':
    [args.video] = review_query.resolve_video_names(everything, [args.video])
    review_query.check_names(everything, videos=[args.video])
  scans = [args.scan] if args.command == 'video' and args.scan else (
      [] if args.command == 'video' else args.scan)
  data = review_query.select_scans(everything, scans)
  con = review_query.connect(data)
  if args.command == 'matches':
    if args.clip is not None:
      review_query.check_clip_ids(everything, [args.clip])
    rows = review_query.top_hash_matches(con, source_clip_id=args.clip)
    return _limited(args, rows[:args.limit or None],
                    formats.MATCH_LIST_COLUMNS, len(rows), 'hash matches')
  if args.command == 'video':
    timeline = review_query.video_timeline(con, args.video)
    if timeline is None:
      raise review_query.ReviewUsageError(
          f'scan {args.scan!r} did not see video {args.video!r}'
          if args.scan else f'no ledger row under this root for video '
          f'{args.video!r}')
    if args.format == formats.TABLE:
      return Output(0, formats.format_timeline_text(timeline))
    return Output(0, formats.format_rows(args.format, timeline.clips,
                                         formats.TIMELINE_COLUMNS,
                                         formats.timeline_document(timeline)))
  if args.command == 'stats':
    stats = review_query.scan_stats(con)
    stats['precision_by_model_version'] = (
        review_query.precision_by_model_version(con))
    stats['scan_states'] = review_query.scan_state_rows(args.output)
    if args.format == formats.TABLE:
      return Output(0, formats.format_stats_text(stats))
    return Output(0, formats.format_rows(
        args.format, formats.stats_csv_rows(stats), (), stats))
  if args.command == 'videos':
    video_filter = review_query.VideoFilter(
        statuses=tuple(args.status) or review_query.UNSEEN_STATUSES,
        limit=args.limit or None)
    rows = review_query.list_videos(con, video_filter)
    return _limited(args, rows, formats.VIDEO_COLUMNS,
                    review_query.count_videos(con, video_filter), 'videos')
  if args.command == 'disputes':
    rows = review_query.disputes(con, args.limit or None)
    return _limited(args, rows, formats.DISPUTE_COLUMNS,
                    review_query.count_disputes(con), 'disputed clips')
  rows = review_query.precision_by_model_version(con)
  return Output(0, formats.format_rows(args.format, rows,
                                       formats.PRECISION_COLUMNS))


def main(argv: Optional[Sequence[str]] = None) -> int:
  args = build_parser().parse_args(list(sys.argv[1:] if argv is None
                                        else argv))
  try:
    result = run_command(args)
  except review_query.ReviewUsageError as exc:
    # A root, scan, name or clip the root does not hold: a usage error.
    print(f'rescan review {args.command}: error: '
          f'{printable(usage.one_line(exc))}', file=sys.stderr)
    return 2
  except (BrokenParquetFile, OSError) as exc:
    # A broken file under ROOT, or a ROOT that cannot be read or written.
    print(f'rescan review: error: {printable(usage.one_line(exc))}',
          file=sys.stderr)
    return 1
  print(result.text, file=sys.stdout if result.code == 0 else sys.stderr)
  if result.note:
    sys.stdout.flush()  # the note follows the table on a terminal
    print(result.note, file=sys.stderr)
  return result.code


if __name__ == '__main__':
  sys.exit(main())
