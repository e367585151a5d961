"""The scan's Beam steps: thin DoFns around the pure functions, and the
composite ``ScanVideos`` that chains them.

    ListInputs -> ExpandInputs -> DedupeInputs -> ProbeVideos
      -> PlanSegments -> ReshuffleSegments -> DecodeSegments
      -> ScoreFrames (RunInference) -> GroupByVideo -> AssembleVideos
"""
from __future__ import annotations

import dataclasses
import datetime
from typing import Dict, Iterator, List, Optional, Tuple, Union

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems

import schemas
from apache_beam.ml.inference.base import RunInference

from pipeline.scan import clips as clip_assembly
from pipeline.media import decode
from pipeline import fault_injection
from pipeline.hashes import pdq as hashing
from pipeline.scan import inputs
from pipeline.media import errors as media_errors
from pipeline.media import probe
from pipeline.scan import progress
from pipeline.media import sampling
from pipeline.media import segments
from pipeline.storage import files as storage
from pipeline.media import thumbnails
from pipeline.media import windows
from pipeline.inference.handler import KeyedSavedModelHandler
from pipeline.inference.handler import SavedModelHandler
from pipeline.hashes.matching import MatchRules
from pipeline.hashes.pdq import FrameHash
from pipeline.hashes.match_job import match_hashes_transform
from pipeline.inference.contract import ModelSpec
from pipeline.storage.parquet import read_parquet_file
from pipeline.records import Failure
from pipeline.records import FlaggedClip
from pipeline.records import FrameScore
from pipeline.records import SampleKey
from pipeline.records import Segment
from pipeline.records import SegmentOutcome
from pipeline.records import Skipped
from pipeline.records import VideoInfo
from pipeline.records import VideoLedgerRow
from pipeline.records import VideoRef

NAMESPACE = 'rescan'
OUTCOMES = 'outcomes'
HASHES = 'hashes'
LEDGER = 'ledger'
DEAD_LETTER = 'dead_letter'


@dataclasses.dataclass(frozen=True)
class ScanSettings:
  """What the workers need to know, resolved from the model and the flags."""
  spec: ModelSpec
  fps: float
  threshold: float
  sampling: str
  segment_ms: int
  batch_size: int
  merge_gap_ms: float
  min_clip_ms: float
  max_pixels: int
  max_frames_per_segment: int
  segment_timeout_seconds: float
  decode_isolation: str
  decode_threads: int
  inference_threads: int
  allowed_prefixes: Tuple[str, ...]
  skip_scanned_root: Optional[str]
  hashes: bool
  hash_seconds: float
  banks: Tuple[str, ...]
  inference_accelerator: Optional[str]
  require_gpu: bool
  scan_id: str
  scanned_at: datetime.datetime


class ProbeVideoFn(beam.DoFn):
  """Probes a video.  A URI outside the allowed prefixes, or a video that
  cannot be scanned, becomes a ``Failure``; one an earlier scan by this model
  version already covered, unchanged, becomes ``Skipped``."""

  def __init__(self, max_pixels: int, allowed_prefixes: Tuple[str, ...]):
    self._max_pixels = max_pixels
    self._allowed_prefixes = allowed_prefixes
    self._probed = progress.counter(NAMESPACE, 'videos_probed')
    self._video_ms = progress.counter(NAMESPACE, progress.VIDEO_MS_PROBED)
    self._failed = progress.counter(NAMESPACE, 'videos_failed_probe')
    self._skipped = progress.counter(NAMESPACE, 'videos_skipped')

  def process(self, ref: VideoRef, previous: Dict[str, Tuple] = None
              ) -> Iterator[Union[VideoInfo, Failure, Skipped]]:
    if not storage.is_allowed(ref.uri, self._allowed_prefixes):
      self._failed.inc()
      yield Failure(ref.video_id, ref.uri, None, media_errors.FORBIDDEN_URI,
                    'outside every --allowed-prefix; not read')
      return
    version = None
    try:
      version = storage.source_version(ref.uri)
      earlier = (previous or {}).get(ref.uri)
      if earlier and _same_version(earlier[1:], version):
        self._skipped.inc()
        yield Skipped(ref.video_id, ref.uri, version.size_bytes,
                      version.updated_s, earlier[0])
        return
      info = probe.probe_video(ref.uri, ref.video_id, self._max_pixels,
                               version.size_bytes, version.updated_s)
    except media_errors.MEDIA_EXCEPTIONS as exc:
      kind, message = media_errors.classify(exc)
      self._failed.inc()
      yield Failure(ref.video_id, ref.uri,
                    version.size_bytes if version else None, kind, message,
                    version.updated_s if version else None)
      return
    self._probed.inc()
    self._video_ms.inc(info.duration_ms)
    yield info


