"""A generated scan output root of any number of clips, for the review page
at team scale (issue #15): real Parquet files with the scan's schemas
(``flagged_clips/`` and ``videos/`` partitions, thumbnails as real JPEGs),
most clips on videos that are not on disk (nothing decodes them), and a
few real encoded videos whose clips the page can play: an H.264 MP4 and an
HEVC MP4 (which Chromium cannot play as it is).

    python -m benchmarks.review_output ROOT --clips 10000

A ``rescan`` writes a second scan of some videos into the same root (the
same clips found again, as a re-scan does), so one answer per video can be
checked.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import io
import os
import random
import sys
from typing import Dict, List, Optional, Sequence

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

import schemas
from model.synthetic_video import PlantedEvent
from model.synthetic_video import write_video
from pipeline.scan.clips import clip_id as make_clip_id

LABELS = ('weapon', 'gore', 'nudity')
MODEL_NAME = 'generated'
MODEL_VERSION = 'v1'
THRESHOLD = 0.5
CLIPS_PER_VIDEO = 5
VIDEO_SECONDS = 120
CLIP_MS = 4000
SCAN_IDS = ('gen-1', 'gen-2')
FIRST_SCAN_AT = datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc)
# The real videos: name, codec, container, seconds, planted event.
REAL_VIDEOS = (('playable_h264.mp4', 'h264', 'mp4', 8.0, (2.0, 4.0)),
               ('hevc_source.mp4', 'hevc', 'mp4', 8.0, (3.0, 5.0)))


@dataclasses.dataclass(frozen=True)
class GeneratedOutput:
  root: str
  clips: int                 # distinct clips (one answer per video)
  videos: int
  real_videos: Dict[str, str]  # name -> path
  rescanned_videos: int


def _thumbnails(count: int = 8) -> List[bytes]:
  """A few small real JPEGs (clips share them)."""
  out = []
  for i in range(count):
    image = Image.new('RGB', (96, 72), (40 + 25 * i, 90, 200 - 20 * i))
    buffer = io.BytesIO()
    image.save(buffer, format='JPEG', quality=70)
    out.append(buffer.getvalue())
  return out


def _write(root: str, dataset: str, scan_id: str,
           rows: Sequence[Dict]) -> None:
  schema = schemas.DATASETS[dataset]
  fields = [schema.field(name).with_nullable(True) for name in rows[0]]
  table = pa.Table.from_pylist(list(rows), schema=pa.schema(fields))
  folder = os.path.join(root, dataset, f'{schemas.tables.PARTITION_KEY}='
                        f'{scan_id}')
  os.makedirs(folder, exist_ok=True)
  pq.write_table(table, os.path.join(folder, 'part-0.parquet'),
                 compression='zstd')


def _ledger_row(video_id: str, uri: str, scan_id: str,
                scanned_at: datetime.datetime, clips: int, codec: str,
                seconds: float, path: Optional[str] = None) -> Dict:
  found = os.stat(path) if path else None
  return dict(
      video_id=video_id, video_uri=uri,
      size_bytes=found.st_size if found else 1_000_000,
      status=schemas.STATUS_SCANNED, duration_ms=int(seconds * 1000),
      width=160, height=120, codec=codec,
      source_updated_at=(datetime.datetime.fromtimestamp(
          found.st_mtime, datetime.timezone.utc) if found else scanned_at),
      frames_scored=int(seconds * 2), samples_expected=int(seconds * 2),
      coverage=1.0, segments=1, segments_failed=0, packets_damaged=0,
      bytes_read=found.st_size if found else 1_000_000, max_score=None,
      clips=clips, model_name=MODEL_NAME, model_version=MODEL_VERSION,
      scan_id=scan_id, scanned_at=scanned_at)


def _clip_row(video_id: str, uri: str, label: str, start_ms: int,
              end_ms: int, peak: float, scan_id: str,
              scanned_at: datetime.datetime, thumbnail: bytes) -> Dict:
  return dict(
      clip_id=make_clip_id(video_id, label, start_ms, MODEL_VERSION),
      video_id=video_id, video_uri=uri, label=label, start_ms=start_ms,
      end_ms=end_ms, peak_ms=(start_ms + end_ms) // 2, peak_score=peak,
      mean_score=round(peak * 0.9, 4), frames=max((end_ms - start_ms) // 500,
                                                   1),
      model_name=MODEL_NAME, model_version=MODEL_VERSION,
      threshold=THRESHOLD, scan_id=scan_id, scanned_at=scanned_at,
      thumbnail=thumbnail)


def write_review_output(root: str, clips: int = 10_000,
                        media_dir: Optional[str] = None,
                        rescan_videos: int = 0,
                        seed: int = 0) -> GeneratedOutput:
  """Writes an output root of ``clips`` distinct clips (the first scan);
  with ``media_dir``, ``REAL_VIDEOS`` are encoded there and carry one clip
  each (counted in ``clips``).  ``rescan_videos``: that many videos are
  scanned again by a second, later scan that finds the same clips."""
  rng = random.Random(seed)
  thumbs = _thumbnails()
  first, second = SCAN_IDS
  clip_rows: List[Dict] = []
  ledger_rows: List[Dict] = []
  real: Dict[str, str] = {}
  if media_dir:
    os.makedirs(media_dir, exist_ok=True)
    for i, (name, codec, container, seconds, event) in enumerate(REAL_VIDEOS):
      path = write_video(os.path.join(media_dir, name), seconds, codec,
                         size=(160, 120), seed=i, container_format=container,
                         events=(PlantedEvent('red_marker', *event),))
      path = os.path.abspath(path)
      real[name] = path
      scanned_at = FIRST_SCAN_AT
      clip_rows.append(_clip_row(name, path, LABELS[0], int(event[0] * 1000),
                                 int(event[1] * 1000), 0.99 - i * 0.001,
                                 first, scanned_at, thumbs[i]))
      ledger_rows.append(_ledger_row(name, path, first, scanned_at, 1,
                                     codec, seconds, path))
  remaining = clips - len(clip_rows)
  videos = 0
  while remaining > 0:
    count = min(CLIPS_PER_VIDEO, remaining)
    video_id = f'video-{videos:06d}'
    uri = f'/archive/not-on-disk/{video_id}.mp4'
    scanned_at = FIRST_SCAN_AT + datetime.timedelta(minutes=videos)
    for k in range(count):
      start = k * (VIDEO_SECONDS * 1000 // CLIPS_PER_VIDEO)
      clip_rows.append(_clip_row(
          video_id, uri, LABELS[rng.randrange(len(LABELS))], start,
          start + CLIP_MS, round(rng.uniform(THRESHOLD, 0.98), 4), first,
          scanned_at, thumbs[rng.randrange(len(thumbs))]))
    ledger_rows.append(_ledger_row(video_id, uri, first, scanned_at, count,
                                   'h264', VIDEO_SECONDS))
    videos += 1
    remaining -= count
  _write(root, 'flagged_clips', first, clip_rows)
  _write(root, 'videos', first, ledger_rows)
  if rescan_videos:
    later = FIRST_SCAN_AT + datetime.timedelta(days=30)
    again = [r['video_id'] for r in ledger_rows[-rescan_videos:]]
    _write(root, 'flagged_clips', second, [
        dict(c, scan_id=second, scanned_at=later) for c in clip_rows
        if c['video_id'] in again])
    _write(root, 'videos', second, [
        dict(v, scan_id=second, scanned_at=later) for v in ledger_rows
        if v['video_id'] in again])
  return GeneratedOutput(root, clips, videos + len(real), real, rescan_videos)


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m benchmarks.review_output',
                                   description=__doc__.split('\n\n')[0])
  parser.add_argument('root')
  parser.add_argument('--clips', type=int, default=10_000)
  parser.add_argument('--media-dir', default=None)
  parser.add_argument('--rescan-videos', type=int, default=0)
  args = parser.parse_args(argv)
  out = write_review_output(args.root, args.clips, args.media_dir,
                            args.rescan_videos)
  print(f'wrote {out.clips} clips of {out.videos} videos to {out.root}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
