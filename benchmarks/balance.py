"""How evenly a segment plan shares the decode work between workers, from
the plan alone (no timing, so the figure holds on a loaded machine).

    python -m benchmarks.balance [--workers 2] [--segment-seconds 60] FILE...

The local runner (``FnApiRunner`` with ``--direct_num_workers N``) hands
the elements of a stage to its N workers by count: after
``ReshuffleSegments`` it deals the grouped keys out in turn
(``GroupingBuffer.partition``: key i goes to worker i mod N), whatever each
costs; Dataflow likewise splits bundles by element count.  This script
probes the files as a scan does, plans their segments with fixed time
ranges of ``--segment-seconds`` (the planner before costs and keyframes)
and with ``segments.plan_segments``, estimates each segment's decode cost
(``segments.decode_cost``, plus the frames from the keyframe a segment
decodes from to its start when it does not start on one), deals them out
as the runner does, and prints the speed-up the decode stage could reach:
total cost / the busiest worker's cost.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Dict, List, Optional, Sequence

from pipeline.media import probe
from pipeline.media import segments
from pipeline.records import Segment
from pipeline.records import VideoInfo


def fixed_time_plan(info: VideoInfo, segment_ms: int) -> List[Segment]:
  """The plan before costs and keyframes: ``[i * S, (i + 1) * S)``."""
  count = max(math.ceil(info.duration_ms / segment_ms), 1)
  return [Segment(info.video_id, info.uri, i, i * segment_ms,
                  min((i + 1) * segment_ms, info.duration_ms),
                  info.duration_ms) for i in range(count)]


def segment_cost(info: VideoInfo, segment: Segment) -> float:
  """Estimated decode cost of a segment, from the keyframe at or before its
  start (read off the probe's keyframe interval) to its end."""
  lead_ms = 0
  if segment.start_ms > 0 and info.keyframe_interval_ms:
    starts = info.segment_starts_ms or ()
    if segment.start_ms not in starts:
      lead_ms = segment.start_ms % info.keyframe_interval_ms
  return segments.decode_cost(info, segment.start_ms - lead_ms,
                              segment.end_ms)


def dealt_speedup(costs: Sequence[float], workers: int) -> float:
  """Total cost / the busiest worker's, element i going to worker i mod N."""
  loads = [sum(costs[k::workers]) for k in range(workers)]
  return sum(costs) / max(loads) if max(loads) else 1.0


def balance(paths: Sequence[str], segment_ms: int,
            workers: int) -> Dict[str, object]:
  infos = [probe.probe_video(p, str(i), segment_ms=segment_ms)
           for i, p in enumerate(paths)]
  result = {}
  for name, plan in (('fixed_time', lambda i: fixed_time_plan(i, segment_ms)),
                     ('cost_and_keyframes',
                      lambda i: segments.plan_segments(i, segment_ms))):
    costs = [segment_cost(info, s) for info in infos for s in plan(info)]
    result[name] = {
        'segments': len(costs),
        'largest_share': max(costs) / sum(costs),
        'speedup_bound': dealt_speedup(costs, workers),
        'total_cost': sum(costs)}
  return result


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m benchmarks.balance')
  parser.add_argument('--workers', type=int, default=2)
  parser.add_argument('--segment-seconds', type=float, default=60.0)
  parser.add_argument('paths', nargs='+')
  args = parser.parse_args(argv)
  print(json.dumps(balance(args.paths, int(args.segment_seconds * 1000),
                           args.workers), indent=2))
  return 0


if __name__ == '__main__':
  sys.exit(main())
