"""The memory a one-pass segment holds when its samples come back from the
watched decode child at once (issue #16, one-keyframe videos).

    python -m benchmarks.one_pass_memory [--minutes 60] [--fps 5]
        [--size 96] [--segment-seconds 60]

A segment decoded in one pass on sparse keyframes spans ``limit_scale``
segments, and with ``--decode-isolation subprocess`` Beam's
``_SubprocessDoFn`` returns its outputs as one list, pickled back from the
child.  This runs a DoFn yielding the samples of ``--minutes`` of video
(``SampleKey`` and a ``size`` x ``size`` x 3 uint8 model input each, as
``DecodeSegmentFn`` yields them, without decoding) through that same
``_SubprocessDoFn`` and reports how much the peak resident memory
(``VmHWM``) of the child and of this process grew, against the bytes of the model inputs
(``check_scan_budget`` reckons one ``--segment-seconds`` of them).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Dict, Optional, Sequence

import apache_beam as beam
import numpy as np
from apache_beam.transforms.core import _SubprocessDoFn

from pipeline.records import SampleKey


class SyntheticSamplesFn(beam.DoFn):
  """What ``DecodeSegmentFn`` yields for a segment of ``count`` samples."""

  def __init__(self, count: int, size: int):
    self._count = count
    self._size = size

  def process(self, video_id: str):
    rng = np.random.default_rng(0)
    for i in range(self._count if video_id else 0):
      yield SampleKey(video_id, i * 200), rng.integers(
          0, 256, (self._size, self._size, 3), dtype=np.uint8)


def _peak_rss_bytes(pid: str = 'self') -> int:
  with open(f'/proc/{pid}/status', encoding='ascii') as status:
    for line in status:
      if line.startswith('VmHWM:'):
        return int(line.split()[1]) * 1024
  return 0


def measure(minutes: float, fps: float, size: int,
            segment_seconds: float) -> Dict[str, float]:
  count = int(math.ceil(minutes * 60 * fps))
  inputs = count * size * size * 3
  fn = _SubprocessDoFn(SyntheticSamplesFn(count, size))
  fn.setup()
  fn.process('')  # starts the child: its memory before any samples
  child_pid = str(next(iter(fn._pool._processes)))  # pylint: disable=protected-access
  child_before = _peak_rss_bytes(child_pid)
  before = _peak_rss_bytes()
  results = fn.process('v')
  child = _peak_rss_bytes(child_pid) - child_before
  parent = _peak_rss_bytes() - before
  assert len(results) == count
  del results
  fn.teardown()
  return {
      'minutes': minutes, 'fps': fps, 'input_size': size,
      'samples': count,
      'limit_scale': math.ceil(minutes * 60 / segment_seconds),
      'model_input_bytes': inputs,
      'child_peak_rss_increase_bytes': child,
      'worker_peak_rss_increase_bytes': parent,
      'child_over_inputs': child / inputs,
      'worker_over_inputs': parent / inputs,
  }


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m benchmarks.one_pass_memory')
  parser.add_argument('--minutes', type=float, default=60.0)
  parser.add_argument('--fps', type=float, default=5.0)
  parser.add_argument('--size', type=int, default=96)
  parser.add_argument('--segment-seconds', type=float, default=60.0)
  args = parser.parse_args(argv)
  print(json.dumps(measure(args.minutes, args.fps, args.size,
                           args.segment_seconds), indent=2))
  return 0


if __name__ == '__main__':
  sys.exit(main())
