"""Splitting a probed video into segments of about equal decode cost that
start on keyframes, so each decodes independently and none decodes frames
it throws away.

A segment's decode cost is estimated as pixels x frames x the codec's
factor (``decode_cost``).  ``--segment-seconds`` is the length of a segment
of the reference stream (``REFERENCE_COST_PER_SECOND``: 480p30 H.264);
a costlier stream gets proportionally shorter segments (never shorter than
``MIN_SEGMENT_MS``), a cheaper one segments of ``--segment-seconds`` (the
memory budget of one segment's model inputs is reckoned on it).  The
engine splits work among workers by element count, so segments of equal
cost are what balances them.

The planned boundaries (``planned_boundaries_ms``) are moved to keyframes
by the probe (``probe.segment_starts_ms``: a backward seek to each boundary
and the first packet's time, a few packets per boundary, never the whole
file).  Boundaries that land on the same keyframe collapse: a video with
one keyframe is one segment, decoded in one pass, and its per-segment
limits grow with its length (``Segment.limit_scale``).
"""
from __future__ import annotations

import math
from typing import List, Optional, Sequence

from pipeline.records import Segment
from pipeline.records import VideoInfo

# Decode cost per pixel of each codec relative to H.264, by the decoder
# name ``probe`` records.  Measured by ``python -m benchmarks.decode_cost``
# (every frame decoded as an exact scan does, one decoder thread, the
# benchmark corpus's panning scene at 360p and 720p, 30 fps, 2-s GOP, each
# codec at the corpus's encoder settings) on 2026-12-02 on this project's
# 2-core shared build machine (load about 1): H.264 1.61 / 1.33 ns per
# pixel at 360p / 720p, HEVC 1.28 / 1.02, VP9 2.47 / 2.37, AV1 1.21 / 1.15,
# MPEG-4 Part 2 0.37 / 0.40.  The per-pixel cost of 720p stayed within 21%
# of 360p's; bitrate, which the model ignores, moves it too.  Codecs not
# listed cost ``DEFAULT_CODEC_COST_FACTOR``.
CODEC_COST_FACTORS = {
    'h264': 1.0,
    'hevc': 0.78,
    'vp9': 1.66,
    'av1': 0.81,
    'libdav1d': 0.81,
    'mpeg4': 0.27,
}
DEFAULT_CODEC_COST_FACTOR = 1.0
# Frame rate assumed when the header gives none.
DEFAULT_FRAME_RATE = 30.0
# The stream whose segments are ``--segment-seconds`` long: 480p30 H.264,
# in pixels x frames x factor per second.
REFERENCE_COST_PER_SECOND = 854 * 480 * 30.0 * CODEC_COST_FACTORS['h264']
# The shortest segment planned, whatever the stream costs: every segment
# pays for opening the file and seeking.
MIN_SEGMENT_MS = 1_000
# The most boundaries looked up (and segments planned) for one video: its
# boundaries are spread out beyond it, which bounds the probe's seeks.
MAX_SEGMENTS_PER_VIDEO = 1_000


def codec_cost_factor(codec: str) -> float:
  return CODEC_COST_FACTORS.get(codec, DEFAULT_CODEC_COST_FACTOR)


def cost_per_second(width: int, height: int, frame_rate: Optional[float],
                    codec: str) -> float:
  """Estimated decode cost of one second of the stream: pixels x frames x
  the codec's factor."""
  rate = frame_rate if frame_rate and frame_rate > 0 else DEFAULT_FRAME_RATE
  return width * height * rate * codec_cost_factor(codec)


def decode_cost(info: VideoInfo, start_ms: int, end_ms: int) -> float:
  """Estimated decode cost of ``[start_ms, end_ms)`` of the video."""
  return cost_per_second(info.width, info.height, info.frame_rate,
                         info.codec) * (end_ms - start_ms) / 1000.0


def planned_length_ms(info: VideoInfo, segment_ms: int) -> int:
  """How long a segment of this video is planned: the time that costs what
  ``segment_ms`` of the reference stream costs, at most ``segment_ms``,
  at least ``MIN_SEGMENT_MS`` (or ``segment_ms`` when that is shorter),
  and long enough that the video has at most ``MAX_SEGMENTS_PER_VIDEO``."""
  if segment_ms <= 0:
    raise ValueError(f'segment length must be positive, got {segment_ms}')
  rate = cost_per_second(info.width, info.height, info.frame_rate,
                         info.codec)
  length = segment_ms * min(1.0, REFERENCE_COST_PER_SECOND / rate)
  length = max(length, min(MIN_SEGMENT_MS, segment_ms),
               info.duration_ms / MAX_SEGMENTS_PER_VIDEO)
  return max(int(math.ceil(length)), 1)


def planned_boundaries_ms(info: VideoInfo, segment_ms: int) -> List[int]:
  """Where segments would start without keyframes: 0, then every
  ``planned_length_ms`` up to the duration."""
  length = planned_length_ms(info, segment_ms)
  count = max(math.ceil(info.duration_ms / length), 1)
  return [i * length for i in range(count)]


def segment_starts(info: VideoInfo, segment_ms: int) -> List[int]:
  """The segments' starts: the keyframes the probe found at the planned
  boundaries (``info.segment_starts_ms``), duplicates collapsed, or the
  planned boundaries when the probe found none."""
  found: Optional[Sequence[int]] = info.segment_starts_ms
  if found is None:
    return planned_boundaries_ms(info, segment_ms)
  return sorted({0, *(s for s in found if 0 < s < info.duration_ms)})


def limit_scale(start_ms: int, end_ms: int, segment_ms: int) -> int:
  """How many ``--segment-seconds`` ``[start_ms, end_ms)`` spans (at
  least 1): a segment decoded in one pass because its keyframes are
  sparse is held to this many times the per-segment limits, so they bound
  the same work per second of video as for any other segment."""
  # A keyframe start rounded up a millisecond does not make a second span.
  return max(math.ceil((end_ms - start_ms - 1) / segment_ms), 1)


def max_limit_scale(max_duration_ms: int, segment_ms: int) -> int:
  """The largest ``limit_scale`` a segment of a video no longer than
  ``max_duration_ms`` can have: one keyframe, one segment."""
  return limit_scale(0, max_duration_ms, segment_ms)


def plan_segments(info: VideoInfo, segment_ms: int) -> List[Segment]:
  """Consecutive ``[start, end)`` ranges covering the whole duration, each
  starting on a keyframe where the probe found one (see the module)."""
  starts = segment_starts(info, segment_ms)
  ends = starts[1:] + [info.duration_ms]
  return [
      Segment(video_id=info.video_id, uri=info.uri, index=i,
              start_ms=start, end_ms=end,
              duration_ms=info.duration_ms,
              keyframe_interval_ms=info.keyframe_interval_ms,
              limit_scale=limit_scale(start, end, segment_ms))
      for i, (start, end) in enumerate(zip(starts, ends))
  ]