def _same_version(recorded: Tuple[int, float],
                  current: storage.SourceVersion) -> bool:
  """Same size, and the same update time to the millisecond (the ledger
  stores microseconds; filesystems report finer)."""
  size, updated_s = recorded
  return (size == current.size_bytes and
          round(updated_s * 1000) == round(current.updated_s * 1000))


def scanned_versions(metadata, model_version: str
                     ) -> Iterator[Tuple[str, Tuple[str, int, float]]]:
  """``(uri, (scan_id, size_bytes, updated_s))`` of every video an earlier
  ledger file records as scanned by ``model_version``."""
  table = read_parquet_file(metadata.path)
  if 'source_updated_at' not in table.column_names:
    return  # ledgers from before versions were recorded cannot vouch
  for row in table.select(['video_uri', 'status', 'model_version', 'scan_id',
                           'size_bytes', 'source_updated_at']).to_pylist():
    if (row['status'] == 'scanned' and row['model_version'] == model_version
        and row['source_updated_at'] is not None):
      yield row['video_uri'], (row['scan_id'], row['size_bytes'],
                               row['source_updated_at'].timestamp())


class PreviouslyScanned(beam.PTransform):
  """Earlier ledgers under an output root -> ``(uri, latest version)``."""

  def __init__(self, output_root: str, model_version: str):
    super().__init__()
    self._glob = schemas.dataset_glob(output_root, 'videos')
    self._model_version = model_version

  def expand(self, pbegin):
    return (pbegin
            | 'MatchLedgers' >> fileio.MatchFiles(
                self._glob,
                empty_match_treatment=fileio.EmptyMatchTreatment.ALLOW)
            | 'ReadScannedVersions' >> beam.FlatMap(scanned_versions,
                                                    self._model_version)
            | 'LatestScanPerUri' >> beam.CombinePerKey(max))


def _probe_result_kind(record, _partitions) -> int:
  return 1 if isinstance(record, Failure) else 2 if isinstance(
      record, Skipped) else 0


