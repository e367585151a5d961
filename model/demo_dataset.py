"""The demo data sets: first-person videos with and without a handgun.

    python -m model.demo_dataset --out .cache/demo_dataset/train --seed 7
        [--videos 200] [--min-seconds 4] [--max-seconds 6] [--fps 10]
        [--size 160x120] [--armed-share 0.6] [--no-hard-cases]

writes ``OUT/videos/*.mp4|webm|avi`` (real H.264, VP9 and MPEG-4 streams)
and ``OUT/annotations.csv`` in the toolkit's format with two labels:

* ``weapon``: the pistol silhouette is on screen;
* ``muzzle_flash``: the muzzle flash is on screen (2-3 frames per shot).

Scenes come from ``first_person_scene``.  About 60 % of the videos show
the pistol for part of their length; the others, and the rest of the time,
are negatives, some of them hard (a hand holding a phone or a flashlight,
lamps, a sunset).  The same seed writes the same videos.  It is a demo
data set, not footage of anything real.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import os
import sys
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from model import first_person_scene
from model import synthetic_video
from model.annotations import ANNOTATIONS_FILE

WEAPON, MUZZLE_FLASH = 'weapon', 'muzzle_flash'
LABELS = tuple(sorted((WEAPON, MUZZLE_FLASH)))   # as rescan train orders them
# Codec by video number: mostly H.264, some VP9/WebM and MPEG-4/AVI.
_CODEC_CYCLE = ('h264', 'h264', 'vp9', 'h264', 'h264', 'mpeg4')


@dataclasses.dataclass(frozen=True)
class DemoVideo:
  path: str            # relative to the data set folder
  codec: str           # a key of synthetic_video.CODECS
  seconds: float
  background: str
  held: str
  hard_cases: bool     # dim scenes and clutter allowed
  timeline: first_person_scene.Timeline


@dataclasses.dataclass(frozen=True)
class DemoDataset:
  root: str
  annotations: str
  videos: Tuple[DemoVideo, ...]


def write_scene_video(path: str, scene: first_person_scene.Scene,
                      timeline: first_person_scene.Timeline, seconds: float,
                      fps: float, codec: str = 'h264',
                      frame_times_s: Optional[Sequence[float]] = None,
                      audio: Optional[synthetic_video.AudioTrack] = None
                      ) -> str:
  """Renders ``scene`` under ``timeline`` and encodes it at ``scene``'s size.

  Frames are at ``i / fps`` for ``seconds``, or at ``frame_times_s`` (a
  variable frame rate, see ``synthetic_video.encode_frames``); ``audio``
  is a soundtrack to encode beside them.
  """
  times = (synthetic_video.constant_frame_times(seconds, fps)
           if frame_times_s is None else frame_times_s)
  frames = (first_person_scene.render_frame(scene, t, timeline, number)
            for number, t in enumerate(times))
  return synthetic_video.encode_frames(path, frames, codec, fps,
                                       (scene.width, scene.height),
                                       frame_times_s, audio=audio)


def plan_videos(count: int, seed: int, seconds: Tuple[float, float],
                fps: float, armed_share: float = 0.6,
                hard_cases: bool = True) -> List[DemoVideo]:
  """What each video shows and when; no pixels yet.

  Without ``hard_cases`` no video shows a hand, phone or flashlight where
  the pistol would be, no scene is dim and there is no clutter (dark
  furniture and poles, lamps, the sun): an easier task, for quick tests.
  """
  rng = np.random.default_rng([seed, 0])
  armed = rng.permutation(count) < int(round(armed_share * count))
  videos = []
  for number in range(count):
    duration = float(round(rng.uniform(*seconds) * fps) / fps)
    background = first_person_scene.BACKGROUNDS[
        int(rng.integers(len(first_person_scene.BACKGROUNDS)))]
    held = str(rng.choice(first_person_scene.HELD_DISTRACTORS,
                          p=[0.45, 0.2, 0.2, 0.15]))
    if not hard_cases:
      held = 'none'
    timeline = first_person_scene.random_timeline(
        np.random.default_rng([seed, 1, number]), duration, fps,
        bool(armed[number]))
    codec = _CODEC_CYCLE[number % len(_CODEC_CYCLE)]
    extension = synthetic_video.CODECS[codec].extension
    name = f'videos/fp_{seed}_{number:03d}_{background}{extension}'
    videos.append(DemoVideo(name, codec, duration, background, held,
                            hard_cases, timeline))
  return videos


def annotation_rows(videos: Sequence[DemoVideo]) -> List[List[str]]:
  """``video,label,start_s,end_s`` rows (times exact to the frame)."""
  rows = []
  for video in videos:
    for label, intervals in ((WEAPON, video.timeline.weapon),
                             (MUZZLE_FLASH, video.timeline.flashes)):
      for start, end in intervals:
        rows.append([video.path, label, f'{start:.3f}', f'{end:.3f}'])
  return rows


def write_dataset(out_dir: str, count: int = 200, seed: int = 7,
                  seconds: Tuple[float, float] = (4.0, 6.0),
                  fps: float = 10.0, size: Tuple[int, int] = (160, 120),
                  hard_cases: bool = True, armed_share: float = 0.6,
                  log: Optional[Callable[[str], None]] = None) -> DemoDataset:
  """Renders, encodes and annotates ``count`` videos under ``out_dir``."""
  width, height = size
  videos = plan_videos(count, seed, seconds, fps, armed_share, hard_cases)
  os.makedirs(os.path.join(out_dir, 'videos'), exist_ok=True)
  for number, video in enumerate(videos):
    scene = first_person_scene.make_scene(
        int(np.random.default_rng([seed, 2, number]).integers(2**31)),
        width, height, video.background, video.held,
        dim=None if video.hard_cases else False, clutter=video.hard_cases)
    write_scene_video(os.path.join(out_dir, video.path), scene,
                      video.timeline, video.seconds, fps, video.codec)
    if log and (number % 10 == 9 or number == len(videos) - 1):
      log(f'  {number + 1}/{len(videos)} videos written')
  annotations = os.path.join(out_dir, ANNOTATIONS_FILE)
  with open(annotations, 'w', newline='', encoding='utf-8') as f:
    writer = csv.writer(f)
    writer.writerow(['video', 'label', 'start_s', 'end_s'])
    writer.writerows(annotation_rows(videos))
  return DemoDataset(out_dir, annotations, tuple(videos))


def _size(text: str) -> Tuple[int, int]:
  width, height = (int(v) for v in text.lower().split('x'))
  return width, height


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(
      prog='python -m model.demo_dataset',
      description='Write the synthetic first-person demo data set: videos '
      'plus annotations.csv (labels: weapon, muzzle_flash).')
  parser.add_argument('--out', required=True, help='output folder')
  parser.add_argument('--videos', type=int, default=200)
  parser.add_argument('--seed', type=int, default=7)
  parser.add_argument('--min-seconds', type=float, default=4.0)
  parser.add_argument('--max-seconds', type=float, default=6.0)
  parser.add_argument('--fps', type=float, default=10.0)
  parser.add_argument('--size', type=_size, default=(160, 120),
                      metavar='WxH')
  parser.add_argument('--armed-share', type=float, default=0.6,
                      help='share of videos that show the pistol')
  parser.add_argument('--no-hard-cases', dest='hard_cases',
                      action='store_false',
                      help='no hand/phone/flashlight, dim scenes or clutter')
  args = parser.parse_args(sys.argv[1:] if argv is None else argv)
  dataset = write_dataset(args.out, args.videos, args.seed,
                          (args.min_seconds, args.max_seconds), args.fps,
                          args.size, args.hard_cases, args.armed_share,
                          log=print)
  print(f'wrote {len(dataset.videos)} videos and {dataset.annotations}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
