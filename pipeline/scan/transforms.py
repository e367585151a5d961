"""The scan's Beam steps: thin DoFns around the pure functions of
``probing``, ``decoding`` and ``ledger``, the read of earlier ledgers for
``--skip-scanned``, and the inference step over Beam's own model handlers.

The DoFns call one pure function each, count what it returned (the
progress line is made of these counters) and tag its outputs;
``pipeline.scan.graph.ScanVideos`` chains them.
"""
from __future__ import annotations

from typing import Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.ml.inference.base import KeyedModelHandler
from apache_beam.ml.inference.base import PredictionResult
from apache_beam.ml.inference.base import RunInference

import schemas
from pipeline.hashes.pdq import FrameHash
from pipeline.inference.handler import SavedModelHandler
from pipeline.media import thumbnails
from pipeline.records import Failure
from pipeline.records import FrameScore
from pipeline.records import SampleKey
from pipeline.records import Segment
from pipeline.records import SegmentOutcome
from pipeline.records import Skipped
from pipeline.records import VideoRef
from pipeline.records import WindowKey
from pipeline.scan import decoding
from pipeline.scan import ledger
from pipeline.scan import probing
from pipeline.scan import progress
from pipeline.scan import summary
from pipeline.scan.settings import ScanSettings
from pipeline.storage import scan_state
from pipeline.storage.parquet import check_parquet_footers
from pipeline.storage.parquet import open_parquet_file

NAMESPACE = progress.NAMESPACE
# Output tags.
OUTCOMES = 'outcomes'
HASHES = 'hashes'
AUDIO = 'audio'
LEDGER = 'ledger'
FRAME_SCORES = 'frame_scores'
DEAD_LETTER = 'dead_letter'


class ProbeVideoFn(beam.DoFn):
  """Probes an input, joined to the version earlier ledgers recorded for
  its file (``probing.probe_input``): a ``VideoInfo``, or a ``Failure``
  (outside the allowed prefixes, or not scannable), or ``Skipped`` (an
  earlier scan by this model version covered it, unchanged)."""

  def __init__(self, settings: ScanSettings):
    self._allowed_prefixes = settings.allowed_prefixes
    self._max_pixels = settings.config.max_pixels
    self._verify_digest = settings.config.verify_digest
    self._digests = settings.config.digests
    self._max_duration_ms = settings.max_duration_ms
    self._segment_ms = settings.segment_ms
    self._probed = progress.counter(NAMESPACE, progress.VIDEOS_PROBED)
    self._video_ms = progress.counter(NAMESPACE, progress.VIDEO_MS_PROBED)
    self._failed = progress.counter(NAMESPACE, progress.VIDEOS_FAILED_PROBE)
    self._skipped = progress.counter(NAMESPACE, 'videos_skipped')

  def process(self, joined: Tuple[VideoRef, Optional[probing.ScannedVersion]]
              ) -> Iterator[probing.Probed]:
    ref, earlier = joined
    result = probing.probe_input(ref, self._allowed_prefixes,
                                 self._max_pixels, earlier,
                                 self._verify_digest, self._digests,
                                 self._max_duration_ms, self._segment_ms)
    if isinstance(result, Failure):
      self._failed.inc()
    elif isinstance(result, Skipped):
      self._skipped.inc()
    else:
      self._probed.inc()
      self._video_ms.inc(result.duration_ms)
    yield result


def vouches(row: Mapping, model_version: str, min_coverage: float,
            audio_model_version: Optional[str] = None,
            sees: bool = True) -> bool:
  """Whether an earlier ledger row proves its video was looked at: only a
  ``scanned`` row (never ``partial``, ``failed`` or ``skipped``) of this
  model version and this audio model version (both absent, or both
  equal: a visual-only row does not vouch for a scan that also hears),
  whose coverage, and audio coverage, reach this scan's
  ``--min-coverage`` (an audio-only row expects no samples, a row
  without an audio stream no windows).  For a scan that ``sees`` (has a
  visual model) the row must have looked at the picture: an audio-only
  row names the audio model's version in ``model_version``, which may
  well equal the visual model's (both "1")."""
  coverage = row['coverage']
  audio_coverage = row.get('audio_coverage')
  if sees and row['samples_expected'] is None:
    return False
  return (row['status'] == schemas.STATUS_SCANNED
          and row['model_version'] == model_version
          and row.get('audio_model_version') == audio_model_version
          and row['source_updated_at'] is not None
          and (coverage is None and row['samples_expected'] in (0, None)
               or coverage is not None and coverage >= min_coverage)
          and (audio_coverage is None or audio_coverage >= min_coverage))


