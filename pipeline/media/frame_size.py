"""The frame-size limit, enforced on the frames a decoder makes, not on the
size a container header announces.

A header describes a stream's first frames only: an H.264 stream may carry
a new sequence header, an MJPEG stream a new picture size, in any packet.
So the limit (``--max-pixels``) is enforced twice, at the earliest points
we can reach:

* inside FFmpeg's decoder: ``decoder_options`` sets the codec's own
  ``max_pixels``, so the decoder refuses to allocate a picture beyond the
  limit (the send of that packet fails; nothing is allocated at full size);
* on every frame the decoder hands back (``check_frame``): a decoder that
  does not honour the option is caught on the frame's width and height,
  before the frame is converted, scaled or hashed.

A packet the decoder refused for its size is told apart from a damaged
packet by ``refused_for_size`` (the codec context then shows the new size,
or no size at all after an invalid-argument error).
"""
from __future__ import annotations

import errno
from typing import Dict, Optional

from pipeline.media import errors as media_errors

# 8K UHD: the default of --max-pixels.
DEFAULT_MAX_PIXELS = 8192 * 4320
# The largest --max-pixels accepted: 8192x8192.  One frame of that size is
# 100 MB as decoded YUV 4:2:0 and 200 MB as the RGB that hashing makes.
MAX_MAX_PIXELS = 8192 * 8192


def too_large_message(width: int, height: int, max_pixels: int) -> str:
  return (f'a decoded frame is {width}x{height}, more than the limit of '
          f'{max_pixels} pixels per frame')


def check_frame(width: int, height: int, max_pixels: Optional[int]) -> None:
  """Raises ``MediaError(FRAME_TOO_LARGE)`` for a frame beyond the limit."""
  if max_pixels is not None and width * height > max_pixels:
    raise media_errors.MediaError(media_errors.FRAME_TOO_LARGE,
                                  too_large_message(width, height, max_pixels))


def decoder_options(max_pixels: Optional[int]) -> Dict[str, str]:
  """FFmpeg decoder options that make the decoder itself refuse pictures
  beyond ``max_pixels`` (``AVCodecContext.max_pixels``)."""
  return {} if max_pixels is None else {'max_pixels': str(max_pixels)}


def refused_for_size(exc: BaseException, width: int, height: int,
                     max_pixels: Optional[int]) -> bool:
  """Whether a decode error ``exc`` is the decoder refusing a picture beyond
  ``max_pixels``: the codec context (``width`` x ``height`` after the
  error) shows a size beyond the limit (H.264, HEVC), or the error is an
  invalid argument and the context lost its size (FFmpeg clears it when a
  new size fails its check, e.g. MJPEG)."""
  if max_pixels is None:
    return False
  if width * height > max_pixels:
    return True
  return (width * height == 0
          and getattr(exc, 'errno', None) == errno.EINVAL)


def refused_error(width: int, height: int,
                  max_pixels: int) -> media_errors.MediaError:
  """The ``MediaError`` for a picture the decoder refused for its size."""
  if width * height:
    return media_errors.MediaError(
        media_errors.FRAME_TOO_LARGE,
        too_large_message(width, height, max_pixels))
  return media_errors.MediaError(
      media_errors.FRAME_TOO_LARGE,
      f'the decoder refused a frame larger than the limit of {max_pixels} '
      'pixels per frame')