class DecodeSegmentFn(beam.DoFn):
  """Decodes one segment's samples, keyed for inference, plus its outcome.

  It may run in a watched child process (see ``--decode-isolation``), where
  Beam metrics do not reach the runner: ``CountSegmentOutcomesFn`` counts
  the outcomes in the worker instead.
  """

  def __init__(self, settings: ScanSettings):
    self._fps = settings.fps
    self._sampling = settings.sampling
    self._threads = settings.decode_threads
    self._size = settings.spec.input_size
    self._window = settings.spec.window
    self._max_pixels = settings.max_pixels
    self._max_frames = settings.max_frames_per_segment
    self._hashes = settings.hashes
    self._hash_seconds = settings.hash_seconds
    self._scan_id = settings.scan_id

  def process(self, segment: Segment):
    fault_injection.before_decode(segment.uri)
    stats = decode.DecodeStats()
    count = 0
    hashes: List[FrameHash] = []
    reformatter = decode.VideoReformatter()

    def hash_pick(pick: hashing.HashPick) -> None:
      hashes.append(hashing.frame_hash(
          segment.video_id, segment.uri, self._scan_id, pick.time_ms,
          decode.full_resolution_rgb(pick.frame, reformatter)))

    try:
      with storage.open_media(segment.uri) as reader:
        try:
          samples = decode.iter_samples(
              reader, segment.start_ms, segment.end_ms, self._fps,
              self._size, stats, context_samples=self._window - 1,
              max_pixels=self._max_pixels, max_frames=self._max_frames,
              on_hash_pick=hash_pick if self._hashes else None,
              seconds_per_hash=self._hash_seconds,
              mode=self._sampling,
              keyframe_interval_ms=segment.keyframe_interval_ms,
              threads=self._threads)
          first = sampling.sample_index_range(segment.start_ms,
                                              segment.end_ms, self._fps).start
          for sample, frames in windows.sliding_windows(samples, self._window,
                                                        first):
            count += 1
            model_input = frames if self._window > 1 else sample.image
            yield SampleKey(segment.video_id, sample.ts_ms), model_input
        finally:
          stats.bytes_read = reader.bytes_read
    except media_errors.MEDIA_EXCEPTIONS as exc:
      stats.error_kind, stats.error_message = media_errors.classify(exc)
    except media_errors.DEAD_LETTER_EXCEPTIONS as exc:
      # A bug of ours, met while decoding in the watched child process:
      # record it here rather than send the exception object across the
      # process boundary.
      stats.error_kind = media_errors.INTERNAL_ERROR
      stats.error_message = (f'{type(exc).__name__}: '
                             f'{media_errors.short_message(exc)}')
    for frame_hash in hashes:
      yield beam.pvalue.TaggedOutput(HASHES, frame_hash)
    yield beam.pvalue.TaggedOutput(
        OUTCOMES,
        SegmentOutcome(segment.video_id, segment.index, count,
                       stats.bytes_read, stats.error_kind,
                       stats.error_message, stats.packets_damaged))


class CountSegmentOutcomesFn(beam.DoFn):
  """Counts decode outcomes in the worker and keys them by video."""

  def __init__(self):
    self._segments = progress.counter(NAMESPACE, 'segments_decoded')
    self._segment_errors = progress.counter(NAMESPACE, 'segments_failed')
    self._frames = progress.counter(NAMESPACE, 'frames_sampled')
    self._bytes = progress.counter(NAMESPACE, 'bytes_read')
    self._bytes_per_segment = progress.distribution(NAMESPACE,
                                                   'bytes_read_per_segment')

  def process(self, outcome: SegmentOutcome
              ) -> Iterator[Tuple[str, SegmentOutcome]]:
    self._segments.inc()
    self._frames.inc(outcome.frames_sampled)
    self._bytes.inc(outcome.bytes_read)
    self._bytes_per_segment.update(outcome.bytes_read)
    if outcome.error_kind:
      self._segment_errors.inc()
    yield outcome.video_id, outcome


def dead_letter_kind(exc_type) -> str:
  """``timeout`` and ``crash`` for a watched decode that hung or died;
  ``internal_error`` for any other unexpected exception (a bug)."""
  name = getattr(exc_type, '__name__', str(exc_type))
  if name == 'TimeoutError':
    return media_errors.TIMEOUT
  if name == 'BrokenProcessPool':
    return media_errors.CRASH
  return media_errors.INTERNAL_ERROR


def _dead_segment(bad: Tuple[Segment, Tuple]) -> SegmentOutcome:
  """A segment whose decoding hung, crashed, or raised something we did not
  expect: recorded against its video instead of failing the job."""
  segment, (exc_type, exc_value, _) = bad
  kind = dead_letter_kind(exc_type)
  messages = {
      media_errors.TIMEOUT: 'decoding the segment exceeded its time limit',
      media_errors.CRASH: 'the decoder process died while decoding',
  }
  message = messages.get(kind) or (
      f'{getattr(exc_type, "__name__", exc_type)}: '
      f'{media_errors.short_message(exc_value) if exc_value else ""}')
  return SegmentOutcome(segment.video_id, segment.index, 0, 0, kind,
                        f'segment {segment.index} '
                        f'[{segment.start_ms}, {segment.end_ms}) ms: {message}')


def _dead_probe(bad: Tuple[VideoRef, Tuple]) -> Failure:
  ref, (exc_type, exc_value, _) = bad
  return Failure(ref.video_id, ref.uri, None, media_errors.INTERNAL_ERROR,
                 f'{getattr(exc_type, "__name__", exc_type)}: '
                 f'{media_errors.short_message(exc_value)}')


