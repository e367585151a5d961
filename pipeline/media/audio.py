"""An audio model's windows of one time range, on the video's global grid.

The audio counterpart of ``decode.iter_samples`` (pure PyAV, no Beam):
``cut_audio_windows`` decodes the audio packets a segment needs from the
segment's own open container, mixes them down to mono (the mean of the
channels), resamples them with PyAV's ``AudioResampler`` to the model's
rate, float32 clipped to ``[-1, 1]``, and cuts the windows that start in
the segment's time range.

**The grid.**  Window ``k`` holds output samples ``[k * hop, k * hop +
window)``, sample 0 at the time origin of the *video* stream
(``streams.stream_start_seconds``), the origin frame sampling uses.  A
segment ``[start_ms, end_ms)`` produces the windows whose start lies in
it, so every window belongs to exactly one segment.

**Why segment boundaries change nothing.**  Audio decoders and resamplers
carry state (AAC's overlap and noise generator, Opus' prediction,
swresample's filter), so a decode started mid-stream gives other bytes
than one pass from the start.  The audio is therefore decoded in *blocks*
on a global grid, each from a fixed, global set of packets: block ``b``
covers ``[b, b + 1) * BLOCK_SECONDS`` of output; a fresh decoder gets the
packets that overlap that span widened by ``PREROLL_SECONDS`` (decoder
warm-up, dropped) and the resampler's pad on both sides, and a fresh
resampler turns the block's source samples, pad included, into the output
rate; the pads are then dropped.  Each block's bytes depend only on the
packets the file holds, never on where a decode started, so windows cut
in one pass and in segments are byte for byte the same (tested).  The
cost: each packet is decoded about ``1 + (PREROLL_SECONDS + 2 pad) /
BLOCK_SECONDS`` times, and a block's resampler is set up once.

**Which stream:** ``streams.select_audio_stream`` (the default audio
stream, else the first with a decoder).  A container without one gives
``NO_AUDIO``: an explicit result, not a failure.

**Gaps and ends.**  Source samples no decoded frame covers are silence; a
window with no decoded audio at all is not produced (so a video whose
audio ends early has no windows after it), a window running past the end
of the audio is padded with silence, audio before the origin is dropped.
"""
from __future__ import annotations

import dataclasses
import math
from fractions import Fraction
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple

import av
import numpy as np

from pipeline.media import errors as media_errors
from pipeline.media.streams import select_audio_stream

# Output seconds per decode block; whole seconds, so a block is a whole
# number of samples at any (integer) rate.
BLOCK_SECONDS = 2
# Packets decoded before a block's span and dropped: the decoder's warm-up
# (AAC's overlapped frame, Opus' recommended 80 ms pre-roll).
PREROLL_SECONDS = 0.25
# At least this much source audio beyond each end of a block goes through
# its resampler (the filter's reach), rounded up to a whole number of
# samples at both rates.
MIN_PAD_SECONDS = 0.05
# How far before a wanted time a seek that landed too late is retried,
# then from the start.
SEEK_BACKOFF_S = (0.0, 2.0, 10.0, 60.0)

OK = 'ok'
NO_AUDIO = 'no_audio'
# Audio streams, but none FFmpeg decodes within the bounds below.
UNSUPPORTED_AUDIO = media_errors.UNSUPPORTED_AUDIO

# Integer sample formats and the value of full scale.
_FULL_SCALE = {np.dtype(np.int16): 32768.0, np.dtype(np.int32): 2147483648.0}


class AudioGrid(NamedTuple):
  """An audio model's windows: output rate, samples per window and
  between window starts (``AudioModelSpec`` gives them)."""
  sample_rate: int
  window_samples: int
  hop_samples: int

  def indices(self, start_ms: int, end_ms: int) -> range:
    """Windows whose start lies in ``[start_ms, end_ms)``."""
    per_ms = Fraction(self.sample_rate, 1000 * self.hop_samples)
    first = max(math.ceil(Fraction(start_ms) * per_ms), 0)
    return range(first, max(math.ceil(Fraction(end_ms) * per_ms), first))

  def start_ms(self, index: int) -> float:
    return index * self.hop_samples * 1000.0 / self.sample_rate


