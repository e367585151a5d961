"""Splitting a probed video into time segments that decode independently."""
from __future__ import annotations

import math
from typing import List

from pipeline.records import Segment
from pipeline.records import VideoInfo


def plan_segments(info: VideoInfo, segment_ms: int) -> List[Segment]:
  """Consecutive ``[start, end)`` ranges of at most ``segment_ms`` covering
  the whole duration."""
  if segment_ms <= 0:
    raise ValueError(f'segment length must be positive, got {segment_ms}')
  count = max(math.ceil(info.duration_ms / segment_ms), 1)
  return [
      Segment(video_id=info.video_id, uri=info.uri, index=i,
              start_ms=i * segment_ms,
              end_ms=min((i + 1) * segment_ms, info.duration_ms),
              duration_ms=info.duration_ms,
              keyframe_interval_ms=info.keyframe_interval_ms)
      for i in range(count)
  ]
