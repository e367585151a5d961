"""Decoding sampled frames of one time range with PyAV, streaming from storage.

This is the one decode and sampling path of the project: the scan's
``DecodeSegments`` step calls ``iter_samples`` on each segment and the model
toolkit's training-data reader calls ``sample_frames``, which runs
``iter_samples`` on the whole video, so a model sees in training exactly the
pixels it is given in a scan.

Only sampled frames are converted to RGB and resized (by FFmpeg's swscale,
straight to the model's input size); every other decoded frame is dropped
as it is.

Decoding does only what sampling needs (``--sampling``, resolved per video
by ``sampling.resolve_sampling``):

* ``exact``: every frame is decoded; a sample is the frame on screen at its
  time, and frame hashes are vPDQ's own frames;
* ``fast``: non-reference frames and the loop filter are skipped
  (``skip_frame=NONREF``, ``skip_loop_filter=ALL``); a sample is the
  nearest decoded frame;
* ``keyframes``: only keyframes are decoded (``skip_frame=NONKEY``), so the
  cost falls with the sampling rate; a sample is the nearest keyframe;
* ``auto`` (the default) is ``keyframes`` when the sampling interval is at
  least the video's keyframe interval (measured by ``probe``), else
  ``fast``.

A pass that also hashes frames (``on_hash_pick``) decodes every frame
whatever the mode asked for (``sampling.decode_mode``), so that the hashes
are vPDQ's own, bit for bit, unless ``hash_fidelity`` is
``APPROXIMATE``: then each hashing interval hashes the first frame the
cheaper decode gives.
"""
from __future__ import annotations

import bisect
import dataclasses
import time
from typing import BinaryIO, Callable, Iterator, List, NamedTuple, Optional, Tuple

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from pipeline.hashes import pdq as hashing
from pipeline.media import audio as media_audio
from pipeline.media import errors as media_errors
from pipeline.media import frame_size
from pipeline.media import probe
from pipeline.media import sampling
from pipeline.storage import files as storage
from pipeline.media.sampling import EXACT
from pipeline.media.sampling import FAST
from pipeline.media.sampling import KEYFRAMES
from pipeline.media.streams import select_video_stream
from pipeline.media.streams import stream_start_seconds

# A seek that lands after the segment start is retried this much earlier,
# then from the beginning of the file.
SEEK_BACKOFF_MS = (0, 2_000, 10_000, 60_000)
MAX_DAMAGED_PACKETS = media_errors.MAX_DAMAGED_PACKETS

# What each decode mode asks of FFmpeg's decoder.
_SKIP_FRAME = {EXACT: 'DEFAULT', FAST: 'NONREF', KEYFRAMES: 'NONKEY'}
# Every mode makes the decoder raise on damage it would otherwise conceal
# (``err_detect=explode``): a concealed picture is not what the file holds,
# so its frame counts as lost (see ``_LostFrames``) instead of being scored.
_STRICT = {'err_detect': 'explode'}
_DECODER_OPTIONS = {EXACT: dict(_STRICT),
                    FAST: {**_STRICT, 'skip_loop_filter': 'all'},
                    KEYFRAMES: dict(_STRICT)}


def configure_decoder(stream, mode: str, threads: int = 0,
                      max_pixels: Optional[int] = None) -> None:
  """Sets the stream's decoder up to skip what ``mode`` does not need, with
  ``threads`` decoder threads (0: FFmpeg's choice, one per core), and to
  refuse pictures beyond ``max_pixels`` (``frame_size``); before the first
  packet is decoded."""
  stream.thread_type = 'AUTO'
  if threads:
    stream.codec_context.thread_count = threads
  options = {**_DECODER_OPTIONS[mode],
             **frame_size.decoder_options(max_pixels)}
  if options:
    stream.codec_context.options = dict(options)
  stream.codec_context.skip_frame = _SKIP_FRAME[mode]


class Sample(NamedTuple):
  """One sampled frame: grid index, grid time in ms, RGB uint8
  ``[H, W, 3]``, the presentation time of the frame it shows, and whether
  it is one of the ``context_samples`` before the range asked for (there
  only to fill a temporal model's first windows)."""
  index: int
  ts_ms: int
  image: np.ndarray
  frame_ms: Optional[float] = None
  context: bool = False


