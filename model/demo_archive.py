"""The demo: a small archive of real encoded uploads with planted content.

``build_demo`` writes, under a work folder:

* ``archive/uploads/...``: H.264/MP4, VP9/WebM, HEVC/MKV, MPEG-4/AVI and a
  variable-frame-rate MP4, some with a red marker planted at known times
  (one across a 20-s segment boundary), some clean, plus broken uploads
  (see ``broken_media``);
* ``manifest.csv``: two more entries, one of them a deleted upload;
* ``models/standin``: the stand-in marker model (see ``marker_model``),
  built once.

It is a demo of the machinery, not of detection quality.
"""
from __future__ import annotations

import csv
import dataclasses
import os
from typing import Tuple

from model import broken_media
from model import marker_model
from model import synthetic_video
from model.synthetic_video import PlantedEvent

# (relative path, codec, seconds, planted events, variable frame rate)
DEMO_VIDEOS: Tuple[Tuple[str, str, float, Tuple[PlantedEvent, ...], bool], ...] = (
    ('uploads/2024/01/livestream_0117.mp4', 'h264', 45.0,
     (PlantedEvent('red_marker', 12.0, 18.0),
      PlantedEvent('red_marker', 36.0, 44.0)), False),
    ('uploads/2024/02/street scene café.webm', 'vp9', 20.0, (), False),
    ('uploads/2025/03/long_stream.mkv', 'hevc', 50.0,
     (PlantedEvent('red_marker', 17.0, 24.0),), False),
    ('uploads/2025/04/phone_vfr.mp4', 'h264', 20.0,
     (PlantedEvent('red_marker', 5.0, 8.0),), True),
    ('uploads/2025/05/old_upload.avi', 'mpeg4', 15.0, (), False),
)
MANIFEST_VIDEO = ('extra/reupload.mp4', 'h264', 12.0,
                  (PlantedEvent('red_marker', 2.0, 4.0),), False)


@dataclasses.dataclass(frozen=True)
class Demo:
  archive_dir: str
  pattern: str
  manifest: str
  model_dir: str
  model_note: str
  results_dir: str
  video_count: int
  planted: Tuple[Tuple[str, PlantedEvent], ...]


def _write(root: str, entry) -> str:
  relative, codec, seconds, events, variable = entry
  path = os.path.join(root, relative)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  if not os.path.exists(path):
    times = (synthetic_video.variable_frame_times(seconds, seed=7)
             if variable else None)
    synthetic_video.write_video(path, seconds, codec, fps=10.0,
                                size=(320, 240), events=events,
                                seed=len(relative), frame_times_s=times)
  return path


def build_demo(workdir: str) -> Demo:
  workdir = os.path.abspath(workdir)
  archive = os.path.join(workdir, 'archive')
  paths = [_write(archive, entry) for entry in DEMO_VIDEOS]
  broken = broken_media.write_broken_set(
      os.path.join(archive, 'uploads', 'broken'), paths[0])
  extra = _write(workdir, MANIFEST_VIDEO)
  manifest = os.path.join(workdir, 'manifest.csv')
  with open(manifest, 'w', newline='', encoding='utf-8') as f:
    writer = csv.writer(f)
    writer.writerow(['uri', 'video_id'])
    writer.writerow([MANIFEST_VIDEO[0], 'reupload-0001'])
    writer.writerow(['extra/deleted_upload.mp4', 'deleted-0002'])
  model_dir = os.path.join(workdir, 'models', 'standin')
  if not os.path.exists(os.path.join(model_dir, marker_model.METADATA_FILE)):
    marker_model.export_marker_model(model_dir, labels=('red_marker',),
                                     name='demo-marker-standin')
  planted = tuple((entry[0], event) for entry in DEMO_VIDEOS + (MANIFEST_VIDEO,)
                  for event in entry[3])
  return Demo(archive_dir=archive,
              pattern=os.path.join(archive, 'uploads', '**'),
              manifest=manifest, model_dir=model_dir,
              model_note='stand-in that flags a planted red marker; '
              'not a harmful-content detector',
              results_dir=os.path.join(workdir, 'results'),
              video_count=len(paths) + len(broken) + 1,
              planted=planted)