class ScoreToRecordFn(beam.DoFn):
  """Inference results -> ``(video_id, FrameScore)``; a sample that reached
  the threshold keeps a JPEG of its frame for the clip's thumbnail."""

  def __init__(self, threshold: float):
    self._threshold = threshold
    self._thumbnails = progress.counter(NAMESPACE, 'thumbnails_encoded')

  def process(self, keyed) -> Iterator[Tuple[str, FrameScore]]:
    key, result = keyed
    scores = tuple(float(s) for s in result.scores)
    thumbnail = None
    if max(scores) >= self._threshold:
      thumbnail = thumbnails.jpeg_thumbnail(result.frames)
      self._thumbnails.inc()
    yield key.video_id, FrameScore(key.ts_ms, scores, thumbnail)


def _key_by_video(record):
  return record.video_id, record


class AssembleVideoFn(beam.DoFn):
  """One video's probe, segment outcomes and scores -> clips + ledger row."""

  def __init__(self, settings: ScanSettings):
    self._settings = settings
    self._rules = clip_assembly.ClipRules(
        threshold=settings.threshold,
        sample_interval_ms=sampling.sample_interval_ms(settings.fps),
        merge_gap_ms=settings.merge_gap_ms,
        min_clip_ms=settings.min_clip_ms)
    self._scanned = progress.counter(NAMESPACE, 'videos_scanned')
    self._failed = progress.counter(NAMESPACE, 'videos_failed')
    self._clips = progress.counter(NAMESPACE, 'clips_flagged')
    self._skipped = progress.counter(NAMESPACE, 'videos_skipped_assembled')

  def _ledger(self, **fields) -> VideoLedgerRow:
    s = self._settings
    defaults = dict(size_bytes=None, error_kind=None, error_message=None,
                    duration_ms=None, width=None, height=None, codec=None,
                    source_updated_at=None,
                    frames_scored=0, segments=0, segments_failed=0,
                    packets_damaged=0, bytes_read=0, max_score=None, clips=0)
    defaults.update(fields)
    return VideoLedgerRow(model_name=s.spec.name,
                          model_version=s.spec.version, scan_id=s.scan_id,
                          scanned_at=s.scanned_at, **defaults)

  def _failed_row(self, failure: Failure, kind: str = None,
                  message: str = None) -> VideoLedgerRow:
    self._failed.inc()
    return self._ledger(video_id=failure.video_id, video_uri=failure.uri,
                        size_bytes=failure.size_bytes, status='failed',
                        source_updated_at=_utc(failure.updated_s),
                        error_kind=kind or failure.error_kind,
                        error_message=message or failure.error_message)

  def process(self, element):
    yield from self._assemble(*element)

  def _assemble(self, video_id: str, grouped) -> List:
    """The clips (main output) and the one ledger row of one video."""
    probed: List[VideoInfo] = list(grouped['probed'])
    failures: List[Failure] = list(grouped['failed'])
    skipped: List[Skipped] = list(grouped['skipped'])
    if len(probed) + len(failures) + len(skipped) > 1:
      return [beam.pvalue.TaggedOutput(LEDGER, self._failed_row(
          Failure(record.video_id, record.uri, record.size_bytes, '', ''),
          'duplicate_video_id',
          f'{len(probed) + len(failures) + len(skipped)} inputs share '
          f'video_id {video_id}'))
              for record in probed + failures + skipped]
    if skipped:
      record = skipped[0]
      self._skipped.inc()
      return [beam.pvalue.TaggedOutput(LEDGER, self._ledger(
          video_id=record.video_id, video_uri=record.uri,
          size_bytes=record.size_bytes, status=schemas.STATUS_SKIPPED,
          source_updated_at=_utc(record.updated_s),
          error_message=f'unchanged since scan {record.previous_scan_id}'))]
    if failures:
      return [beam.pvalue.TaggedOutput(LEDGER, self._failed_row(failures[0]))]
    if not probed:
      return []  # scores without a probe cannot happen; nothing to account
    info = probed[0]
    outcomes = sorted(grouped['outcomes'], key=lambda o: o.index)
    scores = list({s.ts_ms: s for s in grouped['scores']}.values())
    errors = [o for o in outcomes if o.error_kind]
    common = dict(video_id=info.video_id, video_uri=info.uri,
                  size_bytes=info.size_bytes, duration_ms=info.duration_ms,
                  width=info.width, height=info.height, codec=info.codec,
                  source_updated_at=_utc(info.updated_s),
                  frames_scored=len(scores), segments=len(outcomes),
                  segments_failed=len(errors),
                  packets_damaged=sum(o.packets_damaged for o in outcomes),
                  bytes_read=sum(o.bytes_read for o in outcomes))
    if not scores:
      first = errors[0] if errors else None
      self._failed.inc()
      return [beam.pvalue.TaggedOutput(LEDGER, self._ledger(
          status='failed',
          error_kind=first.error_kind if first else media_errors.NO_FRAMES,
          error_message=(first.error_message if first else
                         'no frame could be decoded'), **common))]
    fatal = [o for o in errors
             if o.error_kind in media_errors.FATAL_SEGMENT_KINDS]
    spec, s = self._settings.spec, self._settings
    spans = clip_assembly.assemble_clips(scores, spec.labels, self._rules,
                                         info.duration_ms)
    thumbnail_at = {score.ts_ms: score.thumbnail for score in scores}
    outputs: List = []
    for span in spans:
      outputs.append(FlaggedClip(
          clip_id=clip_assembly.clip_id(info.video_id, span.label,
                                        span.start_ms, spec.version),
          video_id=info.video_id, video_uri=info.uri, label=span.label,
          start_ms=span.start_ms, end_ms=span.end_ms, peak_ms=span.peak_ms,
          peak_score=span.peak_score, mean_score=span.mean_score,
          frames=span.frames, model_name=spec.name,
          model_version=spec.version, threshold=s.threshold,
          scan_id=s.scan_id, scanned_at=s.scanned_at,
          thumbnail=thumbnail_at.get(span.peak_ms)))
    (self._failed if fatal else self._scanned).inc()
    self._clips.inc(len(spans))
    reported = (fatal or errors or [None])[0]
    outputs.append(beam.pvalue.TaggedOutput(LEDGER, self._ledger(
        status='failed' if fatal else 'scanned',
        error_kind=reported.error_kind if reported else None,
        error_message=reported.error_message if reported else None,
        max_score=max(max(score.scores) for score in scores),
        clips=len(spans), **common)))
    return outputs


