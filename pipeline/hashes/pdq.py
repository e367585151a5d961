"""PDQ frame hashes, picked at the frames Meta's vPDQ hashes: pure functions.

Nothing here decodes.  The scan's one decode pass hands frames to these
functions; the same functions make the hashes that go to a hash bank.

Which frames vPDQ hashes (``vpdq`` 0.2.5, ``cpp/vpdq/cpp/hashing``):

* ``frame_rate`` is the stream's ``avg_frame_rate`` as a double, or its
  ``r_frame_rate`` when ``avg_frame_rate`` is 0 or undefined
  (``ffmpegwrapper.cpp``); see ``vpdq_frame_rate``.
* ``interval = int(seconds_per_hash * frame_rate)`` truncated toward zero,
  and 1 when that gives 0 (``filehasher.cpp``, ``m_frameMod``); see
  ``vpdq_frame_interval``.  A ``seconds_per_hash`` of 0 hashes every frame.
* Frames are numbered 0, 1, 2, ... in the order the decoder outputs them
  (``AVCodecContext.frame_num - 1``), i.e. presentation order, counting
  every frame the decoder returns and nothing else; frame ``n`` is hashed
  when ``n % interval == 0``.  The numbering is by count, not by timestamp:
  on variable-frame-rate video the hashed frames are not evenly spaced in
  time.  See ``pick_vpdq_frames``.
* The reported timestamp is ``float32(n) / float32(frame_rate)`` seconds,
  printed with 3 decimals (``hasher.h``); see ``vpdq_timestamp_s``.
* The frame is converted to RGB24 at full resolution by swscale
  (``SWS_AREA``, default BT.601 matrix) and hashed with PDQ, luma
  ``0.299 R + 0.587 G + 0.114 B`` (``bufferhasher.cpp``).

Segments decoded after a seek cannot count frames from the start of the
stream; ``pick_vpdq_frames_by_time`` numbers frames from their presentation
time instead, which is the same numbering on constant-frame-rate streams.
"""
from __future__ import annotations

import ctypes
from typing import (Callable, Iterable, Iterator, NamedTuple, Optional, Tuple,
                    TypeVar)

import numpy as np
import pdqhash
from pdqhash import bindings as pdqhash_bindings

from schemas.hash_tables import PDQ_BYTES

PDQ_HEX_DIGITS = 2 * PDQ_BYTES
DEFAULT_SECONDS_PER_HASH = 1.0
# vpdq refuses to hash a frame narrower or shorter than this.
MIN_HASHABLE_SIDE = 5
# Torben's median of PDQ's 256 DCT values (``torben.cpp``) is the value of
# rank (256 + 1) // 2, i.e. index 127 in sorted order.
MEDIAN_RANK = 127

Payload = TypeVar('Payload')

# PDQ's own C++ functions, compiled into the ``pdqhash`` extension.  Calling
# them directly gives vPDQ's float32 luma (``fillFloatLumaFromRGB``);
# ``pdqhash.compute`` computes luma in float64 in numpy, which now and then
# moves the quality by 1 or flips a bit near the median.
_LUMA_SYMBOL = '_ZN8facebook3pdq7hashing20fillFloatLumaFromRGBEPhS2_S2_iiiiPf'
_HASH_SYMBOL = ('_ZN8facebook3pdq7hashing23pdqHash256FromFloatLumaEPfS2_iiPA64'
                '_fS4_PA16_fRNS1_7Hash256ERi')


def _native_pdq():
  try:
    library = ctypes.CDLL(pdqhash_bindings.__file__)
    luma, pdq = getattr(library, _LUMA_SYMBOL), getattr(library, _HASH_SYMBOL)
  except (OSError, AttributeError):
    return None
  luma.restype, pdq.restype = None, None
  luma.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int] * 4 + [
      ctypes.c_void_p]
  pdq.argtypes = [ctypes.c_void_p] * 2 + [ctypes.c_int] * 2 + [
      ctypes.c_void_p] * 5
  return luma, pdq


_NATIVE = _native_pdq()
# True when frames are hashed exactly as vPDQ hashes them (float32 luma).
EXACT_VPDQ_LUMA = _NATIVE is not None


