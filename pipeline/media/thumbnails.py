"""Small JPEG thumbnails of sampled frames, made from frames already decoded."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

MAX_SIDE = 256
QUALITY = 80


def jpeg_thumbnail(frames: np.ndarray) -> bytes:
  """A JPEG of an RGB uint8 ``[H, W, 3]`` frame, or of the last frame of a
  ``[T, H, W, 3]`` window, at most ``MAX_SIDE`` pixels on its long side."""
  frame = frames[-1] if frames.ndim == 4 else frames
  image = Image.fromarray(frame, mode='RGB')
  image.thumbnail((MAX_SIDE, MAX_SIDE))
  buffer = io.BytesIO()
  image.save(buffer, format='JPEG', quality=QUALITY, optimize=True)
  return buffer.getvalue()
