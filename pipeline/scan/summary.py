"""The short report printed when a scan finishes."""
from __future__ import annotations

from typing import List

import schemas
from pipeline.storage.parquet import read_partition

MAX_LISTED = 20


def _seconds(ms: int) -> str:
  return f'{ms / 1000:.1f}s'


def format_summary(root: str, scan_id: str) -> str:
  videos = read_partition(root, 'videos', scan_id).to_pylist()
  clips = read_partition(root, 'flagged_clips', scan_id).to_pylist()
  scanned = [v for v in videos if v['status'] == schemas.STATUS_SCANNED]
  failed = [v for v in videos if v['status'] == schemas.STATUS_FAILED]
  skipped = len(videos) - len(scanned) - len(failed)
  lines: List[str] = [
      f'scan {scan_id}: {len(videos)} videos, {len(scanned)} scanned, '
      f'{len(failed)} failed, '
      + (f'{skipped} skipped (unchanged since an earlier scan), '
         if skipped else '') + f'{len(clips)} flagged clips']
  for video in sorted(failed, key=lambda v: v['video_uri'])[:MAX_LISTED]:
    lines.append(f"  failed  {video['error_kind']:<18} {video['video_uri']}")
  clips.sort(key=lambda c: (-c['peak_score'], c['video_uri'], c['start_ms']))
  for clip in clips[:MAX_LISTED]:
    lines.append(
        f"  clip    {clip['label']:<14} {_seconds(clip['start_ms']):>8} - "
        f"{_seconds(clip['end_ms']):<8} peak {clip['peak_score']:.2f} "
        f"mean {clip['mean_score']:.2f}  {clip['video_uri']}")
  if len(clips) > MAX_LISTED:
    lines.append(f'  ... and {len(clips) - MAX_LISTED} more clips')
  for dataset in schemas.DATASETS:
    lines.append(f'  {dataset:<14} {schemas.partition_dir(root, dataset, scan_id)}/')
  lines.append(
      "  query: duckdb -c \"SELECT * FROM read_parquet('"
      f"{schemas.dataset_glob(root, 'flagged_clips')}', hive_partitioning=true) "
      'ORDER BY peak_score DESC"')
  return '\n'.join(lines)
