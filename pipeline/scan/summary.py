"""The short report printed when a scan finishes, from a small aggregate
the job computes (``ScanTally``, combined over every ledger row and clip by
``SummarizeScan`` and written by ``WriteSummary`` as one small JSON file):
the launcher never reads the scan's outputs, so what it holds does not
grow with the archive.  Names from the data are printed with their hidden
characters escaped (``pipeline.runtime.terminal``)."""
from __future__ import annotations

import json
from typing import Dict, List, NamedTuple, Optional, Tuple

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

import schemas
from pipeline.records import FlaggedClip
from pipeline.records import VideoLedgerRow
from pipeline.runtime.terminal import printable
from pipeline.storage.scan_ids import check_scan_id
from schemas.tables import MODALITY_AUDIO
from schemas.tables import MODALITY_VISUAL
from schemas.tables import PARTITION_KEY

MAX_LISTED = 20
SUMMARIES_FOLDER = '_summaries'


class ListedVideo(NamedTuple):
  """A failed or partial video the summary names."""
  video_uri: str
  error_kind: Optional[str]
  coverage: Optional[float]


class ListedClip(NamedTuple):
  """A flagged clip the summary names (the highest peaks)."""
  video_uri: str
  label: str
  start_ms: int
  end_ms: int
  peak_score: float
  mean_score: float
  modality: str = MODALITY_VISUAL


def _clip_order(clip: ListedClip):
  return (-clip.peak_score, clip.video_uri, clip.start_ms)


def _video_order(video: ListedVideo):
  return video.video_uri


class ScanSummary(NamedTuple):
  """What the summary says: counts by ledger status, the clip count (and
  how many of them the audio model flagged), and at most ``MAX_LISTED``
  failed videos, partial videos (by URI) and clips (by peak score)."""
  videos_by_status: Dict[str, int]
  clips: int
  failed: Tuple[ListedVideo, ...]
  partial: Tuple[ListedVideo, ...]
  top_clips: Tuple[ListedClip, ...]
  audio_clips: int = 0

  @property
  def videos(self) -> int:
    return sum(self.videos_by_status.values())

  def to_json(self) -> bytes:
    return (json.dumps(self._asdict(), sort_keys=True) + '\n').encode('utf-8')

  @classmethod
  def from_json(cls, data: bytes) -> 'ScanSummary':
    record = json.loads(data)
    return cls(dict(record['videos_by_status']), int(record['clips']),
               tuple(ListedVideo(*v) for v in record['failed']),
               tuple(ListedVideo(*v) for v in record['partial']),
               tuple(ListedClip(*c) for c in record['top_clips']),
               int(record.get('audio_clips', 0)))


class ScanTally:
  """The summary's accumulator: counts, and the listed videos and clips,
  kept to ``MAX_LISTED`` each (their size never grows with the scan).
  Mergeable, so that Beam combines it per bundle and then globally."""

  def __init__(self):
    self.by_status: Dict[str, int] = {}
    self.clips = 0
    self.audio_clips = 0
    self.failed: List[ListedVideo] = []
    self.partial: List[ListedVideo] = []
    self.top_clips: List[ListedClip] = []

  @classmethod
  def of(cls, summary: ScanSummary) -> 'ScanTally':
    """A tally holding ``summary`` (to merge the summaries of waves)."""
    tally = cls()
    tally.by_status = dict(summary.videos_by_status)
    tally.clips = summary.clips
    tally.audio_clips = summary.audio_clips
    tally.failed = list(summary.failed)
    tally.partial = list(summary.partial)
    tally.top_clips = list(summary.top_clips)
    return tally

  def add(self, record) -> 'ScanTally':
    """Counts one ledger row or one flagged clip."""
    if isinstance(record, FlaggedClip):
      self.clips += 1
      self.audio_clips += record.modality == MODALITY_AUDIO
      self._keep(self.top_clips, ListedClip(
          record.video_uri, record.label, record.start_ms, record.end_ms,
          record.peak_score, record.mean_score, record.modality),
                 _clip_order)
      return self
    row: VideoLedgerRow = record
    self.by_status[row.status] = self.by_status.get(row.status, 0) + 1
    listed = ListedVideo(row.video_uri, row.error_kind, row.coverage)
    if row.status == schemas.STATUS_FAILED:
      self._keep(self.failed, listed, _video_order)
    elif row.status == schemas.STATUS_PARTIAL:
      self._keep(self.partial, listed, _video_order)
    return self

  def merge(self, other: 'ScanTally') -> 'ScanTally':
    for status, count in other.by_status.items():
      self.by_status[status] = self.by_status.get(status, 0) + count
    self.clips += other.clips
    self.audio_clips += other.audio_clips
    for mine, theirs, order in ((self.failed, other.failed, _video_order),
                                (self.partial, other.partial, _video_order),
                                (self.top_clips, other.top_clips,
                                 _clip_order)):
      mine.extend(theirs)
      _truncate(mine, order)
    return self

  @staticmethod
  def _keep(listed: list, item, order) -> None:
    listed.append(item)
    if len(listed) >= 2 * MAX_LISTED:
      _truncate(listed, order)

  def result(self) -> ScanSummary:
    for listed, order in ((self.failed, _video_order),
                          (self.partial, _video_order),
                          (self.top_clips, _clip_order)):
      _truncate(listed, order)
    return ScanSummary(dict(self.by_status), self.clips, tuple(self.failed),
                       tuple(self.partial), tuple(self.top_clips),
                       self.audio_clips)