class FrameHash(NamedTuple):
  """One hashed frame; mirrors ``schemas.hash_tables.FRAME_HASHES``."""
  video_id: str
  video_uri: str
  ts_ms: int
  pdq: bytes
  quality: int
  scan_id: str
  # PDQ's hash of the left-right mirrored frame (``mirror_from_dct``);
  # ``None`` in rows written before it existed.
  pdq_mirror: Optional[bytes] = None


class HashPick(NamedTuple):
  """A frame chosen for hashing: vPDQ frame number, time in ms, payload."""
  frame_number: int
  time_ms: float
  frame: object


class PdqHashes(NamedTuple):
  """A frame's PDQ hash and quality, and the hash of its mirror image."""
  pdq: bytes
  quality: int
  mirror: bytes


def hash_frame(rgb: np.ndarray) -> Tuple[bytes, int]:
  """The PDQ hash (32 bytes) and quality (0..100) of an RGB uint8 frame.

  Bit-identical to vPDQ's hash of the same RGB pixels.
  """
  hashes = hash_frame_and_mirror(rgb)
  return hashes.pdq, hashes.quality


def _words_to_bytes(words: np.ndarray) -> bytes:
  """PDQ's ``Hash256.w`` (16 uint16, ``w[15]`` printed first) -> 32 bytes."""
  return words[::-1].astype('>u2').tobytes()


def bits_from_dct(dct16: np.ndarray) -> bytes:
  """PDQ's ``pdqBuffer16x16ToBits``: bit ``16 i + j`` is set when
  ``dct16[i, j]`` is above the median; Torben's median of 256 values is
  the 128th smallest."""
  dct16 = np.asarray(dct16, np.float32).reshape(16, 16)
  median = np.partition(dct16.reshape(-1), MEDIAN_RANK)[MEDIAN_RANK]
  bits = (dct16 > median).astype(np.uint16)
  return _words_to_bytes((bits << np.arange(16, dtype=np.uint16)).sum(
      axis=1, dtype=np.uint16))


def mirror_from_dct(dct16: np.ndarray) -> bytes:
  """The PDQ hash of the left-right mirror image, from the original's
  16x16 DCT: PDQ's ``dct16OriginalToFlipY`` (a mirror negates the odd
  horizontal frequencies; PDQ's DCT rows start at frequency 1, so those
  are the even columns ``j``), then ``bits_from_dct`` with the median
  recomputed.  Equal to the FlipY hash of PDQ's
  ``pdqDihedralHash256esFromFloatLuma``."""
  flipped = np.array(dct16, np.float32).reshape(16, 16)
  flipped[:, 0::2] *= -1
  return bits_from_dct(flipped)


def hash_frame_and_mirror(rgb: np.ndarray) -> PdqHashes:
  """``hash_frame`` and the hash of the frame's mirror image, from one
  PDQ pass (the mirror costs a sign flip and a median of 256 values).
  """
  if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
    raise ValueError(f'expected an RGB uint8 [H, W, 3] frame, got '
                     f'{rgb.dtype} {rgb.shape}')
  if min(rgb.shape[0], rgb.shape[1]) < MIN_HASHABLE_SIDE:
    raise ValueError(f'frame {rgb.shape[1]}x{rgb.shape[0]} is smaller than '
                     f'{MIN_HASHABLE_SIDE} pixels on a side')
  rgb = np.ascontiguousarray(rgb)
  if _NATIVE is None:   # no DCT to reuse: hash the mirrored pixels
    bits, quality = pdqhash.compute(rgb)
    mirror, _ = pdqhash.compute(np.ascontiguousarray(rgb[:, ::-1]))
    return PdqHashes(np.packbits(bits.astype(np.uint8)).tobytes(),
                     int(quality),
                     np.packbits(mirror.astype(np.uint8)).tobytes())
  fill_luma, pdq_from_luma = _NATIVE
  height, width = rgb.shape[:2]
  base = rgb.ctypes.data
  luma = np.empty((height, width), np.float32)
  scratch = np.empty((height, width), np.float32)
  fill_luma(base, base + 1, base + 2, height, width, width * 3, 3,
            luma.ctypes.data)
  buffers = [np.empty(shape, np.float32) for shape in ((64, 64), (16, 64),
                                                       (16, 16))]
  words = np.zeros(16, np.uint16)   # Hash256.w; w[15] is printed first
  quality = ctypes.c_int(0)
  pdq_from_luma(luma.ctypes.data, scratch.ctypes.data, height, width,
                *(b.ctypes.data for b in buffers), words.ctypes.data,
                ctypes.addressof(quality))
  return PdqHashes(_words_to_bytes(words), int(quality.value),
                   mirror_from_dct(buffers[2]))


