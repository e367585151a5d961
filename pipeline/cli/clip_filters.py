"""The clip filter flags shared by ``review top``, ``extract`` and
``report``: a library for ``pipeline/cli/*``, not a command."""
from __future__ import annotations

import argparse
import dataclasses
from typing import Optional
from typing import Tuple

import schemas
from pipeline.review import query as review_query
from pipeline.runtime import flag_types


def add_clip_filter_arguments(parser: argparse.ArgumentParser,
                              default_limit: Optional[int] = 20) -> None:
  """The clip filters shared by ``review top``, ``extract`` and ``report``
  (``clip_filter_from_args`` reads them back)."""
  parser.add_argument('--label', action='append', default=[],
                      help='only clips of this label (repeatable)')
  parser.add_argument('--min-score', '--min_score', dest='min_score',
                      type=flag_types.unit_interval, default=None,
                      help='only clips whose peak score is at least this '
                      '(in [0, 1]); for review top, below a scan\'s '
                      'threshold the clips are re-assembled at this score '
                      'from its frame_scores (near-misses)')
  parser.add_argument('--model-version', '--model_version',
                      dest='model_version', action='append', default=[],
                      help='only clips found by this model version '
                      '(repeatable)')
  parser.add_argument('--scan', action='append', default=[],
                      help='only clips of this scan id, or '
                      f'"{review_query.LATEST_SCAN}" for the most recent '
                      'scan (repeatable; default: each video\'s latest scan '
                      'per model version, so a re-scan counts once)')
  parser.add_argument('--modality', choices=schemas.MODALITIES,
                      default=None,
                      help='only clips the visual model (frames) or the '
                      'audio model (soundtrack) flagged (default: both)')
  parser.add_argument('--video', action='append', default=[],
                      help='only clips of this video id or video URI '
                      '(repeatable)')
  parser.add_argument('--limit', type=flag_types.non_negative_int,
                      default=default_limit,
                      help='at most this many clips, highest scores first '
                      '(default %(default)s; 0 = no limit); stderr says how '
                      'many of how many matching are shown')


def clip_filter_from_args(args: argparse.Namespace) -> review_query.ClipFilter:
  return review_query.ClipFilter(
      labels=tuple(args.label), min_score=args.min_score,
      model_versions=tuple(args.model_version), scans=tuple(args.scan),
      videos=tuple(args.video),
      modalities=(args.modality,) if args.modality else (),
      limit=args.limit or None)


def load_selected(args: argparse.Namespace,
                  everything: Optional[review_query.ReviewData] = None
                  ) -> Tuple[review_query.ReviewData, review_query.ClipFilter]:
  """The rows the clip filter flags ask for, and the filter to query them
  with: one answer per video (each video's latest scan per model version)
  unless ``--scan`` names scans.  Raises ``review_query.ReviewUsageError``
  (a usage error: one line, exit 2) for a root with no scan output and for
  a scan, label, model version or video the root does not hold.
  ``everything``: every scan's rows of ``--output``, when already read."""
  if everything is None:
    everything = review_query.load_all_review_data(args.output)
  review_query.check_root(args.output, everything)
  videos = review_query.resolve_video_names(everything, args.video)
  review_query.check_names(everything, args.label, args.model_version,
                           videos)
  data = review_query.select_scans(everything, args.scan)
  # The scans are chosen in ``data``: the filter must not choose again.
  return data, dataclasses.replace(clip_filter_from_args(args), scans=(),
                                   videos=videos)
