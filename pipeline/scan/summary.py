"""The short report printed when a scan finishes (names from the data
with their hidden characters escaped: ``pipeline.runtime.terminal``)."""
from __future__ import annotations

from typing import List, Optional

import schemas
from pipeline.runtime.terminal import printable
from pipeline.storage.parquet import read_partition

MAX_LISTED = 20


def _seconds(ms: int) -> str:
  return f'{ms / 1000:.1f}s'


def _percent(share: Optional[float]) -> str:
  """A coverage share as ``57% covered`` (floored: never rounds up to a
  full 100%)."""
  if share is None:
    return 'coverage unknown'
  # The epsilon undoes binary rounding (0.57 * 100 == 56.99...).
  return f'{int(share * 100 + 1e-9)}% covered'


def format_summary(root: str, scan_id: str) -> str:
  videos = read_partition(root, 'videos', scan_id).to_pylist()
  clips = read_partition(root, 'flagged_clips', scan_id).to_pylist()
  scanned = [v for v in videos if v['status'] == schemas.STATUS_SCANNED]
  failed = [v for v in videos if v['status'] == schemas.STATUS_FAILED]
  partial = [v for v in videos if v['status'] == schemas.STATUS_PARTIAL]
  skipped = len(videos) - len(scanned) - len(failed) - len(partial)
  lines: List[str] = [
      f'scan {scan_id}: {len(videos)} videos, {len(scanned)} scanned, '
      + (f'{len(partial)} partial (not fully looked at), ' if partial else '')
      + f'{len(failed)} failed, '
      + (f'{skipped} skipped (unchanged since an earlier scan), '
         if skipped else '') + f'{len(clips)} flagged clips']
  for video in sorted(failed, key=lambda v: v['video_uri'])[:MAX_LISTED]:
    lines.append(f"  failed  {printable(video['error_kind']):<18} "
                 f"{printable(video['video_uri'])}")
  for video in sorted(partial, key=lambda v: v['video_uri'])[:MAX_LISTED]:
    lines.append(f"  partial {_percent(video['coverage']):<18} "
                 f"{printable(video['video_uri'])}")
  clips.sort(key=lambda c: (-c['peak_score'], c['video_uri'], c['start_ms']))
  for clip in clips[:MAX_LISTED]:
    lines.append(
        f"  clip    {printable(clip['label']):<14} "
        f"{_seconds(clip['start_ms']):>8} - "
        f"{_seconds(clip['end_ms']):<8} peak {clip['peak_score']:.2f} "
        f"mean {clip['mean_score']:.2f}  {printable(clip['video_uri'])}")
  if len(clips) > MAX_LISTED:
    lines.append(f'  ... and {len(clips) - MAX_LISTED} more clips')
  for dataset in schemas.DATASETS:
    lines.append(f'  {dataset:<14} {schemas.partition_dir(root, dataset, scan_id)}/')
  lines.append(
      "  query: duckdb -c \"SELECT * FROM read_parquet('"
      f"{schemas.dataset_glob(root, 'flagged_clips')}', hive_partitioning=true) "
      'ORDER BY peak_score DESC"')
  return '\n'.join(lines)
