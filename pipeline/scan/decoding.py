"""Decoding one segment for the scan: its model inputs, its frame hashes and
how it went, as typed records, without Beam.

``DecodeSegmentFn`` runs ``decode_segment`` and tags what it yields; a
segment whose decoding hung, crashed or met a bug of ours never returns,
and ``dead_segment_outcome`` records it from Beam's dead letter instead.
"""
from __future__ import annotations

from typing import Iterable, Iterator, Tuple, Union

import numpy as np

from pipeline.hashes.pdq import FrameHash
from pipeline.media import audio as media_audio
from pipeline.media import decode
from pipeline.media import errors as media_errors
from pipeline.media import windows
from pipeline.records import SampleKey
from pipeline.records import Segment
from pipeline.records import SegmentOutcome
from pipeline.records import WindowKey
from pipeline.scan.settings import ScanSettings
from pipeline.storage import files as storage

# A sample or an audio window keyed for inference, one frame hash, or the
# segment's outcome.
SegmentRecord = Union[Tuple[SampleKey, np.ndarray],
                      Tuple[WindowKey, np.ndarray], FrameHash,
                      SegmentOutcome]


def model_inputs(samples: Iterable[decode.Sample], window: int
                 ) -> Iterator[Tuple[decode.Sample, np.ndarray]]:
  """Each sample of the range with what the model takes for it: its frame,
  or (``window`` T > 1) the T frames ending at it.  Context samples only
  fill the first windows."""
  for sample, frames in windows.sliding_windows(samples, window):
    yield sample, frames if window > 1 else sample.image


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
            max_seconds=(config.segment_timeout_seconds *
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
  except media_errors.MEDIA_EXCEPTIONS as exc:
    stats.error_kind, stats.error_message = media_errors.classify(exc)
  except media_errors.DEAD_LETTER_EXCEPTIONS as exc:
    stats.error_kind = media_errors.INTERNAL_ERROR
    stats.error_message = (f'{type(exc).__name__}: '
                           f'{media_errors.short_message(exc)}')
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


def dead_letter_kind(exc_type) -> str:
  """``timeout`` and ``crash`` for a watched decode that hung or died;
  ``internal_error`` for any other unexpected exception (a bug)."""
  name = getattr(exc_type, '__name__', str(exc_type))
  if name == 'TimeoutError':
    return media_errors.TIMEOUT
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
