"""Command-line options of a scan, parsed into one frozen ``ScanConfig``.

Our own flags are parsed here; every flag we do not know (``--runner``,
``--direct_num_workers``, ``--temp_location``, ...) is handed to Beam's
``PipelineOptions`` untouched.  Each flag accepts both the dashed spelling
(``--segment-seconds``) and the underscore spelling (``--segment_seconds``)
that Dataflow Flex Templates pass.
"""
from __future__ import annotations

import argparse
import datetime
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

from pipeline.media import sampling
from pipeline.runtime import runners
from pipeline.runtime import flag_types
from pipeline.scan.clips import DEFAULT_MERGE_GAP_MS
from pipeline.storage.scan_ids import new_scan_id
from pipeline.storage.scan_ids import scan_id_arg

DEFAULT_SEGMENT_SECONDS = 60.0
DEFAULT_BATCH_SIZE = 64
DEFAULT_MERGE_GAP_SECONDS = DEFAULT_MERGE_GAP_MS / 1000
DEFAULT_MIN_CLIP_SECONDS = 0.0
DEFAULT_MAX_PIXELS = 8192 * 4320
DEFAULT_SEGMENT_TIMEOUT_SECONDS = 600.0
DEFAULT_MAX_FRAMES_PER_SEGMENT = 100_000
DECODE_ISOLATION_CHOICES = ('subprocess', 'inline')


@dataclass(frozen=True)
class ScanConfig:
  """Everything a scan needs besides Beam's own options."""
  inputs: Tuple[str, ...]
  output: str
  model: str
  scan_id: str
  scanned_at: datetime.datetime
  fps: Optional[float] = None
  threshold: Optional[float] = None
  sampling: str = sampling.AUTO
  segment_seconds: float = DEFAULT_SEGMENT_SECONDS
  batch_size: int = DEFAULT_BATCH_SIZE
  merge_gap_seconds: float = DEFAULT_MERGE_GAP_SECONDS
  min_clip_seconds: float = DEFAULT_MIN_CLIP_SECONDS
  max_pixels: int = DEFAULT_MAX_PIXELS
  max_frames_per_segment: int = DEFAULT_MAX_FRAMES_PER_SEGMENT
  segment_timeout_seconds: float = DEFAULT_SEGMENT_TIMEOUT_SECONDS
  decode_isolation: str = 'subprocess'
  decode_threads: int = 0
  inference_threads: int = 0
  hashes: bool = True
  hash_seconds: float = 1.0
  banks: Tuple[str, ...] = ()
  allowed_prefixes: Tuple[str, ...] = ()
  skip_scanned: bool = False
  inference_accelerator: Optional[str] = None
  require_gpu: Optional[bool] = None
  model_copies: Optional[int] = None
  beam_args: Tuple[str, ...] = field(default_factory=tuple)


def _add(parser: argparse.ArgumentParser, name: str, **kwargs) -> None:
  """Adds ``--name-with-dashes`` and its ``--name_with_underscores`` alias."""
  dashed = '--' + name.replace('_', '-')
  spellings = [dashed] if '_' not in name else [dashed, '--' + name]
  parser.add_argument(*spellings, dest=name, **kwargs)


