"""Broken and non-video uploads, for the demo and the tests.

Each writer makes one kind of input a re-scan must record as ``failed``
without stopping: an empty file, random bytes, text named ``.mp4``, an
audio-only file and a video truncated beyond repair.
"""
from __future__ import annotations

import os
from typing import Dict

import av
import numpy as np

from model.synthetic_video import mux
from model.synthetic_video import render_frame


def write_empty(path: str) -> str:
  with open(path, 'wb'):
    pass
  return path


def write_random_bytes(path: str, size: int = 64 * 1024, seed: int = 0) -> str:
  with open(path, 'wb') as f:
    f.write(np.random.default_rng(seed).bytes(size))
  return path


def write_text(path: str) -> str:
  with open(path, 'w', encoding='utf-8') as f:
    f.write('This is a text file with a video extension.\n' * 50)
  return path


def write_audio_only(path: str, seconds: float = 2.0) -> str:
  """An MP4 holding one AAC stream and no video."""
  rate = 44100
  with av.open(path, mode='w', format='mp4') as out:
    stream = out.add_stream('aac', rate=rate)
    samples = int(seconds * rate)
    tone = (np.sin(np.arange(samples) * 2 * np.pi * 440 / rate) * 0.2)
    chunk = 1024
    for offset in range(0, samples, chunk):
      block = tone[offset:offset + chunk].astype(np.float32)[np.newaxis, :]
      frame = av.AudioFrame.from_ndarray(block, format='fltp', layout='mono')
      frame.sample_rate = rate
      frame.pts = offset
      mux(out, stream, frame)
    mux(out, stream, None)
  return path


def write_truncated(path: str, source: str, keep_fraction: float = 0.2) -> str:
  """The first ``keep_fraction`` of ``source``; an MP4 written without
  faststart loses its index (``moov`` sits at the end) and cannot be read."""
  with open(source, 'rb') as src:
    data = src.read()
  with open(path, 'wb') as dst:
    dst.write(data[:max(int(len(data) * keep_fraction), 1)])
  return path


def write_broken_set(folder: str, reference_mp4: str) -> Dict[str, str]:
  """One file of each broken kind; returns {kind: path}."""
  os.makedirs(folder, exist_ok=True)
  join = lambda name: os.path.join(folder, name)  # pylint: disable=unnecessary-lambda-assignment
  return {
      'empty': write_empty(join('zero_bytes.mp4')),
      'random': write_random_bytes(join('random_bytes.mp4')),
      'text': write_text(join('text_named.mp4')),
      'audio_only': write_audio_only(join('audio_only.mp4')),
      'truncated': write_truncated(join('truncated.mp4'), reference_mp4),
  }


def write_image_as_mp4(path: str) -> str:
  """A PNG picture saved under a video name."""
  from PIL import Image  # pylint: disable=import-outside-toplevel
  Image.new('RGB', (64, 48), (200, 30, 30)).save(path, format='PNG')
  return path


def write_truncated_at(path: str, source: str, fraction: float) -> str:
  return write_truncated(path, source, keep_fraction=fraction)


def write_bit_flips(path: str, source: str, start_fraction: float = 0.4,
                    end_fraction: float = 0.5, flips: int = 400,
                    seed: int = 0) -> str:
  """``source`` with random bits flipped in a middle stretch of its bytes:
  packets there are damaged, the container index stays intact."""
  with open(source, 'rb') as src:
    data = bytearray(src.read())
  rng = np.random.default_rng(seed)
  low, high = int(len(data) * start_fraction), int(len(data) * end_fraction)
  for offset in rng.integers(low, high, flips):
    data[offset] ^= 1 << int(rng.integers(0, 8))
  with open(path, 'wb') as dst:
    dst.write(bytes(data))
  return path


def write_two_video_streams(path: str, seconds: float, default_index: int,
                            events_per_stream, size=(160, 120),
                            fps: float = 10.0) -> str:
  """An MKV with two video streams; ``default_index`` carries the default
  disposition.  ``events_per_stream`` gives each stream's planted events."""
  with av.open(path, mode='w', format='matroska') as out:
    streams = []
    for index in range(2):
      stream = out.add_stream('libx264', rate=int(fps),
                              options={'preset': 'ultrafast'})
      stream.width, stream.height, stream.pix_fmt = size[0], size[1], 'yuv420p'
      stream.disposition = (av.stream.Disposition.default
                            if index == default_index else 0)
      streams.append(stream)
    for i in range(int(seconds * fps)):
      for index, stream in enumerate(streams):
        frame = av.VideoFrame.from_ndarray(
            render_frame(i / fps, size[0], size[1], events_per_stream[index],
                         seed=index), format='rgb24')
        frame.pts = i
        mux(out, stream, frame)
    for stream in streams:
      mux(out, stream, None)
  return path


