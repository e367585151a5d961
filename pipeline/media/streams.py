"""Choosing a container's video and audio streams, and the time origin."""
from __future__ import annotations

import av

from pipeline.media import errors as media_errors


def select_video_stream(container: av.container.InputContainer):
  """The default video stream, skipping cover art; ``MediaError`` if none."""
  candidates = [
      s for s in container.streams.video
      if not s.disposition & av.stream.Disposition.attached_pic
  ]
  if candidates and all(s.codec_context is None for s in candidates):
    raise media_errors.MediaError(media_errors.UNSUPPORTED_CODEC,
                                  'no decoder for the video stream')
  candidates = [s for s in candidates if s.codec_context is not None]
  if not candidates:
    raise media_errors.MediaError(media_errors.NO_VIDEO_STREAM,
                                  'the file has no video stream')
  defaults = [s for s in candidates
              if s.disposition & av.stream.Disposition.default]
  return (defaults or candidates)[0]


# Bounds on an audio stream's header (it is hostile input): beyond them a
# stream is not heard.  4 kHz is below the lowest rate in use (telephony's
# 8 kHz): a stream slower than that carries no sound a model could hear
# (a 1 Hz "audio" stream would otherwise be upsampled into windows that
# look heard).  384 kHz is the highest rate in use; 64 channels are
# FFmpeg's own limit for most decoders.
MIN_AUDIO_SOURCE_RATE = 4_000
MAX_AUDIO_SOURCE_RATE = 384_000
MAX_AUDIO_CHANNELS = 64


def select_audio_stream(container: av.container.InputContainer):
  """The audio stream an audio model hears: the one marked default, else
  the first; only streams FFmpeg can decode, with a rate in
  ``[MIN_AUDIO_SOURCE_RATE, MAX_AUDIO_SOURCE_RATE]`` and ``[1,
  MAX_AUDIO_CHANNELS]`` channels, count.  ``None`` if there is none (a video without sound is not an
  error)."""
  candidates = [s for s in container.streams.audio
                if s.codec_context is not None
                and MIN_AUDIO_SOURCE_RATE <= (s.codec_context.sample_rate or 0)
                <= MAX_AUDIO_SOURCE_RATE
                and 1 <= s.codec_context.layout.nb_channels
                <= MAX_AUDIO_CHANNELS]
  defaults = [s for s in candidates
              if s.disposition & av.stream.Disposition.default]
  return (defaults or candidates or [None])[0]


def stream_start_seconds(stream) -> float:
  """Presentation time of the stream's first frame: our time zero."""
  if stream.start_time is None:
    return 0.0
  return float(stream.start_time * stream.time_base)
