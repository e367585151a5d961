"""Probing a stored video: duration, video stream, codec and frame size."""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import av

from pipeline.media import errors as media_errors
from pipeline.media import segments
from pipeline.storage import files as storage
from pipeline.records import VideoInfo
from pipeline.media.streams import select_video_stream
from pipeline.media.streams import stream_start_seconds


def _is_still_image(container) -> bool:
  """FFmpeg opens pictures (PNG, JPEG, ...) as one-frame videos."""
  name = container.format.name
  return name.startswith('image2') or name.endswith('_pipe')


def _duration_ms(container, stream) -> Optional[int]:
  """Duration from the header: stream first, then container
  (``_from_container``)."""
  if stream.duration:
    return int(stream.duration * stream.time_base * 1000)
  if _from_container(container, stream):
    start_s = stream_start_seconds(stream)
    container_start_s = (container.start_time or 0) / av.time_base
    return int((container.duration / av.time_base -
                (start_s - container_start_s)) * 1000)
  return None


def _from_container(container, stream) -> bool:
  """Whether the header's duration is the container's (all its streams'),
  the stream recording none of its own."""
  return not stream.duration and bool(container.duration)


def _packet_end_s(packet, origin_s: float) -> float:
  """When a packet's frame stops showing, from the stream's start."""
  return float((packet.pts + (packet.duration or 0)) *
               packet.time_base) - origin_s


def _demuxed_duration_ms(container, stream) -> int:
  """Duration from packet timestamps, for headers that carry none.

  Reads packets without decoding them.
  """
  origin_s = stream_start_seconds(stream)
  last_end_s = 0.0
  for packet in container.demux(stream):
    if packet.pts is None:
      continue
    last_end_s = max(last_end_s, _packet_end_s(packet, origin_s))
  return int(last_end_s * 1000)


# How many packets after a seek to the header's end are read to check it.
TAIL_PACKETS = 2_000
# A header may claim more than its data by this factor plus this slack (a
# truncated upload: the scan plans the claim, and the part that is gone
# leaves the video ``partial``); beyond that the claim is a lie, and the
# data's duration is planned instead.
CLAIM_FACTOR = 4
CLAIM_SLACK_MS = 60_000


# A claim taken from the container (the span of all its streams) that
# another stream's packets reach within this is the other stream's length,
# not lost video: the video stream ended first.
OTHER_STREAM_REACH_MS = 1_000


def _checked_duration_ms(container, stream, claimed_ms: int,
                         from_container: bool = False) -> int:
  """The header's duration held against the data: the packets found by
  seeking to the claimed end.

  A crafted header can claim hundreds of hours for a 10-KB file, and the
  scan would plan (and run) a segment for every few seconds of them.  The
  seek lands on the last keyframe before the claimed end; when the file
  ends within ``TAIL_PACKETS`` packets of it, the last packet read gives
  the data's duration: a later one replaces the claim, and so does an
  earlier one when the claim exceeds it by more than ``CLAIM_FACTOR``
  times plus ``CLAIM_SLACK_MS`` (a merely truncated file keeps its claim,
  so the part that is gone counts against its coverage).  When the tail
  is longer (a container that cannot seek lands far before the end) the
  claim stands: the data was not all seen, and cutting the timeline short
  would leave its end unscanned.  Nothing is decoded.

  A claim ``from_container`` (the stream records no duration of its own)
  spans every stream: when another stream's packets reach it (within
  ``OTHER_STREAM_REACH_MS``) and the video's end earlier, the video
  stream ended first (a soundtrack longer than the picture), and its data
  gives the duration; the timeline of the picture is never padded with
  another stream's time as if frames were lost."""
  origin_s = stream_start_seconds(stream)
  target = int((origin_s + claimed_ms / 1000.0) / stream.time_base)
  end_s = None
  others_end_s = None
  try:
    container.seek(target, stream=stream, backward=True, any_frame=False)
    packets = (container.demux() if from_container
               else container.demux(stream))
    for number, packet in enumerate(packets):
      if number >= TAIL_PACKETS:
        return claimed_ms
      if packet.pts is None:
        continue
      packet_end_s = _packet_end_s(packet, origin_s)
      if packet.stream.index != stream.index:
        others_end_s = (packet_end_s if others_end_s is None
                        else max(others_end_s, packet_end_s))
        continue
      end_s = packet_end_s if end_s is None else max(end_s, packet_end_s)
  except av.error.FFmpegError:
    return claimed_ms  # damage is the decoder's to report
  finally:
    try:
      container.seek(0)
    except av.error.FFmpegError:
      pass
  if end_s is None or end_s <= 0:
    return claimed_ms
  data_ms = int(end_s * 1000)
  if (data_ms > claimed_ms
      or others_end_s is not None and data_ms < claimed_ms
      and others_end_s * 1000 >= claimed_ms - OTHER_STREAM_REACH_MS
      or claimed_ms > CLAIM_FACTOR * data_ms + CLAIM_SLACK_MS):
    return data_ms
  return claimed_ms


# Keyframe gaps measured at the start of a video, and how far to look.
KEYFRAME_GAPS_MEASURED = 2
KEYFRAME_SEARCH_PACKETS = 1_000


def _keyframe_interval_ms(container, stream) -> Optional[int]:
  """The longest gap between the first ``KEYFRAME_GAPS_MEASURED + 1``
  keyframes, from packet flags (nothing is decoded); ``None`` when fewer
  keyframes lie in the first ``KEYFRAME_SEARCH_PACKETS`` packets."""
  times_s = []
  try:
    for number, packet in enumerate(container.demux(stream)):
      if number >= KEYFRAME_SEARCH_PACKETS:
        break
      if packet.is_keyframe and packet.pts is not None:
        times_s.append(float(packet.pts * packet.time_base))
        if len(times_s) > KEYFRAME_GAPS_MEASURED:
          break
    container.seek(0)
  except av.error.FFmpegError:
    pass  # damage is the decoder's to report; what was read still counts
  if len(times_s) < 2:
    return None
  return int(round(max(b - a for a, b in zip(times_s, times_s[1:])) * 1000))


