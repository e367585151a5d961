"""Cutting flagged clips, with context, out of stored videos into small MP4s
(the library of ``rescan extract`` and of the review page's on-demand
extracts).

Each clip is cut from ``start - context`` to ``end + context`` (clamped to
the video), reading the source through ``storage.open_media`` (any Beam
filesystem, ranged reads, never a whole download):

- **copy** (H.264, HEVC, AV1, VP9): packets are remuxed without decoding,
  from the keyframe at or before the window's start to the window's end.
  The extract starts on that keyframe, so it may begin a little earlier.
- **transcode** (anything else, e.g. MPEG-4 Part 2 in AVI, or every clip
  with ``--transcode always`` for browsers without HEVC): frames are
  decoded from that keyframe and re-encoded to H.264 from exactly the
  window's start.

The soundtrack comes along (the stream an audio model hears,
``streams.select_audio_stream``): copied when the extract can carry its
codec as it is (MP4's codecs when stream-copying; AAC and MP3, what every
browser plays, when re-encoding to H.264), else re-encoded to AAC; dropped
only when it cannot be decoded.  An audio clip is judged by ear, so no
served or extracted form loses its sound.  Each
extract ``DIR/<clip_id>.mp4`` has a sidecar ``DIR/<clip_id>.json``
(``ExtractedClip``): ``source_offset_s`` is the source time (on the scan's
timeline, from the start of the video stream) at the extract's time zero,
so a clip's ``start_ms`` plays at ``start_ms / 1000 - source_offset_s``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import tempfile
from fractions import Fraction
from typing import Iterator, Optional, Sequence, Tuple

import av

from apache_beam.io.filesystems import FileSystems

from pipeline.media import decode
from pipeline.media import errors as media_errors
from pipeline.media import frame_size
from pipeline.storage import files as storage
from pipeline.media.streams import select_audio_stream
from pipeline.media.streams import select_video_stream
from pipeline.media.streams import stream_start_seconds
from pipeline.runtime.private import private_files

COPY = 'copy'
TRANSCODE = 'transcode'
TRANSCODE_POLICIES = ('auto', 'always')
# Video codecs remuxed into MP4 as they are (browsers play all but HEVC
# without hardware support; ``--transcode always`` covers those).
MP4_COPY_VIDEO_CODECS = frozenset({'h264', 'hevc', 'av1', 'vp9'})
MP4_COPY_AUDIO_CODECS = frozenset({'aac', 'mp3', 'ac3', 'eac3', 'opus',
                                   'flac', 'alac'})
TRANSCODE_ENCODER = 'libx264'
TRANSCODE_OPTIONS = {'preset': 'veryfast', 'crf': '23'}
TRANSCODE_MAX_HEIGHT = 1080
TRANSCODE_TIME_BASE = Fraction(1, 1000)
DEFAULT_CONTEXT_SECONDS = 2.0
# A seek that lands on a keyframe after the window's start is retried this
# much earlier, then from the beginning of the stream.
# Packets read at the start of an extract to find its first timestamp.
FIRST_PACKETS_TO_INSPECT = 32
# Audio codecs every browser plays in MP4: a transcoded (browser-playable)
# extract copies these and re-encodes any other to AAC.
BROWSER_AUDIO_CODECS = frozenset({'aac', 'mp3'})
AUDIO_ENCODER = 'aac'
AUDIO_BIT_RATE = 128_000
# Rates the AAC encoder takes; any other is resampled to the default.
AAC_RATES = frozenset({8000, 11025, 12000, 16000, 22050, 24000, 32000,
                       44100, 48000, 64000, 88200, 96000})
AAC_DEFAULT_RATE = 48000
AUDIO_COPIED, AUDIO_DROPPED, AUDIO_NONE = 'copied', 'dropped', 'none'
AUDIO_TRANSCODED = 'reencoded to aac'
# The clip ids an extract may be named after (see ``is_safe_clip_id``).
SAFE_CLIP_ID = re.compile(r'[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\Z')


@dataclasses.dataclass(frozen=True)
class ExtractRequest:
  """A clip to cut: where its video is and its time range on the scan's
  timeline (ms from the start of the video stream)."""
  clip_id: str
  video_uri: str
  clip_start_ms: int
  clip_end_ms: int
  duration_ms: Optional[int] = None


@dataclasses.dataclass(frozen=True)
class ExtractedClip:
  """One written extract; written beside it as ``<clip_id>.json``."""
  clip_id: str
  video_uri: str
  path: str
  method: str
  source_codec: str
  output_codec: str
  audio: str
  source_offset_s: float
  covered_start_s: float
  covered_end_s: float
  clip_start_ms: int
  clip_end_ms: int
  window_start_ms: int
  window_end_ms: int
  size_bytes: int
  source_size_bytes: int

  def clip_range_in_extract_s(self) -> Tuple[float, float]:
    """Where the clip itself plays in the extract (for ``#t=start,end``)."""
    return (max(self.clip_start_ms / 1000 - self.source_offset_s, 0.0),
            max(self.clip_end_ms / 1000 - self.source_offset_s, 0.0))


def context_window(start_ms: int, end_ms: int, context_ms: int,
                   duration_ms: Optional[int] = None) -> Tuple[int, int]:
  """``[start - context, end + context]``, clamped to ``[0, duration]``."""
  window_end = end_ms + context_ms
  if duration_ms:
    window_end = min(window_end, duration_ms)
  return max(start_ms - context_ms, 0), max(window_end, end_ms)


def is_safe_clip_id(clip_id: object) -> bool:
  """Whether ``clip_id`` has the form of a clip id, so that it can name a
  file in the output folder and nothing else: letters, digits, ``_``,
  ``-`` and ``.``, starting with a letter or digit, at most 128 (the scan
  writes 24 hex digits).  No separator, ``..``-only name, NUL, control or
  non-ASCII character can pass."""
  return isinstance(clip_id, str) and SAFE_CLIP_ID.match(clip_id) is not None


def _shown(clip_id: object) -> str:
  text = repr(clip_id)
  return text if len(text) <= 60 else text[:57] + '...'


def extract_paths(out_dir: str, clip_id: str) -> Tuple[str, str]:
  """The extract and its sidecar, both directly in ``out_dir``.  A clip
  id that could name a file elsewhere (``../../x``, ``/abs``, ``a\\b``,
  NUL, too long, non-ASCII) is refused: ``MediaError(forbidden_uri)``,
  which ``rescan extract`` reports as one line for that clip."""
  if not is_safe_clip_id(clip_id):
    raise media_errors.MediaError(
        media_errors.FORBIDDEN_URI,
        f'clip_id {_shown(clip_id)} is not a clip id (letters, digits, '
        '"_", "-", "." up to 128 characters); not extracted')
  base = f"{out_dir.rstrip('/')}/{clip_id}"
  return base + '.mp4', base + '.json'


def extract_method(codec: str, transcode: str = 'auto') -> str:
  if transcode == 'always' or codec not in MP4_COPY_VIDEO_CODECS:
    return TRANSCODE
  return COPY


def _packet_seconds(packet: av.Packet, origin_s: float) -> Optional[float]:
  """A packet's presentation time on the scan's timeline."""
  ts = packet.pts if packet.pts is not None else packet.dts
  return None if ts is None else float(ts * packet.time_base) - origin_s


def _packets_from_keyframe(container, streams: Sequence, video,
                           origin_s: float, start_s: float
                           ) -> Iterator[av.Packet]:
  """Packets of ``streams`` in demux order, from the video keyframe at or
  before ``start_s`` on (stepping back when a seek lands too late)."""
  backoffs_s = [b / 1000 for b in decode.SEEK_BACKOFF_MS]
  targets = sorted({max(start_s - b, 0.0) for b in backoffs_s} | {0.0},
                   reverse=True)
  for target in targets:
    container.seek(int((origin_s + target) / video.time_base), stream=video,
                   backward=True, any_frame=False)
    packets = container.demux(*streams)
    for packet in packets:
      if packet.stream.index != video.index or not packet.is_keyframe:
        continue
      keyframe_s = _packet_seconds(packet, origin_s)
      if keyframe_s is None:
        continue
      if keyframe_s > start_s + 1e-3 and target > 0.0:
        break  # landed after the start: step further back
      yield packet
      yield from packets
      return


def _is_empty(packet: av.Packet) -> bool:
  """The flush packets demuxing ends with carry no data and no time."""
  return packet.pts is None and packet.dts is None


class _AudioCopy:
  """The extract's soundtrack: the source audio stream's packets within
  the window, shifted to the extract's time zero, copied when their codec
  is in ``copy_codecs`` and otherwise decoded and re-encoded to AAC; or
  nothing when there is no audio (or it cannot be decoded)."""

  def __init__(self, out, source_audio, copy_codecs=MP4_COPY_AUDIO_CODECS):
    self.status = AUDIO_NONE
    self._stream = None
    self._source = source_audio
    self._resampler = None
    self._next_pts: Optional[int] = None
    if source_audio is None:
      return
    context = source_audio.codec_context
    if context is not None and context.codec.canonical_name in copy_codecs:
      self._stream = out.add_stream_from_template(source_audio, opaque=True)
      self.status = AUDIO_COPIED
      return
    if context is None or not context.sample_rate:
      self.status = AUDIO_DROPPED
      return
    rate = (context.sample_rate if context.sample_rate in AAC_RATES
            else AAC_DEFAULT_RATE)
    layout = 'stereo' if context.layout.nb_channels >= 2 else 'mono'
    self._stream = out.add_stream(AUDIO_ENCODER, rate=rate, layout=layout)
    self._stream.bit_rate = AUDIO_BIT_RATE
    self._rate = rate
    self._resampler = av.AudioResampler(
        format=self._stream.codec_context.format.name, layout=layout,
        rate=rate, frame_size=self._stream.codec_context.frame_size or 1024)
    self.status = AUDIO_TRANSCODED

  def owns(self, packet: av.Packet) -> bool:
    return (self._source is not None
            and packet.stream.index == self._source.index)

  def mux(self, out, packet: av.Packet, origin_s: float, zero_s: float,
          end_s: float) -> None:
    if self._stream is None or _is_empty(packet):
      return
    if self._resampler is not None:
      self._encode(out, packet, origin_s, zero_s, end_s)
      return
    t = _packet_seconds(packet, origin_s)
    if t is None or t < zero_s or t > end_s:
      return
    shift = int(round((origin_s + zero_s) / packet.time_base))
    packet.pts = None if packet.pts is None else packet.pts - shift
    packet.dts = None if packet.dts is None else packet.dts - shift
    packet.stream = self._stream
    out.mux(packet)

  def _encode(self, out, packet: av.Packet, origin_s: float, zero_s: float,
              end_s: float) -> None:
    try:
      frames = packet.decode()
    except (av.error.InvalidDataError, av.error.ArgumentError):
      return  # a damaged audio packet: the picture still comes
    for frame in frames:
      if frame.time is None:
        continue
      t = frame.time - origin_s
      if t < zero_s or t > end_s:
        continue
      if self._next_pts is None:
        self._next_pts = int(round((t - zero_s) * self._rate))
      frame.pts = None
      self._write(out, self._resampler.resample(frame))

  def _write(self, out, frames) -> None:
    for piece in frames:
      piece.pts = self._next_pts
      piece.time_base = Fraction(1, self._rate)
      self._next_pts += piece.samples
      for encoded in self._stream.encode(piece):
        out.mux(encoded)

  def finish(self, out) -> None:
    """Flushes the AAC encoder (a copied stream has nothing pending)."""
    if self._resampler is None:
      return
    if self._next_pts is not None:
      self._write(out, self._resampler.resample(None))
    for encoded in self._stream.encode(None):
      out.mux(encoded)


def _copy_video(out, packets: Iterator[av.Packet], video, audio: _AudioCopy,
                origin_s: float, end_s: float) -> Tuple[float, float]:
  """Remuxes video (and audio) packets from the first keyframe until the
  first video packet decoded after ``end_s``.  Returns the source time of
  the extract's time zero (the keyframe's) and the first time written."""
  stream = out.add_stream_from_template(video, opaque=True)
  zero_s: Optional[float] = None
  zero_ts = 0  # the keyframe's timestamp, in the stream's time base
  for packet in packets:
    if _is_empty(packet):
      continue
    if audio.owns(packet):
      if zero_s is not None:
        audio.mux(out, packet, origin_s, zero_s, end_s)
      continue
    if packet.stream.index != video.index:
      continue
    if zero_s is None:
      zero_s = _packet_seconds(packet, origin_s)
      zero_ts = packet.pts if packet.pts is not None else packet.dts
    if packet.dts is not None and (
        float(packet.dts * packet.time_base) - origin_s > end_s):
      break  # dts <= pts: every later packet shows after the window
    if packet.pts is not None and packet.pts < zero_ts:
      continue  # leading pictures of an open GOP refer to frames we lack
    packet.pts = None if packet.pts is None else packet.pts - zero_ts
    packet.dts = None if packet.dts is None else packet.dts - zero_ts
    packet.stream = stream
    out.mux(packet)
  if zero_s is None:
    raise media_errors.MediaError(media_errors.NO_FRAMES,
                                  'no keyframe in the clip window')
  return zero_s, 0.0


def _even(value: int) -> int:
  return max(value - value % 2, 2)


class _H264Writer:
  """Encodes the frames on screen during ``[start_s, end_s]`` to H.264,
  with times relative to ``start_s``: the frame showing at ``start_s``
  starts the extract, the first frame at or after ``end_s`` ends it."""

  def __init__(self, out, video, start_s: float, end_s: float):
    height = min(video.codec_context.height, TRANSCODE_MAX_HEIGHT)
    width = video.codec_context.width * height / video.codec_context.height
    rate = video.average_rate or video.guessed_rate or Fraction(30)
    self._out = out
    self._stream = out.add_stream(TRANSCODE_ENCODER,
                                  rate=Fraction(rate).limit_denominator(1000),
                                  options=dict(TRANSCODE_OPTIONS))
    self._stream.width, self._stream.height = _even(round(width)), _even(height)
    self._stream.pix_fmt = 'yuv420p'
    self._stream.time_base = TRANSCODE_TIME_BASE
    self._stream.codec_context.time_base = TRANSCODE_TIME_BASE
    self._start_s, self._end_s = start_s, end_s
    self._pending: Optional[av.VideoFrame] = None
    self._last_pts = -1
    self.first_s: Optional[float] = None
    self.done = False

  def add(self, frame: av.VideoFrame, t: float) -> None:
    if self.done:
      return
    if t <= self._start_s:
      self._pending = frame
      return
    self._flush_pending()
    self._encode(frame, t)
    self.done = t >= self._end_s

  def _flush_pending(self) -> None:
    if self._pending is not None:
      self._encode(self._pending, self._start_s)
      self._pending = None

  def _encode(self, frame: av.VideoFrame, t: float) -> None:
    pts = max(int(round((t - self._start_s) * 1000)), 0)
    if pts <= self._last_pts:
      return
    self._last_pts = pts
    if self.first_s is None:
      self.first_s = pts / 1000
    image = frame.reformat(width=self._stream.width,
                           height=self._stream.height, format='yuv420p')
    image.pts, image.time_base = pts, TRANSCODE_TIME_BASE
    for packet in self._stream.encode(image):
      self._out.mux(packet)

  def finish(self) -> None:
    self._flush_pending()
    for packet in self._stream.encode(None):
      self._out.mux(packet)


def _transcode_video(out, packets: Iterator[av.Packet], video,
                     audio: _AudioCopy, origin_s: float, start_s: float,
                     end_s: float) -> Tuple[float, float]:
  """Decodes from the keyframe and re-encodes the window to H.264.
  Returns the source time of the extract's time zero (``start_s``) and the
  first time written."""
  # Frames are held to the scan's default frame-size limit as the decoder
  # makes them, whatever the header said (``frame_size``), before they
  # are scaled.
  max_pixels = frame_size.DEFAULT_MAX_PIXELS
  context = video.codec_context
  frame_size.check_frame(context.width, context.height, max_pixels)
  context.options = frame_size.decoder_options(max_pixels)
  writer = _H264Writer(out, video, start_s, end_s)
  for packet in packets:
    if audio.owns(packet):
      audio.mux(out, packet, origin_s, start_s, end_s)
      continue
    if packet.stream.index != video.index:
      continue
    try:
      frames = packet.decode()
    except (av.error.InvalidDataError, av.error.ArgumentError) as exc:
      if frame_size.refused_for_size(exc, context.width, context.height,
                                     max_pixels):
        raise frame_size.refused_error(context.width, context.height,
                                       max_pixels) from exc
      continue  # a damaged packet: its neighbours still decode
    frame_size.check_frame(context.width, context.height, max_pixels)
    for frame in frames:
      frame_size.check_frame(frame.width, frame.height, max_pixels)
      if frame.time is not None:
        writer.add(frame, frame.time - origin_s)
    if writer.done:
      break
  else:
    for frame in video.codec_context.decode(None):
      frame_size.check_frame(frame.width, frame.height, max_pixels)
      if frame.time is not None:
        writer.add(frame, frame.time - origin_s)
  writer.finish()
  if writer.first_s is None:
    raise media_errors.MediaError(media_errors.NO_FRAMES,
                                  'no frame decoded in the clip window')
  return start_s, writer.first_s


def _video_span_s(path: str) -> Tuple[float, float]:
  """First presentation time and end of the last frame of a written
  extract, read back from its packets (no decoding)."""
  first: Optional[float] = None
  end = 0.0
  with av.open(path) as container:
    stream = container.streams.video[0]
    for index, packet in enumerate(container.demux(stream)):
      if _is_empty(packet) or packet.pts is None:
        continue
      t = float(packet.pts * packet.time_base)
      if index < FIRST_PACKETS_TO_INSPECT:
        first = t if first is None else min(first, t)
      end = max(end, t + float((packet.duration or 0) * packet.time_base))
  if first is None:
    raise media_errors.MediaError(media_errors.NO_FRAMES,
                                  'the extract has no video frames')
  return first, end


def _write_local(request: ExtractRequest, source_file: storage.FileIdentity,
                 local_path: str, window_s: Tuple[float, float],
                 transcode: str) -> dict:
  """Writes the extract to a local file; returns the sidecar's fields that
  depend on the source and on how it was cut.  The source opened is the
  identified file, still in the version identified."""
  start_s, end_s = window_s
  with storage.open_media(source_file.uri,
                          expected=source_file.version) as reader, \
      av.open(reader, mode='r') as source, \
      av.open(local_path, mode='w', format='mp4',
              options={'movflags': '+faststart'}) as out:
    video = select_video_stream(source)
    origin_s = stream_start_seconds(video)
    source_audio = select_audio_stream(source)
    codec = video.codec_context.codec.canonical_name
    method = extract_method(codec, transcode)
    audio = _AudioCopy(out, source_audio,
                       MP4_COPY_AUDIO_CODECS if method == COPY
                       else BROWSER_AUDIO_CODECS)
    streams = [video] + ([source_audio] if source_audio is not None else [])
    packets = _packets_from_keyframe(source, streams, video, origin_s,
                                     start_s)
    if method == COPY:
      zero_s, written_first_s = _copy_video(out, packets, video, audio,
                                            origin_s, end_s)
    else:
      zero_s, written_first_s = _transcode_video(
          out, packets, video, audio, origin_s, start_s, end_s)
    audio.finish(out)
  first_s, last_end_s = _video_span_s(local_path)
  # The muxer may shift every timestamp (e.g. to keep decode times
  # non-negative): measure where the extract's first frame landed.
  offset_s = zero_s - (first_s - written_first_s)
  return dict(method=method, source_codec=codec,
              output_codec=codec if method == COPY else 'h264',
              audio=audio.status, source_offset_s=round(offset_s, 6),
              covered_start_s=round(first_s + offset_s, 6),
              covered_end_s=round(last_end_s + offset_s, 6))


@private_files()
def extract_clip(request: ExtractRequest, out_dir: str,
                 context_seconds: float = DEFAULT_CONTEXT_SECONDS,
                 transcode: str = 'auto') -> ExtractedClip:
  """Cuts one clip with context into ``out_dir`` (any Beam filesystem)
  and writes its sidecar; returns what was written."""
  if transcode not in TRANSCODE_POLICIES:
    raise ValueError(f'transcode must be one of {TRANSCODE_POLICIES}')
  out_dir = storage.normalize_uri(out_dir)
  window_ms = context_window(request.clip_start_ms, request.clip_end_ms,
                             int(round(context_seconds * 1000)),
                             request.duration_ms)
  path, sidecar_path = extract_paths(out_dir, request.clip_id)
  source_file = storage.identify(request.video_uri)
  with tempfile.TemporaryDirectory(prefix='rescan-extract-') as scratch:
    local_path = os.path.join(scratch, request.clip_id + '.mp4')
    fields = _write_local(request, source_file, local_path,
                          (window_ms[0] / 1000, window_ms[1] / 1000),
                          transcode)
    extracted = ExtractedClip(
        clip_id=request.clip_id, video_uri=request.video_uri, path=path,
        clip_start_ms=request.clip_start_ms, clip_end_ms=request.clip_end_ms,
        window_start_ms=window_ms[0], window_end_ms=window_ms[1],
        size_bytes=os.path.getsize(local_path),
        source_size_bytes=source_file.version.size_bytes, **fields)
    _store(local_path, path)
  with FileSystems.create(sidecar_path, mime_type='application/json') as f:
    f.write(json.dumps(dataclasses.asdict(extracted), indent=2,
                       ensure_ascii=False).encode('utf-8'))
  return extracted


def _store(local_path: str, path: str) -> None:
  """Moves a finished local file to ``path`` on any filesystem."""
  if not storage.has_scheme(path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    shutil.move(local_path, path)
    return
  with open(local_path, 'rb') as source, FileSystems.create(
      path, mime_type='video/mp4') as target:
    shutil.copyfileobj(source, target)


def read_sidecar(out_dir: str, clip_id: str) -> Optional[ExtractedClip]:
  """The sidecar of an extract in ``out_dir``, or ``None`` if there is
  none (any Beam filesystem); there is none for a clip id that is not one
  (``is_safe_clip_id``)."""
  if not is_safe_clip_id(clip_id):
    return None
  _, sidecar_path = extract_paths(out_dir, clip_id)
  if not FileSystems.exists(sidecar_path):
    return None
  with FileSystems.open(sidecar_path, mime_type='application/json') as f:
    return ExtractedClip(**json.loads(f.read().decode('utf-8')))


def request_for(clip: dict, duration_ms: Optional[int] = None
                ) -> ExtractRequest:
  """The extract request of a ``flagged_clips`` row."""
  return ExtractRequest(clip['clip_id'], clip['video_uri'],
                        int(clip['start_ms']), int(clip['end_ms']),
                        duration_ms)
