"""The ledger policy: everything the scan learned of one video becomes its
flagged clips and its ledger row, without Beam.

Every input ends as exactly one ledger row:

* every file has its own ``video_id`` by the time it gets here
  (``pipeline.scan.identities``: a file named twice is one input; files
  that were given one ``video_id`` get unique ones, and their rows keep the
  given one in ``shared_video_id``).  Records that still share one (a bug)
  each get a failed row (``duplicate_video_id``), so none is lost;
* a video skipped by ``--skip-scanned`` gets a skipped row;
* a video whose probe failed gets a failed row with the probe's error;
* a probed video with no scored sample failed, with its first segment
  error (or ``no_frames``);
* otherwise its clips are assembled and written, and the video counts as
  scanned, unless a segment failed in a way that left part of it unseen
  (``media_errors.FATAL_SEGMENT_KINDS``): then it failed, with that error,
  and its clips are still written.  A scanned video reports its first
  (non-fatal) segment error, if any;
* every probed video's row records its coverage: the samples its timeline
  should give (``samples_expected``, segment by segment) and the share
  scored.  Below ``--min-coverage`` a video that did not fail is
  ``partial`` (``low_coverage``), never ``scanned``: damaged, concealed or
  dropped frames, or a lost segment, left part of it unseen.  Its clips
  are still written.

With an audio model (``--audio-model``) the row also records what was
heard (``audio_*`` columns, all null without one):

* ``audio_status``: ``no_audio`` for a file without an audio stream (not a
  failure: there is nothing to hear), ``unsupported_audio`` when none of
  its audio streams can be decoded, else ``ok``, ``partial`` (fewer than
  ``--min-coverage`` of the expected windows scored) or ``failed`` (none);
* ``audio_windows_expected``: the audio grid's windows whose start lies in
  ``[0, duration)``; ``audio_coverage`` the share scored;
* the audio clips (``modality`` ``audio``) come from the same clip
  assembly (``clips_of_scores``) under the audio rules
  (``ScanSettings.audio_clip_rules``), and ``clips`` counts both
  modalities' clips.

The row's ``status`` says whether everything the scan asked for was looked
at: in an audio-only scan it follows the audio (``no_audio`` is
``scanned``, ``unsupported_audio`` and ``failed`` are ``failed``,
``partial`` is ``partial``) and ``model_name``/``model_version`` are the
audio model's; with both models a video whose picture was scanned but
whose audio is ``partial``, ``failed`` or ``unsupported_audio`` is
``partial``, with the audio's ``error_kind``.
"""
from __future__ import annotations

import datetime
from typing import Iterable, List, NamedTuple, Optional, Sequence, Union

import schemas
from schemas.tables import MODALITY_AUDIO
from schemas.tables import MODALITY_VISUAL
from pipeline.media import audio as media_audio
from pipeline.media import errors as media_errors
from pipeline.media import sampling
from pipeline.media import segments as segment_planning
from pipeline.records import Failure
from pipeline.records import FlaggedClip
from pipeline.records import FrameScore
from pipeline.records import SampleScore
from pipeline.records import SegmentOutcome
from pipeline.records import Skipped
from pipeline.records import SourceVersion
from pipeline.records import VideoInfo
from pipeline.records import VideoLedgerRow
from pipeline.scan import clips as clip_assembly
from pipeline.scan.settings import ScanSettings

DUPLICATE_VIDEO_ID = 'duplicate_video_id'
# ``audio_status`` values.
AUDIO_OK = media_audio.OK
AUDIO_NO_AUDIO = media_audio.NO_AUDIO
AUDIO_UNSUPPORTED = media_audio.UNSUPPORTED_AUDIO
AUDIO_PARTIAL = schemas.STATUS_PARTIAL
AUDIO_FAILED = schemas.STATUS_FAILED


class VideoResult(NamedTuple):
  """What one video writes: its clips and its ledger row (one row per
  input: several only when inputs share a ``video_id``; none for scores
  that arrive without any probe record, which cannot happen), and with
  ``--frame-scores`` its scored samples."""
  clips: List[FlaggedClip]
  rows: List[VideoLedgerRow]
  samples: Sequence[SampleScore] = ()


def _utc(seconds: Optional[float]) -> Optional[datetime.datetime]:
  if seconds is None:
    return None
  return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)


