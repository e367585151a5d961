"""Command-line options of a scan, parsed into one frozen ``ScanConfig``.

Our own flags are parsed here; the rest (``--runner``,
``--direct_num_workers``, ``--temp_location``, ...) is handed to Beam's
``PipelineOptions`` untouched, once Beam's own parser has recognised every
one of them (``pipeline.runtime.usage.check_beam_args``: a mistyped flag is
a usage error, not a flag Beam silently ignores).  Each flag accepts both the dashed spelling
(``--segment-seconds``) and the underscore spelling (``--segment_seconds``)
that Dataflow Flex Templates pass.
"""
from __future__ import annotations

import argparse
import datetime
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

from pipeline.inference import contract
from pipeline.media import frame_size
from pipeline.media import sampling
from pipeline.runtime import flag_types
from pipeline.runtime import usage
from pipeline.scan.clips import DEFAULT_MERGE_GAP_MS
from pipeline.storage.scan_ids import new_scan_id
from pipeline.storage.scan_ids import scan_id_arg

DEFAULT_SEGMENT_SECONDS = 60.0
DEFAULT_BATCH_SIZE = 64
# Audio windows per inference batch: a 1 s window at 16 kHz is 64 KB, so a
# batch of 256 is 16 MB.
DEFAULT_AUDIO_BATCH_SIZE = 256
DEFAULT_MERGE_GAP_SECONDS = DEFAULT_MERGE_GAP_MS / 1000
DEFAULT_MIN_CLIP_SECONDS = 0.0
DEFAULT_MAX_PIXELS = frame_size.DEFAULT_MAX_PIXELS
DEFAULT_SEGMENT_TIMEOUT_SECONDS = 600.0
DEFAULT_MAX_FRAMES_PER_SEGMENT = 100_000
DECODE_ISOLATION_CHOICES = ('subprocess', 'inline')
# Clean videos of every tested codec, variable frame rate included, score
# every sample (coverage 1.0); 0.95 leaves room for a sample or two lost at
# the end of a long stream, and none for a damaged second in a short one.
DEFAULT_MIN_COVERAGE = 0.95
# Whether every video is read once more for its MD5 and SHA-256.
DEFAULT_DIGESTS = False

# Bounds of the numeric flags, checked when the flags are parsed, before
# any work (README "Limits"): each is far beyond any sane setting and
# keeps one segment's work and memory bounded.
_DAY_SECONDS = 86_400
FPS = flag_types.in_range('fps', float, 0, contract.MAX_FPS, low_open=True)
SEGMENT_SECONDS = flag_types.in_range('segment_seconds', float, 1,
                                      _DAY_SECONDS)
BATCH_SIZE = flag_types.in_range('batch_size', int, 1, 4096)
CLIP_SECONDS = flag_types.in_range('seconds', float, 0, _DAY_SECONDS)
MAX_PIXELS = flag_types.in_range('max_pixels', int, 1,
                                 frame_size.MAX_MAX_PIXELS)
MAX_FRAMES_PER_SEGMENT = flag_types.in_range('max_frames_per_segment', int,
                                             1, 10_000_000)
SEGMENT_TIMEOUT_SECONDS = flag_types.in_range(
    'segment_timeout_seconds', float, 0, _DAY_SECONDS, low_open=True)
THREADS = flag_types.in_range('threads', int, 0, 256)
HASH_SECONDS = flag_types.in_range('hash_seconds', float, 0.001, 3600)
MODEL_COPIES = flag_types.in_range('model_copies', int, 1, 64)
# Each wave is one Beam job with its own start-up cost (minutes on
# Dataflow); 1,000 waves of a 10^9-video archive are 10^6 videos each.
WAVES = flag_types.in_range('waves', int, 1, 1000)
MAX_DURATION_HOURS = flag_types.in_range('max_duration_hours', float, 0,
                                         10_000, low_open=True)
# A day: longer than any upload or archived livestream a platform keeps by
# default, short enough that a header or time base that claims months
# (a fuzzed AVI claimed 65,000 h in 10 KB) plans no runaway work.
DEFAULT_MAX_DURATION_HOURS = 24.0


