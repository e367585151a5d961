"""Labelled videos -> sampled frames, windows and multi-hot targets.

Frames come from ``pipeline.media.decode.sample_frames``, the scan's own decode
and sampling path, at the model's fps and input size; windows of temporal
models come from ``pipeline.media.windows.sliding_windows``.  So a model is
trained on exactly the pixels, sample times and windows a scan feeds it.

A sample at ``ts_ms`` is positive for label L when an annotation of L has
``start_s * 1000 <= ts_ms < end_s * 1000``.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from model.annotations import Annotation
from model.annotations import DataError
from model.annotations import LabelledVideos
from pipeline.media import decode
from pipeline.media import errors as media_errors
from pipeline.media import probe
from pipeline.media.decode import Sample
from pipeline.media.windows import sliding_windows


@dataclasses.dataclass(frozen=True)
class SampledVideos:
  """Every sample of some videos, ready to feed a model.

  ``frames`` holds each decoded sample once; a model input row is the
  window ``frames[windows[i]]`` (one frame when the window is 1).
  """
  videos: Tuple[str, ...]
  durations_ms: Tuple[int, ...]       # per video
  frames: np.ndarray                  # uint8 [M, H, W, 3]
  windows: np.ndarray                 # int64 [N, T], rows of ``frames``
  targets: np.ndarray                 # float32 [N, C] multi-hot
  video_index: np.ndarray             # int64 [N], into ``videos``
  ts_ms: np.ndarray                   # int64 [N]

  @property
  def window(self) -> int:
    return int(self.windows.shape[1])

  def __len__(self) -> int:
    return int(self.windows.shape[0])

  def inputs(self, rows: Optional[np.ndarray] = None) -> np.ndarray:
    """Model inputs: uint8 ``[n, H, W, 3]``, or ``[n, T, H, W, 3]``."""
    windows = self.windows if rows is None else self.windows[rows]
    gathered = self.frames[windows]
    return gathered[:, 0] if self.window == 1 else gathered

  def rows_of(self, videos: Sequence[str]) -> np.ndarray:
    """Row numbers of the samples of ``videos``."""
    names = set(videos)
    wanted = [i for i, v in enumerate(self.videos) if v in names]
    return np.flatnonzero(np.isin(self.video_index, wanted))


def sample_targets(ts_ms: Sequence[int], annotations: Sequence[Annotation],
                   labels: Sequence[str]) -> np.ndarray:
  """Multi-hot float32 ``[N, C]`` for sample times of one video."""
  targets = np.zeros((len(ts_ms), len(labels)), np.float32)
  column = {label: c for c, label in enumerate(labels)}
  times = np.asarray(ts_ms, np.float64)
  for annotation in annotations:
    if annotation.label not in column:
      continue
    inside = ((annotation.start_s * 1000.0 <= times) &
              (times < annotation.end_s * 1000.0))
    targets[inside, column[annotation.label]] = 1.0
  return targets


def window_rows(samples: Sequence[Sample], first_row: int,
                window: int) -> np.ndarray:
  """``[N, T]`` rows of the frames of each sample's window.

  The windows are built by ``pipeline.media.windows.sliding_windows`` (as the scan
  builds them) over stand-in samples whose image is the frame's row number,
  so they follow the scan's rule, padding included, without copying pixels.
  """
  stand_ins = [Sample(s.index, s.ts_ms, np.int64(first_row + i))
               for i, s in enumerate(samples)]
  rows = [frames for _, frames in sliding_windows(stand_ins, window)]
  return np.stack(rows).reshape(len(samples), window).astype(np.int64)


def sample_video(uri: str, fps: float,
                 size: Tuple[int, int]) -> Tuple[List[Sample], int]:
  """All grid samples of a video and its duration (ms), as the scan sees it."""
  duration_ms = probe.probe_video(uri).duration_ms
  return decode.sample_frames(uri, fps, size, 0, duration_ms), duration_ms


def sample_videos(data: LabelledVideos, fps: float, size: Tuple[int, int],
                  window: int = 1,
                  videos: Optional[Sequence[str]] = None,
                  progress: Optional[Callable[[str], None]] = None
                  ) -> SampledVideos:
  """Decodes every sample of ``videos`` (all of ``data`` by default).

  Args:
    data: the checked data set.
    fps: samples per second (the model's fps).
    size: ``(width, height)`` of the model input.
    window: samples per model input (the model's ``window``).
    videos: a subset of ``data.videos``.
    progress: called with one line per decoded video.
  """
  names = tuple(videos if videos is not None else data.videos)
  frames: List[np.ndarray] = []
  windows: List[np.ndarray] = []
  targets: List[np.ndarray] = []
  video_index: List[np.ndarray] = []
  times: List[np.ndarray] = []
  durations: List[int] = []
  for number, name in enumerate(names):
    try:
      samples, duration_ms = sample_video(data.uri(name), fps, size)
    except media_errors.MEDIA_EXCEPTIONS as exc:
      kind, message = media_errors.classify(exc)
      raise DataError(f'{name} cannot be decoded ({kind}): {message}; '
                      'remove it from the data folder') from exc
    durations.append(duration_ms)
    if not samples:
      continue
    ts_ms = [s.ts_ms for s in samples]
    windows.append(window_rows(samples, sum(len(f) for f in frames), window))
    frames.append(np.stack([s.image for s in samples]))
    targets.append(sample_targets(ts_ms, data.annotations_of(name),
                                  data.labels))
    video_index.append(np.full(len(samples), number, np.int64))
    times.append(np.asarray(ts_ms, np.int64))
    if progress:
      progress(f'  decoded {number + 1}/{len(names)} {name}: '
               f'{len(samples)} samples')
  width, height = size
  return SampledVideos(
      videos=names, durations_ms=tuple(durations),
      frames=(np.concatenate(frames) if frames else
              np.zeros((0, height, width, 3), np.uint8)),
      windows=(np.concatenate(windows) if windows else
               np.zeros((0, window), np.int64)),
      targets=(np.concatenate(targets) if targets else
               np.zeros((0, len(data.labels)), np.float32)),
      video_index=(np.concatenate(video_index) if video_index else
                   np.zeros(0, np.int64)),
      ts_ms=np.concatenate(times) if times else np.zeros(0, np.int64))
