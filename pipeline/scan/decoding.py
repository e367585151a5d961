"""Decoding one segment for the scan: its model inputs, its frame hashes and
how it went, as typed records, without Beam.

``DecodeSegmentFn`` runs ``decode_segment`` within the segment's own time
limit (``time_limit``: --segment-timeout-seconds x ``Segment.limit_scale``)
and tags what it yields; a segment whose decoding hung, crashed or met a
bug of ours never returns, and ``dead_segment_outcome`` records it from
Beam's dead letter instead.
"""
from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
from typing import Iterable, Iterator, Optional, Tuple, Union

import numpy as np

from pipeline.hashes.pdq import FrameHash
from pipeline.inference import contract as model_contract
from pipeline.media import audio as media_audio
from pipeline.media import decode
from pipeline.media import errors as media_errors
from pipeline.media import windows
from pipeline.records import SampleKey
from pipeline.records import Segment
from pipeline.records import SegmentOutcome
from pipeline.records import WindowKey
from pipeline.scan.settings import HARD_STOP_GRACE_S
from pipeline.scan.settings import ScanSettings
from pipeline.scan.settings import segment_time_limit_s
from pipeline.storage import files as storage

# A sample or an audio window keyed for inference, one frame hash, or the
# segment's outcome.
SegmentRecord = Union[Tuple[SampleKey, np.ndarray],
                      Tuple[WindowKey, np.ndarray], FrameHash,
                      SegmentOutcome]


# The watched decode child's exit status when its watchdog ends it.
HARD_STOP_EXIT_CODE = 124


class SegmentTimeLimitExceeded(TimeoutError):
  """Decoding a segment took longer than its time limit (``time_limit``)."""


@contextlib.contextmanager
def time_limit(segment: Segment, settings: ScanSettings) -> Iterator[None]:
  """Holds what runs inside to the segment's time limit,
  ``segment_time_limit_s`` (--segment-timeout-seconds x its
  ``limit_scale``), so a long one-pass segment gets the time its span needs
  and a hang in any other segment is still cut at the plain limit.

  Beam's own ``timeout`` (``with_exception_handling``) is one number for the
  whole step, so it is only the backstop (``decode_step_timeout_s``).  In
  the watched decode child (--decode-isolation subprocess, where Beam runs
  ``process`` in the child's main thread) this arms:

  * ``SIGALRM`` at the limit, raising ``SegmentTimeLimitExceeded`` wherever
    Python code runs: between frames, in a sleep, in a read.  Inside
    ``decode_segment`` it becomes the segment's ``timeout`` outcome (with
    the samples decoded so far); elsewhere Beam's dead letter records
    ``timeout``;
  * a watchdog thread ``HARD_STOP_GRACE_S`` later, which ends the child
    if the decoder never returns to Python (PyAV releases the GIL while
    FFmpeg demuxes and decodes, so the thread runs); Beam then starts a new
    child and the segment is recorded as ``crash``.  (Not
    ``faulthandler.dump_traceback_later``: in a child forked while the
    parent had one armed, arming it again deadlocks.)

  Decoding inline (in a Beam thread, where signals cannot be armed) keeps
  the check between frames (``decode.iter_samples``'s ``max_seconds``).
  """
  if (settings.config.decode_isolation != 'subprocess' or
      threading.current_thread() is not threading.main_thread()):
    yield
    return
  seconds = segment_time_limit_s(settings.config, segment.limit_scale)

  def expire(signum, frame):  # pylint: disable=unused-argument
    raise SegmentTimeLimitExceeded(
        f'decoding the segment took more than {seconds:g} s')

  previous = signal.signal(signal.SIGALRM, expire)
  signal.setitimer(signal.ITIMER_REAL, seconds)
  hard_stop = threading.Timer(seconds + HARD_STOP_GRACE_S, os._exit,  # pylint: disable=protected-access
                              (HARD_STOP_EXIT_CODE,))
  hard_stop.daemon = True
  hard_stop.start()
  try:
    yield
  finally:
    signal.setitimer(signal.ITIMER_REAL, 0)
    hard_stop.cancel()
    signal.signal(signal.SIGALRM, previous)