@dataclass(frozen=True)
class ScanConfig:
  """Everything a scan needs besides Beam's own options."""
  inputs: Tuple[str, ...]
  output: str
  # The visual model (--model), the audio model (--audio-model): at least
  # one is given.
  model: Optional[str]
  scan_id: str
  scanned_at: datetime.datetime
  fps: Optional[float] = None
  threshold: Optional[float] = None
  audio_threshold: Optional[float] = None
  # Above ``sampling``, whose field shadows the module in this body.
  hash_fidelity: str = sampling.EXACT
  sampling: str = sampling.AUTO
  segment_seconds: float = DEFAULT_SEGMENT_SECONDS
  batch_size: int = DEFAULT_BATCH_SIZE
  merge_gap_seconds: float = DEFAULT_MERGE_GAP_SECONDS
  min_clip_seconds: float = DEFAULT_MIN_CLIP_SECONDS
  max_pixels: int = DEFAULT_MAX_PIXELS
  max_frames_per_segment: int = DEFAULT_MAX_FRAMES_PER_SEGMENT
  max_duration_hours: float = DEFAULT_MAX_DURATION_HOURS
  segment_timeout_seconds: float = DEFAULT_SEGMENT_TIMEOUT_SECONDS
  min_coverage: float = DEFAULT_MIN_COVERAGE
  decode_isolation: str = 'subprocess'
  decode_threads: int = 0
  inference_threads: int = 0
  hashes: bool = True
  frame_scores: bool = True
  hash_seconds: float = 1.0
  banks: Tuple[str, ...] = ()
  allowed_prefixes: Tuple[str, ...] = ()
  skip_scanned: bool = False
  waves: int = 1
  verify_digest: bool = False
  digests: bool = DEFAULT_DIGESTS
  inference_accelerator: Optional[str] = None
  require_gpu: Optional[bool] = None
  model_copies: Optional[int] = None
  audio_model: Optional[str] = None
  audio_batch_size: int = DEFAULT_AUDIO_BATCH_SIZE
  beam_args: Tuple[str, ...] = field(default_factory=tuple)


def _add(parser: argparse.ArgumentParser, name: str, **kwargs) -> None:
  """Adds ``--name-with-dashes`` and its ``--name_with_underscores`` alias."""
  dashed = '--' + name.replace('_', '-')
  spellings = [dashed] if '_' not in name else [dashed, '--' + name]
  parser.add_argument(*spellings, dest=name, **kwargs)


