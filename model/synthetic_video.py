"""Real encoded videos with content planted at known times.

Used by the demo archive, the test suite and the benchmarks.  Frames are
rendered with numpy and encoded by the FFmpeg encoders bundled in PyAV's
wheels (libx264, libx265, libvpx-vp9, SVT-AV1, mpeg4), so every file is a
genuine H.264/HEVC/VP9/AV1/MPEG-4 stream in a real container.  A
soundtrack (``AudioTrack``, e.g. from ``synthetic_audio``) is encoded
beside the frames by the container's usual audio codec: AAC in MP4, Opus
in WebM and Matroska, MP3 in AVI.
"""
from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import Dict, Iterable, NamedTuple, Optional, Sequence, Tuple, Union

import av
import numpy as np

# Colours of planted markers, by label (RGB).  Backgrounds never contain
# saturated red or green, so a colour detector finds exactly the markers.
MARKER_COLOURS: Dict[str, Tuple[int, int, int]] = {
    'red_marker': (235, 20, 25),
    'green_marker': (20, 225, 30),
}


@dataclasses.dataclass(frozen=True)
class Codec:
  """An encoder, its container, and encoder options that keep it quick."""
  encoder: str
  container: str
  extension: str
  options: Tuple[Tuple[str, str], ...] = ()
  pix_fmt: str = 'yuv420p'
  audio_encoder: str = 'aac'


CODECS: Dict[str, Codec] = {
    'h264': Codec('libx264', 'mp4', '.mp4', (('preset', 'ultrafast'),)),
    'hevc': Codec('libx265', 'matroska', '.mkv',
                  (('preset', 'ultrafast'), ('x265-params', 'log-level=error')),
                  audio_encoder='libopus'),
    'vp9': Codec('libvpx-vp9', 'webm', '.webm',
                 (('deadline', 'realtime'), ('cpu-used', '8')),
                 audio_encoder='libopus'),
    'av1': Codec('libsvtav1', 'mp4', '.mp4', (('preset', '12'),)),
    'mpeg4': Codec('mpeg4', 'avi', '.avi', (('qscale', '4'),),
                   audio_encoder='libmp3lame'),
}


# Audio is encoded at this rate (Opus takes nothing else; AAC and MP3
# take it too) from a soundtrack at any rate.
AUDIO_RATE = 48_000


class AudioTrack(NamedTuple):
  """Mono float32 samples in ``[-1, 1]`` at ``sample_rate``, written as
  ``layout`` (``mono``, or ``stereo`` with both channels alike)."""
  samples: np.ndarray
  sample_rate: int
  layout: str = 'mono'


class _AudioEncoder:
  """Encodes an ``AudioTrack`` into a stream of ``out`` in pieces, so it
  interleaves with the video by time."""

  def __init__(self, out, encoder: str, track: AudioTrack):
    self._out = out
    self.stream = out.add_stream(encoder, rate=AUDIO_RATE, layout=track.layout)
    self._frame_size = self.stream.codec_context.frame_size or 1024
    self._resampler = av.AudioResampler(
        format=self.stream.codec_context.format.name, layout=track.layout,
        rate=AUDIO_RATE, frame_size=self._frame_size)
    self._track = track
    self._channels = 2 if track.layout == 'stereo' else 1
    self._at = 0     # source samples written

  def write_until(self, seconds: float) -> None:
    """Encodes the soundtrack up to ``seconds`` (all of it: ``inf``)."""
    total = len(self._track.samples)
    stop = total if seconds == float('inf') else min(
        int(seconds * self._track.sample_rate), total)
    while self._at < stop:
      n = min(self._frame_size * 4, stop - self._at)
      data = np.ascontiguousarray(np.tile(
          self._track.samples[self._at:self._at + n], (self._channels, 1)),
                                  np.float32)
      frame = av.AudioFrame.from_ndarray(data, format='fltp',
                                         layout=self._track.layout)
      frame.sample_rate = self._track.sample_rate
      frame.pts = self._at
      frame.time_base = Fraction(1, self._track.sample_rate)
      for piece in self._resampler.resample(frame):
        self._encode(piece)
      self._at += n

  def _encode(self, frame) -> None:
    for packet in self.stream.encode(frame):
      self._out.mux(packet)

  def close(self) -> None:
    self.write_until(float('inf'))
    for piece in self._resampler.resample(None):
      self._encode(piece)
    self._encode(None)


