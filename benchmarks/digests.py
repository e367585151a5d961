"""The cost of ``--digests``: the same corpus scanned with and without it,
side by side in one run, plus the digest reader's own rate.

    python -m benchmarks.digests [--corpus-dir .cache/benchmarks/digests]
        [--model model/demo_model] [--repeats 3]

``--digests`` reads every video once more, in full, computing MD5 and
SHA-256 in the same pass (``storage.content_digests``), while the scan
itself reads only what decoding needs.  Its cost therefore grows with the
bytes stored, the scan's with the seconds sampled: the figures give both,
so that another archive's bitrate can be put in.

Prints one JSON document (``digests_benchmark``'s dict):

* ``bytes``: the corpus size; ``video_s``: its duration;
* ``read_MBps``: the one-pass digest read (both digests) over the corpus,
  page cache warm; ``md5_MBps`` / ``sha256_MBps``: each digest alone over
  the same bytes in memory (what the CPU costs, storage aside);
* ``probe_s``: the probe step (``probing.probe_input``) over the corpus
  without and with digests;
* ``scan_wall_s`` / ``scan_cpu_s``: whole scans (``benchmarks.scan_job``
  as a child process, DirectRunner), without and with ``--digests``, run
  alternately, min/median/max over the repeats, and the overhead of the
  median wall time.  On a shared machine the wall times spread far more
  than the digests cost; ``digest_s_per_GB`` (one core) is the figure to
  scale an archive by.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from typing import Callable, Dict, List, Optional, Sequence

import av

from benchmarks import corpus
from benchmarks.measure import Spread
from benchmarks.measure import timed
from benchmarks.run import DEFAULT_MODEL
from benchmarks.run import ROOT
from benchmarks.run import scan_once
from pipeline.records import VideoRef
from pipeline.scan import options
from pipeline.scan import probing
from pipeline.storage import files as storage

DEFAULT_CORPUS = os.path.join(ROOT, '.cache', 'benchmarks', 'digests')
MB = 1e6

# Typical uploads: 720p and 1080p H.264 at the bench corpus's bitrates.
VIDEOS = (
    corpus.BenchVideo('digests_720p_h264', corpus.H264, 1280, 720, 30.0,
                      60.0, 2.0),
    corpus.BenchVideo('digests_1080p_h264', corpus.H264, 1920, 1080, 30.0,
                      30.0, 2.0),
)


def write_videos(folder: str, log: Callable[[str], None] = print
                 ) -> List[str]:
  os.makedirs(folder, exist_ok=True)
  paths = []
  for video in VIDEOS:
    if not os.path.exists(os.path.join(folder, video.file_name)):
      log(f'  encoding {video.file_name} ({video.seconds:.0f} s)')
    paths.append(corpus.write_bench_video(folder, video))
  return paths


def _duration_s(path: str) -> float:
  with av.open(path) as container:
    return float(container.duration or 0) / av.time_base


def _memory_rate(data: bytes, algorithm: str, repeats: int) -> float:
  """MB/s of one digest over ``data`` in memory (best of ``repeats``)."""
  best = min(timed(lambda: hashlib.new(algorithm, data).digest()).wall_s
             for _ in range(max(repeats, 5)))
  return len(data) / MB / best


def _probe_all(paths: Sequence[str], digests: bool) -> float:
  def run():
    for path in paths:
      probing.probe_input(VideoRef(os.path.basename(path), path), (),
                          options.DEFAULT_MAX_PIXELS, {}, digests=digests)
  return timed(run).wall_s


def digests_benchmark(paths: Sequence[str], model_dir: str, repeats: int = 3,
                      log: Callable[[str], None] = print
                      ) -> Dict[str, object]:
  """The figures above, for the videos at ``paths``."""
  total = sum(os.path.getsize(p) for p in paths)
  for path in paths:   # warm the page cache: storage speed is not measured
    storage.content_digests(path)
  read_s = min(timed(lambda: [storage.content_digests(p)
                              for p in paths]).wall_s
               for _ in range(max(repeats, 5)))
  with open(paths[0], 'rb') as f:
    sample = f.read()
  probe = {'without': Spread.of([_probe_all(paths, False)
                                 for _ in range(repeats)]).as_dict(),
           'with': Spread.of([_probe_all(paths, True)
                              for _ in range(repeats)]).as_dict()}
  walls: Dict[str, List[float]] = {'without': [], 'with': []}
  cpus: Dict[str, List[float]] = {'without': [], 'with': []}
  for repeat in range(repeats):
    # Alternate which goes first, so neither always meets a cold machine.
    order = (('without', ()), ('with', ('--digests',)))
    for label, extra in (order if repeat % 2 == 0 else order[::-1]):
      run = scan_once(paths, model_dir, extra)
      walls[label].append(float(run['wall_s']))
      cpus[label].append(float(run['cpu_s']))
      log(f'    scan {label} --digests, repeat {repeat + 1}: '
          f'{walls[label][-1]:.1f} s wall, {cpus[label][-1]:.1f} s CPU')
  scan = {label: Spread.of(values).as_dict()
          for label, values in walls.items()}
  scan_cpu = {label: Spread.of(values).as_dict()
              for label, values in cpus.items()}
  overhead_s = scan['with']['median'] - scan['without']['median']
  return {
      'files': len(paths),
      'bytes': total,
      'video_s': round(sum(_duration_s(p) for p in paths), 1),
      'read_MBps': round(total / MB / read_s, 1),
      'digest_s_per_GB': round(1e9 / (total / read_s), 2),
      'md5_MBps': round(_memory_rate(sample, 'md5', repeats), 1),
      'sha256_MBps': round(_memory_rate(sample, 'sha256', repeats), 1),
      'probe_s': probe,
      'scan_wall_s': scan,
      'scan_cpu_s': scan_cpu,
      'scan_overhead_s': round(overhead_s, 2),
      'scan_overhead_pct': round(100 * overhead_s /
                                 scan['without']['median'], 1),
      'repeats': repeats,
      'cpus': os.cpu_count(),
  }


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, object]:
  parser = argparse.ArgumentParser(prog='python -m benchmarks.digests')
  parser.add_argument('--corpus-dir', default=DEFAULT_CORPUS)
  parser.add_argument('--model', default=DEFAULT_MODEL)
  parser.add_argument('--repeats', type=int, default=3)
  args = parser.parse_args(argv)
  log = lambda text: print(text, file=sys.stderr)  # pylint: disable=unnecessary-lambda-assignment
  paths = write_videos(args.corpus_dir, log)
  figures = digests_benchmark(paths, args.model, args.repeats, log)
  print(json.dumps(figures, indent=2))
  return figures


if __name__ == '__main__':
  main()