@dataclasses.dataclass
class DecodeStats:
  """What decoding one range cost and what went wrong on the way."""
  frames_decoded: int = 0
  packets_read: int = 0
  packets_damaged: int = 0
  bytes_read: int = 0
  error_kind: Optional[str] = None
  error_message: Optional[str] = None
  # Presentation times (ms, sorted) of frames the decoder lost: damaged
  # packets, concealed (corrupt) frames, pictures it silently dropped.
  lost_ms: List[float] = dataclasses.field(default_factory=list)
  # Samples not given because the frame they would show was lost.
  samples_lost: int = 0


class _LostFrames:
  """Keeps ``stats.lost_ms``: the times of the frames a decode lost.

  Damage does not always raise: decoders conceal it (a frame flagged
  corrupt) or drop the picture without a word (HEVC).  Frames come out in
  presentation order, so a packet whose frame never came out before a
  later frame did was lost.  Only packets that must give a frame are
  awaited: all of them, or keyframes alone when the decoder is told to
  skip non-reference frames.  A picture that does come out for a packet
  the decoder refused (frame threading reports the error first) is lost
  too: it is concealment.
  """

  def __init__(self, stream, origin_s: float, stats: DecodeStats):
    self._stream = stream
    self._origin_s = origin_s
    self._stats = stats
    self._keyframes_only = stream.codec_context.skip_frame != 'DEFAULT'
    self._pending: List[int] = []
    self._refused: set[int] = set()

  def _lose(self, pts: int) -> None:
    ms = (float(pts * self._stream.time_base) - self._origin_s) * 1000.0
    bisect.insort(self._stats.lost_ms, ms)

  def damaged(self, packet: av.Packet) -> None:
    if packet.pts is not None and packet.size:
      self._refused.add(packet.pts)
      self._lose(packet.pts)

  def decoded(self, packet: av.Packet) -> None:
    if (packet.pts is not None and packet.size and
        (packet.is_keyframe or not self._keyframes_only)):
      bisect.insort(self._pending, packet.pts)

  def accept(self, frame: av.VideoFrame) -> bool:
    """Whether ``frame`` shows what the file holds: False (and its time
    recorded as lost) for a concealed picture."""
    if frame.pts in self._refused:
      return False  # already recorded when its packet was refused
    if frame.is_corrupt:
      self._discard(frame.pts)
      self._lose(frame.pts)
      return False
    while self._pending and self._pending[0] < frame.pts:
      self._lose(self._pending.pop(0))
    self._discard(frame.pts)
    return True

  def _discard(self, pts: int) -> None:
    i = bisect.bisect_left(self._pending, pts)
    if i < len(self._pending) and self._pending[i] == pts:
      del self._pending[i]

  def end(self) -> None:
    """The stream ended: whatever is still awaited never came."""
    for pts in self._pending:
      self._lose(pts)
    self._pending = []


def _decoded_frames(container, stream, origin_s: float, stats: DecodeStats,
                    keyframes_only: bool = False,
                    max_pixels: Optional[int] = None
                    ) -> Iterator[Tuple[float, av.VideoFrame]]:
  """Decodes packet by packet, stepping over damaged packets (and, with
  ``keyframes_only``, over every packet that is not a keyframe: not every
  decoder honours ``skip_frame``).

  Every frame is held to ``max_pixels`` as the decoder makes it, whatever
  the header said: a packet the decoder refused for its size, or a frame
  beyond the limit, ends the range with ``frame_too_large`` before
  anything converts it (``frame_size``).

  The frames lost on the way are recorded in ``stats.lost_ms``
  (``_LostFrames``)."""
  lost = _LostFrames(stream, origin_s, stats)
  try:
    for packet in container.demux(stream):
      stats.packets_read += 1
      if keyframes_only and not packet.is_keyframe and packet.size:
        continue
      try:
        frames = packet.decode()
      except av.error.EOFError:
        return
      except av.error.FFmpegError as exc:
        context = stream.codec_context
        if frame_size.refused_for_size(exc, context.width, context.height,
                                       max_pixels):
          raise frame_size.refused_error(context.width, context.height,
                                         max_pixels) from exc
        stats.packets_damaged += 1
        lost.damaged(packet)
        if stats.packets_damaged > MAX_DAMAGED_PACKETS:
          raise media_errors.MediaError(
              media_errors.DECODE_ERROR,
              f'more than {MAX_DAMAGED_PACKETS} damaged packets: '
              f'{media_errors.short_message(exc)}') from exc
        continue
      lost.decoded(packet)
      # A decoder that drops the pictures it refused (H.264 skipping
      # frames) raises nothing, but its context shows the new size.
      frame_size.check_frame(stream.codec_context.width,
                             stream.codec_context.height, max_pixels)
      for frame in frames:
        stats.frames_decoded += 1
        frame_size.check_frame(frame.width, frame.height, max_pixels)
        if frame.time is None:
          stats.packets_damaged += 1
          continue
        if not lost.accept(frame):
          # Concealed damage: the decoder painted over what it lost.
          stats.packets_damaged += frame.is_corrupt
          continue
        yield (frame.time - origin_s) * 1000.0, frame
    lost.end()
  except av.error.InvalidDataError as exc:
    # Demuxing itself broke (e.g. a truncated file): keep what we have.
    lost.end()
    stats.error_kind = media_errors.DECODE_ERROR
    stats.error_message = media_errors.short_message(exc)