def build_arg_parser(prog: str = 'rescan scan') -> argparse.ArgumentParser:
  parser = usage.OneLineArgumentParser(
      prog=prog,
      description='Re-scan stored videos with a classifier and write flagged '
      'clips and a per-video ledger as Parquet. Beam\'s own flags '
      '(--runner, --project, ...) go to Beam; any other flag is an error.')
  _add(parser, 'input', action='append', required=True, metavar='PATTERN',
       help='File pattern on any Beam filesystem (archive/**/*.mp4, '
       'gs://bucket/uploads/*) or a manifest (.csv/.parquet with a "uri" '
       'column and an optional "video_id"). Repeatable.')
  _add(parser, 'output', required=True, metavar='ROOT',
       help='Output root; datasets go to ROOT/flagged_clips/ and '
       'ROOT/videos/, partitioned by scan_id.')
  _add(parser, 'model', default=None, metavar='DIR',
       help='SavedModel directory of a visual model obeying the model '
       'contract (model/README.md). At least one of --model and '
       '--audio-model is required.')
  _add(parser, 'audio_model', default=None, metavar='DIR',
       help='SavedModel directory of an audio model (model/README.md, '
       '"modality": "audio"): each segment\'s audio is cut into the '
       'model\'s windows in the same decode and scored beside the frames; '
       'its clips have modality "audio". With no --model, the scan hears '
       'only (frames are then decoded only for --hashes).')
  _add(parser, 'fps', type=FPS, default=None,
       help=f'Frames sampled per second, in {FPS.interval} (default: the '
       'model\'s "fps").')
  _add(parser, 'threshold', type=flag_types.unit_interval, default=None,
       help='Score threshold, in [0, 1] (default: the model\'s '
       '"threshold").')
  _add(parser, 'audio_threshold', type=flag_types.unit_interval,
       default=None,
       help='The audio model\'s score threshold, in [0, 1] (default: its '
       '"threshold"); needs --audio-model.')
  _add(parser, 'sampling', choices=sampling.SAMPLING_CHOICES,
       default=sampling.AUTO,
       help='What to decode for the samples: "exact" decodes every frame and '
       'samples the frame on screen (frame hashes are then vPDQ-exact); '
       '"fast" skips non-reference frames and the loop filter and takes the '
       'nearest decoded frame; "keyframes" decodes keyframes only; "auto" '
       'is "keyframes" when the sampling interval is at least the video\'s '
       'keyframe interval, else "fast" (default %(default)s). With frame '
       'hashes on at --hash-fidelity exact, every frame is decoded whatever '
       'this says.')
  _add(parser, 'segment_seconds', type=SEGMENT_SECONDS,
       default=DEFAULT_SEGMENT_SECONDS,
       help='Length of the time segments a video is split into so that one '
       f'video fans out over many workers, in {SEGMENT_SECONDS.interval}; '
       'one segment\'s model inputs (samples x the model\'s window x input '
       'size x 3 bytes) must fit in '
       f'{contract.MAX_SEGMENT_INPUT_BYTES >> 20} MiB '
       '(default %(default)s).')
  _add(parser, 'batch_size', type=BATCH_SIZE, default=DEFAULT_BATCH_SIZE,
       help=f'Largest inference batch, in {BATCH_SIZE.interval}; one batch '
       'of model inputs must fit in '
       f'{contract.MAX_BATCH_INPUT_BYTES >> 20} MiB (default %(default)s).')
  _add(parser, 'audio_batch_size', type=BATCH_SIZE,
       default=DEFAULT_AUDIO_BATCH_SIZE,
       help='Largest inference batch of audio windows (--audio-model), in '
       f'{BATCH_SIZE.interval}; one batch must fit in '
       f'{contract.MAX_BATCH_INPUT_BYTES >> 20} MiB (default %(default)s).')
  _add(parser, 'merge_gap_seconds', type=CLIP_SECONDS,
       default=DEFAULT_MERGE_GAP_SECONDS,
       help='Runs of positive samples closer than this merge into one clip, '
       f'in {CLIP_SECONDS.interval} (default %(default)s).')
  _add(parser, 'min_clip_seconds', type=CLIP_SECONDS,
       default=DEFAULT_MIN_CLIP_SECONDS,
       help=f'Drop clips shorter than this, in {CLIP_SECONDS.interval} '
       '(default %(default)s: keep all).')
  _add(parser, 'max_pixels', type=MAX_PIXELS, default=DEFAULT_MAX_PIXELS,
       help='Refuse videos whose frames have more pixels than this, in '
       f'{MAX_PIXELS.interval}: checked on the header and on every decoded '
       'frame (a later frame beyond it fails the video with error_kind '
       '"frame_too_large") (default %(default)s, 8K).')
  _add(parser, 'max_duration_hours', type=MAX_DURATION_HOURS,
       default=DEFAULT_MAX_DURATION_HOURS,
       help='Refuse videos whose timeline (from the header, checked against '
       'the packets at its end) runs longer than this many hours, in '
       f'{MAX_DURATION_HOURS.interval}: they fail with error_kind "too_long" '
       'before any segment is planned (default %(default)s).')
  _add(parser, 'max_frames_per_segment', type=MAX_FRAMES_PER_SEGMENT,
       default=DEFAULT_MAX_FRAMES_PER_SEGMENT,
       help='Give up on a segment that reads more frames than this, in '
       f'{MAX_FRAMES_PER_SEGMENT.interval} (default %(default)s).')
  _add(parser, 'segment_timeout_seconds', type=SEGMENT_TIMEOUT_SECONDS,
       default=DEFAULT_SEGMENT_TIMEOUT_SECONDS,
       help='Give up on a segment whose decoding takes longer than this, in '
       f'{SEGMENT_TIMEOUT_SECONDS.interval}, per --segment-seconds of its '
       'span (a segment decoded in one pass on sparse keyframes gets as many '
       'times this); the video is recorded as failed with error_kind '
       '"timeout" (default %(default)s).')
  _add(parser, 'min_coverage', type=flag_types.unit_interval,
       default=DEFAULT_MIN_COVERAGE, metavar='FRACTION',
       help='Least share of the expected samples (the sampling grid over the '
       'probed duration) that must be scored for a video to count as '
       '"scanned", in [0, 1]. A video below it (frames damaged, concealed or '
       'dropped by the decoder, a segment lost to a timeout) is recorded as '
       '"partial" with error_kind "low_coverage", its clips still written; '
       'the ledger\'s coverage column holds the share. Clean videos reach '
       '1.0 (default %(default)s).')
  _add(parser, 'decode_isolation', choices=DECODE_ISOLATION_CHOICES,
       default='subprocess',
       help='"subprocess" decodes in a watched child process, so a decoder '
       'that crashes fails one video ("crash"), not the worker; "inline" '
       'decodes in the worker process (default %(default)s).')
  _add(parser, 'decode_threads', type=THREADS, default=0,
       help=f'Decoder threads per segment, in {THREADS.interval} (default '
       '%(default)s: one per core). '
       'Set it to cores / concurrent bundles when a worker runs several '
       'bundles at once (multi_processing, Dataflow\'s one SDK process per '
       'vCPU), so that decoders do not fight over the cores.')
  _add(parser, 'inference_threads', type=THREADS, default=0,
       help='TensorFlow intra-op threads per worker process, in '
       f'{THREADS.interval} (default '
       '%(default)s: TensorFlow\'s choice, one per core); as '
       '--decode-threads.')
  parser.add_argument(
      '--hashes', dest='hashes', type=flag_types.boolean, nargs='?', const=True,
      default=True, metavar='BOOL',
      help='Compute vPDQ-compatible PDQ frame hashes in the same decode pass '
      'and store them in ROOT/frame_hashes/ (default: true).')
  parser.add_argument('--no-hashes', '--no_hashes', dest='hashes',
                      action='store_false', help='Same as --hashes=false.')
  parser.add_argument(
      '--frame-scores', '--frame_scores', dest='frame_scores',
      type=flag_types.boolean, nargs='?', const=True, default=True,
      metavar='BOOL',
      help='Store every scored sample\'s score per label in '
      'ROOT/frame_scores/, for near-misses, the page\'s score curve and '
      '`rescan rethreshold` without decoding (default: true).')
  parser.add_argument('--no-frame-scores', '--no_frame_scores',
                      dest='frame_scores', action='store_false',
                      help='Same as --frame-scores=false.')
  _add(parser, 'hash_seconds', type=HASH_SECONDS, default=1.0,
       help='Seconds between hashed frames, as vPDQ, in '
       f'{HASH_SECONDS.interval} (default %(default)s).')
  _add(parser, 'hash_fidelity', choices=sampling.HASH_FIDELITY_CHOICES,
       default=sampling.EXACT,
       help='"exact" decodes every frame when hashing, so frame hashes are '
       'bit-identical to Meta\'s vPDQ on constant-frame-rate video, and the '
       'samples are then taken as --sampling exact takes them; "approximate" '
       'keeps the cheaper --sampling decode and hashes the first decoded '
       'frame of each hashing interval (default %(default)s).')
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
      'time, and locally the same inode and ctime, on GCS the same '
      'generation and CRC32C); they get a "skipped" ledger row.')
  _add(parser, 'waves', type=WAVES, default=1, metavar='K',
       help='Run the scan as K successive Beam jobs ("waves"), each '
       'scanning the inputs whose file URI hashes to it and committed when '
       'its job finishes, in ' + WAVES.interval + ': a scan killed or failed '
       'keeps its committed waves (readers and --skip-scanned see them) and '
       'loses at most the wave in flight. Each wave lists the inputs again '
       'and pays a job start-up (default %(default)s).')
  _add(parser, 'verify_digest', type=flag_types.boolean, nargs='?',
       const=True, default=False, metavar='BOOL',
       help='Record the SHA-256 of each video\'s content in the ledger; with '
       '--skip-scanned, skip a video only when its digest also equals the '
       'recorded one. Costs one more full read of every video (the same '
       'read as --digests: both digests are recorded).')
  _add(parser, 'digests', type=flag_types.boolean, nargs='?', const=True,
       default=DEFAULT_DIGESTS, metavar='BOOL',
       help='Record the MD5 and SHA-256 of each video\'s content '
       '(content_md5, content_sha256), computed in one more full read of '
       'every video, for exact matching against the md5/sha256 entries of '
       'hash banks. Without it, only what storage gives for free is '
       'recorded: the MD5 of GCS objects (none for composite objects), '
       'nothing for local files (default: %(default)s).')
  _add(parser, 'inference_accelerator', default=None, metavar='HINT',
       help='Beam accelerator resource hint for the inference step only, '
       'e.g. "type:nvidia-l4;count:1;install-nvidia-driver" (right fitting: '
       'listing, probing and decoding stay on CPU workers).')
  _add(parser, 'require_gpu', type=flag_types.boolean, default=None, metavar='BOOL',
       help='Fail at worker start when TensorFlow sees no GPU (default: true '
       'when an accelerator is requested, by --inference-accelerator or '
       'worker_accelerator in --dataflow_service_options).')
  _add(parser, 'model_copies', type=MODEL_COPIES, default=None,
       metavar='N',
       help=f'Load N copies (N in {MODEL_COPIES.interval}) of the model per '
       'worker machine, shared by all '
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
  """Parses our flags; the flags we do not know are kept for Beam, and
  must be Beam's (``usage.check_beam_args``: a typo is a usage error)."""
  parser = build_arg_parser()
  known, beam_args = usage.parse_job_args(parser, argv)
  if known.model is None and known.audio_model is None:
    parser.error('give a visual model (--model DIR), an audio model '
                 '(--audio-model DIR) or both')
  # A threshold for a model the scan does not run would be ignored.
  if known.audio_threshold is not None and known.audio_model is None:
    parser.error('--audio-threshold is the audio model\'s threshold: give '
                 '--audio-model DIR too')
  if known.threshold is not None and known.model is None:
    parser.error('--threshold is the visual model\'s threshold: give '
                 '--model DIR too, or use --audio-threshold')
  now = now or datetime.datetime.now(datetime.timezone.utc)
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
