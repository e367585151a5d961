"""``rescan rethreshold``: re-assemble a scan's clips at another threshold
from its stored frame scores (``pipeline.scan.rethreshold``), without
decoding.

    rescan rethreshold --output ROOT --threshold T [--label L] [--scan S]
                       [--scan-id ID] [BEAM FLAGS]

A root without scan output, an unknown scan or label, a scan that stored
no frame scores, a threshold outside [0, 1] or a taken id is one line on
stderr and exit status 2; a run that fails (an unreadable file, the write)
is one line and exit status 1.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Optional, Sequence

from pipeline.runtime import flag_types
from pipeline.runtime import usage
from pipeline.runtime.terminal import printable
from pipeline.scan import rescoring
from pipeline.scan import rethreshold
from pipeline.storage import claims
from pipeline.storage.parquet import BrokenParquetFile
from pipeline.storage.scan_ids import scan_id_arg

PROG = 'rescan rethreshold'


def build_parser() -> argparse.ArgumentParser:
  parser = usage.OneLineArgumentParser(
      prog=PROG,
      description='Re-assemble the clips of a scan at another threshold from '
      'its stored frame_scores, with the scan\'s own clip rules, and write '
      'them as a new flagged_clips partition that records its source scan. '
      'Decodes nothing. Beam\'s own flags go to Beam.')
  parser.add_argument('--output', required=True, metavar='ROOT',
                      help='the scan output root (local or gs://); the new '
                      'partition goes there too')
  parser.add_argument('--threshold', required=True,
                      type=flag_types.unit_interval,
                      help='the new score threshold, in [0, 1]')
  parser.add_argument('--label', default=None,
                      help='only this label (default: every label)')
  parser.add_argument('--scan', default=None, metavar='ID',
                      help='the scan whose scores to use (default: the '
                      'latest scan that stored frame_scores)')
  parser.add_argument('--scan-id', '--scan_id', dest='scan_id',
                      type=scan_id_arg, default=None,
                      help='id of the new partition (default: UTC time plus '
                      'a random suffix)')
  return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
  logging.getLogger().setLevel(os.environ.get('RESCAN_LOG_LEVEL', 'ERROR'))
  args, beam_args = usage.parse_job_args(
      build_parser(), sys.argv[1:] if argv is None else argv)
  try:
    result = rethreshold.run(args.output, args.threshold, args.label,
                             args.scan, args.scan_id, beam_args)
  except (rethreshold.RethresholdUsageError, claims.ClaimError) as exc:
    print(f'{PROG}: error: {printable(str(exc))}', file=sys.stderr)
    return 2
  except (OSError, BrokenParquetFile, rescoring.ScoresMismatch,
          rethreshold.RethresholdFailed) as exc:
    print(f'{PROG}: {printable(usage.one_line(str(exc)))}', file=sys.stderr)
    return 1
  print(f'scan {result.source_scan_id} re-assembled at threshold '
        f'{result.threshold:g}: {result.clips} clips in {result.videos} '
        f'videos, written as scan {result.scan_id} in {result.folder}')
  if result.audio_left_out:
    print(f'  the visual model\'s clips only: scan {result.source_scan_id}\'s '
          'audio clips are not re-assembled (they stay in its own partition)')
  return 0