def _limited(frames: Iterator[Tuple[float, av.VideoFrame]], stats: DecodeStats,
             max_frames: Optional[int], max_seconds: Optional[float] = None
             ) -> Iterator[Tuple[float, av.VideoFrame]]:
  """Gives up once more than ``max_frames`` packets (frames) were read,
  decoded or skipped (a frame flood costs time in every decode mode), or
  once decoding has taken more than ``max_seconds`` (``timeout``)."""
  deadline = (None if max_seconds is None else
              time.monotonic() + max_seconds)
  for item in frames:
    if max_frames is not None and stats.packets_read > max_frames:
      raise media_errors.MediaError(
          media_errors.TOO_MANY_FRAMES,
          f'more than {max_frames} frames read in one segment')
    if deadline is not None and time.monotonic() > deadline:
      raise media_errors.MediaError(
          media_errors.TIMEOUT,
          f'decoding the segment took more than {max_seconds:g} s')
    yield item


def _frames_from(container, stream, start_ms: int, first_sample_ms: float,
                 origin_s: float, stats: DecodeStats,
                 keyframes_only: bool, max_pixels: Optional[int] = None
                 ) -> Iterator[Tuple[float, av.VideoFrame]]:
  """Frames from at or before ``first_sample_ms`` onward."""
  if start_ms <= 0:
    yield from _decoded_frames(container, stream, origin_s, stats,
                               keyframes_only, max_pixels)
    return
  for backoff_ms in SEEK_BACKOFF_MS + (None,):
    target_ms = 0 if backoff_ms is None else max(start_ms - backoff_ms, 0)
    target_pts = int((origin_s + target_ms / 1000.0) / stream.time_base)
    container.seek(target_pts, stream=stream, backward=True, any_frame=False)
    frames = _decoded_frames(container, stream, origin_s, stats,
                             keyframes_only, max_pixels)
    first = next(frames, None)
    if first is None:
      return
    if first[0] <= first_sample_ms or target_ms == 0:
      yield first
      yield from frames
      return


def _first_frame_ms(container, stream, origin_s: float,
                    max_pixels: Optional[int]) -> Optional[float]:
  """The presentation time of the stream's first frame (vPDQ's frame 0),
  decoded from the start; the container is left at the start again."""
  start_pts = int(origin_s / stream.time_base)
  container.seek(start_pts, stream=stream, backward=True, any_frame=False)
  first = next(_decoded_frames(container, stream, origin_s, DecodeStats(),
                               max_pixels=max_pixels), None)
  container.seek(start_pts, stream=stream, backward=True, any_frame=False)
  return None if first is None else first[0]


