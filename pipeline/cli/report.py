"""``rescan report``: the review page over an output root
(``pipeline.review.report``).

    rescan report --output ROOT --html report.html [clip filters]
                  [--extract-dir DIR]                 # a static export
    rescan report --output ROOT --serve [--port 8765] [--reviewer NAME]
                  [clip filters] [--extract-dir DIR]  # record verdicts

``--serve`` runs until Ctrl-C; extracts it cuts on demand go to a
temporary folder that is removed when it stops.
"""
from __future__ import annotations

import argparse
import getpass
import os
import sys
import tempfile
import threading
from typing import Optional, Sequence

from pipeline.cli import clip_filters
from pipeline.review import extract as clip_extract
from pipeline.review import query as review_query
from pipeline.review import report as review_report


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='rescan report',
      description='The review page: a static HTML export (--html) and/or a '
      'local web app that records verdicts to ROOT/reviews/ (--serve).')
  parser.add_argument('--output', required=True, metavar='ROOT',
                      help='the scan output root (local or gs://)')
  parser.add_argument('--html', metavar='FILE', default=None,
                      help='write a self-contained, read-only page here')
  parser.add_argument('--serve', action='store_true',
                      help='serve the page and record verdicts')
  parser.add_argument('--host', default='127.0.0.1',
                      help='address to listen on (default %(default)s)')
  parser.add_argument('--port', type=int, default=review_report.DEFAULT_PORT,
                      help='port to listen on (default %(default)s; 0 = any)')
  parser.add_argument('--reviewer', default=getpass.getuser(),
                      help='who records the verdicts (default: the user)')
  parser.add_argument('--extract-dir', '--extract_dir', dest='extract_dir',
                      default=None, metavar='DIR',
                      help='play extracts cut by "rescan extract --out DIR"')
  parser.add_argument('--context-seconds', '--context_seconds',
                      dest='context_seconds', type=float,
                      default=clip_extract.DEFAULT_CONTEXT_SECONDS,
                      help='context of extracts cut on demand')
  clip_filters.add_clip_filter_arguments(parser,
                                   default_limit=review_report.DEFAULT_LIMIT)
  return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
  args = build_parser().parse_args(list(sys.argv[1:] if argv is None
                                        else argv))
  if not args.html and not args.serve:
    print('rescan report: give --html FILE, --serve, or both',
          file=sys.stderr)
    return 2
  data = review_query.load_review_data(args.output)
  clip_filter = clip_filters.clip_filter_from_args(args)
  if args.html:
    html_dir = os.path.dirname(os.path.abspath(args.html))
    request = review_report.ReportRequest(
        args.output, clip_filter, review_report.STATIC,
        extract_dir=args.extract_dir, html_dir=html_dir)
    model = review_report.write_static_page(data, request, args.html)
    print(f"wrote {args.html}: {len(model['clips'])} clips")
  if not args.serve:
    return 0
  request = review_report.ReportRequest(
      args.output, clip_filter, review_report.SERVE, args.reviewer,
      args.extract_dir)
  with tempfile.TemporaryDirectory(prefix='rescan-review-') as scratch:
    app = review_report.ReviewApp(request, data, scratch,
                                  args.context_seconds)
    with review_report.ReviewServer(app, args.host, args.port) as server:
      print(f'review page: {server.url}  (reviewer {args.reviewer}; '
            'Ctrl-C to stop)', flush=True)
      try:
        threading.Event().wait()
      except KeyboardInterrupt:
        print('stopped')
  return 0