def write_encoded(path: str, seconds: float, encoder: str, container: str,
                  size, pix_fmt: str, events=(), fps: float = 10.0,
                  options=None, interlaced: bool = False) -> str:
  """A video in an unusual format: odd sizes, 10-bit, interlaced."""
  with av.open(path, mode='w', format=container) as out:
    stream = out.add_stream(encoder, rate=int(fps), options=dict(options or {}))
    stream.width, stream.height, stream.pix_fmt = size[0], size[1], pix_fmt
    if interlaced:
      stream.codec_context.flags |= av.codec.context.Flags.interlaced_dct
      stream.codec_context.flags |= av.codec.context.Flags.interlaced_me
    for i in range(int(seconds * fps)):
      frame = av.VideoFrame.from_ndarray(
          render_frame(i / fps, size[0], size[1], events), format='rgb24')
      frame = frame.reformat(format=pix_fmt)
      frame.pts = i
      mux(out, stream, frame)
    mux(out, stream, None)
  return path


_ROTATION_MATRICES = {
    # tkhd display matrices (a, b, u, c, d, v, x, y, w), 16.16 fixed point.
    90: (0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000),
    180: (-0x10000, 0, 0, 0, -0x10000, 0, 0, 0, 0x40000000),
    270: (0, -0x10000, 0, 0x10000, 0, 0, 0, 0, 0x40000000),
}


def _set_display_matrix(path: str, rotation: int) -> None:
  """Writes a rotation into the MP4 track header, as phone cameras do."""
  import struct  # pylint: disable=import-outside-toplevel
  with open(path, 'rb') as f:
    data = bytearray(f.read())
  at = data.find(b'tkhd')
  version = data[at + 4]
  offset = at + 8 + (20 if version == 0 else 32) + 16
  data[offset:offset + 36] = struct.pack('>9i', *_ROTATION_MATRICES[rotation])
  with open(path, 'wb') as f:
    f.write(bytes(data))


def write_rotated(path: str, seconds: float, rotation: int, events=(),
                  size=(160, 96), fps: float = 10.0) -> str:
  """An MP4 whose frames are stored turned by ``rotation`` degrees (90,
  180, 270) with display-matrix metadata saying so, as phones record."""
  width, height = size
  with av.open(path, mode='w', format='mp4') as out:
    stream = out.add_stream('libx264', rate=int(fps),
                            options={'preset': 'ultrafast'})
    # Stored frames are the upright picture turned by -rotation degrees.
    stored = (height, width) if rotation % 180 else (width, height)
    stream.width, stream.height, stream.pix_fmt = stored[0], stored[1], 'yuv420p'
    for i in range(int(seconds * fps)):
      upright = render_frame(i / fps, width, height, events)
      turned = np.ascontiguousarray(np.rot90(upright, k=rotation // 90))
      frame = av.VideoFrame.from_ndarray(turned, format='rgb24')
      frame.pts = i
      mux(out, stream, frame)
    mux(out, stream, None)
  _set_display_matrix(path, rotation)
  return path


def write_huge_frame(path: str, width: int = 8200, height: int = 4400) -> str:
  """One black frame with absurd dimensions (beyond the default 8K limit)."""
  with av.open(path, mode='w', format='mp4') as out:
    stream = out.add_stream('libx264', rate=1, options={'preset': 'ultrafast'})
    stream.width, stream.height, stream.pix_fmt = width, height, 'yuv420p'
    frame = av.VideoFrame(width, height, 'yuv420p')
    for plane in frame.planes:
      plane.update(bytes(plane.buffer_size))
    frame.pts = 0
    mux(out, stream, frame)
    mux(out, stream, None)
  return path


def write_frame_flood(path: str, seconds: float = 20.0, fps: int = 1000) -> str:
  """A decompression-bomb-like stream: tiny frames at an absurd rate."""
  with av.open(path, mode='w', format='matroska') as out:
    stream = out.add_stream('libx264', rate=fps, options={'preset': 'ultrafast'})
    stream.width, stream.height, stream.pix_fmt = 16, 16, 'yuv420p'
    frame = av.VideoFrame(16, 16, 'yuv420p')
    for plane in frame.planes:
      plane.update(bytes(plane.buffer_size))
    for i in range(int(seconds * fps)):
      frame.pts = i
      mux(out, stream, frame)
    mux(out, stream, None)
  return path
