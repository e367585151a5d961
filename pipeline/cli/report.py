"""``rescan report``: the review page over an output root
(``pipeline.review.report``).

    rescan report --output ROOT --html report.html [clip filters]
                  [--extract-dir DIR]                 # a static export
    rescan report --output ROOT --serve [--port 8765] [--reviewer NAME]
                  [clip filters] [--extract-dir DIR]  # record verdicts

``--serve`` runs until Ctrl-C and prints its URL with a per-session token
(every request needs it); extracts it cuts on demand go to a private
temporary folder that is removed when it stops.  It listens on loopback
only unless ``--allow-remote`` is given.  Everything it writes (the page,
verdicts) is readable by its owner only.

Served, the page pages through every clip that passes the clip filters
(``--limit`` cuts the static export only, which says "N of M"); verdicts
are recorded as ``--reviewer`` (default: the OS user).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
from typing import Optional
from typing import Sequence

from pipeline.cli import clip_filters
from pipeline.review import extract as clip_extract
from pipeline.review import query as review_query
from pipeline.review import report as review_report
from pipeline.runtime import flag_types
from pipeline.runtime import usage

PROG = 'rescan report'
port_number = flag_types.bounded('port', int, lambda v: 0 <= v <= 65535,
                                 'in [0, 65535]')


def build_parser() -> argparse.ArgumentParser:
  parser = usage.OneLineArgumentParser(
      prog=PROG,
      description='The review page: a static HTML export (--html) and/or a '
      'local web app that records verdicts to ROOT/reviews/ (--serve).')
  parser.add_argument('--output', required=True, metavar='ROOT',
                      help='the scan output root (local or gs://)')
  parser.add_argument('--html', metavar='FILE', default=None,
                      help='write a self-contained, read-only page here '
                      '(readable by you only)')
  parser.add_argument('--serve', action='store_true',
                      help='serve the page and record verdicts')
  parser.add_argument('--host', default='127.0.0.1',
                      help='address to listen on (default %(default)s; a '
                      'non-loopback address needs --allow-remote)')
  parser.add_argument('--allow-remote', '--allow_remote',
                      dest='allow_remote', action='store_true',
                      help='allow a --host other machines can reach (the '
                      'page shows flagged content: every request still '
                      'needs the session token; prefer an SSH tunnel)')
  parser.add_argument('--port', type=port_number,
                      default=review_report.DEFAULT_PORT,
                      help='port to listen on (default %(default)s; 0 = any)')
  parser.add_argument('--reviewer', default=None,
                      help='who records the verdicts of this session (the '
                      'page shows it and cannot change it; default: the OS '
                      'user)')
  parser.add_argument('--extract-dir', '--extract_dir', dest='extract_dir',
                      default=None, metavar='DIR',
                      help='play extracts cut by "rescan extract --out DIR"')
  parser.add_argument('--context-seconds', '--context_seconds',
                      dest='context_seconds',
                      type=flag_types.non_negative_float,
                      default=clip_extract.DEFAULT_CONTEXT_SECONDS,
                      help='context of extracts cut on demand')
  clip_filters.add_clip_filter_arguments(parser,
                                   default_limit=review_report.DEFAULT_LIMIT)
  return parser


def html_target_problem(path: str) -> Optional[str]:
  """Why the static page cannot be written to ``path``, checked before any
  work; ``None`` when it can."""
  folder = os.path.dirname(os.path.abspath(path))
  if os.path.isdir(path):
    return f'--html {path} is a folder; give a file name'
  if not os.path.isdir(folder):
    return f'--html: the folder {folder} does not exist'
  if not os.access(folder, os.W_OK | os.X_OK):
    return f'--html: the folder {folder} is not writable'
  if os.path.exists(path) and not os.access(path, os.W_OK):
    return f'--html {path} is not writable'
  return None


def _fail(message: str, code: int) -> int:
  print(f'{PROG}: error: {message}', file=sys.stderr)
  return code


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = build_parser()
  args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
  if not args.html and not args.serve:
    return _fail('give --html FILE, --serve, or both', 2)
  if args.html and (problem := html_target_problem(args.html)):
    return _fail(problem, 2)
  if args.serve and not args.allow_remote and not review_report.is_loopback(
      args.host):
    return _fail(f'--host {args.host} is not a loopback address: the review '
                 'page shows flagged content and records verdicts; pass '
                 '--allow-remote to serve it to other machines', 2)
  # What this command writes (the page, verdicts, extracts) is private,
  # like scan outputs.
  previous_umask = os.umask(0o077)
  try:
    return _run(args)
  except KeyboardInterrupt:
    print(f'{PROG}: interrupted', file=sys.stderr)
    return 130
  finally:
    os.umask(previous_umask)


def _run(args: argparse.Namespace) -> int:
  try:
    data, clip_filter = clip_filters.load_selected(args)
  except review_query.ReviewUsageError as exc:
    return _fail(str(exc), 2)
  if args.html:
    html_dir = os.path.dirname(os.path.abspath(args.html))
    request = review_report.ReportRequest(
        args.output, clip_filter, review_report.STATIC,
        extract_dir=args.extract_dir, html_dir=html_dir)
    try:
      model = review_report.write_static_page(data, request, args.html)
    except OSError as exc:
      return _fail(f'cannot write --html {args.html}: {exc.strerror}', 1)
    print(f"wrote {args.html}: {len(model['clips'])} of "
          f"{model['total_clips']} clips")
  if not args.serve:
    return 0
  try:
    args.reviewer = (review_query.default_reviewer() if args.reviewer is None
                     else args.reviewer)
    review_query.check_reviewer(args.reviewer)
  except review_query.VerdictError as exc:
    return _fail(str(exc), 2)
  request = review_report.ReportRequest(
      args.output, clip_filter, review_report.SERVE, args.reviewer,
      args.extract_dir)
  with tempfile.TemporaryDirectory(prefix='rescan-review-') as scratch:
    app = review_report.ReviewApp(request, data, scratch,
                                  args.context_seconds)
    try:
      server = review_report.ReviewServer(app, args.host, args.port,
                                          allow_remote=args.allow_remote)
    except OSError as exc:
      return _fail(f'cannot listen on {args.host}:{args.port}: '
                   f'{exc.strerror or exc} (choose another --port, or 0 '
                   'for any free one)', 1)
    with server:
      if args.allow_remote and not review_report.is_loopback(args.host):
        print(f'{PROG}: warning: serving flagged content on {args.host}, '
              'reachable from other machines; anyone with the URL below '
              'can see it and record verdicts', file=sys.stderr, flush=True)
      try:
        print(f'review page: {server.url}  (reviewer {args.reviewer}; '
              'Ctrl-C to stop)', flush=True)
        threading.Event().wait()
      except KeyboardInterrupt:
        print('stopped')
  return 0