# Ledger rows read at a time by ``scanned_versions``: a worker holds one
# batch of one ledger file, never a whole file or ledger.
LEDGER_BATCH_ROWS = 8192


def scanned_versions(path: str, model_version: str, min_coverage: float = 1.0,
                     audio_model_version: Optional[str] = None,
                     sees: bool = True
                     ) -> Iterator[Tuple[str, probing.ScannedVersion]]:
  """``(uri, version)`` of every video an earlier ledger file records as
  scanned by ``model_version`` and ``audio_model_version`` (see
  ``vouches``; a ledger from before audio has none), read in batches of
  ``LEDGER_BATCH_ROWS`` rows."""
  with open_parquet_file(path) as table:
    columns = table.schema_arrow.names
    if 'source_updated_at' not in columns:
      return  # ledgers from before versions were recorded cannot vouch
    if 'coverage' not in columns:
      # Ledgers from before coverage was recorded called a video "scanned"
      # however few of its samples were scored: they cannot vouch.
      return
    identity = [c for c in ledger.VERSION_COLUMNS if c in columns]
    audio = [c for c in ('audio_model_version', 'audio_coverage')
             if c in columns]
    for batch in table.iter_batches(
        batch_size=LEDGER_BATCH_ROWS,
        columns=['video_uri', 'status', 'model_version', 'scan_id',
                 'size_bytes', 'source_updated_at', 'samples_expected',
                 'coverage', *audio, *identity]):
      for row in batch.to_pylist():
        if vouches(row, model_version, min_coverage, audio_model_version,
                   sees):
          yield row['video_uri'], probing.ScannedVersion(
              row['scan_id'], ledger.recorded_version(row))


def check_ledgers(output_root: str) -> List[str]:
  """The committed earlier ledger files under ``output_root``
  (``scan_state.committed_paths``: a killed scan's committed waves count,
  its uncommitted files never), each one's footer read once when the graph
  is built (a few KB each, never the rows): a file that is not Parquet
  raises ``BrokenParquetFile`` naming it before any work, instead of
  failing the job inside Beam after the decoding started."""
  paths = scan_state.committed_paths(output_root, 'videos')
  check_parquet_footers(paths)
  return paths


def earlier_ledgers(settings: ScanSettings) -> Optional[List[str]]:
  """With --skip-scanned, the committed earlier ledgers ``PreviouslyScanned``
  reads (``check_ledgers``); ``None`` without it.  The launcher lists them
  once per scan and hands the list to every wave's graph."""
  if not settings.skip_scanned_root:
    return None
  return check_ledgers(settings.skip_scanned_root)


class PreviouslyScanned(beam.PTransform):
  """Earlier ledger files (``earlier_ledgers``, listed and checked before
  the graph is built) -> ``(uri, latest version)``, keyed for
  ``JoinPreviousScans``."""

  def __init__(self, ledger_paths: Sequence[str], model_version: str,
               min_coverage: float = 1.0,
               audio_model_version: Optional[str] = None,
               sees: bool = True):
    super().__init__()
    self._model_version = model_version
    self._min_coverage = min_coverage
    self._audio_model_version = audio_model_version
    self._sees = sees
    self._paths = list(ledger_paths)

  def expand(self, pbegin):
    return (pbegin
            | 'MatchLedgers' >> beam.Create(self._paths)
            | 'ReadScannedVersions' >> beam.FlatMap(scanned_versions,
                                                    self._model_version,
                                                    self._min_coverage,
                                                    self._audio_model_version,
                                                    self._sees)
            | 'LatestScanPerUri' >> beam.CombinePerKey(probing.latest_scan))


