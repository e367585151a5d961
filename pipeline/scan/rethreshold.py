"""``rescan rethreshold``: one scan's clips re-assembled at another threshold
from its stored ``frame_scores``, written as a new ``flagged_clips``
partition.  Decodes nothing.

The new partition has its own id, claimed like a scan's or a match run's
(``pipeline.storage.claims``, tool ``rethreshold``), and every clip in it
records the scan it came from (``source_scan_id``) and the new
``threshold``.  It writes clips only, no ledger: the videos are those of
the source scan.  Readers keep one answer per video
(``pipeline.review.query``): a rethreshold partition never answers by
default (the scan's own clips do), and is shown when named with ``--scan``.
"""
from __future__ import annotations

import dataclasses
import datetime
import os
from typing import List, Optional, Sequence, Tuple

import apache_beam as beam
import pyarrow as pa

import schemas
from schemas.tables import PARTITION_KEY

from pipeline.runtime import runners
from pipeline.scan import ledger
from pipeline.scan import rescoring
from pipeline.storage import claims
from pipeline.storage import writable
from pipeline.storage.parquet import WriteDataset
from pipeline.storage.parquet import parquet_paths
from pipeline.storage.parquet import read_partition
from pipeline.storage.scan_ids import new_scan_id

TOOL = 'rethreshold'


class RethresholdUsageError(ValueError):
  """A question the root cannot answer: no scan output, an unknown scan
  or label, a scan that stored no scores.  One line, exit status 2."""


@dataclasses.dataclass(frozen=True)
class Source:
  """The scan whose stored scores are re-assembled."""
  scan_id: str
  scores: pa.Table
  videos: pa.Table
  clips: pa.Table


def scans_with(root: str, dataset: str) -> List[str]:
  """The scan ids that wrote files of ``dataset`` under ``root``."""
  marker = f'/{PARTITION_KEY}='
  return sorted({path[path.rindex(marker) + len(marker):].split('/')[0]
                 for path in parquet_paths(schemas.dataset_glob(root,
                                                                dataset))})


def _listing(values: Sequence[str], most: int = 8) -> str:
  shown = ', '.join(repr(v) for v in values[:most])
  return shown + (f' and {len(values) - most} more'
                  if len(values) > most else '') if values else 'none'


def latest_scored_scan(root: str, scans: Sequence[str]) -> str:
  """Of ``scans``, the one whose ledger is the latest (``scanned_at``,
  then id)."""
  def when(scan_id: str) -> Tuple:
    times = read_partition(root, 'videos', scan_id).column(
        'scanned_at').to_pylist()
    return (max(times) if times else datetime.datetime.min.replace(
        tzinfo=datetime.timezone.utc), scan_id)
  return max(scans, key=when)


def load_source(root: str, scan_id: Optional[str] = None,
                label: Optional[str] = None) -> Source:
  """The source scan's scores, ledger and clips (by default the latest
  scan that stored scores), checked: an unknown root, scan or label, or a
  scan without ``frame_scores`` raises ``RethresholdUsageError``."""
  scanned = scans_with(root, 'videos')
  if not scanned:
    where = ('does not exist' if '://' not in root
             and not os.path.exists(root) else 'holds no scan output '
             '(no videos/ ledger)')
    raise RethresholdUsageError(f'{root} {where}; give the --output root '
                                'of a scan')
  scored = scans_with(root, 'frame_scores')
  if scan_id is None:
    if not scored:
      raise RethresholdUsageError(
          f'no scan under {root} stored frame_scores (they were scanned '
          'with --no-frame-scores); re-scan without it to rethreshold')
    scan_id = latest_scored_scan(root, scored)
  elif scan_id not in scanned:
    raise RethresholdUsageError(
        f'no scan {scan_id!r} under {root} (scans: {_listing(scanned)})')
  elif scan_id not in scored:
    raise RethresholdUsageError(
        f'scan {scan_id} stored no frame_scores (it ran with '
        '--no-frame-scores); scans with scores: ' + _listing(scored))
  scores = read_partition(root, 'frame_scores', scan_id)
  labels = sorted(set(scores.column('label').to_pylist()))
  if label is not None and label not in labels:
    raise RethresholdUsageError(
        f'no label {label!r} in the frame_scores of scan {scan_id} '
        f'(labels: {_listing(labels)})')
  return Source(scan_id, scores, read_partition(root, 'videos', scan_id),
                read_partition(root, 'flagged_clips', scan_id))


def source_clips(source: Source, threshold: float, scan_id: str,
                 scanned_at: datetime.datetime,
                 label: Optional[str] = None) -> list:
  """The source scan's clips re-assembled at ``threshold``, as clips of
  the run ``scan_id`` (tagged with their source scan)."""
  def origin(video: rescoring.LedgerVideo) -> ledger.ClipOrigin:
    return ledger.ClipOrigin(video.model_name, video.model_version, scan_id,
                             scanned_at, source_scan_id=source.scan_id)
  return rescoring.reassembled_clips(
      source.scores, source.videos, threshold, origin,
      labels=(label,) if label else (),
      thumbnails=rescoring.thumbnails_of(source.clips))


@dataclasses.dataclass(frozen=True)
class Result:
  source_scan_id: str
  scan_id: str
  threshold: float
  clips: int
  videos: int
  folder: str


def run(root: str, threshold: float, label: Optional[str] = None,
        source_scan_id: Optional[str] = None, scan_id: Optional[str] = None,
        beam_args: Sequence[str] = (),
        now: Optional[datetime.datetime] = None) -> Result:
  """Re-assembles, claims the new id, and writes the partition with the
  scan's own sink (``WriteDataset``)."""
  now = now or datetime.datetime.now(datetime.timezone.utc)
  scan_id = scan_id or new_scan_id(now)
  source = load_source(root, source_scan_id, label)
  clips = source_clips(source, threshold, scan_id, now, label)
  writable.check_datasets_writable(root, ('flagged_clips',))
  claims.claim_scan(root, scan_id, tool=TOOL, beam_args=beam_args)
  p = runners.create_pipeline(beam_args)
  _ = (p
       | 'ListClips' >> beam.Create(clips)
       | 'WriteFlaggedClips' >> WriteDataset(root, 'flagged_clips', scan_id))
  p.run().wait_until_finish()
  return Result(source.scan_id, scan_id, threshold, len(clips),
                len({c.video_id for c in clips}),
                schemas.partition_dir(root, 'flagged_clips', scan_id))