def _truncate(listed: list, order) -> None:
  listed.sort(key=order)
  del listed[MAX_LISTED:]


def summarize(records) -> ScanSummary:
  """The summary of ledger rows and clips held in memory (tests)."""
  tally = ScanTally()
  for record in records:
    tally.add(record)
  return tally.result()


def summary_path(root: str, scan_id: str, wave: int = 0,
                 waves: int = 1) -> str:
  """Where the job of ``scan_id`` (wave ``wave`` of ``waves``) writes its
  summary under ``root``: one file for a scan in one wave, one file per
  wave in the scan's folder otherwise."""
  base = (f"{root.rstrip('/')}/{SUMMARIES_FOLDER}/"
          f'{PARTITION_KEY}={check_scan_id(scan_id)}')
  if waves == 1:
    return base + '.json'
  return f'{base}/wave-{wave:05d}-of-{waves:05d}.json'


def write_summary(summary: ScanSummary, root: str, scan_id: str,
                  wave: int = 0, waves: int = 1) -> str:
  """``WriteSummary``: the summary as one small JSON file.  Its content is
  a function of the scan's rows, so a retried write writes the same
  bytes."""
  path = summary_path(root, scan_id, wave, waves)
  with FileSystems.create(path, mime_type='application/json',
                          compression_type=CompressionTypes.UNCOMPRESSED
                          ) as f:
    f.write(summary.to_json())
  return path


def read_summary(root: str, scan_id: str, waves: int = 1) -> ScanSummary:
  """The summary the job(s) of ``scan_id`` wrote (a few KB a wave), the
  waves' merged."""
  tally = ScanTally()
  for wave in range(waves):
    with FileSystems.open(summary_path(root, scan_id, wave, waves),
                          mime_type='application/json',
                          compression_type=CompressionTypes.UNCOMPRESSED
                          ) as f:
      tally.merge(ScanTally.of(ScanSummary.from_json(f.read())))
  return tally.result()


def _seconds(ms: int) -> str:
  return f'{ms / 1000:.1f}s'


def _percent(share: Optional[float]) -> str:
  """A coverage share as ``57% covered`` (floored: never rounds up to a
  full 100%)."""
  if share is None:
    return 'coverage unknown'
  # The epsilon undoes binary rounding (0.57 * 100 == 56.99...).
  return f'{int(share * 100 + 1e-9)}% covered'


def format_summary(summary: ScanSummary, root: str, scan_id: str) -> str:
  """The lines printed when the scan ``scan_id`` under ``root`` finishes."""
  count = summary.videos_by_status.get
  scanned = count(schemas.STATUS_SCANNED, 0)
  failed = count(schemas.STATUS_FAILED, 0)
  partial = count(schemas.STATUS_PARTIAL, 0)
  skipped = summary.videos - scanned - failed - partial
  lines: List[str] = [
      f'scan {scan_id}: {summary.videos} videos, {scanned} scanned, '
      + (f'{partial} partial (not fully looked at), ' if partial else '')
      + f'{failed} failed, '
      + (f'{skipped} skipped (unchanged since an earlier scan), '
         if skipped else '') + f'{summary.clips} flagged clips'
      + (f' ({summary.audio_clips} heard by the audio model)'
         if summary.audio_clips else '')]
  for video in summary.failed:
    lines.append(f"  failed  {printable(video.error_kind):<18} "
                 f"{printable(video.video_uri)}")
  for video in summary.partial:
    lines.append(f"  partial {_percent(video.coverage):<18} "
                 f"{printable(video.video_uri)}")
  for clip in summary.top_clips:
    kind = 'audio' if clip.modality == MODALITY_AUDIO else 'clip'
    lines.append(
        f"  {kind:<7} {printable(clip.label):<14} "
        f"{_seconds(clip.start_ms):>8} - "
        f"{_seconds(clip.end_ms):<8} peak {clip.peak_score:.2f} "
        f"mean {clip.mean_score:.2f}  {printable(clip.video_uri)}")
  if summary.clips > MAX_LISTED:
    lines.append(f'  ... and {summary.clips - MAX_LISTED} more clips')
  for dataset in schemas.DATASETS:
    lines.append(f'  {dataset:<14} {schemas.partition_dir(root, dataset, scan_id)}/')
  lines.append(
      "  query: duckdb -c \"SELECT * FROM read_parquet('"
      f"{schemas.dataset_glob(root, 'flagged_clips')}', hive_partitioning=true) "
      'ORDER BY peak_score DESC\"')
  return '\n'.join(lines)