class AudioWindow(NamedTuple):
  """Window ``index`` of a video: its start (ms from the video's origin)
  and mono float32 samples ``[window_samples]``."""
  index: int
  start_ms: float
  samples: np.ndarray


@dataclasses.dataclass
class AudioStats:
  """What decoding the audio of one range read and what went wrong."""
  packets_read: int = 0
  packets_damaged: int = 0
  frames_decoded: int = 0
  # Frames dropped because their rate or channels differ from the
  # stream's (a mid-stream change).
  frames_skipped: int = 0
  error_kind: Optional[str] = None
  error_message: Optional[str] = None


class AudioTrack(NamedTuple):
  """The audio of one range: ``status`` ``OK`` or ``NO_AUDIO``, the
  stream used (index, codec, source rate, channels) and the windows."""
  status: str
  windows: List[AudioWindow]
  stream_index: Optional[int] = None
  codec: Optional[str] = None
  source_rate: Optional[int] = None
  channels: Optional[int] = None


@dataclasses.dataclass
class AudioRequest:
  """Asks ``decode.iter_samples`` to cut the audio windows of its range in
  the same open container, after its frames; ``track`` holds the result
  once the samples are exhausted."""
  grid: AudioGrid
  stats: AudioStats = dataclasses.field(default_factory=AudioStats)
  track: Optional[AudioTrack] = None


# Planar frames with this many channels or more are repacked before
# their samples are read: PyAV (18) finds a frame's planes by walking
# FFmpeg's channel pointers up to a null one, which 8 or more channels
# do not end with, and read out of bounds (a segfault on 7.1 Opus).
PYAV_MAX_SAFE_PLANES = 8


def _packed(frame: av.AudioFrame) -> av.AudioFrame:
  """A planar frame as one packed frame of the same samples (a format
  change only: same rate and layout, no filter), without touching its
  planes."""
  resampler = av.AudioResampler(format=frame.format.packed.name,
                                layout=frame.layout, rate=frame.sample_rate)
  pieces = resampler.resample(frame) + resampler.resample(None)
  if len(pieces) == 1:
    return pieces[0]
  data = np.concatenate([piece.to_ndarray() for piece in pieces], axis=1)
  return av.AudioFrame.from_ndarray(data, format=frame.format.packed.name,
                                    layout=frame.layout)


def _mono(frame: av.AudioFrame, channels: int) -> np.ndarray:
  """A decoded frame as float32 ``[samples]``: the mean of its channels,
  full scale 1."""
  if frame.format.is_planar and channels >= PYAV_MAX_SAFE_PLANES:
    frame = _packed(frame)
  data = frame.to_ndarray()
  if not frame.format.is_planar:
    data = data.reshape(-1, channels).T
  if data.dtype == np.uint8:
    data = (data.astype(np.float32) - 128.0) / 128.0
  elif data.dtype in _FULL_SCALE:
    data = (data / _FULL_SCALE[data.dtype]).astype(np.float32)
  return data.mean(axis=0, dtype=np.float32)


