"""The benchmark corpus: real encodes from 360p to 1080p, several codecs,
short and long GOPs, ten minutes in all, plus a 60-minute 1080p video.

Frames pan and shake over a textured scene with a moving object, so the
encoders code real motion at realistic bitrates.  Files are written once
under a cache folder and reused: the same names always hold the same
videos.  The 60-minute video is the 1-minute 1080p one remuxed sixty times
end to end (stream copy, timestamps shifted), so it costs seconds to make.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
from typing import Iterator, List, Tuple

import av
import numpy as np
from PIL import Image

from model.synthetic_video import Codec
from model.synthetic_video import encode_frames

# Encoder settings of typical uploads (B-frames, deblocking on), kept fast
# enough to encode on a small machine.
H264 = Codec('libx264', 'mp4', '.mp4', (('preset', 'veryfast'),))
HEVC = Codec('libx265', 'mp4', '.mp4',
             (('preset', 'ultrafast'), ('x265-params', 'log-level=error')))
VP9 = Codec('libvpx-vp9', 'webm', '.webm',
            (('deadline', 'realtime'), ('cpu-used', '8'), ('row-mt', '1')))


@dataclasses.dataclass(frozen=True)
class BenchVideo:
  """One corpus file."""
  name: str
  codec: Codec
  width: int
  height: int
  fps: float
  seconds: float
  gop_seconds: float

  @property
  def file_name(self) -> str:
    return self.name + self.codec.extension

  @property
  def resolution(self) -> str:
    return f'{self.height}p'


CORPUS: Tuple[BenchVideo, ...] = (
    BenchVideo('1080p_h264_gop2', H264, 1920, 1080, 30.0, 60.0, 2.0),
    BenchVideo('1080p_h264_gop10', H264, 1920, 1080, 30.0, 60.0, 10.0),
    BenchVideo('720p_hevc_gop2', HEVC, 1280, 720, 30.0, 90.0, 2.0),
    BenchVideo('720p_h264_gop5', H264, 1280, 720, 30.0, 90.0, 5.0),
    BenchVideo('480p_vp9_gop4', VP9, 854, 480, 30.0, 120.0, 4.0),
    BenchVideo('360p_h264_gop2', H264, 640, 360, 25.0, 180.0, 2.0),
)
# A 2-second video: a scan of it is all fixed cost (workers starting,
# TensorFlow importing, the model loading), which the scaling figure
# measures apart from the work that scales.
STARTUP_VIDEO = BenchVideo('startup_360p_h264', H264, 640, 360, 25.0, 2.0, 2.0)
# The 1-minute and 60-minute videos of the memory figure.
MINUTE_VIDEO = CORPUS[0]
HOUR_COPIES = 60

_PAN = 96      # pixels of texture beyond the frame on every side
_CELL = 24     # size of the texture's smooth features


def _texture(width: int, height: int, seed: int) -> np.ndarray:
  """A smooth colour texture with fine grain, larger than the frame."""
  rng = np.random.default_rng(seed)
  full = (width + 2 * _PAN, height + 2 * _PAN)
  coarse = rng.integers(0, 256, (full[1] // _CELL + 2, full[0] // _CELL + 2, 3),
                        dtype=np.uint8)
  smooth = np.asarray(Image.fromarray(coarse).resize(
      (coarse.shape[1] * _CELL, coarse.shape[0] * _CELL), Image.BICUBIC))
  smooth = smooth[:full[1], :full[0]].astype(np.int16)
  grain = rng.integers(-12, 13, smooth.shape, dtype=np.int16)
  return np.clip(smooth * 3 // 4 + 32 + grain, 0, 255).astype(np.uint8)


def scene_frames(video: BenchVideo, seed: int = 0) -> Iterator[np.ndarray]:
  """The video's RGB frames: a pan with camera shake and a moving block."""
  texture = _texture(video.width, video.height, seed)
  block_w, block_h = video.width // 8, video.height // 6
  for number in range(int(round(video.seconds * video.fps))):
    t = number / video.fps
    x = int(_PAN + _PAN * 0.9 * np.sin(t * 0.4) + 3 * np.sin(t * 7.0))
    y = int(_PAN + _PAN * 0.6 * np.cos(t * 0.3) + 3 * np.cos(t * 9.0))
    frame = texture[y:y + video.height, x:x + video.width].copy()
    bx = int((np.sin(t * 0.9) * 0.5 + 0.5) * (video.width - block_w))
    by = int((np.cos(t * 0.7) * 0.5 + 0.5) * (video.height - block_h))
    frame[by:by + block_h, bx:bx + block_w] = (40, 40, 48)
    yield frame


def write_bench_video(folder: str, video: BenchVideo) -> str:
  """Encodes ``video`` into ``folder`` unless it is there already."""
  path = os.path.join(folder, video.file_name)
  if not os.path.exists(path):
    partial = path + '.partial'
    encode_frames(partial, scene_frames(video), video.codec, video.fps,
                  (video.width, video.height), gop_seconds=video.gop_seconds,
                  container_format=video.codec.container)
    os.replace(partial, path)
  return path


def write_corpus(folder: str, log=print) -> List[str]:
  os.makedirs(folder, exist_ok=True)
  paths = []
  for video in CORPUS:
    if not os.path.exists(os.path.join(folder, video.file_name)):
      log(f'  encoding {video.file_name} ({video.seconds:.0f} s)')
    paths.append(write_bench_video(folder, video))
  return paths


def write_repeated(source: str, path: str, copies: int) -> str:
  """``copies`` copies of ``source`` end to end in one file, by stream
  copy with shifted timestamps (no re-encoding)."""
  if os.path.exists(path):
    return path
  partial = path + '.partial'
  with av.open(source) as first:
    stream = first.streams.video[0]
    step = None
    for packet in first.demux(stream):
      if packet.pts is not None:
        end = packet.pts + (packet.duration or 0)
        step = end if step is None else max(step, end)
  with av.open(partial, mode='w', format='mp4') as out:
    out_stream = None
    for copy in range(copies):
      with av.open(source) as src:
        in_stream = src.streams.video[0]
        if out_stream is None:
          out_stream = out.add_stream_from_template(in_stream)
        for packet in src.demux(in_stream):
          if packet.dts is None:
            continue
          packet.pts += copy * step
          packet.dts += copy * step
          packet.stream = out_stream
          out.mux(packet)
  os.replace(partial, path)
  return path


def write_hour_video(folder: str) -> Tuple[str, str]:
  """``(1-minute path, 60-minute path)`` of the memory figure."""
  minute = write_bench_video(folder, MINUTE_VIDEO)
  hour = os.path.join(folder, f'{MINUTE_VIDEO.name}_x{HOUR_COPIES}.mp4')
  return minute, write_repeated(minute, hour, HOUR_COPIES)


def copies(source: str, folder: str, count: int,
           stem: str = 'clip') -> List[str]:
  """``count`` copies of ``source`` in ``folder``, each its own file
  (``STEM00000.EXT``, ...): a corpus of many files of one cost."""
  extension = os.path.splitext(source)[1]
  paths = []
  for i in range(count):
    path = os.path.join(folder, f'{stem}{i:05d}{extension}')
    shutil.copyfile(source, path)
    paths.append(path)
  return paths
