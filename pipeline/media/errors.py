"""Why a video or a segment could not be scanned, as a short ``error_kind``.

Every failure that reaches the ledger is named by one of the kinds below, so
reviewers and operators can count failures by kind.
"""
from __future__ import annotations

import re
from typing import Tuple

import av

NOT_FOUND = 'not_found'
PERMISSION_DENIED = 'permission_denied'
EMPTY_FILE = 'empty_file'
INVALID_CONTAINER = 'invalid_container'
NO_VIDEO_STREAM = 'no_video_stream'
UNSUPPORTED_CODEC = 'unsupported_codec'
TOO_LARGE = 'too_large'
# The timeline runs longer than --max-duration-hours.
TOO_LONG = 'too_long'
# A decoded frame beyond --max-pixels, whatever the header said.
FRAME_TOO_LARGE = 'frame_too_large'
DECODE_ERROR = 'decode_error'
NO_FRAMES = 'no_frames'
# Fewer samples scored than the timeline promised (--min-coverage): damaged,
# concealed or dropped frames, or a lost segment, left part unseen.
LOW_COVERAGE = 'low_coverage'
# An audio model's scan heard nothing: the video has audio streams but
# none FFmpeg decodes, or its audio gave no window.
UNSUPPORTED_AUDIO = 'unsupported_audio'
NO_AUDIO_WINDOWS = 'no_audio_windows'
IO_ERROR = 'io_error'
INTERNAL_ERROR = 'internal_error'
TOO_MANY_FRAMES = 'too_many_frames'
NOT_A_VIDEO = 'not_a_video'
TIMEOUT = 'timeout'
CRASH = 'crash'
FORBIDDEN_URI = 'forbidden_uri'

MAX_MESSAGE_CHARS = 300
# Damaged packets tolerated in one segment (of its video, and of its audio)
# before it is given up.
MAX_DAMAGED_PACKETS = 200


class MediaError(Exception):
  """A failure we recognised, with its ``error_kind``."""

  def __init__(self, kind: str, message: str):
    super().__init__(message)
    self.kind = kind


# Query strings of URLs (signed URLs carry their credentials there) and
# credential-looking key=value pairs never reach a log or the ledger.
_URL_QUERY = re.compile(r'(\b[a-z][a-z0-9+.-]*://[^\s?#\'"]*)\?[^\s\'"]*', re.I)
_SECRET_PAIR = re.compile(
    r'\b(signature|token|access_token|key|credential|password|secret|sig)'
    r'=[^&\s\'"]+', re.I)


def redact(text: str) -> str:
  """``text`` without URL query strings or credential-like values."""
  text = _URL_QUERY.sub(r'\1?<redacted>', text)
  return _SECRET_PAIR.sub(r'\1=<redacted>', text)


def short_message(exc: BaseException) -> str:
  text = ' '.join(str(exc).split()) or type(exc).__name__
  return redact(text)[:MAX_MESSAGE_CHARS]


def classify(exc: BaseException) -> Tuple[str, str]:
  """Maps an exception raised while reading media to (error_kind, message)."""
  if isinstance(exc, MediaError):
    kind = exc.kind
  elif isinstance(exc, (FileNotFoundError, av.error.FileNotFoundError)):
    kind = NOT_FOUND
  elif isinstance(exc, (PermissionError, av.error.PermissionError)):
    kind = PERMISSION_DENIED
  elif isinstance(exc, (av.error.DecoderNotFoundError,
                        av.error.DemuxerNotFoundError)):
    kind = UNSUPPORTED_CODEC
  elif isinstance(exc, (av.error.InvalidDataError, UnicodeDecodeError)):
    kind = INVALID_CONTAINER
  elif isinstance(exc, av.error.FFmpegError):
    kind = DECODE_ERROR
  else:
    kind = IO_ERROR
  return kind, short_message(exc)


# Exceptions that mean "this input is bad", as opposed to a bug of ours.
# Anything else is a bug: it goes to Beam's dead-letter output and is
# recorded as ``internal_error``.
# (PyAV raises UnicodeDecodeError on undecodable metadata tags.)
MEDIA_EXCEPTIONS = (MediaError, av.error.FFmpegError, OSError, EOFError,
                    UnicodeDecodeError)


# Unexpected exceptions (bugs) that dead-letter handling turns into a failed
# row instead of failing the job.  Anything else, such as a lost worker,
# reaches the runner, which retries the bundle.
DEAD_LETTER_EXCEPTIONS = (
    ArithmeticError, AssertionError, AttributeError, BufferError, EOFError,
    ImportError, LookupError, NameError, OSError, ReferenceError,
    RuntimeError, TypeError, ValueError, av.error.FFmpegError)

# Segment failures after which a video cannot count as scanned: part of it
# was never looked at.  Other segment errors (damaged data the decoder
# stepped over) leave the video "scanned", with the error recorded, unless
# what was stepped over cost more samples than --min-coverage allows: then
# it is "partial" (LOW_COVERAGE, see pipeline.scan.ledger).
FATAL_SEGMENT_KINDS = frozenset({
    NOT_FOUND, PERMISSION_DENIED, IO_ERROR, TOO_LARGE, FRAME_TOO_LARGE,
    TOO_MANY_FRAMES,
    TIMEOUT, CRASH, INTERNAL_ERROR, 'unsupported_codec', NO_VIDEO_STREAM,
})
