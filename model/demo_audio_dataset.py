"""The demo audio data sets: short videos whose soundtracks hold gunfire
and hard negatives at known times.

    python -m model.demo_audio_dataset --out .cache/demo_audio_dataset/train
        --seed 17 [--videos 160] [--seconds 8] [--gunfire-share 0.6]

writes ``OUT/videos/*.mp4|webm|mkv`` (a tiny H.264, VP9 or HEVC picture;
AAC in MP4, Opus in WebM and Matroska, mono or stereo) and
``OUT/annotations.csv`` in the toolkit's format with the ``modality``
column: one ``audio`` row per gunfire interval (label ``gunfire``; a
shot from its onset to 0.3 s after it, a burst from its first to 0.3 s
after its last shot).  Soundtracks come from ``synthetic_audio``: about
60 % of the videos hold 1 to 3 shots or bursts; every video holds hard
negatives (door slams, claps, crackle, speech, music) over room noise or
wind.  The same seed writes the same files.  Synthetic sound, not a
recording of anything real.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import os
import sys
from typing import List, Optional, Sequence, Tuple

import numpy as np

from model import synthetic_audio
from model import synthetic_video
from model.annotations import ANNOTATIONS_FILE
from model.annotations import AUDIO
from model.annotations import MODALITY_COLUMN
from model.annotations import REQUIRED_COLUMNS
from model.synthetic_audio import GUNFIRE

# The picture is a placeholder: tiny and cheap, the sound is the data.
PICTURE_SIZE = (64, 48)
PICTURE_FPS = 2.0
_CODEC_CYCLE = ('h264', 'vp9', 'h264', 'hevc')


@dataclasses.dataclass(frozen=True)
class AudioDemoVideo:
  path: str                       # relative to the data set folder
  codec: str                      # a key of synthetic_video.CODECS
  seconds: float
  layout: str                     # mono or stereo
  seed: int
  events: Tuple[synthetic_audio.SoundEvent, ...]


def plan_videos(count: int, seed: int, seconds: float,
                gunfire_share: float = 0.6) -> List[AudioDemoVideo]:
  """What each video's soundtrack holds and when; no samples yet."""
  rng = np.random.default_rng([seed, 0])
  armed = rng.permutation(count) < int(round(gunfire_share * count))
  videos = []
  for number in range(count):
    events = synthetic_audio.random_events(
        np.random.default_rng([seed, 1, number]), seconds,
        gunfire=bool(armed[number]), negatives=int(rng.integers(1, 4)))
    codec = _CODEC_CYCLE[number % len(_CODEC_CYCLE)]
    extension = synthetic_video.CODECS[codec].extension
    videos.append(AudioDemoVideo(
        f'videos/snd_{seed}_{number:03d}{extension}', codec, seconds,
        'stereo' if number % 3 == 2 else 'mono',
        seed * 100_000 + number, events))
  return videos


def soundtrack(video: AudioDemoVideo) -> synthetic_audio.Soundtrack:
  return synthetic_audio.soundtrack_for(video.seconds, video.events,
                                        video.seed)


def write_video(path: str, video: AudioDemoVideo,
                track: Optional[synthetic_audio.Soundtrack] = None) -> str:
  """Encodes the video's placeholder picture and its soundtrack."""
  track = track or soundtrack(video)
  rng = np.random.default_rng(video.seed)
  shade = rng.integers(30, 200, 3)
  times = synthetic_video.constant_frame_times(video.seconds, PICTURE_FPS)
  frames = (np.broadcast_to((shade + 5 * i) % 256, PICTURE_SIZE[::-1] + (3,))
            .astype(np.uint8) for i in range(len(times)))
  return synthetic_video.encode_frames(
      path, frames, video.codec, PICTURE_FPS, PICTURE_SIZE,
      audio=synthetic_video.AudioTrack(track.samples, track.sample_rate,
                                       video.layout))


def annotation_rows(video: AudioDemoVideo,
                    track: synthetic_audio.Soundtrack) -> List[List[str]]:
  return [[video.path, GUNFIRE, f'{start:.3f}', f'{end:.3f}', AUDIO]
          for start, end in track.gunfire]


def write_dataset(out_dir: str, count: int = 160, seed: int = 17,
                  seconds: float = 8.0, gunfire_share: float = 0.6,
                  progress=None) -> str:
  """Writes the videos and ``annotations.csv``; returns the CSV's path."""
  os.makedirs(os.path.join(out_dir, 'videos'), exist_ok=True)
  rows: List[List[str]] = []
  videos = plan_videos(count, seed, seconds, gunfire_share)
  for number, video in enumerate(videos):
    track = soundtrack(video)
    write_video(os.path.join(out_dir, video.path), video, track)
    rows += annotation_rows(video, track)
    if progress and (number + 1) % 20 == 0:
      progress(f'  wrote {number + 1}/{len(videos)} videos')
  path = os.path.join(out_dir, ANNOTATIONS_FILE)
  with open(path, 'w', newline='', encoding='utf-8') as f:
    writer = csv.writer(f)
    writer.writerow(list(REQUIRED_COLUMNS) + [MODALITY_COLUMN])
    writer.writerows(rows)
  return path


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m model.demo_audio_dataset',
                                   description=__doc__.split('\n\n')[0])
  parser.add_argument('--out', required=True)
  parser.add_argument('--videos', type=int, default=160)
  parser.add_argument('--seed', type=int, default=17)
  parser.add_argument('--seconds', type=float, default=8.0)
  parser.add_argument('--gunfire-share', type=float, default=0.6)
  args = parser.parse_args(sys.argv[1:] if argv is None else argv)
  path = write_dataset(args.out, args.videos, args.seed, args.seconds,
                       args.gunfire_share, progress=print)
  print(f'wrote {args.videos} videos and {path}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
