"""A video with one keyframe against the same video with a 1-s GOP.

    python -m benchmarks.sparse_keyframes [--minutes 60] [--width 1920]
        [--height 1080] [--fps 30] [--repeats 1] [--source testsrc2]
        [--folder .cache/benchmarks/sparse] [--model model/demo_model]
        [--segment-seconds S]

Encodes one moving picture twice with H.264, the same frames: once with a
keyframe every second, once with a single keyframe (no scene cuts), scans
each with default flags in its own process and reports the wall times,
their ratio (target: at most 1.5), the samples each scored (the same: the
one-keyframe copy must scan fully, not be cut by a time limit) and, from
the job's metrics, the segments each was decoded in: the one-keyframe copy
must be decoded in one pass, not once per segment from its first frame.

``--source scene`` (the default) encodes the benchmark corpus's scene
(``corpus.scene_frames``) with PyAV at the corpus's settings;
``--source testsrc2`` has the ffmpeg command line encode its ``testsrc2``
test pattern (moving, ``-preset ultrafast -crf 28``), which is the fast way
to the full size: the 60-minute 1080p30 pair takes about 10 minutes per
copy at ``nice 19`` on this project's 2-core machine, against hours for
the scene through Python.  Files are cached in ``--folder`` by name.

``--minutes`` (and the frame size) make it shorter, which shows the same
mechanism; ``benchmarks/run.py`` runs it at ``RUN_MINUTES`` minutes, 360p.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Callable, Dict, List, Optional, Sequence

from benchmarks import corpus
from benchmarks.measure import Spread
from benchmarks.measure import ratio
from model.synthetic_video import encode_frames

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_FOLDER = os.path.join(ROOT, '.cache', 'benchmarks', 'sparse')
DEFAULT_MODEL = os.path.join(ROOT, 'model', 'demo_model')
DENSE_GOP_SECONDS = 1.0
TARGET_RATIO = 1.5
SOURCES = ('scene', 'testsrc2')
# ``-g`` of the one-keyframe copy with ``--source testsrc2``: more frames
# than any benchmark video has (60 min at 30 fps is 108,000).
ONE_KEYFRAME_GOP_FRAMES = 1_800_000
# The length and frame size ``benchmarks/run.py`` uses.
RUN_MINUTES = 3.0
RUN_SIZE = (640, 360)


def testsrc2_command(path: str, kind: str, seconds: float, width: int,
                     height: int, fps: float) -> List[str]:
  """The ffmpeg command line that encodes ``seconds`` of ``testsrc2`` as
  H.264 in MP4, one keyframe a second (``dense``) or one in all
  (``sparse``), at low priority."""
  gop = (round(fps * DENSE_GOP_SECONDS) if kind == 'dense' else
         ONE_KEYFRAME_GOP_FRAMES)
  return ['nice', '-n', '19', 'ffmpeg', '-nostdin', '-v', 'error', '-y',
          '-f', 'lavfi',
          '-i', f'testsrc2=size={width}x{height}:rate={fps:g}:'
          f'duration={seconds:g}',
          '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '28',
          '-pix_fmt', 'yuv420p', '-g', str(gop), '-keyint_min', str(gop),
          '-sc_threshold', '0', '-an', '-f', 'mp4', path]


def write_pair(folder: str, minutes: float, width: int, height: int,
               fps: float, log=print, source: str = 'scene'
               ) -> Dict[str, str]:
  """``{'sparse': path, 'dense': path}``: one keyframe, and one a second,
  of the same frames (cached by name)."""
  os.makedirs(folder, exist_ok=True)
  paths = {}
  for kind, keyframes_s in (('dense', None), ('sparse', (0.0,))):
    video = corpus.BenchVideo(
        f'{kind}_{height}p{fps:g}_{minutes:g}min', corpus.H264, width,
        height, fps, minutes * 60.0, DENSE_GOP_SECONDS)
    name = (video.file_name if source == 'scene' else
            f'{video.name}_{source}.mp4')
    path = os.path.join(folder, name)
    if not os.path.exists(path):
      log(f'  encoding {name}')
      partial = path + '.partial'
      if source == 'scene':
        encode_frames(partial, corpus.scene_frames(video), video.codec, fps,
                      (width, height), gop_seconds=video.gop_seconds,
                      container_format=video.codec.container,
                      keyframes_s=keyframes_s)
      else:
        subprocess.run(testsrc2_command(partial, kind, video.seconds, width,
                                        height, fps), check=True)
      os.replace(partial, path)
    paths[kind] = path
  return paths


def figure(scan: Callable[[Sequence[str]], Dict[str, object]],
           paths: Dict[str, str], repeats: int, log=print) -> Dict[str, object]:
  """Scans each copy ``repeats`` times with ``scan([path])`` (a dict with
  ``wall_s`` and ``segments``) and compares the wall times."""
  runs = {kind: [] for kind in paths}
  for repeat in range(repeats):
    for kind in ('dense', 'sparse'):
      runs[kind].append(scan([paths[kind]]))
      log(f'    {kind} repeat {repeat + 1}: {runs[kind][-1]["wall_s"]:.1f} s,'
          f' {runs[kind][-1]["segments"]:.0f} segments')
  walls = {kind: Spread.of([r['wall_s'] for r in runs[kind]])
           for kind in runs}
  return {
      'dense_s': walls['dense'].as_dict(),
      'sparse_s': walls['sparse'].as_dict(),
      'dense_segments': runs['dense'][0]['segments'],
      'sparse_segments': runs['sparse'][0]['segments'],
      # Equal when the one-keyframe copy scanned fully.
      'dense_frames_sampled': runs['dense'][0]['frames_sampled'],
      'sparse_frames_sampled': runs['sparse'][0]['frames_sampled'],
      'ratio': ratio(walls['sparse'], walls['dense']).as_dict(),
      'target': TARGET_RATIO}


def build_arg_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog='python -m benchmarks.sparse_keyframes')
  parser.add_argument('--minutes', type=float, default=60.0)
  parser.add_argument('--width', type=int, default=1920)
  parser.add_argument('--height', type=int, default=1080)
  parser.add_argument('--fps', type=float, default=30.0)
  parser.add_argument('--repeats', type=int, default=1)
  parser.add_argument('--source', choices=SOURCES, default='scene',
                      help='what is encoded: the corpus\'s scene through '
                      'PyAV, or ffmpeg\'s testsrc2 through the ffmpeg '
                      'command (fast at full size)')
  parser.add_argument('--folder', default=DEFAULT_FOLDER)
  parser.add_argument('--model', default=DEFAULT_MODEL)
  parser.add_argument('--segment-seconds', type=float, default=None,
                      help='passed to both scans (default: the scan\'s); '
                      'shorter segments show the cost of re-decoding from '
                      'the one keyframe on a shorter video')
  return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
  from benchmarks import run  # pylint: disable=import-outside-toplevel
  args = build_arg_parser().parse_args(argv)
  paths = write_pair(args.folder, args.minutes, args.width, args.height,
                     args.fps, source=args.source)
  extra = ([] if args.segment_seconds is None else
           ['--segment-seconds', str(args.segment_seconds)])
  result = figure(lambda inputs: run.scan_once(inputs, args.model, extra),
                  paths, args.repeats)
  result.update(minutes=args.minutes, width=args.width, height=args.height,
                fps=args.fps, source=args.source, segment_seconds=args.segment_seconds,
                load_average=list(os.getloadavg()))
  print(json.dumps(result, indent=2))
  return 0


if __name__ == '__main__':
  sys.exit(main())