def upright_rgb(frame: av.VideoFrame, width: int, height: int,
                reformatter: Optional[VideoReformatter] = None) -> np.ndarray:
  """The frame as RGB uint8 ``[height, width, 3]``, turned upright when the
  stream carries display rotation (phone footage), resized once.

  Pass one ``reformatter`` for all the frames of a stream: it keeps its
  swscale context, which costs more to set up than to scale one frame.
  """
  rotation = int(getattr(frame, 'rotation', 0) or 0)
  sideways = rotation % 180 != 0
  reformatter = reformatter or VideoReformatter()
  image = reformatter.reformat(frame, width=height if sideways else width,
                               height=width if sideways else height,
                               format='rgb24',
                               interpolation='BILINEAR').to_ndarray()
  if rotation % 360:
    image = np.ascontiguousarray(np.rot90(image, k=rotation // 90))
  return image


def full_resolution_rgb(frame: av.VideoFrame,
                        reformatter: Optional[VideoReformatter] = None
                        ) -> np.ndarray:
  """The frame as decoded, in RGB uint8 (what vPDQ hashes)."""
  reformatter = reformatter or VideoReformatter()
  return reformatter.reformat(frame, format='rgb24').to_ndarray()


class FrameHasher:
  """Hashes the frames vPDQ picks in a decode pass (pass it as
  ``on_hash_pick``), at full resolution as vPDQ does, into ``hashes``: the
  ``frame_hashes`` rows of one video."""

  def __init__(self, video_id: str, uri: str, scan_id: str):
    self.hashes: List[hashing.FrameHash] = []
    self._video_id = video_id
    self._uri = uri
    self._scan_id = scan_id
    # One swscale context for all of a stream's picks.
    self._reformatter = VideoReformatter()

  def __call__(self, pick: hashing.HashPick) -> None:
    self.hashes.append(hashing.frame_hash(
        self._video_id, self._uri, self._scan_id, pick.time_ms,
        full_resolution_rgb(pick.frame, self._reformatter)))


def iter_samples(source: BinaryIO,
                 start_ms: int,
                 end_ms: int,
                 fps: float,
                 size: Tuple[int, int],
                 stats: Optional[DecodeStats] = None,
                 context_samples: int = 0,
                 max_pixels: Optional[int] = None,
                 max_frames: Optional[int] = None,
                 on_hash_pick: Optional[Callable[[hashing.HashPick], None]] = None,
                 seconds_per_hash: float = hashing.DEFAULT_SECONDS_PER_HASH,
                 mode: str = EXACT,
                 keyframe_interval_ms: Optional[float] = None,
                 threads: int = 0,
                 hash_fidelity: str = EXACT,
                 max_seconds: Optional[float] = None,
                 audio: Optional[media_audio.AudioRequest] = None,
                 frames: bool = True
                 ) -> Iterator[Sample]:
  """Decodes the grid samples in ``[start_ms, end_ms)`` from ``source``.

  Args:
    source: a seekable binary file object (see ``storage.open_media``).
    start_ms, end_ms: the time range, from the start of the video stream.
    fps: samples per second on the video's global sample grid.
    size: ``(width, height)`` each sample is resized to.
    stats: filled in with decode counts and any error that ended decoding.
    context_samples: also yield this many grid samples before ``start_ms``,
      marked ``context`` (temporal models need the frames leading up to a
      segment).
    max_pixels: refuse streams whose header, or any of whose decoded
      frames, has more pixels than this (``frame_size``).
    max_frames: give up after reading this many frames (packets).
    max_seconds: give up (``timeout``) once decoding has taken this long.
    on_hash_pick: called, in the same decode pass, with each frame vPDQ
      would hash in ``[start_ms, end_ms)`` (full resolution, as decoded).
    seconds_per_hash: the vPDQ hashing interval.
    mode: a ``--sampling`` choice (see ``sampling.resolve_sampling``);
      ``AUTO`` is resolved here with ``keyframe_interval_ms``.
    keyframe_interval_ms: ``probe``'s measure; in ``KEYFRAMES`` mode a
      keyframe stands for this long, also when it is a segment's last.
    threads: decoder threads (0: one per core).
    hash_fidelity: with ``on_hash_pick``, ``EXACT`` decodes every frame
      (``mode`` then only matters without hashing), ``APPROXIMATE`` keeps
      ``mode``'s decode and hashes the first frame of each interval.
    audio: also cut an audio model's windows of ``[start_ms, end_ms)``
      from the same open container once the frames are done
      (``audio.cut_audio_windows``); the result lands in ``audio.track``.
    frames: False samples no frame (an audio-only scan): frames are then
      decoded only for ``on_hash_pick``.
  """
  stats = stats if stats is not None else DecodeStats()
  mode = sampling.decode_mode(mode, fps, keyframe_interval_ms,
                              hashing=on_hash_pick is not None,
                              hash_fidelity=hash_fidelity)
  indices = (sampling.sample_index_range(start_ms, end_ms, fps) if frames
             else range(0))
  if not indices and on_hash_pick is None and audio is None:
    return
  # A range without samples (a low --fps) may still hold frames to hash.
  first_in_range = indices.start
  if indices:
    indices = range(max(first_in_range - context_samples, 0), indices.stop)
  interval_ms = sampling.sample_interval_ms(fps)
  times = [index * interval_ms for index in indices]
  index_of = {t: i for t, i in zip(times, indices)}
  width, height = size
  with av.open(source, mode='r') as container:
    stream = select_video_stream(container)
    pixels = stream.codec_context.width * stream.codec_context.height
    if max_pixels is not None and pixels > max_pixels:
      raise media_errors.MediaError(
          media_errors.TOO_LARGE,
          f'{stream.codec_context.width}x{stream.codec_context.height} '
          f'exceeds the limit of {max_pixels} pixels per frame')
    configure_decoder(stream, mode, threads, max_pixels)
    origin_s = stream_start_seconds(stream)
    frames = _frames_from(container, stream, start_ms,
                          times[0] if times else start_ms, origin_s,
                          stats, keyframes_only=mode == KEYFRAMES,
                          max_pixels=max_pixels)
    if max_frames is not None or max_seconds is not None:
      frames = _limited(frames, stats, max_frames, max_seconds)
    if on_hash_pick is not None:
      rate = hashing.vpdq_frame_rate(
          float(stream.average_rate) if stream.average_rate else None,
          float(stream.base_rate) if stream.base_rate else None)
      # A decode from the start meets frame 0 first; a later segment looks
      # it up (one keyframe decoded).
      origin_ms = (None if start_ms <= 0 else
                   _first_frame_ms(container, stream, origin_s, max_pixels))
      frames = hashing.tap_vpdq_frames(
          frames, hashing.VpdqTimePicker(rate, seconds_per_hash, start_ms,
                                         end_ms, exact=mode == EXACT,
                                         origin_ms=origin_ms),
          on_hash_pick)
    converted_for: Optional[av.VideoFrame] = None
    image: Optional[np.ndarray] = None
    reformatter = VideoReformatter()
    hold_ms = keyframe_interval_ms if mode == KEYFRAMES else None
    for sample_ms, frame in sampling.pick_frames(
        frames, times, max_lead_ms=max(interval_ms, hold_ms or 0),
        last_frame_ms=hold_ms, nearest=mode != EXACT):
      frame_ms = (frame.time - origin_s) * 1000.0
      if sampling.shows_lost_frame(sample_ms, frame_ms, stats.lost_ms,
                                   nearest=mode != EXACT):
        # The frame on screen was lost: the one shown is not what the
        # sample time holds, so the sample is not scored (and lowers the
        # video's coverage) rather than standing in for unseen content.
        stats.samples_lost += 1
        continue
      if frame is not converted_for:
        image = upright_rgb(frame, width, height, reformatter)
        converted_for = frame
      index = index_of[sample_ms]
      yield Sample(index, sampling.sample_time_ms(index, fps), image,
                   frame_ms, context=index < first_in_range)
    if on_hash_pick is not None:
      # Sampling stops at its last sample; hashing reads on to the end.
      for frame_ms, _ in frames:
        if frame_ms >= end_ms:
          break
    if audio is not None:
      audio.track = media_audio.cut_audio_windows(
          container, origin_s, audio.grid, start_ms, end_ms, audio.stats)


def sample_frames(uri: str,
                  fps: float,
                  size: Tuple[int, int],
                  start_ms: int = 0,
                  end_ms: Optional[int] = None,
                  stats: Optional[DecodeStats] = None,
                  sampling_mode: str = EXACT,
                  max_pixels: Optional[int] = frame_size.DEFAULT_MAX_PIXELS
                  ) -> List[Sample]:
  """All grid samples of ``uri`` in a time range (the whole video by default).

  The convenience entry point for tools and training: it streams from any
  Beam filesystem through the same code the scan uses, ``sampling_mode``
  and the frame-size limit included.  Its default is what a scan with
  default flags decodes: a scan hashes, with exact fidelity, so it decodes
  every frame and samples as ``EXACT`` does (``sampling.decode_mode``); a
  model then trains on the pixels a default scan gives it.
  """
  stats = stats if stats is not None else DecodeStats()
  info = probe.probe_video(uri)
  if end_ms is None:
    end_ms = info.duration_ms
  reader = storage.open_media(uri)
  try:
    return list(iter_samples(
        reader, start_ms, end_ms, fps, size, stats, mode=sampling_mode,
        keyframe_interval_ms=info.keyframe_interval_ms,
        max_pixels=max_pixels))
  finally:
    stats.bytes_read += reader.bytes_read
    reader.close()