# Packets read after the seek to one planned segment boundary to find the
# keyframe decoding would start from: the first one, in an indexed
# container; a container that seeks to any packet is given this many to
# reach a keyframe, else the boundary stays where it was planned.
KEYFRAME_SEEK_PACKETS = 120


def _keyframe_ms(container, stream, origin_s: float,
                 boundary_ms: int) -> Optional[int]:
  """The time (ms, rounded up, so that a decode seeking back from it lands
  on it) of the keyframe a backward seek to ``boundary_ms`` lands on:
  the keyframe at or before it; ``None`` when none is met in
  ``KEYFRAME_SEEK_PACKETS`` packets."""
  target = int((origin_s + boundary_ms / 1000.0) / stream.time_base)
  container.seek(target, stream=stream, backward=True, any_frame=False)
  for number, packet in enumerate(container.demux(stream)):
    if number >= KEYFRAME_SEEK_PACKETS:
      return None
    if packet.pts is not None and packet.size and packet.is_keyframe:
      start_ms = (float(packet.pts * packet.time_base) - origin_s) * 1000.0
      # Before the first millisecond: the stream's start, decoded as such.
      return 0 if start_ms < 1 else math.ceil(start_ms + 1e-3)
  return None


def segment_starts_ms(container, stream, boundaries_ms: Sequence[int]
                      ) -> Tuple[int, ...]:
  """Each planned boundary moved to the keyframe at or before it
  (``_keyframe_ms``; a boundary without one found stays), duplicates
  collapsed, sorted.  One seek and a few packets per boundary; nothing is
  decoded; damage stops the search and leaves the boundaries not yet
  looked at where they were planned."""
  origin_s = stream_start_seconds(stream)
  found = set()
  remaining = list(boundaries_ms)
  try:
    while remaining:
      boundary = remaining[0]
      keyframe = _keyframe_ms(container, stream, origin_s, boundary)
      found.add(boundary if keyframe is None else keyframe)
      remaining.pop(0)
  except av.error.FFmpegError:
    pass  # damage is the decoder's to report
  finally:
    try:
      container.seek(0)
    except av.error.FFmpegError:
      pass
  return tuple(sorted(found.union(remaining)))


def _frame_rate(stream) -> Optional[float]:
  rate = stream.average_rate or stream.base_rate
  return float(rate) if rate else None


def probe_video(uri: str, video_id: str = '',
                max_pixels: Optional[int] = None,
                size_bytes: Optional[int] = None,
                updated_s: Optional[float] = None,
                max_duration_ms: Optional[int] = None,
                segment_ms: Optional[int] = None) -> VideoInfo:
  """Reads a video's header; raises ``MediaError`` when it is not scannable
  (among others, when its timeline, checked against its data, runs longer
  than ``max_duration_ms``: every second of it would be planned and
  decoded).  Given ``segment_ms`` (``--segment-seconds``), it also finds
  the keyframes the segments will start on (``segment_starts_ms``)."""
  if size_bytes is None:
    size_bytes = storage.file_size(uri)
  if size_bytes == 0:
    raise media_errors.MediaError(media_errors.EMPTY_FILE, 'the file is empty')
  with storage.open_media(uri) as reader, av.open(reader, mode='r') as container:
    if _is_still_image(container):
      raise media_errors.MediaError(
          media_errors.NOT_A_VIDEO,
          f'a still image ({container.format.name}), not a video')
    stream = select_video_stream(container)
    codec = stream.codec_context
    if not codec.width or not codec.height:
      raise media_errors.MediaError(media_errors.INVALID_CONTAINER,
                                    'the video stream has no frame size')
    if max_pixels is not None and codec.width * codec.height > max_pixels:
      raise media_errors.MediaError(
          media_errors.TOO_LARGE,
          f'{codec.width}x{codec.height} exceeds the limit of {max_pixels} '
          'pixels per frame')
    duration_ms = _duration_ms(container, stream)
    keyframe_interval_ms = _keyframe_interval_ms(container, stream)
    if duration_ms is None or duration_ms <= 0:
      duration_ms = _demuxed_duration_ms(container, stream)
    else:
      duration_ms = _checked_duration_ms(
          container, stream, duration_ms,
          from_container=_from_container(container, stream))
    if duration_ms <= 0:
      raise media_errors.MediaError(media_errors.NO_FRAMES,
                                    'the video stream holds no frames')
    if max_duration_ms is not None and duration_ms > max_duration_ms:
      raise media_errors.MediaError(
          media_errors.TOO_LONG,
          f'its timeline runs {duration_ms / 3_600_000:.1f} h, over the '
          f'limit of {max_duration_ms / 3_600_000:g} h (--max-duration-hours)')
    info = VideoInfo(video_id=video_id, uri=uri, size_bytes=size_bytes,
                     duration_ms=duration_ms, width=codec.width,
                     height=codec.height, codec=codec.name,
                     updated_s=updated_s,
                     keyframe_interval_ms=keyframe_interval_ms,
                     frame_rate=_frame_rate(stream))
    if segment_ms is None:
      return info
    return info._replace(segment_starts_ms=segment_starts_ms(
        container, stream,
        segments.planned_boundaries_ms(info, segment_ms)[1:]))