# Ledger columns that identify a version beyond its size and update time,
# and the ``SourceVersion`` field each holds (times as UTC timestamps).
VERSION_COLUMNS = {'source_inode': 'inode',
                   'source_changed_at': 'changed_s',
                   'source_generation': 'generation',
                   'source_crc32c': 'crc32c',
                   'content_sha256': 'sha256',
                   'content_md5': 'md5'}
_TIME_COLUMNS = frozenset({'source_changed_at'})


def identity_fields(record: Union[VideoInfo, Failure, Skipped]) -> dict:
  """The ledger columns that say which file and which version of it the
  row is about (what ``--skip-scanned`` compares next time)."""
  version = record.version
  fields = dict(shared_video_id=record.shared_video_id)
  if version is not None:
    for column, field in VERSION_COLUMNS.items():
      value = getattr(version, field)
      fields[column] = _utc(value) if column in _TIME_COLUMNS else value
  return fields


def recorded_version(row: dict) -> SourceVersion:
  """The version a ledger row recorded (``identity_fields`` read back);
  columns a ledger written before they existed lacks are ``None``."""
  facts = {}
  for column, field in VERSION_COLUMNS.items():
    value = row.get(column)
    if column in _TIME_COLUMNS and value is not None:
      value = value.timestamp()
    facts[field] = value
  return SourceVersion(row['size_bytes'], row['source_updated_at'].timestamp(),
                       **facts)


def ledger_row(settings: ScanSettings, **fields) -> VideoLedgerRow:
  """A ledger row of this scan: ``fields`` over the empty defaults."""
  row = dict(size_bytes=None, samples_expected=None, coverage=None,
             error_kind=None, error_message=None,
             duration_ms=None, width=None, height=None, codec=None,
             source_updated_at=None, source_inode=None,
             source_changed_at=None, source_generation=None,
             source_crc32c=None, content_sha256=None, content_md5=None,
             shared_video_id=None,
             frames_scored=0, segments=0,
             segments_failed=0, packets_damaged=0, bytes_read=0,
             max_score=None, clips=0)
  audio = settings.audio_spec
  if audio is not None:
    row.update(audio_model_name=audio.name, audio_model_version=audio.version)
  row.update(fields)
  return VideoLedgerRow(model_name=settings.main_spec.name,
                        model_version=settings.main_spec.version,
                        scan_id=settings.config.scan_id,
                        scanned_at=settings.config.scanned_at, **row)


def duplicate_rows(video_id: str,
                   records: Sequence[Union[VideoInfo, Failure, Skipped]],
                   settings: ScanSettings) -> List[VideoLedgerRow]:
  """A failed row for each of the inputs that share ``video_id``."""
  message = f'{len(records)} inputs share video_id {video_id}'
  return [ledger_row(settings, video_id=record.video_id,
                     video_uri=record.uri, size_bytes=record.size_bytes,
                     status=schemas.STATUS_FAILED,
                     error_kind=DUPLICATE_VIDEO_ID, error_message=message,
                     **identity_fields(record))
          for record in records]


def skipped_row(record: Skipped, settings: ScanSettings) -> VideoLedgerRow:
  return ledger_row(
      settings, video_id=record.video_id, video_uri=record.uri,
      size_bytes=record.size_bytes, status=schemas.STATUS_SKIPPED,
      source_updated_at=_utc(record.updated_s),
      error_message=f'unchanged since scan {record.previous_scan_id}',
      **identity_fields(record))


def failed_probe_row(failure: Failure,
                     settings: ScanSettings) -> VideoLedgerRow:
  return ledger_row(
      settings, video_id=failure.video_id, video_uri=failure.uri,
      size_bytes=failure.size_bytes, status=schemas.STATUS_FAILED,
      source_updated_at=_utc(failure.updated_s),
      error_kind=failure.error_kind, error_message=failure.error_message,
      **identity_fields(failure))


class ClipOrigin(NamedTuple):
  """Who flags the clips of ``clips_of_scores``: the model, and the run
  (a scan, or a ``rescan rethreshold`` of ``source_scan_id``)."""
  model_name: str
  model_version: str
  scan_id: str
  scanned_at: datetime.datetime
  source_scan_id: Optional[str] = None
  modality: str = MODALITY_VISUAL


