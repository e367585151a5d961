"""A video with one keyframe against the same video with a 1-s GOP.

    python -m benchmarks.sparse_keyframes [--minutes 60] [--width 1920]
        [--height 1080] [--fps 30] [--repeats 1]
        [--folder .cache/benchmarks/sparse] [--model model/demo_model]
        [--segment-seconds S]

Encodes the benchmark corpus's scene (``corpus.scene_frames``) twice, the
same frames with H.264 at the corpus's settings: once with a keyframe
every second, once with a single keyframe (``keyframes_s=(0,)``, no scene
cuts), scans each with default flags in its own process and reports the
wall times, their ratio (target: at most 1.5) and, from the job's metrics,
the segments each was decoded in: the one-keyframe copy must be decoded in
one pass, not once per segment from its first frame.

Generating the 60-minute 1080p30 pair takes long on a small machine:
``--minutes`` (and the frame size) make it shorter, which shows the same
mechanism; ``benchmarks/run.py`` runs it at ``RUN_MINUTES`` minutes, 360p.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Callable, Dict, Optional, Sequence

from benchmarks import corpus
from benchmarks.measure import Spread
from benchmarks.measure import ratio
from model.synthetic_video import encode_frames

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_FOLDER = os.path.join(ROOT, '.cache', 'benchmarks', 'sparse')
DEFAULT_MODEL = os.path.join(ROOT, 'model', 'demo_model')
DENSE_GOP_SECONDS = 1.0
TARGET_RATIO = 1.5
# The length and frame size ``benchmarks/run.py`` uses.
RUN_MINUTES = 3.0
RUN_SIZE = (640, 360)


def write_pair(folder: str, minutes: float, width: int, height: int,
               fps: float, log=print) -> Dict[str, str]:
  """``{'sparse': path, 'dense': path}``: one keyframe, and one a second,
  of the same frames (cached by name)."""
  os.makedirs(folder, exist_ok=True)
  paths = {}
  for kind, keyframes_s in (('dense', None), ('sparse', (0.0,))):
    video = corpus.BenchVideo(
        f'{kind}_{height}p{fps:g}_{minutes:g}min', corpus.H264, width,
        height, fps, minutes * 60.0, DENSE_GOP_SECONDS)
    path = os.path.join(folder, video.file_name)
    if not os.path.exists(path):
      log(f'  encoding {video.file_name}')
      partial = path + '.partial'
      encode_frames(partial, corpus.scene_frames(video), video.codec, fps,
                    (width, height), gop_seconds=video.gop_seconds,
                    container_format=video.codec.container,
                    keyframes_s=keyframes_s)
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
      'ratio': ratio(walls['sparse'], walls['dense']).as_dict(),
      'target': TARGET_RATIO}


def build_arg_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog='python -m benchmarks.sparse_keyframes')
  parser.add_argument('--minutes', type=float, default=60.0)
  parser.add_argument('--width', type=int, default=1920)
  parser.add_argument('--height', type=int, default=1080)
  parser.add_argument('--fps', type=float, default=30.0)
  parser.add_argument('--repeats', type=int, default=1)
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
                     args.fps)
  extra = ([] if args.segment_seconds is None else
           ['--segment-seconds', str(args.segment_seconds)])
  result = figure(lambda inputs: run.scan_once(inputs, args.model, extra),
                  paths, args.repeats)
  result.update(minutes=args.minutes, width=args.width, height=args.height,
                fps=args.fps, segment_seconds=args.segment_seconds,
                load_average=list(os.getloadavg()))
  print(json.dumps(result, indent=2))
  return 0


if __name__ == '__main__':
  sys.exit(main())