class _Block:
  """One block's fresh decoder and its source samples (mixed down to
  mono as they are decoded), pads included."""

  def __init__(self, cutter: 'AudioCutter', index: int):
    self.cutter = cutter
    self.index = index
    stream = cutter.stream
    context = av.CodecContext.create(stream.codec_context.name, 'r')
    context.extradata = stream.codec_context.extradata
    context.sample_rate = cutter.source_rate
    context.layout = stream.codec_context.layout
    self.context = context
    rate = cutter.source_rate
    # Source sample (from the origin) where this block's buffer starts.
    self.first = index * BLOCK_SECONDS * rate - cutter.pad_source
    length = BLOCK_SECONDS * rate + 2 * cutter.pad_source
    self.source = np.zeros(length, np.float32)
    self.covered = np.zeros(length, bool)

  def decode(self, packet: Optional[av.Packet]) -> None:
    stats = self.cutter.stats
    try:
      frames = self.context.decode(packet)
    except av.error.EOFError:
      return
    except av.error.FFmpegError:
      stats.packets_damaged += packet is not None
      return
    for frame in frames:
      stats.frames_decoded += 1
      if (frame.pts is None or frame.sample_rate != self.cutter.source_rate
          or frame.layout.nb_channels != self.cutter.channels):
        stats.frames_skipped += 1
        continue
      at = round((float(frame.pts * frame.time_base) - self.cutter.origin_s)
                 * self.cutter.source_rate) - self.first
      data = _mono(frame, self.cutter.channels)
      lo, hi = max(at, 0), min(at + len(data), len(self.source))
      if lo < hi:
        self.source[lo:hi] = data[lo - at:hi - at]
        self.covered[lo:hi] = True

  def output(self) -> Tuple[np.ndarray, np.ndarray]:
    """The block's output samples (mono float32, ``BLOCK_SECONDS`` at the
    model's rate) and which of them decoded audio covers."""
    self.decode(None)
    cutter = self.cutter
    rate = cutter.grid.sample_rate
    length = BLOCK_SECONDS * rate
    samples = np.zeros(length, np.float32)
    if not self.covered.any():
      return samples, np.zeros(length, bool)
    resampler = av.AudioResampler(format='flt', layout='mono', rate=rate)
    frame = av.AudioFrame.from_ndarray(self.source[np.newaxis],
                                       format='fltp', layout='mono')
    frame.sample_rate = cutter.source_rate
    frame.pts = 0
    frame.time_base = Fraction(1, cutter.source_rate)
    pieces = [f.to_ndarray().reshape(-1)
              for f in resampler.resample(frame) + resampler.resample(None)]
    resampled = np.concatenate(pieces) if pieces else samples
    kept = resampled[cutter.pad_output:cutter.pad_output + length]
    samples[:len(kept)] = np.clip(kept, -1.0, 1.0)
    at = cutter.pad_source + (np.arange(length, dtype=np.int64)
                              * cutter.source_rate) // rate
    return samples, self.covered[at]


