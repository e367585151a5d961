"""Train/validation split by video, never by frame.

Frames of one video are near-duplicates; a video with frames on both sides
would leak.  Videos with and without annotations are split separately so
both sides see positives, and the split depends only on the video names,
the fraction and the seed.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence, Tuple

import numpy as np


@dataclasses.dataclass(frozen=True)
class VideoSplit:
  train: Tuple[str, ...]
  validation: Tuple[str, ...]


def _take(videos: Sequence[str], fraction: float,
          rng: np.random.Generator) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
  ordered = sorted(videos)
  count = int(round(fraction * len(ordered)))
  picked = set(rng.permutation(len(ordered))[:count].tolist())
  validation = tuple(v for i, v in enumerate(ordered) if i in picked)
  train = tuple(v for i, v in enumerate(ordered) if i not in picked)
  return train, validation


def split_by_video(videos: Sequence[str], annotated: Sequence[str],
                   fraction: float, seed: int) -> VideoSplit:
  """Splits videos into training and validation.

  Args:
    videos: every video.
    annotated: the videos with at least one annotation.
    fraction: share of each group (annotated, not annotated) held out.
    seed: makes the split reproducible.
  """
  if not 0.0 <= fraction < 1.0:
    raise ValueError(f'validation fraction must be in [0, 1), got {fraction}')
  if len(set(videos)) != len(videos):
    raise ValueError('video names must be unique')
  rng = np.random.default_rng(seed)
  positive = set(annotated)
  groups = ([v for v in videos if v in positive],
            [v for v in videos if v not in positive])
  train, validation = [], []
  for group in groups:
    group_train, group_validation = _take(group, fraction, rng)
    train += group_train
    validation += group_validation
  if fraction > 0 and not validation and len(videos) > 1:
    # Too few videos per group to round to one: hold out one video.
    validation, train = [train[-1]], train[:-1]
  if not train:
    raise ValueError(f'no training video left with validation fraction '
                     f'{fraction} of {len(videos)} video(s)')
  split = VideoSplit(tuple(sorted(train)), tuple(sorted(validation)))
  assert not set(split.train) & set(split.validation), 'video on both sides'
  return split