def pdq_hex(pdq: bytes) -> str:
  """The 64-digit lowercase hex spelling PDQ and vPDQ tools use."""
  return bytes(pdq).hex()


def pdq_from_hex(text: str) -> bytes:
  """Parses a 64-digit hex PDQ hash; raises ``ValueError`` otherwise."""
  text = text.strip()
  if len(text) != PDQ_HEX_DIGITS:
    raise ValueError(f'a PDQ hash has {PDQ_HEX_DIGITS} hex digits, got '
                     f'{len(text)}: {text[:80]!r}')
  return bytes.fromhex(text)


def vpdq_frame_rate(average_rate: Optional[float],
                    base_rate: Optional[float]) -> float:
  """The frame rate vPDQ numbers frames with: average, else base rate."""
  for rate in (average_rate, base_rate):
    if rate is not None and float(rate) > 0:
      return float(rate)
  raise ValueError('the stream has no frame rate')


def vpdq_frame_interval(frame_rate: float,
                        seconds_per_hash: float = DEFAULT_SECONDS_PER_HASH
                        ) -> int:
  """Every how many frames vPDQ hashes one (``m_frameMod``)."""
  if seconds_per_hash < 0:
    raise ValueError(f'seconds_per_hash must be >= 0, got {seconds_per_hash}')
  if not frame_rate > 0:
    raise ValueError(f'frame_rate must be > 0, got {frame_rate}')
  return max(int(seconds_per_hash * frame_rate), 1)


def vpdq_timestamp_s(frame_number: int, frame_rate: float) -> float:
  """vPDQ's timestamp of frame ``frame_number``, in float32 as vPDQ has it."""
  return float(np.float32(frame_number) / np.float32(frame_rate))


def pick_vpdq_frames(frames: Iterable[Tuple[float, Payload]],
                     frame_rate: float,
                     seconds_per_hash: float = DEFAULT_SECONDS_PER_HASH,
                     first_frame_number: int = 0) -> Iterator[HashPick]:
  """The frames vPDQ hashes, from every decoded frame in output order.

  Args:
    frames: ``(time_ms, frame)`` for every frame the decoder returns, in
      order, starting with frame number ``first_frame_number`` (0 for a
      decode from the start of the stream).
    frame_rate: ``vpdq_frame_rate`` of the stream.
    seconds_per_hash: vPDQ's ``seconds_per_hash`` (1 by default).
    first_frame_number: the number of the first frame in ``frames``.

  Yields:
    ``HashPick(frame_number, time_ms, frame)`` for frames whose number is a
    multiple of ``vpdq_frame_interval``.
  """
  interval = vpdq_frame_interval(frame_rate, seconds_per_hash)
  for number, (time_ms, frame) in enumerate(frames, first_frame_number):
    if number % interval == 0:
      yield HashPick(number, time_ms, frame)


def frame_number_at(time_ms: float, frame_rate: float) -> int:
  """The number of the frame presented at ``time_ms`` on a constant-rate
  stream whose first frame is at 0."""
  return int(round(time_ms * frame_rate / 1000.0))