@dataclasses.dataclass(frozen=True)
class PlantedEvent:
  """A marker of ``label`` on screen during ``[start_s, end_s)``."""
  label: str
  start_s: float
  end_s: float

  def active(self, t: float) -> bool:
    return self.start_s <= t < self.end_s


def render_frame(t: float, width: int, height: int,
                 events: Sequence[PlantedEvent] = (), seed: int = 0,
                 marker_fraction: float = 0.3,
                 noise: float = 0.0) -> np.ndarray:
  """One RGB frame at time ``t``: a moving bluish scene plus active markers.

  ``noise`` (0..1) adds per-frame grain, which makes files large and hard to
  compress, as camera footage is.
  """
  rng = np.random.default_rng(seed)
  phase = rng.uniform(0, 2 * np.pi)
  ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
  wave = np.sin(xs / max(width, 1) * 6.0 + t * 1.7 + phase)
  wave2 = np.cos(ys / max(height, 1) * 4.0 - t * 1.1 + phase)
  frame = np.empty((height, width, 3), np.uint8)
  frame[..., 0] = (70 + 30 * wave).astype(np.uint8)
  frame[..., 1] = (90 + 30 * wave2).astype(np.uint8)
  frame[..., 2] = (150 + 40 * wave * wave2).astype(np.uint8)
  # A moving grey block gives the encoder real motion to code.
  bw, bh = max(width // 6, 2), max(height // 6, 2)
  bx = int((np.sin(t * 0.9 + phase) * 0.5 + 0.5) * (width - bw))
  by = int((np.cos(t * 0.7 + phase) * 0.5 + 0.5) * (height - bh))
  frame[by:by + bh, bx:bx + bw] = (128, 128, 128)
  if noise > 0:
    grain = np.random.default_rng([seed, int(t * 1000)]).integers(
        0, int(60 * noise) + 1, frame.shape, np.uint8)
    frame = frame + grain  # the scene's channels stay below 196
  for event in events:
    if event.active(t):
      side_w = int(width * np.sqrt(marker_fraction))
      side_h = int(height * np.sqrt(marker_fraction))
      x0 = (width - side_w) // 2 + int(np.sin(t) * width * 0.1)
      y0 = (height - side_h) // 2
      frame[y0:y0 + side_h, x0:x0 + side_w] = MARKER_COLOURS[event.label]
  return frame


def mux(out, stream, frame) -> None:
  """Encodes one frame (``None`` flushes the encoder) and muxes its packets."""
  for packet in stream.encode(frame):
    out.mux(packet)


def constant_frame_times(duration_s: float, fps: float) -> Sequence[float]:
  """Frame times ``i / fps`` of a constant-frame-rate video."""
  return [i / fps for i in range(int(round(duration_s * fps)))]


def encode_frames(path: str,
                  frames: Iterable[np.ndarray],
                  codec: Union[str, Codec] = 'h264',
                  fps: float = 10.0,
                  size: Tuple[int, int] = (160, 120),
                  frame_times_s: Optional[Sequence[float]] = None,
                  gop_seconds: float = 2.0,
                  container_format: Optional[str] = None,
                  keyframes_s: Optional[Sequence[float]] = None,
                  audio: Optional[AudioTrack] = None) -> str:
  """Encodes RGB uint8 frames ``[H, W, 3]`` and returns the file's path.

  With ``audio``, the soundtrack is encoded too (the codec's
  ``audio_encoder``), from time 0, interleaved with the frames by time.

  With ``keyframes_s``, the frames presented first at or after each of
  these times are forced keyframes and the encoder places none of its own
  (no GOP, no scene cuts: H.264 only), instead of one every
  ``gop_seconds``.

  Frame ``i`` is presented at ``i / fps``, or, given ``frame_times_s``, at
  ``frame_times_s[i]`` (a variable frame rate; ``fps`` then only sets the
  encoder's nominal rate).  ``codec`` is a key of ``CODECS`` or a
  ``Codec``; ``size`` is ``(width, height)``.
  """
  spec = codec if isinstance(codec, Codec) else CODECS[codec]
  width, height = size
  time_base = Fraction(1, 1000)
  variable = frame_times_s is not None
  if variable and spec.container == 'avi':
    raise ValueError('AVI cannot carry variable frame rate timestamps')
  with av.open(path, mode='w', format=container_format or spec.container) as out:
    options = dict(spec.options)
    if keyframes_s is not None and spec.encoder == 'libx264':
      options['x264-params'] = ':'.join(
          filter(None, (options.get('x264-params'), 'scenecut=0')))
    stream = out.add_stream(spec.encoder, rate=Fraction(fps).limit_denominator(1000),
                            options=options)
    stream.width, stream.height, stream.pix_fmt = width, height, spec.pix_fmt
    stream.codec_context.gop_size = (
        max(int(gop_seconds * fps), 1) if keyframes_s is None else 1 << 20)
    pending = sorted(keyframes_s or ())
    if variable:
      stream.codec_context.time_base = time_base
      stream.time_base = time_base
    sound = (None if audio is None else
             _AudioEncoder(out, spec.audio_encoder, audio))
    for i, rgb in enumerate(frames):
      frame = av.VideoFrame.from_ndarray(rgb, format='rgb24')
      if variable:
        frame.pts = int(round(frame_times_s[i] * 1000))
        frame.time_base = time_base
      else:
        frame.pts = i
      t = frame_times_s[i] if variable else i / fps
      if sound is not None:
        sound.write_until(t)
      if pending and t >= pending[0] - 1e-9:
        frame.pict_type = av.video.frame.PictureType.I
        while pending and t >= pending[0] - 1e-9:
          pending.pop(0)
      mux(out, stream, frame)
    mux(out, stream, None)
    if sound is not None:
      sound.close()
  return path


def write_video(path: str,
                duration_s: float,
                codec: str = 'h264',
                fps: float = 10.0,
                size: Tuple[int, int] = (160, 120),
                events: Sequence[PlantedEvent] = (),
                seed: int = 0,
                frame_times_s: Optional[Sequence[float]] = None,
                gop_seconds: float = 2.0,
                container_format: Optional[str] = None,
                noise: float = 0.0,
                keyframes_s: Optional[Sequence[float]] = None) -> str:
  """Encodes a video of ``render_frame`` frames and returns its path.

  Args:
    path: where to write (local path).
    duration_s: length in seconds.
    codec: a key of ``CODECS``.
    fps: frame rate of a constant-frame-rate video.
    size: ``(width, height)``.
    events: planted markers.
    seed: varies the background.
    frame_times_s: explicit presentation times for a variable-frame-rate
      video (then ``fps`` only sets the encoder's nominal rate).
    gop_seconds: keyframe interval.
    keyframes_s: force keyframes at these times instead (``encode_frames``).
    container_format: overrides the codec's default container.
    noise: grain added to every frame (see ``render_frame``).
  """
  width, height = size
  times = (constant_frame_times(duration_s, fps) if frame_times_s is None
           else frame_times_s)
  frames = (render_frame(t, width, height, events, seed, noise=noise)
            for t in times)
  return encode_frames(path, frames, codec, fps, size, frame_times_s,
                       gop_seconds, container_format, keyframes_s)


def variable_frame_times(duration_s: float, seed: int = 0,
                         min_gap_s: float = 0.02,
                         max_gap_s: float = 0.25) -> Sequence[float]:
  """Irregular, strictly rising frame times covering ``[0, duration_s)``."""
  rng = np.random.default_rng(seed)
  times, t = [], 0.0
  while t < duration_s:
    times.append(round(t, 3))
    t += float(rng.uniform(min_gap_s, max_gap_s))
  return times
