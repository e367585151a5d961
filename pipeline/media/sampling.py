"""Frame sampling by presentation time: pure functions, no decoding.

Samples lie on one global grid per video, ``t_k = k / fps`` seconds from the
start of the video stream, so segments decoded on different workers sample
exactly the frames one continuous pass would.  The frame for sample time
``t`` is the frame on screen at ``t``: the last frame whose presentation
time is ``<= t``.  That rule holds for variable frame rate too.
"""
from __future__ import annotations

import bisect
import math
from fractions import Fraction
from typing import Iterable, Iterator, Optional, Sequence, Tuple, TypeVar

Payload = TypeVar('Payload')

# Decode modes (``--sampling``; see ``pipeline.media.decode``).
EXACT, FAST, KEYFRAMES, AUTO = 'exact', 'fast', 'keyframes', 'auto'
SAMPLING_CHOICES = (AUTO, EXACT, FAST, KEYFRAMES)
# vPDQ hash fidelity (``--hash-fidelity``): ``EXACT`` hashes vPDQ's own
# frames as decoded in full; ``APPROXIMATE`` hashes, per hashing interval,
# the first frame a ``FAST`` or ``KEYFRAMES`` decode gives.
APPROXIMATE = 'approximate'
HASH_FIDELITY_CHOICES = (EXACT, APPROXIMATE)


def _rate(fps: float) -> Fraction:
  if not fps > 0:
    raise ValueError(f'fps must be > 0, got {fps}')
  return Fraction(fps).limit_denominator(1000)


def sample_index_range(start_ms: int, end_ms: int, fps: float) -> range:
  """Indices ``k`` of the grid samples with ``start_ms <= t_k < end_ms``."""
  rate = _rate(fps)
  first = math.ceil(Fraction(start_ms) * rate / 1000)
  stop = math.ceil(Fraction(end_ms) * rate / 1000)
  return range(max(first, 0), max(stop, 0))


def sample_time_ms(index: int, fps: float) -> int:
  """Grid time of sample ``index`` in whole milliseconds (floored)."""
  return math.floor(Fraction(index * 1000) / _rate(fps))


def sample_interval_ms(fps: float) -> float:
  return 1000.0 / float(_rate(fps))


def expected_samples(start_ms: int, end_ms: int, fps: float) -> int:
  """How many grid samples ``[start_ms, end_ms)`` should give: what the
  timeline promises, whatever decoding then manages (the ledger's
  ``samples_expected``)."""
  return len(sample_index_range(start_ms, end_ms, fps))


def shows_lost_frame(sample_ms: float, frame_ms: float,
                     lost_ms: Sequence[float], nearest: bool = False) -> bool:
  """Whether a frame the decoder lost (damaged, concealed or dropped; its
  presentation times ``lost_ms``, sorted) belongs to this sample rather
  than the frame it shows (at ``frame_ms``).

  A decoder that steps over damaged packets leaves the previous frame on
  screen, so without this check a run of junk packets would be "covered"
  by the last good frame before it.  By the frame-on-screen rule a lost
  frame between the shown frame and the sample time (the sample time
  included) was the one on screen; with ``nearest`` a lost frame closer to
  the sample time than the shown frame was the nearest one.
  """
  if not lost_ms:
    return False
  if nearest:
    reach = abs(frame_ms - sample_ms)
    i = bisect.bisect_right(lost_ms, sample_ms - reach)
    return i < len(lost_ms) and lost_ms[i] < sample_ms + reach
  if frame_ms <= sample_ms:
    i = bisect.bisect_right(lost_ms, frame_ms)
    return i < len(lost_ms) and lost_ms[i] <= sample_ms
  # An early sample given the first frame (see ``pick_frames``'s lead).
  i = bisect.bisect_left(lost_ms, sample_ms)
  return i < len(lost_ms) and lost_ms[i] < frame_ms


