"""What hearing costs (issue #18): a visual-only scan against a visual +
audio scan of the same corpus, side by side in one run.

    python -m benchmarks.audio_cost [--videos 8] [--seconds 20]
        [--repeats 3] [--model model/demo_model]
        [--audio-model model/demo_audio_model]

The corpus: ``--videos`` copies of one ``--seconds`` long 640x360 30 fps
H.264 video with an AAC stereo 44.1 kHz soundtrack of noise bursts
(``benchmarks.audio_windows.write_bench_video``).  Both scans run as
``rescan scan`` does (``benchmarks.scan_job`` in a child process, default
flags), with the demo visual model; the second adds ``--audio-model``,
by default the shipped demo audio model (``model/demo_audio_model``: a
log-mel front end and a small CNN inside the SavedModel, 16 kHz, windows
of 0.96 s every 0.48 s).  Each repeat runs both, one after the other.

Reported: wall and CPU seconds of each (min / median / max), and the
audio's share of the visual + audio scan: (both - visual) / both, of wall
time and of CPU time (the medians).  A larger audio network (YAMNet is
about 3.7 M weights against the demo's 47 k) costs more inference.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from typing import Callable, Dict, List, Optional, Sequence

from benchmarks import audio_windows
from benchmarks import corpus
from benchmarks.measure import print_figure
from benchmarks.measure import Spread

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODEL = os.path.join(ROOT, 'model', 'demo_model')
DEFAULT_AUDIO_MODEL = os.path.join(ROOT, 'model', 'demo_audio_model')
DEFAULT_VIDEOS = 8
DEFAULT_SECONDS = 20.0

# scan(inputs, extra flags) -> the dict ``benchmarks.run.scan_once`` gives.
Scan = Callable[[Sequence[str], Sequence[str]], Dict[str, object]]


def write_corpus(folder: str, videos: int, seconds: float) -> List[str]:
  """``videos`` copies of one video with a soundtrack, each its own file."""
  os.makedirs(folder, exist_ok=True)
  source = audio_windows.write_bench_video(
      os.path.join(folder, 'source.mp4'), seconds)
  return corpus.copies(source, folder, videos, 'video')


def _share(both: Spread, visual: Spread) -> float:
  return (both.median - visual.median) / both.median


def figure(scan: Scan, paths: Sequence[str], audio_model_dir: str,
           repeats: int, log=print) -> Dict[str, object]:
  """Scans ``paths`` ``repeats`` times without and with the audio model
  and compares wall and CPU time."""
  runs: Dict[str, List[Dict[str, object]]] = {'visual': [], 'both': []}
  extra = {'visual': [], 'both': ['--audio-model', audio_model_dir]}
  for repeat in range(repeats):
    for kind in ('visual', 'both'):
      runs[kind].append(scan(paths, extra[kind]))
      last = runs[kind][-1]
      log(f'    {kind:6s} repeat {repeat + 1}: {last["wall_s"]:.1f} s wall,'
          f' {last["cpu_s"]:.1f} s CPU, {last["inferences"]:.0f} inferences')
  spread = {kind: {measure: Spread.of([r[measure] for r in runs[kind]])
                   for measure in ('wall_s', 'cpu_s')} for kind in runs}
  return {
      'visual_wall_s': spread['visual']['wall_s'].as_dict(),
      'visual_cpu_s': spread['visual']['cpu_s'].as_dict(),
      'both_wall_s': spread['both']['wall_s'].as_dict(),
      'both_cpu_s': spread['both']['cpu_s'].as_dict(),
      'visual_inferences': runs['visual'][0]['inferences'],
      'both_inferences': runs['both'][0]['inferences'],
      'audio_share_of_wall': _share(spread['both']['wall_s'],
                                    spread['visual']['wall_s']),
      'audio_share_of_cpu': _share(spread['both']['cpu_s'],
                                   spread['visual']['cpu_s']),
  }


def build_arg_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog='python -m benchmarks.audio_cost',
                                   description=__doc__.split('\n')[0])
  parser.add_argument('--videos', type=int, default=DEFAULT_VIDEOS)
  parser.add_argument('--seconds', type=float, default=DEFAULT_SECONDS)
  parser.add_argument('--repeats', type=int, default=3)
  parser.add_argument('--model', default=DEFAULT_MODEL)
  parser.add_argument('--audio-model', default=DEFAULT_AUDIO_MODEL)
  parser.add_argument('--json', default=None,
                      help='also write the figure to this file')
  return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
  from benchmarks import run  # pylint: disable=import-outside-toplevel
  args = build_arg_parser().parse_args(argv)
  folder = tempfile.mkdtemp(prefix='rescan-audio-cost-')
  try:
    paths = write_corpus(os.path.join(folder, 'corpus'), args.videos,
                         args.seconds)
    result = figure(
        lambda inputs, extra: run.scan_once(inputs, args.model, extra),
        paths, args.audio_model, args.repeats)
  finally:
    shutil.rmtree(folder, ignore_errors=True)
  result.update(videos=args.videos, seconds=args.seconds,
                width=640, height=360, fps=30,
                load_average=list(os.getloadavg()))
  print_figure(result, args.json)
  return 0


if __name__ == '__main__':
  sys.exit(main())
