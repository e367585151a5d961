"""The broken and non-video uploads of ``rescan demo``'s archive.

Each writer makes one kind of input a re-scan must record as ``failed``
without stopping: an empty file, random bytes, text named ``.mp4``, an
audio-only file and a video truncated beyond repair.  The demo ships, so
these do; the tests' corpus uses the same set.
"""
from __future__ import annotations

import os
from typing import Dict

import av
import numpy as np

from model.synthetic_video import mux


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