def _utc(seconds: Optional[float]) -> Optional[datetime.datetime]:
  if seconds is None:
    return None
  return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)


class ScanVideos(beam.PTransform):
  """Input specs -> {dataset name: records}: flagged clips, ledger rows,
  frame hashes and, with banks, hash matches."""

  def __init__(self, settings: ScanSettings):
    super().__init__()
    self._settings = settings

  def expand(self, specs):
    s = self._settings
    refs = (specs
            | 'ExpandInputs' >> beam.FlatMap(inputs.expand_input)
            | 'RefsToTuples' >> beam.Map(tuple)
            | 'DedupeInputs' >> beam.Distinct()
            | 'TuplesToRefs' >> beam.MapTuple(VideoRef))
    if s.skip_scanned_root:
      previous = (specs.pipeline | 'PreviouslyScanned' >> PreviouslyScanned(
          s.skip_scanned_root, s.spec.version))
    else:
      previous = specs.pipeline | 'NoPreviousScans' >> beam.Create([])
    probe_results = (
        refs
        | 'ProbeVideos' >> beam.ParDo(
            ProbeVideoFn(s.max_pixels, s.allowed_prefixes),
            previous=beam.pvalue.AsDict(previous))
        .with_exception_handling(
            dead_letter_tag=DEAD_LETTER,
            exc_class=media_errors.DEAD_LETTER_EXCEPTIONS))
    probed, failed, skipped = (
        probe_results['good']
        | 'SplitProbeResults' >> beam.Partition(_probe_result_kind, 3))
    dead_probes = (probe_results[DEAD_LETTER]
                   | 'DeadLetterProbes' >> beam.Map(_dead_probe))
    decoded = (
        probed
        | 'PlanSegments' >> beam.FlatMap(segments.plan_segments, s.segment_ms)
        | 'ReshuffleSegments' >> beam.Reshuffle()
        | 'DecodeSegments' >> beam.ParDo(DecodeSegmentFn(s)).with_outputs(
            OUTCOMES, HASHES, main='samples').with_exception_handling(
                dead_letter_tag=DEAD_LETTER,
                exc_class=media_errors.DEAD_LETTER_EXCEPTIONS,
                use_subprocess=s.decode_isolation == 'subprocess',
                timeout=s.segment_timeout_seconds))
    handler = KeyedSavedModelHandler(
        SavedModelHandler(s.spec, max_batch_size=s.batch_size,
                          require_gpu=s.require_gpu,
                          intra_op_threads=s.inference_threads))
    inference = RunInference(handler)
    if s.inference_accelerator:
      inference = inference.with_resource_hints(
          accelerator=s.inference_accelerator)
    scores = (decoded['samples']
              | 'ScoreFrames' >> inference
              | 'KeyScoresByVideo' >> beam.ParDo(ScoreToRecordFn(s.threshold)))
    # Counted before the Flatten, which the local runner does not fuse
    # across, so that progress moves while segments decode.
    outcomes = (
        (decoded[OUTCOMES]
         | 'CountSegmentOutcomes' >> beam.ParDo(CountSegmentOutcomesFn()),
         decoded[DEAD_LETTER]
         | 'DeadLetterSegments' >> beam.Map(_dead_segment)
         | 'CountDeadSegments' >> beam.ParDo(CountSegmentOutcomesFn()))
        | 'FlattenOutcomes' >> beam.Flatten())
    all_failed = ((failed, dead_probes)
                  | 'FlattenProbeFailures' >> beam.Flatten())
    assembled = (
        {
            'probed': probed | 'KeyProbedByVideo' >> beam.Map(_key_by_video),
            'failed': all_failed | 'KeyFailedByVideo' >> beam.Map(
                _key_by_video),
            'skipped': skipped | 'KeySkippedByVideo' >> beam.Map(
                _key_by_video),
            'outcomes': outcomes,
            'scores': scores,
        }
        | 'GroupByVideo' >> beam.CoGroupByKey()
        | 'AssembleVideos' >> beam.ParDo(AssembleVideoFn(s)).with_outputs(
            LEDGER, main='clips'))
    outputs = {'flagged_clips': assembled['clips'],
               'videos': assembled[LEDGER],
               'frame_hashes': decoded[HASHES]}
    if s.banks:
      outputs['hash_matches'] = (
          decoded[HASHES]
          | 'MatchHashes' >> match_hashes_transform(
              s.banks, MatchRules(), s.scan_id, s.scan_id))
    return outputs