def build_arg_parser(prog: str = 'rescan scan') -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog=prog,
      description='Re-scan stored videos with a classifier and write flagged '
      'clips and a per-video ledger as Parquet. Unknown flags go to Beam.')
  _add(parser, 'input', action='append', required=True, metavar='PATTERN',
       help='File pattern on any Beam filesystem (archive/**/*.mp4, '
       'gs://bucket/uploads/*) or a manifest (.csv/.parquet with a "uri" '
       'column and an optional "video_id"). Repeatable.')
  _add(parser, 'output', required=True, metavar='ROOT',
       help='Output root; datasets go to ROOT/flagged_clips/ and '
       'ROOT/videos/, partitioned by scan_id.')
  _add(parser, 'model', required=True, metavar='DIR',
       help='SavedModel directory obeying the model contract '
       '(model/README.md).')
  _add(parser, 'fps', type=flag_types.positive_float, default=None,
       help='Frames sampled per second (default: the model\'s "fps").')
  _add(parser, 'threshold', type=flag_types.unit_interval, default=None,
       help='Score threshold (default: the model\'s "threshold").')
  _add(parser, 'sampling', choices=sampling.SAMPLING_CHOICES,
       default=sampling.AUTO,
       help='What to decode for the samples: "exact" decodes every frame and '
       'samples the frame on screen (frame hashes are then vPDQ-exact); '
       '"fast" skips non-reference frames and the loop filter and takes the '
       'nearest decoded frame; "keyframes" decodes keyframes only; "auto" '
       'is "keyframes" when the sampling interval is at least the video\'s '
       'keyframe interval, else "fast" (default %(default)s).')
  _add(parser, 'segment_seconds', type=flag_types.positive_float,
       default=DEFAULT_SEGMENT_SECONDS,
       help='Length of the time segments a video is split into so that one '
       'video fans out over many workers (default %(default)s).')
  _add(parser, 'batch_size', type=flag_types.positive_int, default=DEFAULT_BATCH_SIZE,
       help='Largest inference batch (default %(default)s).')
  _add(parser, 'merge_gap_seconds', type=flag_types.non_negative_float,
       default=DEFAULT_MERGE_GAP_SECONDS,
       help='Runs of positive samples closer than this merge into one clip '
       '(default %(default)s).')
  _add(parser, 'min_clip_seconds', type=flag_types.non_negative_float,
       default=DEFAULT_MIN_CLIP_SECONDS,
       help='Drop clips shorter than this (default %(default)s: keep all).')
  _add(parser, 'max_pixels', type=flag_types.positive_int, default=DEFAULT_MAX_PIXELS,
       help='Refuse videos whose frames have more pixels than this '
       '(default %(default)s, 8K).')
  _add(parser, 'max_frames_per_segment', type=flag_types.positive_int,
       default=DEFAULT_MAX_FRAMES_PER_SEGMENT,
       help='Give up on a segment that reads more frames than this '
       '(default %(default)s).')
  _add(parser, 'segment_timeout_seconds', type=flag_types.positive_float,
       default=DEFAULT_SEGMENT_TIMEOUT_SECONDS,
       help='Give up on a segment whose decoding takes longer than this; the '
       'video is recorded as failed with error_kind "timeout" '
       '(default %(default)s).')
  _add(parser, 'decode_isolation', choices=DECODE_ISOLATION_CHOICES,
       default='subprocess',
       help='"subprocess" decodes in a watched child process, so a decoder '
       'that crashes fails one video ("crash"), not the worker; "inline" '
       'decodes in the worker process (default %(default)s).')
  _add(parser, 'decode_threads', type=flag_types.non_negative_int, default=0,
       help='Decoder threads per segment (default %(default)s: one per core). '
       'Set it to cores / concurrent bundles when a worker runs several '
       'bundles at once (multi_processing, Dataflow\'s one SDK process per '
       'vCPU), so that decoders do not fight over the cores.')
  _add(parser, 'inference_threads', type=flag_types.non_negative_int, default=0,
       help='TensorFlow intra-op threads per worker process (default '
       '%(default)s: TensorFlow\'s choice, one per core); as '
       '--decode-threads.')
  parser.add_argument(
      '--hashes', dest='hashes', type=flag_types.boolean, nargs='?', const=True,
      default=True, metavar='BOOL',
      help='Compute vPDQ-compatible PDQ frame hashes in the same decode pass '
      'and store them in ROOT/frame_hashes/ (default: true).')
  parser.add_argument('--no-hashes', '--no_hashes', dest='hashes',
                      action='store_false', help='Same as --hashes=false.')
  _add(parser, 'hash_seconds', type=flag_types.positive_float, default=1.0,
       help='Seconds between hashed frames, as vPDQ (default %(default)s).')
  _add(parser, 'bank', action='append', default=[], metavar='PATH',
       help='Hash bank (see "rescan bank import") to match every video '
       'against; matches go to ROOT/hash_matches/. Repeatable.')
  _add(parser, 'allowed_prefix', action='append', default=[],
       metavar='PREFIX',
       help='Only read inputs under this prefix (repeatable): any other URI, '
       'e.g. one a manifest names, becomes a failed row with error_kind '
       '"forbidden_uri" and is never opened.')
  parser.add_argument(
      '--skip-scanned', '--skip_scanned', dest='skip_scanned', type=flag_types.boolean,
      nargs='?', const=True, default=False, metavar='BOOL',
      help='Skip videos that an earlier scan under --output already scanned '
      'with the same model version, unchanged since (same size and update '
      'time); they get a "skipped" ledger row.')
  _add(parser, 'inference_accelerator', default=None, metavar='HINT',
       help='Beam accelerator resource hint for the inference step only, '
       'e.g. "type:nvidia-l4;count:1;install-nvidia-driver" (right fitting: '
       'listing, probing and decoding stay on CPU workers).')
  _add(parser, 'require_gpu', type=flag_types.boolean, default=None, metavar='BOOL',
       help='Fail at worker start when TensorFlow sees no GPU (default: true '
       'when an accelerator is requested, by --inference-accelerator or '
       'worker_accelerator in --dataflow_service_options).')
  _add(parser, 'model_copies', type=flag_types.positive_int, default=None,
       metavar='N',
       help='Load N copies of the model per worker machine, shared by all '
       'its SDK processes (Beam\'s large-model mechanism), instead of one '
       'copy in every process (the default). On a GPU worker, 1 keeps a '
       'single model in GPU memory; raise it while the GPU has memory and '
       'compute to spare.')
  _add(parser, 'scan_id', type=scan_id_arg, default=None,
       help='Id of this scan, used as the output partition (default: UTC '
       'time plus a random suffix).')
  return parser


def parse_scan_args(argv: Sequence[str],
                    now: Optional[datetime.datetime] = None) -> ScanConfig:
  """Parses our flags; the flags we do not know are kept for Beam."""
  known, beam_args = build_arg_parser().parse_known_args(list(argv))
  now = now or datetime.datetime.now(datetime.timezone.utc)
  beam_args = runners.with_default_runner(beam_args)
  values = vars(known)
  if values['require_gpu'] is None:
    values['require_gpu'] = bool(values['inference_accelerator']) or any(
        'worker_accelerator' in arg for arg in beam_args)
  return ScanConfig(
      inputs=tuple(values.pop('input')),
      banks=tuple(values.pop('bank')),
      allowed_prefixes=tuple(values.pop('allowed_prefix')),
      scan_id=values.pop('scan_id') or new_scan_id(now),
      scanned_at=now,
      beam_args=tuple(beam_args),
      **values)


def flex_template_parameter_names() -> Tuple[str, ...]:
  """The names a Flex Template may pass: our flags' underscore spellings."""
  return tuple(action.dest for action in template_actions())


def template_actions() -> List[argparse.Action]:
  """One parser action per flag a template can pass (``--no-x`` aliases of
  ``--x=false`` are left out)."""
  actions, seen = [], set()
  for action in build_arg_parser()._actions:  # pylint: disable=protected-access
    if action.dest == 'help' or action.dest in seen:
      continue
    seen.add(action.dest)
    actions.append(action)
  return actions
