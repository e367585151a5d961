"""Clip-level evaluation: what a reviewer would see from a scan.

Per-sample scores of each video go through the scan's own clip assembly
(``pipeline.scan.clips.assemble_clips``).  Then, per label:

* **interval recall**: the share of annotated intervals that some flagged
  clip of that label overlaps (any overlap counts);
* **false clips per hour**: clips that overlap no annotated interval of
  that label, per hour of video time not covered by that label's
  annotations.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from model.annotations import Annotation
from pipeline.media import sampling
from pipeline.scan.clips import ClipRules
from pipeline.scan.clips import ClipSpan
from pipeline.scan.clips import DEFAULT_MERGE_GAP_MS
from pipeline.scan.clips import assemble_clips
from pipeline.records import FrameScore

Interval = Tuple[float, float]  # [start_ms, end_ms)


@dataclasses.dataclass(frozen=True)
class VideoScores:
  """One video's sample times and scores, with its truth."""
  video: str
  duration_ms: int
  ts_ms: np.ndarray            # [N]
  scores: np.ndarray           # [N, C]
  annotations: Tuple[Annotation, ...]


@dataclasses.dataclass(frozen=True)
class ClipLevelStats:
  label: str
  intervals: int
  intervals_found: int
  clips: int
  false_clips: int
  negative_hours: float

  @property
  def interval_recall(self) -> Optional[float]:
    return self.intervals_found / self.intervals if self.intervals else None

  @property
  def false_clips_per_hour(self) -> Optional[float]:
    if not self.negative_hours:
      return None
    return self.false_clips / self.negative_hours

  def as_dict(self) -> Dict:
    return {**dataclasses.asdict(self),
            'interval_recall': self.interval_recall,
            'false_clips_per_hour': self.false_clips_per_hour}


def _overlaps(a: Interval, b: Interval) -> bool:
  return a[0] < b[1] and b[0] < a[1]


def covered_ms(intervals: Sequence[Interval], duration_ms: float) -> float:
  """Length of the union of intervals, clipped to ``[0, duration_ms)``."""
  total, reach = 0.0, 0.0
  for start, end in sorted(intervals):
    start, end = max(start, reach, 0.0), min(end, duration_ms)
    if end > start:
      total += end - start
      reach = end
  return total


def video_clips(video: VideoScores, labels: Sequence[str],
                rules: ClipRules) -> List[ClipSpan]:
  """The clips a scan would flag in this video."""
  samples = [FrameScore(int(t), tuple(float(s) for s in row))
             for t, row in zip(video.ts_ms, video.scores)]
  return assemble_clips(samples, labels, rules, video.duration_ms)


def _label_stats(video: VideoScores, label: str,
                 clips: Sequence[ClipSpan]) -> ClipLevelStats:
  """One video's counts for one label."""
  truth = [(a.start_s * 1000.0, a.end_s * 1000.0)
           for a in video.annotations if a.label == label]
  flagged = [(c.start_ms, c.end_ms) for c in clips if c.label == label]
  return ClipLevelStats(
      label=label, intervals=len(truth),
      intervals_found=sum(any(_overlaps(t, c) for c in flagged)
                          for t in truth),
      clips=len(flagged),
      false_clips=sum(not any(_overlaps(c, t) for t in truth)
                      for c in flagged),
      negative_hours=(video.duration_ms - covered_ms(
          truth, video.duration_ms)) / 3_600_000.0)


def _sum(a: ClipLevelStats, b: ClipLevelStats) -> ClipLevelStats:
  return ClipLevelStats(a.label, a.intervals + b.intervals,
                        a.intervals_found + b.intervals_found,
                        a.clips + b.clips, a.false_clips + b.false_clips,
                        a.negative_hours + b.negative_hours)


def clip_level_stats(videos: Sequence[VideoScores], labels: Sequence[str],
                     threshold: float, fps: float,
                     merge_gap_ms: float = DEFAULT_MERGE_GAP_MS,
                     min_clip_ms: float = 0.0) -> List[ClipLevelStats]:
  """Interval recall and false clips per label, over all videos.

  Args:
    videos: scored videos.
    labels: label names, one per score column.
    threshold: the scan threshold.
    fps: the sampling rate the scores were made at.
    merge_gap_ms, min_clip_ms: the scan's clip rules (its defaults here).
  """
  rules = ClipRules(threshold=threshold,
                    sample_interval_ms=sampling.sample_interval_ms(fps),
                    merge_gap_ms=merge_gap_ms, min_clip_ms=min_clip_ms)
  return clip_level_stats_by_rules(videos, labels, rules)


def clip_level_stats_by_rules(videos: Sequence[VideoScores],
                              labels: Sequence[str],
                              rules: ClipRules) -> List[ClipLevelStats]:
  """``clip_level_stats`` under given clip rules (an audio model's)."""
  totals = {label: ClipLevelStats(label, 0, 0, 0, 0, 0.0) for label in labels}
  for video in videos:
    clips = video_clips(video, labels, rules)
    for label in labels:
      totals[label] = _sum(totals[label], _label_stats(video, label, clips))
  return [totals[label] for label in labels]
