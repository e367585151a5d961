"""Probing a stored video: duration, video stream, codec and frame size."""
from __future__ import annotations

from typing import Optional

import av

from pipeline.media import errors as media_errors
from pipeline.storage import files as storage
from pipeline.records import VideoInfo
from pipeline.media.streams import select_video_stream
from pipeline.media.streams import stream_start_seconds


def _is_still_image(container) -> bool:
  """FFmpeg opens pictures (PNG, JPEG, ...) as one-frame videos."""
  name = container.format.name
  return name.startswith('image2') or name.endswith('_pipe')


def _duration_ms(container, stream) -> Optional[int]:
  """Duration from the header: stream first, then container."""
  if stream.duration:
    return int(stream.duration * stream.time_base * 1000)
  if container.duration:
    start_s = stream_start_seconds(stream)
    container_start_s = (container.start_time or 0) / av.time_base
    return int((container.duration / av.time_base -
                (start_s - container_start_s)) * 1000)
  return None


def _demuxed_duration_ms(container, stream) -> int:
  """Duration from packet timestamps, for headers that carry none.

  Reads packets without decoding them.
  """
  origin_s = stream_start_seconds(stream)
  last_end_s = 0.0
  for packet in container.demux(stream):
    if packet.pts is None:
      continue
    end_s = float((packet.pts + (packet.duration or 0)) * packet.time_base)
    last_end_s = max(last_end_s, end_s - origin_s)
  return int(last_end_s * 1000)


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


def probe_video(uri: str, video_id: str = '',
                max_pixels: Optional[int] = None,
                size_bytes: Optional[int] = None,
                updated_s: Optional[float] = None) -> VideoInfo:
  """Reads a video's header; raises ``MediaError`` when it is not scannable."""
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
    if duration_ms <= 0:
      raise media_errors.MediaError(media_errors.NO_FRAMES,
                                    'the video stream holds no frames')
    return VideoInfo(video_id=video_id, uri=uri, size_bytes=size_bytes,
                     duration_ms=duration_ms, width=codec.width,
                     height=codec.height, codec=codec.name,
                     updated_s=updated_s,
                     keyframe_interval_ms=keyframe_interval_ms)
