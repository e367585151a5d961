"""Sliding windows of consecutive samples, for models with ``window`` T > 1.

A window ends at its sample: it holds the T samples up to and including it,
so a clip built from window scores keeps the time of its last frame.  Near
the start of a video, where fewer than T samples exist, the earliest sample
is repeated.
"""
from __future__ import annotations

import collections
from typing import Deque, Iterable, Iterator, Tuple

import numpy as np

from pipeline.media.decode import Sample


def sliding_windows(samples: Iterable[Sample], window: int
                    ) -> Iterator[Tuple[Sample, np.ndarray]]:
  """Yields ``(sample, frames[T, H, W, 3])`` for every sample that is not
  ``context``; context samples (before a segment's range) only fill the
  first windows."""
  if window < 1:
    raise ValueError(f'window must be >= 1, got {window}')
  recent: Deque[np.ndarray] = collections.deque(maxlen=window)
  for sample in samples:
    recent.append(sample.image)
    if sample.context:
      continue
    frames = list(recent)
    frames = [frames[0]] * (window - len(frames)) + frames
    yield sample, np.stack(frames)