def clips_of_scores(video_id: str, video_uri: str, duration_ms: int,
                    scores: Sequence[FrameScore], labels: Sequence[str],
                    rules: clip_assembly.ClipRules,
                    origin: ClipOrigin) -> List[FlaggedClip]:
  """The clips of one video's scores (``clips.assemble_clips``), each with
  its id and the thumbnail of its peak sample: what a scan writes, and
  what ``rescan rethreshold`` re-assembles from stored scores."""
  spans = clip_assembly.assemble_clips(scores, labels, rules, duration_ms)
  thumbnail_at = {score.ts_ms: score.thumbnail for score in scores}
  return [
      FlaggedClip(
          clip_id=clip_assembly.clip_id(video_id, span.label,
                                        span.start_ms, origin.model_version),
          video_id=video_id, video_uri=video_uri, label=span.label,
          start_ms=span.start_ms, end_ms=span.end_ms, peak_ms=span.peak_ms,
          peak_score=span.peak_score, mean_score=span.mean_score,
          frames=span.frames, model_name=origin.model_name,
          model_version=origin.model_version, threshold=rules.threshold,
          scan_id=origin.scan_id, scanned_at=origin.scanned_at,
          thumbnail=thumbnail_at.get(span.peak_ms),
          source_scan_id=origin.source_scan_id, modality=origin.modality)
      for span in spans
  ]


class Modality(NamedTuple):
  """One of the scan's models as clip assembly sees it: which modality,
  the model, and its clip rules."""
  name: str
  spec: object
  rules: clip_assembly.ClipRules


def visual(settings: ScanSettings) -> Modality:
  return Modality(MODALITY_VISUAL, settings.spec, settings.clip_rules)


def audio(settings: ScanSettings) -> Modality:
  return Modality(MODALITY_AUDIO, settings.audio_spec,
                  settings.audio_clip_rules)


def scan_origin(settings: ScanSettings,
                modality: Optional[Modality] = None) -> ClipOrigin:
  """The clips of this scan are the scan's own (of the visual model
  unless ``modality`` says)."""
  modality = modality or visual(settings)
  return ClipOrigin(modality.spec.name, modality.spec.version,
                    settings.config.scan_id, settings.config.scanned_at,
                    modality=modality.name)


def flagged_clips(info: VideoInfo, scores: Sequence[FrameScore],
                  settings: ScanSettings,
                  modality: Optional[Modality] = None) -> List[FlaggedClip]:
  """The clips of a probed video's scores (``clips_of_scores``) by the
  visual model, or by ``modality``'s."""
  modality = modality or visual(settings)
  return clips_of_scores(info.video_id, info.uri, info.duration_ms, scores,
                         modality.spec.labels, modality.rules,
                         scan_origin(settings, modality))


def sample_scores(info: VideoInfo, scores: Sequence[FrameScore],
                  settings: ScanSettings,
                  modality: Optional[Modality] = None) -> List[SampleScore]:
  """The ``frame_scores`` rows of a probed video: one per sample (or audio
  window, ``modality``) and label, by label then time (so a label's curve
  is contiguous and compresses), each with the modality's clip rules."""
  modality = modality or visual(settings)
  rules = modality.rules
  ordered = sorted(scores, key=lambda s: s.ts_ms)
  return [
      SampleScore(scan_id=settings.config.scan_id, video_id=info.video_id,
                  video_uri=info.uri, label=label, ts_ms=score.ts_ms,
                  score=score.scores[column], threshold=rules.threshold,
                  sample_interval_ms=rules.sample_interval_ms,
                  merge_gap_ms=rules.merge_gap_ms,
                  min_clip_ms=rules.min_clip_ms, modality=modality.name)
      for column, label in enumerate(modality.spec.labels)
      for score in ordered
  ]


def samples_expected(info: VideoInfo, settings: ScanSettings) -> int:
  """The samples the probed timeline should give: the sampling grid over
  each planned segment (what the decode was asked for)."""
  return sum(sampling.expected_samples(s.start_ms, s.end_ms, settings.fps)
             for s in segment_planning.plan_segments(info,
                                                     settings.segment_ms))


def coverage(scored: int, expected: int) -> Optional[float]:
  """``scored / expected``; None when nothing was expected."""
  return scored / expected if expected > 0 else None


def coverage_message(scored: int, expected: int,
                     what: str = 'samples') -> str:
  """E.g. ``37 of 65 samples scored (56%)``: floored, so a share just
  under the bar never reads as 100%."""
  return (f'{scored} of {expected} {what} scored '
          f'({int(100 * scored // expected) if expected else 0}%)')


