"""The codec factors of the segment planner's decode-cost model, measured.

    python -m benchmarks.decode_cost [--seconds 3] [--repeats 3]
        [--folder .cache/benchmarks/decode_cost]

``pipeline.media.segments`` estimates what decoding a stretch of video
costs as pixels x frames x a codec factor (``CODEC_COST_FACTORS``).  This
script measures the factors: it encodes the same scene (the benchmark
corpus's panning texture, ``benchmarks.corpus.scene_frames``) with every
codec the test corpus uses at two frame sizes, decodes every frame the way
a scan does (``decode.configure_decoder``, exact mode, one decoder thread),
and prints the CPU nanoseconds per decoded pixel, each codec's factor
against H.264 (the mean over the frame sizes), and how far the cost per
pixel of the larger size strays from the smaller one's (the model assumes
it does not).  Copy the factors into ``CODEC_COST_FACTORS`` with the date
and the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import av

from benchmarks import corpus
from model.synthetic_video import CODECS
from model.synthetic_video import Codec
from pipeline.media import decode
from pipeline.media.sampling import EXACT

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_FOLDER = os.path.join(ROOT, '.cache', 'benchmarks', 'decode_cost')
# The codecs measured, by the name FFmpeg's decoder gives them (what
# ``probe`` records as a video's codec), with the encoder that makes them.
MEASURED: Dict[str, Codec] = {
    'h264': corpus.H264,
    'hevc': corpus.HEVC,
    'vp9': corpus.VP9,
    'av1': CODECS['av1'],
    'mpeg4': CODECS['mpeg4'],
}
SIZES: Tuple[Tuple[int, int], ...] = ((640, 360), (1280, 720))
FPS = 30.0
GOP_SECONDS = 2.0


def encoded(folder: str, codec_name: str, size: Tuple[int, int],
            seconds: float) -> str:
  """The scene encoded with ``codec_name`` at ``size`` (cached)."""
  codec = MEASURED[codec_name]
  video = corpus.BenchVideo(f'cost_{codec_name}_{size[1]}p_{seconds:g}s',
                            codec, size[0], size[1], FPS, seconds,
                            GOP_SECONDS)
  return corpus.write_bench_video(folder, video)


def decode_cpu_seconds(path: str) -> Tuple[float, int]:
  """CPU seconds to decode every frame of ``path`` as an exact scan does,
  and the pixels decoded."""
  started = time.process_time()
  pixels = 0
  with av.open(path) as container:
    stream = container.streams.video[0]
    decode.configure_decoder(stream, EXACT, threads=1)
    for frame in container.decode(stream):
      pixels += frame.width * frame.height
  return time.process_time() - started, pixels


def measure(folder: str, seconds: float, repeats: int,
            log=print) -> Dict[str, object]:
  """``{codec: {size: ns per pixel}}`` and the factors against H.264."""
  os.makedirs(folder, exist_ok=True)
  ns_per_pixel: Dict[str, Dict[str, float]] = {}
  for name in MEASURED:
    ns_per_pixel[name] = {}
    for size in SIZES:
      path = encoded(folder, name, size, seconds)
      runs: List[float] = []
      for _ in range(repeats):
        cpu_s, pixels = decode_cpu_seconds(path)
        runs.append(cpu_s / pixels * 1e9)
      ns_per_pixel[name][f'{size[1]}p'] = min(runs)
      log(f'  {name:6s} {size[1]}p: {min(runs):.2f} ns per decoded pixel')
  factors = {
      name: round(statistics.fmean(
          by_size[key] / ns_per_pixel['h264'][key] for key in by_size), 2)
      for name, by_size in ns_per_pixel.items()}
  large, small = f'{SIZES[-1][1]}p', f'{SIZES[0][1]}p'
  size_drift = {name: round(by_size[large] / by_size[small], 2)
                for name, by_size in ns_per_pixel.items()}
  return {'ns_per_pixel': ns_per_pixel, 'factors': factors,
          'per_pixel_cost_large_vs_small': size_drift,
          'seconds': seconds, 'fps': FPS, 'repeats': repeats}


def build_arg_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog='python -m benchmarks.decode_cost')
  parser.add_argument('--seconds', type=float, default=3.0)
  parser.add_argument('--repeats', type=int, default=3)
  parser.add_argument('--folder', default=DEFAULT_FOLDER)
  return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
  args = build_arg_parser().parse_args(argv)
  result = measure(args.folder, args.seconds, args.repeats)
  print(json.dumps(result, indent=2))
  return 0


if __name__ == '__main__':
  sys.exit(main())
