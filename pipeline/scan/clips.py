"""Clip assembly: per-frame scores of one video become flagged clips.

A pure function of a video's samples, so it is tested without Beam.  A clip
is a run of consecutive samples scoring at or above the threshold for one
label.  Runs separated by at most ``merge_gap_ms`` merge into one clip; clips
shorter than ``min_clip_ms`` are dropped.  Because it runs on all of a
video's samples at once, a run that crosses a segment boundary is one clip.
"""
from __future__ import annotations

import dataclasses
import hashlib
from typing import List, Optional, Sequence

import numpy as np

from pipeline.records import FrameScore

# Runs of positive samples at most this far apart merge into one clip (the
# scan's default --merge-gap-seconds).
DEFAULT_MERGE_GAP_MS = 1000.0


@dataclasses.dataclass(frozen=True)
class ClipSpan:
  """A flagged time range of one label, before it gets its identity."""
  label: str
  start_ms: int
  end_ms: int
  peak_ms: int
  peak_score: float
  mean_score: float
  frames: int


@dataclasses.dataclass(frozen=True)
class ClipRules:
  """What turns scores into clips: the threshold, the grid's sample
  interval, the merge rules, and how long a sample stands for
  (``span_ms``: the sample interval unless set; an audio window of
  ``window_seconds`` longer than its hop stands for its whole window)."""
  threshold: float
  sample_interval_ms: float
  merge_gap_ms: float = DEFAULT_MERGE_GAP_MS
  min_clip_ms: float = 0.0
  span_ms: Optional[float] = None

  @property
  def sample_span_ms(self) -> float:
    """How long one sample stands for: a clip ends this long after its
    last flagged sample, and the merge gap is measured from there."""
    return self.sample_interval_ms if self.span_ms is None else self.span_ms


def _runs(positive: np.ndarray) -> List[List[int]]:
  """``[first, last]`` index pairs of runs of ``True``."""
  runs: List[List[int]] = []
  for i in np.flatnonzero(positive):
    if runs and runs[-1][1] == i - 1:
      runs[-1][1] = int(i)
    else:
      runs.append([int(i), int(i)])
  return runs


def assemble_clips(samples: Sequence[FrameScore], labels: Sequence[str],
                   rules: ClipRules, duration_ms: int) -> List[ClipSpan]:
  """Builds the clips of one video.

  Args:
    samples: the video's scored samples, in any order.
    labels: label names, one per score column.
    rules: threshold, sample interval and merge rules.
    duration_ms: the video's duration; clip ends are clamped to it.

  Returns:
    Clips sorted by label order, then start time.
  """
  if not samples:
    return []
  ordered = sorted(samples, key=lambda s: s.ts_ms)
  times = np.array([s.ts_ms for s in ordered], np.int64)
  scores = np.array([s.scores for s in ordered], np.float64)
  if scores.ndim != 2 or scores.shape[1] != len(labels):
    raise ValueError(f'expected {len(labels)} scores per sample, got '
                     f'{scores.shape[1:]}')
  clips: List[ClipSpan] = []
  for column, label in enumerate(labels):
    column_scores = scores[:, column]
    runs = _runs(column_scores >= rules.threshold)
    merged: List[List[int]] = []
    for first, last in runs:
      if merged:
        previous_end = times[merged[-1][1]] + rules.sample_span_ms
        if times[first] - previous_end <= rules.merge_gap_ms:
          merged[-1][1] = last
          continue
      merged.append([first, last])
    for first, last in merged:
      start = int(times[first])
      end = int(min(times[last] + rules.sample_span_ms, duration_ms))
      end = max(end, start + 1)
      if end - start < rules.min_clip_ms:
        continue
      span = column_scores[first:last + 1]
      peak = first + int(np.argmax(span))
      clips.append(ClipSpan(label=label, start_ms=start, end_ms=end,
                            peak_ms=int(times[peak]),
                            peak_score=float(column_scores[peak]),
                            mean_score=float(span.mean()),
                            frames=last - first + 1))
  return clips


def clip_id(video_id: str, label: str, start_ms: int,
            model_version: str) -> str:
  """Deterministic id: the same clip found by the same model keeps its id."""
  key = '\x1f'.join([video_id, label, str(start_ms), model_version])
  return hashlib.sha256(key.encode('utf-8')).hexdigest()[:24]