def is_partial(scored: int, expected: int, min_coverage: float) -> bool:
  """Whether too few of the expected samples were scored."""
  share = coverage(scored, expected)
  return share is not None and share < min_coverage


class Verdict(NamedTuple):
  """What one modality's decode and scoring say of a video."""
  status: str
  error_kind: Optional[str] = None
  error_message: Optional[str] = None


class Heard(NamedTuple):
  """One modality's part of a video's result: its verdict, its ledger
  columns, its clips and its ``frame_scores`` rows."""
  verdict: Verdict
  fields: dict
  clips: List[FlaggedClip]
  samples: Sequence[SampleScore]


def _one_per_time(scores: Iterable[FrameScore]) -> List[FrameScore]:
  return list({s.ts_ms: s for s in scores}.values())


def _scored(info: VideoInfo, scores: Sequence[FrameScore],
            settings: ScanSettings, modality: Modality):
  clips = flagged_clips(info, scores, settings, modality)
  samples = (sample_scores(info, scores, settings, modality)
             if settings.config.frame_scores else ())
  return clips, samples


def _looked(info: VideoInfo, outcomes: Sequence[SegmentOutcome],
            scores: Sequence[FrameScore], settings: ScanSettings) -> Heard:
  """The visual model's part: samples expected and scored, clips."""
  errors = [o for o in outcomes if o.error_kind]
  expected = samples_expected(info, settings)
  fields = dict(frames_scored=len(scores), samples_expected=expected,
                coverage=coverage(len(scores), expected))
  if not scores:
    first = errors[0] if errors else None
    return Heard(Verdict(
        schemas.STATUS_FAILED,
        first.error_kind if first else media_errors.NO_FRAMES,
        first.error_message if first else 'no frame could be decoded'),
                 fields, [], ())
  fatal = [o for o in errors
           if o.error_kind in media_errors.FATAL_SEGMENT_KINDS]
  clips, samples = _scored(info, scores, settings, visual(settings))
  reported = (fatal or errors or [None])[0]
  verdict = Verdict(schemas.STATUS_FAILED if fatal else schemas.STATUS_SCANNED,
                    reported.error_kind if reported else None,
                    reported.error_message if reported else None)
  if not fatal and is_partial(len(scores), expected,
                              settings.config.min_coverage):
    verdict = Verdict(schemas.STATUS_PARTIAL, media_errors.LOW_COVERAGE,
                      '; '.join(filter(None, (
                          coverage_message(len(scores), expected),
                          verdict.error_message))))
  fields['max_score'] = max(max(score.scores) for score in scores)
  return Heard(verdict, fields, clips, samples)


def audio_windows_expected(info: VideoInfo, settings: ScanSettings) -> int:
  """The audio windows the probed timeline should give: those of the
  audio grid whose start lies in ``[0, duration)`` (every segment cuts
  the windows that start in it)."""
  return len(settings.audio_grid.indices(0, info.duration_ms))


def _heard(info: VideoInfo, outcomes: Sequence[SegmentOutcome],
           scores: Sequence[FrameScore], settings: ScanSettings) -> Heard:
  """The audio model's part: its ``audio_*`` columns, verdict and clips."""
  statuses = {o.audio_status for o in outcomes}
  if AUDIO_NO_AUDIO in statuses or AUDIO_UNSUPPORTED in statuses:
    unsupported = AUDIO_NO_AUDIO not in statuses
    return Heard(
        Verdict(schemas.STATUS_FAILED, AUDIO_UNSUPPORTED,
                'no audio stream FFmpeg can decode') if unsupported
        else Verdict(schemas.STATUS_SCANNED),
        dict(audio_status=AUDIO_UNSUPPORTED if unsupported
             else AUDIO_NO_AUDIO, audio_windows_scored=0), [], ())
  expected = audio_windows_expected(info, settings)
  share = coverage(len(scores), expected)
  fields = dict(audio_windows_scored=len(scores),
                audio_windows_expected=expected, audio_coverage=share,
                audio_max_score=(max(max(s.scores) for s in scores)
                                 if scores else None))
  # What went wrong with the audio: its own decode, else the segment's.
  problems = [(o.audio_error_kind, o.audio_error_message)
              for o in outcomes if o.audio_error_kind] + [
                  (o.error_kind, o.error_message) for o in outcomes
                  if o.error_kind and o.audio_status is None]
  kind, message = problems[0] if problems else (None, None)
  clips, samples = _scored(info, scores, settings, audio(settings))
  if not scores and expected > 0:
    verdict = Verdict(schemas.STATUS_FAILED,
                      kind or media_errors.NO_AUDIO_WINDOWS,
                      message or 'no audio window could be cut')
    fields['audio_status'] = AUDIO_FAILED
  elif is_partial(len(scores), expected, settings.config.min_coverage):
    verdict = Verdict(schemas.STATUS_PARTIAL, media_errors.LOW_COVERAGE,
                      '; '.join(filter(None, (
                          coverage_message(len(scores), expected,
                                           'audio windows'), message))))
    fields['audio_status'] = AUDIO_PARTIAL
  else:
    verdict = Verdict(schemas.STATUS_SCANNED, kind, message)
    fields['audio_status'] = AUDIO_OK
  return Heard(verdict, fields, clips, samples)