def join_earlier_scans(joined: Tuple[str, Mapping[str, Iterable]]
                       ) -> Iterator[Tuple[VideoRef,
                                           Optional[probing.ScannedVersion]]]:
  """``JoinPreviousScans``'s ``(uri, {'refs', 'earlier'})`` groups as
  ``(ref, latest earlier version or None)`` (``probing.with_earlier_scan``)."""
  _, grouped = joined
  return probing.with_earlier_scan(grouped['refs'], grouped['earlier'])


def never_scanned(ref: VideoRef) -> Tuple[VideoRef, None]:
  """An input without ``--skip-scanned``: no earlier version to compare."""
  return ref, None


def dead_probe(bad: Tuple[Tuple[VideoRef, object], Tuple]) -> Failure:
  """A dead-lettered probe (Beam's ``(input, (type, value, traceback))``)
  as its input's failure."""
  (ref, _), (exc_type, exc_value, _) = bad
  return probing.dead_probe_failure(ref, exc_type, exc_value)


class DecodeSegmentFn(beam.DoFn):
  """Decodes one segment (``decoding.decode_segment``): its samples, keyed
  for inference, are the main output; its audio windows (keyed by
  ``WindowKey``), its frame hashes and its outcome are tagged.

  It may run in a watched child process (see ``--decode-isolation``), where
  Beam metrics do not reach the runner: ``CountSegmentOutcomesFn`` counts
  the outcomes in the worker instead.
  """

  def __init__(self, settings: ScanSettings):
    self._settings = settings

  def process(self, segment: Segment):
    # Collected inside the time limit (Beam holds a segment's outputs until
    # it is done anyway), so the limit is disarmed however decoding ends.
    with decoding.time_limit(segment, self._settings):
      records = list(decoding.decode_segment(segment, self._settings))
    for record in records:
      if isinstance(record, FrameHash):
        yield beam.pvalue.TaggedOutput(HASHES, record)
      elif isinstance(record, SegmentOutcome):
        yield beam.pvalue.TaggedOutput(OUTCOMES, record)
      elif isinstance(record[0], WindowKey):
        yield beam.pvalue.TaggedOutput(AUDIO, record)
      else:
        yield record


def dead_segment(bad: Tuple[Segment, Tuple]) -> SegmentOutcome:
  """A dead-lettered segment (it hung, crashed, or raised a bug of ours)
  as its outcome."""
  segment, (exc_type, exc_value, _) = bad
  return decoding.dead_segment_outcome(segment, exc_type, exc_value)


class CountSegmentOutcomesFn(beam.DoFn):
  """Counts decode outcomes in the worker and keys them by video."""

  def __init__(self):
    self._segments = progress.counter(NAMESPACE, progress.SEGMENTS_DECODED)
    self._segment_errors = progress.counter(NAMESPACE,
                                            progress.SEGMENTS_FAILED)
    self._frames = progress.counter(NAMESPACE, progress.FRAMES_SAMPLED)
    self._bytes = progress.counter(NAMESPACE, progress.BYTES_READ)
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


def inference_handler(settings: ScanSettings,
                      audio: bool = False) -> KeyedModelHandler:
  """The model handler of ``ScoreFrames`` (or, ``audio``, of
  ``ScoreAudio``: the audio model, batched by ``--audio-batch-size``): our
  SavedModel handler, keyed by ``SampleKey`` (``WindowKey``) with Beam's
  ``KeyedModelHandler``."""
  config = settings.config
  return KeyedModelHandler(SavedModelHandler(
      settings.audio_spec if audio else settings.spec,
      max_batch_size=config.audio_batch_size if audio else config.batch_size,
      require_gpu=bool(config.require_gpu),
      intra_op_threads=config.inference_threads,
      model_copies=config.model_copies))


def score_frames(settings: ScanSettings, audio: bool = False
                 ) -> RunInference:
  """RunInference over the samples (``audio``: over the audio windows);
  with ``--inference-accelerator`` the inference steps alone ask for the
  accelerator."""
  inference = RunInference(inference_handler(settings, audio))
  if settings.config.inference_accelerator:
    inference = inference.with_resource_hints(
        accelerator=settings.config.inference_accelerator)
  return inference