def resolve_sampling(requested: str, fps: float,
                     keyframe_interval_ms: Optional[float]) -> str:
  """The decode mode for one video: ``auto`` becomes ``keyframes`` when
  every sampling interval spans a keyframe interval, else ``fast``."""
  if requested not in SAMPLING_CHOICES:
    raise ValueError(f'sampling must be one of {SAMPLING_CHOICES}, got '
                     f'{requested!r}')
  if requested != AUTO:
    return requested
  if (keyframe_interval_ms is not None and
      sample_interval_ms(fps) >= keyframe_interval_ms):
    return KEYFRAMES
  return FAST


def decode_mode(requested: str, fps: float,
                keyframe_interval_ms: Optional[float],
                hashing: bool = False, hash_fidelity: str = EXACT) -> str:
  """The decode mode of one pass: ``resolve_sampling``'s, except that a
  pass that also hashes with ``EXACT`` fidelity decodes every frame.

  vPDQ hashes every n-th frame as a full decode shows it.  Those frames are
  mostly not keyframes, and in codecs with B-frames often not reference
  frames; and a frame decoded without the loop filter (``FAST``) differs
  in its pixels.  Decoding them exactly needs every reference frame before
  them, loop filter included: 52-100 % of a full decode on the clips of
  ``benchmarks/hash_fidelity.py``.  One full pass is simpler than a second
  pass or a decoder switched frame by frame, and the classifier's samples
  come from it as ``EXACT`` picks them (the frame on screen), at no
  further decoding cost.
  """
  if hash_fidelity not in HASH_FIDELITY_CHOICES:
    raise ValueError(f'hash fidelity must be one of {HASH_FIDELITY_CHOICES}, '
                     f'got {hash_fidelity!r}')
  mode = resolve_sampling(requested, fps, keyframe_interval_ms)
  if hashing and hash_fidelity == EXACT:
    return EXACT
  return mode


def pick_frames(
    frames: Iterable[Tuple[float, Payload]],
    sample_times_ms: Iterable[int],
    max_lead_ms: float,
    last_frame_ms: Optional[float] = None,
    nearest: bool = False,
) -> Iterator[Tuple[int, Payload]]:
  """Pairs each sample time with the frame on screen at that time.

  Args:
    frames: ``(presentation_ms, payload)`` in decode order, times rising.
    sample_times_ms: rising sample times.
    max_lead_ms: a sample earlier than the first frame takes that first frame
      only if the frame is at most this much later (a stream whose first
      frame is at 33 ms still has a sample at 0); otherwise it is dropped.
    last_frame_ms: how long the final frame stays on screen; when ``None``,
      the gap between the last two frames.
    nearest: pair each sample with the nearest frame instead, earlier or
      later (ties go to the earlier one).  For decodes that skip frames
      (``FAST``, ``KEYFRAMES``), where the frame on screen is
      only known up to the frames that were decoded.

  Yields:
    ``(sample_ms, payload)``.  The same payload may be yielded for several
    samples when a frame is held (variable frame rate).  Stops reading
    ``frames`` as soon as every sample is placed.
  """
  samples = iter(sample_times_ms)
  pending = next(samples, None)
  previous: Optional[Tuple[float, Payload]] = None
  gap_ms: Optional[float] = None
  for frame_ms, payload in frames:
    if pending is None:
      return
    if previous is not None and frame_ms <= previous[0]:
      continue  # out-of-order or duplicate timestamp: keep the earlier frame
    while pending is not None and pending < frame_ms:
      if previous is not None:
        later = nearest and frame_ms - pending < pending - previous[0]
        yield pending, payload if later else previous[1]
      elif frame_ms - pending <= max_lead_ms:
        yield pending, payload
      pending = next(samples, None)
    if previous is not None:
      gap_ms = frame_ms - previous[0]
    previous = (frame_ms, payload)
  if previous is None or pending is None:
    return
  hold_ms = last_frame_ms if last_frame_ms else (gap_ms or max_lead_ms)
  while pending is not None and pending < previous[0] + hold_ms:
    yield pending, previous[1]
    pending = next(samples, None)