class VpdqTimePicker:
  """Decides frame by frame which frames vPDQ hashes, by presentation time.

  For one decode loop that feeds both the model's sampler and the hasher;
  see ``pick_vpdq_frames_by_time`` and ``tap_vpdq_frames``.
  """

  def __init__(self, frame_rate: float,
               seconds_per_hash: float = DEFAULT_SECONDS_PER_HASH,
               start_ms: float = float('-inf'),
               end_ms: float = float('inf'),
               exact: bool = True,
               origin_ms: Optional[float] = 0.0):
    """With ``exact=False``, for decodes that skip frames, the first decoded
    frame of each hashing interval is hashed: vPDQ's own frame when it was
    decoded, else the next one (none when the interval has no frame).

    ``origin_ms`` is the presentation time of the stream's first frame,
    vPDQ's frame 0; ``None`` when the first frame given is the stream's
    first (a decode from the start).  vPDQ counts frames, so a stream
    whose first frame is shown late (an AVI with B-frames shows its first
    one a frame late) is numbered from that frame, not from time 0.
    """
    self._rate = frame_rate
    self._interval = vpdq_frame_interval(frame_rate, seconds_per_hash)
    self._start_ms, self._end_ms = start_ms, end_ms
    self._exact = exact
    self._origin_ms = origin_ms
    self._last_slot: Optional[int] = None

  def pick(self, time_ms: float) -> Optional[int]:
    """The vPDQ frame number of the frame at ``time_ms`` if it is hashed."""
    if self._origin_ms is None:
      self._origin_ms = time_ms
    if not self._start_ms <= time_ms < self._end_ms:
      return None
    number = frame_number_at(time_ms - self._origin_ms, self._rate)
    if self._exact and number % self._interval:
      return None
    slot = number // self._interval
    if slot == self._last_slot:
      return None
    self._last_slot = slot
    return number


def pick_vpdq_frames_by_time(
    frames: Iterable[Tuple[float, Payload]],
    frame_rate: float,
    seconds_per_hash: float = DEFAULT_SECONDS_PER_HASH,
    start_ms: float = float('-inf'),
    end_ms: float = float('inf')) -> Iterator[HashPick]:
  """Like ``pick_vpdq_frames``, numbering frames by presentation time.

  Safe for a segment decoded after a seek: it needs no count from the start
  of the stream, and segments ``[start_ms, end_ms)`` that tile a video pick
  each frame exactly once.  On constant-frame-rate streams it picks exactly
  the frames vPDQ picks; on variable-frame-rate streams it picks the frames
  nearest the nominal vPDQ times instead.  A frame number met twice (a
  duplicate or a held frame) is picked once, at its first frame.
  """
  picker = VpdqTimePicker(frame_rate, seconds_per_hash, start_ms, end_ms)
  for time_ms, frame in frames:
    number = picker.pick(time_ms)
    if number is not None:
      yield HashPick(number, time_ms, frame)


def tap_vpdq_frames(frames: Iterable[Tuple[float, Payload]],
                    picker: VpdqTimePicker,
                    on_pick: Callable[[HashPick], None]
                    ) -> Iterator[Tuple[float, Payload]]:
  """Passes ``frames`` on unchanged, calling ``on_pick`` on vPDQ's picks.

  Lets the one decode pass feed ``sampling.pick_frames`` and the hasher
  (hash in ``on_pick``, so no decoded frame is kept).  ``pick_frames`` stops
  reading once its last sample is placed, so keep reading this iterator up
  to the segment's end (the first frame at or after ``end_ms``) to see
  every hash frame of the segment.
  """
  for time_ms, frame in frames:
    number = picker.pick(time_ms)
    if number is not None:
      on_pick(HashPick(number, time_ms, frame))
    yield time_ms, frame


def hash_size(width: int, height: int,
              max_side: Optional[int] = None) -> Tuple[int, int]:
  """``(width, height)`` to convert a frame to before hashing.

  Full resolution (what vPDQ hashes) when ``max_side`` is ``None`` or the
  frame fits; otherwise scaled so its longer side is ``max_side``, aspect
  kept, never below ``MIN_HASHABLE_SIDE``.
  """
  if max_side is None or max(width, height) <= max_side:
    return width, height
  scale = max_side / float(max(width, height))
  return (max(int(round(width * scale)), MIN_HASHABLE_SIDE),
          max(int(round(height * scale)), MIN_HASHABLE_SIDE))


def frame_hash(video_id: str, video_uri: str, scan_id: str, time_ms: float,
               rgb: np.ndarray) -> FrameHash:
  """The ``frame_hashes`` row of one picked frame, with the hash of its
  mirror image (matching tries both, ``pipeline.hashes.matching``)."""
  hashes = hash_frame_and_mirror(rgb)
  return FrameHash(video_id, video_uri, int(round(time_ms)), hashes.pdq,
                   hashes.quality, scan_id, hashes.mirror)