def model_inputs(samples: Iterable[decode.Sample], window: int
                 ) -> Iterator[Tuple[decode.Sample, np.ndarray]]:
  """Each sample of the range with what the model takes for it: its frame,
  or (``window`` T > 1) the T frames ending at it.  Context samples only
  fill the first windows."""
  for sample, frames in windows.sliding_windows(samples, window):
    yield sample, frames if window > 1 else sample.image


def segment_input_bytes(segment: Segment, settings: ScanSettings) -> int:
  """The bytes of model inputs the segment's decode hands back at once:
  its samples for the visual model and its windows for the audio model."""
  total = 0
  if settings.spec is not None:
    samples = (math.ceil((segment.end_ms - segment.start_ms) * settings.fps
                         / 1000) + settings.spec.window - 1)
    total += samples * model_contract.input_bytes(settings.spec)
  if settings.audio_spec is not None:
    windows = len(settings.audio_grid.indices(segment.start_ms,
                                              segment.end_ms))
    total += windows * model_contract.audio_input_bytes(settings.audio_spec)
  return total


def one_pass_overflow(segment: Segment, settings: ScanSettings
                      ) -> Optional[str]:
  """Why the segment's model inputs (``segment_input_bytes``), all held at
  once, would exceed ``MAX_ONE_PASS_INPUT_BYTES`` (a long segment on
  sparse keyframes), or ``None`` when they fit."""
  held = segment_input_bytes(segment, settings)
  limit = model_contract.MAX_ONE_PASS_INPUT_BYTES
  if held <= limit:
    return None
  return (f'segment [{segment.start_ms}, {segment.end_ms}) ms is decoded in '
          f'one pass (its keyframes are sparse): its {held} bytes of model '
          f'inputs exceed the limit of {limit} bytes per segment; lower '
          '--fps')


def decode_segment(segment: Segment, settings: ScanSettings
                   ) -> Iterator[SegmentRecord]:
  """Yields ``(SampleKey, model input)`` for each sample of the segment
  (with a visual model), then with an audio model ``(WindowKey, waveform)``
  for each audio window that starts in it (cut from the same open
  container, ``decode.iter_samples``' ``audio``), then its frame hashes
  (with ``--hashes``), then its one ``SegmentOutcome``, which records the
  audio's status too.

  Damaged or unreadable media ends decoding and is recorded in the
  outcome, and so is an unexpected exception: it may be met in the watched
  child process (``--decode-isolation``), whose exceptions should not
  cross the process boundary.  Anything else (a lost worker) propagates,
  and the runner retries the bundle.
  """
  overflow = one_pass_overflow(segment, settings)
  if overflow:
    yield SegmentOutcome(segment.video_id, segment.index, 0, 0,
                         media_errors.TOO_MANY_FRAMES, overflow, 0)
    return
  config = settings.config
  stats = decode.DecodeStats()
  count = 0
  request = (media_audio.AudioRequest(settings.audio_grid)
             if settings.audio_grid is not None else None)
  windows_cut = 0
  spec = settings.spec
  hasher = (decode.FrameHasher(segment.video_id, segment.uri, config.scan_id)
            if config.hashes else None)
  try:
    with storage.open_media(segment.uri) as reader:
      try:
        samples = decode.iter_samples(
            reader, segment.start_ms, segment.end_ms, settings.fps,
            # An audio-only scan samples no frame: no size to resize to.
            spec.input_size if spec else (1, 1), stats,
            context_samples=spec.window - 1 if spec else 0,
            max_pixels=config.max_pixels,
            # A segment spanning several --segment-seconds (sparse
            # keyframes) is held to as many times the limits.
            max_frames=(config.max_frames_per_segment *
                        segment.limit_scale),
            max_seconds=segment_time_limit_s(config,
                                             segment.limit_scale),
            on_hash_pick=hasher, seconds_per_hash=config.hash_seconds,
            mode=config.sampling,
            keyframe_interval_ms=segment.keyframe_interval_ms,
            threads=config.decode_threads,
            hash_fidelity=config.hash_fidelity,
            audio=request, frames=spec is not None)
        for sample, model_input in model_inputs(samples,
                                                spec.window if spec else 1):
          count += 1
          yield SampleKey(segment.video_id, sample.ts_ms), model_input
        if request is not None and request.track is not None:
          for window in request.track.windows:
            windows_cut += 1
            yield (WindowKey(segment.video_id, round(window.start_ms)),
                   window.samples)
      finally:
        stats.bytes_read = reader.bytes_read
  except SegmentTimeLimitExceeded as exc:
    # Before MEDIA_EXCEPTIONS, which would take it for an OSError.
    stats.error_kind = media_errors.TIMEOUT
    stats.error_message = media_errors.short_message(exc)
  except media_errors.MEDIA_EXCEPTIONS as exc:
    stats.error_kind, stats.error_message = media_errors.classify(exc)
  except media_errors.DEAD_LETTER_EXCEPTIONS as exc:
    stats.error_kind = media_errors.INTERNAL_ERROR
    stats.error_message = (f'{type(exc).__name__}: '
                           f'{media_errors.short_message(exc)}')
  if (request is not None and request.track is None
      and stats.error_kind not in (None, media_errors.TIMEOUT)):
    # The frames failed before the audio was cut (a frame flood, a
    # damaged picture): the soundtrack is still heard, from a decode of
    # its own that touches no frame.
    for window in _audio_alone(segment, settings, request, stats):
      windows_cut += 1
      yield window
  if hasher is not None:
    yield from hasher.hashes
  track = request.track if request is not None else None
  audio_stats = request.stats if request is not None else None
  yield SegmentOutcome(
      segment.video_id, segment.index, count, stats.bytes_read,
      stats.error_kind, stats.error_message, stats.packets_damaged,
      audio_status=track.status if track is not None else None,
      audio_windows=windows_cut,
      audio_packets_damaged=(audio_stats.packets_damaged
                             if audio_stats else 0),
      audio_error_kind=audio_stats.error_kind if audio_stats else None,
      audio_error_message=(audio_stats.error_message if audio_stats
                           else None))


