"""``rescan extract``: cut selected flagged clips, with context, into small
MP4s (``pipeline.review.extract``).

    rescan extract --output ROOT --out DIR [--context-seconds 2]
                   [--transcode auto|always] [clip filters as in 'review top']

Prints a line per clip; a clip that cannot be cut is reported on stderr
and the others are still cut (exit status 1).
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional, Sequence

from pipeline.cli import clip_filters
from pipeline.media import errors as media_errors
from pipeline.review import extract as clip_extract
from pipeline.review import query as review_query
from pipeline.runtime import flag_types
from pipeline.runtime import usage
from pipeline.runtime.terminal import printable
from pipeline.storage.parquet import BrokenParquetFile


def build_parser() -> argparse.ArgumentParser:
  parser = usage.OneLineArgumentParser(
      prog='rescan extract',
      description='Cut the selected flagged clips, with context, into small '
      'MP4 files (stream copy where possible) plus a JSON sidecar each.')
  parser.add_argument('--output', required=True, metavar='ROOT',
                      help='the scan output root (local or gs://)')
  parser.add_argument('--out', required=True, metavar='DIR',
                      help='where the extracts go (local or gs://)')
  parser.add_argument('--context-seconds', '--context_seconds',
                      dest='context_seconds',
                      type=flag_types.non_negative_float,
                      default=clip_extract.DEFAULT_CONTEXT_SECONDS,
                      help='seconds kept before and after each clip '
                      '(default %(default)s)')
  parser.add_argument('--transcode', choices=clip_extract.TRANSCODE_POLICIES,
                      default='auto',
                      help='auto: copy H.264/HEVC/AV1/VP9, re-encode the '
                      'rest to H.264; always: re-encode everything '
                      '(default %(default)s)')
  clip_filters.add_clip_filter_arguments(parser)
  return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
  args = build_parser().parse_args(list(sys.argv[1:] if argv is None
                                        else argv))
  try:
    data, clip_filter = clip_filters.load_selected(args)
  except review_query.ReviewUsageError as exc:
    print(f'rescan extract: error: {printable(exc)}', file=sys.stderr)
    return 2
  except BrokenParquetFile as exc:
    print(f'rescan extract: error: {printable(exc)}', file=sys.stderr)
    return 1
  con = review_query.connect(data)
  clips = review_query.top_clips(con, clip_filter)
  durations = review_query.video_durations_ms(data)
  failures: List[str] = []
  for clip in clips:
    request = clip_extract.request_for(
        clip, durations.get((clip['video_id'], clip['scan_id'])))
    try:
      done = clip_extract.extract_clip(request, args.out,
                                       args.context_seconds, args.transcode)
    except media_errors.MEDIA_EXCEPTIONS as exc:
      kind, message = media_errors.classify(exc)
      failures.append(clip['clip_id'])
      print(f"failed   {printable(clip['clip_id'])}  {kind}: "
            f"{printable(message)}  {printable(clip['video_uri'])}",
            file=sys.stderr)
      continue
    print(f'{done.method:<9} {printable(done.path)}  '
          f'{done.size_bytes / 1e3:.0f} kB of '
          f'{done.source_size_bytes / 1e3:.0f} kB  '
          f'[{done.covered_start_s:.1f}s, {done.covered_end_s:.1f}s]  '
          f'{printable(clip["video_uri"])}')
  print(f'{len(clips) - len(failures)} of {len(clips)} clips extracted to '
        f'{printable(args.out)}')
  return 1 if failures else 0