def audio_score_record(keyed: Tuple[WindowKey, PredictionResult]
                       ) -> Tuple[str, FrameScore]:
  """An audio window's inference result -> ``(video_id, FrameScore)`` at
  the window's start (no thumbnail: a clip of sound has no picture)."""
  key, result = keyed
  return key.video_id, FrameScore(
      key.ts_ms, tuple(float(s) for s in result.inference))


class ScoreToRecordFn(beam.DoFn):
  """Inference results -> ``(video_id, FrameScore)``; a sample that reached
  the threshold keeps a JPEG of its frame for the clip's thumbnail."""

  def __init__(self, threshold: float):
    self._threshold = threshold
    self._thumbnails = progress.counter(NAMESPACE, 'thumbnails_encoded')

  def process(self, keyed: Tuple[SampleKey, PredictionResult]
              ) -> Iterator[Tuple[str, FrameScore]]:
    key, result = keyed
    scores = tuple(float(s) for s in result.inference)
    thumbnail = None
    if max(scores) >= self._threshold:
      thumbnail = thumbnails.jpeg_thumbnail(result.example)
      self._thumbnails.inc()
    yield key.video_id, FrameScore(key.ts_ms, scores, thumbnail)


class AssembleVideoFn(beam.DoFn):
  """One video's probe record, segment outcomes, scores and audio scores
  -> its clips (main output), its ledger row and, with ``--frame-scores``,
  its scored samples and windows (``ledger.assemble_video``)."""

  def __init__(self, settings: ScanSettings):
    self._settings = settings
    self._by_status = {
        schemas.STATUS_SCANNED: progress.counter(NAMESPACE,
                                                 progress.VIDEOS_SCANNED),
        schemas.STATUS_FAILED: progress.counter(NAMESPACE,
                                                progress.VIDEOS_FAILED),
        schemas.STATUS_PARTIAL: progress.counter(NAMESPACE,
                                                 progress.VIDEOS_PARTIAL),
        schemas.STATUS_SKIPPED: progress.counter(NAMESPACE,
                                                 'videos_skipped_assembled'),
    }
    self._clips = progress.counter(NAMESPACE, 'clips_flagged')

  def process(self, element):
    video_id, grouped = element
    result = ledger.assemble_video(
        video_id, list(grouped['probed']), list(grouped['failed']),
        list(grouped['skipped']), grouped['outcomes'],
        grouped.get('scores', ()), self._settings,
        audio_scores=grouped.get('audio_scores', ()))
    self._clips.inc(len(result.clips))
    yield from result.clips
    for row in result.rows:
      self._by_status[row.status].inc()
      yield beam.pvalue.TaggedOutput(LEDGER, row)
    for sample in result.samples:
      yield beam.pvalue.TaggedOutput(FRAME_SCORES, sample)


class SummarizeScanFn(beam.CombineFn):
  """Ledger rows and flagged clips -> the scan's ``summary.ScanSummary``
  (counts and at most ``summary.MAX_LISTED`` listed of each kind)."""

  def create_accumulator(self) -> summary.ScanTally:
    return summary.ScanTally()

  def add_input(self, tally: summary.ScanTally, record) -> summary.ScanTally:
    return tally.add(record)

  def merge_accumulators(self, tallies: Iterable[summary.ScanTally]
                         ) -> summary.ScanTally:
    merged = summary.ScanTally()
    for tally in tallies:
      merged.merge(tally)
    return merged

  def extract_output(self, tally: summary.ScanTally) -> summary.ScanSummary:
    return tally.result()


def key_by_video(record):
  return record.video_id, record


def key_by_file(ref: VideoRef) -> Tuple[str, VideoRef]:
  """A reference keyed by its file's canonical URI (``OneRefPerFile``)."""
  return ref.uri, ref


def probe_result_kind(record: probing.Probed, _partitions: int) -> int:
  """``beam.Partition``: 0 probed, 1 failed, 2 skipped."""
  return 1 if isinstance(record, Failure) else 2 if isinstance(
      record, Skipped) else 0