def combined_verdict(seen: Optional[Verdict],
                     heard: Optional[Verdict]) -> Verdict:
  """The row's status from the visual and the audio verdicts (either may
  be absent): never ``scanned`` unless everything asked for was looked
  at; a scanned picture with unheard audio is ``partial``."""
  if seen is None or heard is None:
    return seen or heard
  if heard.status == schemas.STATUS_SCANNED or (
      seen.status == schemas.STATUS_FAILED):
    return seen
  kind = (seen.error_kind if seen.status == schemas.STATUS_PARTIAL
          else heard.error_kind)
  return Verdict(schemas.STATUS_PARTIAL, kind, '; '.join(filter(None, (
      seen.error_message if seen.status == schemas.STATUS_PARTIAL else None,
      f'audio: {heard.error_message}'))))


def probed_video(info: VideoInfo, outcomes: Iterable[SegmentOutcome],
                 scores: Iterable[FrameScore],
                 settings: ScanSettings,
                 audio_scores: Iterable[FrameScore] = ()) -> VideoResult:
  """The clips and ledger row of a video that was probed and decoded."""
  outcomes = sorted(outcomes, key=lambda o: o.index)
  errors = [o for o in outcomes if o.error_kind]
  parts = []
  if settings.spec is not None:
    parts.append(_looked(info, outcomes, _one_per_time(scores), settings))
  if settings.audio_spec is not None:
    parts.append(_heard(info, outcomes, _one_per_time(audio_scores),
                        settings))
  seen = parts[0].verdict if settings.spec is not None else None
  heard = parts[-1].verdict if settings.audio_spec is not None else None
  verdict = combined_verdict(seen, heard)
  clips = [clip for part in parts for clip in part.clips]
  samples = [sample for part in parts for sample in part.samples]
  fields = {key: value for part in parts for key, value in part.fields.items()}
  return VideoResult(clips, [ledger_row(
      settings, video_id=info.video_id, video_uri=info.uri,
      size_bytes=info.size_bytes, duration_ms=info.duration_ms,
      width=info.width, height=info.height, codec=info.codec,
      source_updated_at=_utc(info.updated_s),
      segments=len(outcomes), segments_failed=len(errors),
      packets_damaged=sum(o.packets_damaged + o.audio_packets_damaged
                          for o in outcomes),
      bytes_read=sum(o.bytes_read for o in outcomes),
      status=verdict.status, error_kind=verdict.error_kind,
      error_message=verdict.error_message, clips=len(clips),
      **fields, **identity_fields(info))], samples)


def assemble_video(video_id: str, probed: Sequence[VideoInfo],
                   failed: Sequence[Failure], skipped: Sequence[Skipped],
                   outcomes: Iterable[SegmentOutcome],
                   scores: Iterable[FrameScore],
                   settings: ScanSettings,
                   audio_scores: Iterable[FrameScore] = ()) -> VideoResult:
  """One video's probe record (``probed``, ``failed`` or ``skipped``),
  segment outcomes, scores and audio window scores -> its clips and
  ledger row."""
  records = [*probed, *failed, *skipped]
  if len(records) > 1:
    return VideoResult([], duplicate_rows(video_id, records, settings))
  if skipped:
    return VideoResult([], [skipped_row(skipped[0], settings)])
  if failed:
    return VideoResult([], [failed_probe_row(failed[0], settings)])
  if not probed:
    return VideoResult([], [])
  return probed_video(probed[0], outcomes, scores, settings, audio_scores)