def _audio_alone(segment: Segment, settings: ScanSettings,
                 request: media_audio.AudioRequest,
                 stats: decode.DecodeStats) -> Iterator[SegmentRecord]:
  """The segment's audio windows, cut by a decode that samples no frame
  (``iter_samples(frames=False)``): what ``decode_segment`` hears when its
  frames failed first.  Its own failure is the audio's
  (``request.stats``); its bytes count with the segment's."""
  try:
    with storage.open_media(segment.uri) as reader:
      try:
        for _ in decode.iter_samples(
            reader, segment.start_ms, segment.end_ms, settings.fps, (1, 1),
            frames=False, audio=request,
            threads=settings.config.decode_threads):
          pass
      finally:
        stats.bytes_read += reader.bytes_read
  except SegmentTimeLimitExceeded as exc:
    request.stats.error_kind = media_errors.TIMEOUT
    request.stats.error_message = media_errors.short_message(exc)
  except media_errors.MEDIA_EXCEPTIONS as exc:
    request.stats.error_kind, request.stats.error_message = (
        media_errors.classify(exc))
  if request.track is not None:
    for window in request.track.windows:
      yield (WindowKey(segment.video_id, round(window.start_ms)),
             window.samples)


def dead_letter_kind(exc_type) -> str:
  """``timeout`` and ``crash`` for a watched decode that hung or died;
  ``internal_error`` for any other unexpected exception (a bug)."""
  # Ours (``time_limit``) or Beam's backstop (the builtin TimeoutError).
  if isinstance(exc_type, type) and issubclass(exc_type, TimeoutError):
    return media_errors.TIMEOUT
  name = getattr(exc_type, '__name__', str(exc_type))
  if name == 'BrokenProcessPool':
    return media_errors.CRASH
  return media_errors.INTERNAL_ERROR


_DEAD_LETTER_MESSAGES = {
    media_errors.TIMEOUT: 'decoding the segment exceeded its time limit',
    media_errors.CRASH: 'the decoder process died while decoding',
}


def dead_segment_outcome(segment: Segment, exc_type,
                         exc_value) -> SegmentOutcome:
  """A segment whose decoding hung, crashed, or raised something we did not
  expect: recorded against its video instead of failing the job."""
  kind = dead_letter_kind(exc_type)
  message = _DEAD_LETTER_MESSAGES.get(kind) or (
      f'{getattr(exc_type, "__name__", exc_type)}: '
      f'{media_errors.short_message(exc_value) if exc_value else ""}')
  return SegmentOutcome(segment.video_id, segment.index, 0, 0, kind,
                        f'segment {segment.index} '
                        f'[{segment.start_ms}, {segment.end_ms}) ms: {message}')