def settings_from(config, spec: ModelSpec) -> ScanSettings:
  """Resolves flags against the model's metadata (flags win)."""
  return ScanSettings(
      spec=spec,
      fps=config.fps or spec.fps,
      threshold=spec.threshold if config.threshold is None else config.threshold,
      sampling=config.sampling,
      segment_ms=int(round(config.segment_seconds * 1000)),
      batch_size=config.batch_size,
      merge_gap_ms=config.merge_gap_seconds * 1000.0,
      min_clip_ms=config.min_clip_seconds * 1000.0,
      max_pixels=config.max_pixels,
      max_frames_per_segment=config.max_frames_per_segment,
      segment_timeout_seconds=config.segment_timeout_seconds,
      decode_isolation=config.decode_isolation,
      decode_threads=config.decode_threads,
      inference_threads=config.inference_threads,
      allowed_prefixes=tuple(storage.normalize_uri(p)
                             for p in config.allowed_prefixes),
      skip_scanned_root=config.output if config.skip_scanned else None,
      hashes=config.hashes,
      hash_seconds=config.hash_seconds,
      banks=config.banks,
      inference_accelerator=config.inference_accelerator,
      require_gpu=bool(config.require_gpu),
      scan_id=config.scan_id,
      scanned_at=config.scanned_at)