class AudioCutter:
  """Cuts the windows of ``[start_ms, end_ms)`` from an audio stream's
  packets: ``feed`` it the stream's packets in demux order, from at or
  before ``from_s`` (seconds from the origin) on, until ``done``; then
  ``windows``.  A packet sink, so the segment decode can route the audio
  packets of its own demux here."""

  def __init__(self, stream, origin_s: float, grid: AudioGrid,
               start_ms: int, end_ms: int,
               stats: Optional[AudioStats] = None):
    self.stream = stream
    self.origin_s = origin_s
    self.grid = grid
    self.stats = stats if stats is not None else AudioStats()
    context = stream.codec_context
    self.source_rate = context.sample_rate
    self.channels = context.layout.nb_channels
    # The stream's packets are timed in its time base.
    self._seconds_per_tick = float(stream.time_base)
    common = math.gcd(self.source_rate, grid.sample_rate)
    pad = Fraction(math.ceil(MIN_PAD_SECONDS * common), common)
    self.pad_source = int(pad * self.source_rate)
    self.pad_output = int(pad * grid.sample_rate)
    self.indices = grid.indices(start_ms, end_ms)
    self._blocks: Dict[int, _Block] = {}
    self._outputs: Dict[int, Tuple[np.ndarray, np.ndarray]] = {}
    if self.indices:
      block = BLOCK_SECONDS * grid.sample_rate
      first = self.indices.start * grid.hop_samples
      last = ((self.indices.stop - 1) * grid.hop_samples
              + grid.window_samples - 1)
      self.block_range = range(first // block, last // block + 1)
    else:
      self.block_range = range(0)
    self._pad_s = float(pad)
    self._next = self.block_range.start

  def _span_s(self, index: int) -> Tuple[float, float]:
    """Seconds (from the origin) whose packets block ``index`` decodes."""
    return (index * BLOCK_SECONDS - self._pad_s - PREROLL_SECONDS,
            (index + 1) * BLOCK_SECONDS + self._pad_s)

  @property
  def from_s(self) -> float:
    return self._span_s(self.block_range.start)[0] if self.block_range else 0.0

  @property
  def done(self) -> bool:
    return self._next >= self.block_range.stop

  def feed(self, packet: av.Packet) -> None:
    if self.done or packet.pts is None:
      return
    self.stats.packets_read += 1
    seconds = self._seconds_per_tick
    start = packet.pts * seconds - self.origin_s
    end = start + (packet.duration or 0) * seconds
    for index in range(self._next, self.block_range.stop):
      lo, hi = self._span_s(index)
      if start >= hi:
        self._finish(index)
        continue
      if start < lo and end <= lo:
        break
      if index not in self._blocks:
        self._blocks[index] = _Block(self, index)
      self._blocks[index].decode(packet)

  def _finish(self, index: int) -> None:
    if index in self._outputs:
      return
    block = self._blocks.pop(index, None)
    if block is None:
      length = BLOCK_SECONDS * self.grid.sample_rate
      self._outputs[index] = (np.zeros(length, np.float32),
                              np.zeros(length, bool))
    else:
      self._outputs[index] = block.output()
    if index == self._next:
      while self._next in self._outputs:
        self._next += 1

  def windows(self) -> List[AudioWindow]:
    """The windows of the range (the stream ended, or ``done``)."""
    for index in self.block_range:
      self._finish(index)
    if not self.block_range:
      return []
    samples = np.concatenate([self._outputs[i][0] for i in self.block_range])
    covered = np.concatenate([self._outputs[i][1] for i in self.block_range])
    base = self.block_range.start * BLOCK_SECONDS * self.grid.sample_rate
    windows = []
    for index in self.indices:
      lo = index * self.grid.hop_samples - base
      hi = lo + self.grid.window_samples
      if covered[lo:hi].any():
        windows.append(AudioWindow(index, self.grid.start_ms(index),
                                   samples[lo:hi].copy()))
    return windows


def _packets_from(container, stream, from_s: float, origin_s: float
                  ) -> Iterator[av.Packet]:
  """The stream's packets from at or before ``from_s`` (seconds from the
  origin) on: a backward seek, retried earlier if it landed later, then
  from the start."""
  for backoff_s in SEEK_BACKOFF_S + (None,):
    if backoff_s is None:
      target_s = None
      container.seek(0)
    else:
      target_s = origin_s + from_s - backoff_s
      container.seek(max(int(target_s / stream.time_base), 0)
                     if target_s > 0 else 0,
                     stream=stream, backward=True, any_frame=False)
    packets = (p for p in container.demux(stream) if p.size)
    first = next(packets, None)
    if first is None:
      return
    first_s = (None if first.pts is None else
               float(first.pts * first.time_base) - origin_s)
    if target_s is None or target_s <= 0 or (
        first_s is not None and first_s <= from_s):
      yield first
      yield from packets
      return


def cut_audio_windows(container, origin_s: float, grid: AudioGrid,
                      start_ms: int, end_ms: int,
                      stats: Optional[AudioStats] = None) -> AudioTrack:
  """The windows of ``grid`` that start in ``[start_ms, end_ms)`` (ms from
  the video's origin ``origin_s``, in the container's time), from the
  container's audio stream (``select_audio_stream``); ``NO_AUDIO`` if it
  has none, ``UNSUPPORTED_AUDIO`` if none it has can be heard (no
  decoder, or a rate or channel count beyond ``streams``' bounds).  Damaged packets are stepped over (at most
  ``MAX_DAMAGED_PACKETS``); a demux that breaks keeps what it has; both
  are recorded in ``stats``."""
  stats = stats if stats is not None else AudioStats()
  stream = select_audio_stream(container)
  if stream is None:
    return AudioTrack(UNSUPPORTED_AUDIO if container.streams.audio
                      else NO_AUDIO, [])
  cutter = AudioCutter(stream, origin_s, grid, start_ms, end_ms, stats)
  if cutter.block_range:
    try:
      for packet in _packets_from(container, stream, cutter.from_s,
                                  origin_s):
        cutter.feed(packet)
        if cutter.done:
          break
        if stats.packets_damaged > media_errors.MAX_DAMAGED_PACKETS:
          stats.error_kind = media_errors.DECODE_ERROR
          stats.error_message = (f'more than {media_errors.MAX_DAMAGED_PACKETS}'
                                 ' damaged audio packets')
          break
    except av.error.InvalidDataError as exc:
      stats.error_kind = media_errors.DECODE_ERROR
      stats.error_message = media_errors.short_message(exc)
  return AudioTrack(OK, cutter.windows(), stream.index,
                    stream.codec_context.name, cutter.source_rate,
                    cutter.channels)
