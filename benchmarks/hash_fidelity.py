"""What exact vPDQ hashing costs at default settings, and what the cheaper
``--hash-fidelity approximate`` loses.

    python -m benchmarks.hash_fidelity [--folder DIR] [--fps 1.0]
        [--repeats 2] [--threads 1] [--no-copies]

Cost: each generated 720p/1080p clip is decoded as the scan decodes it
(``decode.iter_samples`` over 5-s segments, frame hashes on, samples
resized to 224x224) at ``--sampling auto`` twice, side by side in one run:
with ``--hash-fidelity approximate`` (the scan's default before exact
hashing: ``fast`` or ``keyframes`` decoding, whichever auto picks) and with
``--hash-fidelity exact`` (today's default: every frame decoded).  Wall
and CPU seconds, the best of ``--repeats``.

Fidelity: copies derived from a source clip (re-encoded at a high CRF,
greyscale, a logo overlay, a 1 % crop on each side), hashed by Meta's vpdq and by the
scan in both fidelities; per copy, the PDQ distance of each of our hashes
to vpdq's hash of the same copy, and the vPDQ match percentages of the
copy (the query) against vpdq's hashes of the source (a bank entry built
from Meta's own output).

Not a test: prints a summary and returns it as a dict.
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import sys
import tempfile
import time
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import av
import numpy as np

from benchmarks.corpus import H264
from benchmarks.corpus import VP9
from benchmarks.corpus import BenchVideo
from benchmarks.corpus import write_bench_video
from model.synthetic_video import encode_frames
from pipeline.hashes import matching as hm
from pipeline.hashes import pdq as hashing
from pipeline.media import decode
from pipeline.media import probe
from pipeline.media import sampling

SEGMENT_MS = 5_000
SAMPLE_SIZE = (224, 224)

# Uploads as they come: B-frames and deblocking on; GOPs that make auto
# pick ``fast`` (2 s, 10 s at 1 sample/s) and ``keyframes`` (1 s).
CLIPS: Tuple[BenchVideo, ...] = (
    BenchVideo('fid_720p_h264_gop2', H264, 1280, 720, 30.0, 20.0, 2.0),
    BenchVideo('fid_720p_vp9_gop4', VP9, 1280, 720, 30.0, 20.0, 4.0),
    BenchVideo('fid_1080p_h264_gop10', H264, 1920, 1080, 30.0, 12.0, 10.0),
    BenchVideo('fid_1080p_h264_gop1', H264, 1920, 1080, 30.0, 12.0, 1.0),
)
# The source of the derived copies: a long GOP (auto: fast).
COPY_SOURCE = BenchVideo('fid_480p_h264_gop5', H264, 854, 480, 30.0, 30.0, 5.0)


@dataclasses.dataclass(frozen=True)
class Hashed:
  hashes: List[hashing.FrameHash]
  mode: str
  wall_s: float
  cpu_s: float


def scan_hashes(path: str, fidelity: str, fps: float, threads: int,
                sampling_mode: str = sampling.AUTO) -> Hashed:
  """The frame hashes one scan of ``path`` stores, segment by segment."""
  info = probe.probe_video(path)
  hasher = decode.FrameHasher('v', path, 'bench')
  mode = sampling.decode_mode(sampling_mode, fps, info.keyframe_interval_ms,
                              hashing=True, hash_fidelity=fidelity)
  wall, cpu = time.perf_counter(), time.process_time()
  for start in range(0, info.duration_ms, SEGMENT_MS):
    with open(path, 'rb') as source:
      for _ in decode.iter_samples(
          source, start, min(start + SEGMENT_MS, info.duration_ms), fps,
          SAMPLE_SIZE, on_hash_pick=hasher, mode=sampling_mode,
          keyframe_interval_ms=info.keyframe_interval_ms, threads=threads,
          hash_fidelity=fidelity):
        pass
  return Hashed(sorted(hasher.hashes, key=lambda h: h.ts_ms), mode,
                time.perf_counter() - wall, time.process_time() - cpu)


def raw_decode_s(path: str, skip_frame: str, threads: int) -> float:
  """Seconds to decode the whole file with the loop filter on and
  ``skip_frame`` (``DEFAULT``: every frame; ``NONREF``: reference frames
  only, the least an exact decode of vPDQ's frames must do when they are
  reference frames), nothing converted."""
  started = time.perf_counter()
  with av.open(path) as container:
    stream = container.streams.video[0]
    stream.thread_type = 'AUTO'
    if threads:
      stream.codec_context.thread_count = threads
    stream.codec_context.skip_frame = skip_frame
    for _ in container.decode(stream):
      pass
  return time.perf_counter() - started


def _best(runs: Sequence[Hashed]) -> Hashed:
  return min(runs, key=lambda r: r.wall_s)


def cost_benchmark(folder: str, fps: float, repeats: int, threads: int,
                   log=print) -> Dict[str, float]:
  summary: Dict[str, float] = {}
  totals = {sampling.APPROXIMATE: 0.0, sampling.EXACT: 0.0}
  log(f'decode + hash at --sampling auto, {fps:g} samples/s, {threads} '
      f'decoder thread(s), best of {repeats}:')
  for clip in CLIPS:
    path = write_bench_video(folder, clip)
    runs = {}
    for fidelity in (sampling.APPROXIMATE, sampling.EXACT):
      runs[fidelity] = _best([scan_hashes(path, fidelity, fps, threads)
                              for _ in range(repeats)])
      totals[fidelity] += runs[fidelity].wall_s
    approx, exact = runs[sampling.APPROXIMATE], runs[sampling.EXACT]
    ratio = exact.wall_s / approx.wall_s
    every, refs = (min(raw_decode_s(path, skip, threads)
                       for _ in range(repeats))
                   for skip in ('DEFAULT', 'NONREF'))
    log(f'  {clip.name:24s} {clip.seconds:4.0f} s video  auto={approx.mode:9s}'
        f' approximate {approx.wall_s:6.2f} s wall {approx.cpu_s:6.2f} s CPU'
        f' | exact {exact.wall_s:6.2f} s wall {exact.cpu_s:6.2f} s CPU'
        f' | x{ratio:.2f}  ({exact.wall_s / clip.seconds:.3f} s per video s)'
        f' | bare decode: every frame {every:.2f} s, reference frames only '
        f'{refs:.2f} s')
    summary[f'{clip.name}_decode_every_frame_s'] = every
    summary[f'{clip.name}_decode_reference_frames_s'] = refs
    summary[f'{clip.name}_approximate_s'] = approx.wall_s
    summary[f'{clip.name}_exact_s'] = exact.wall_s
    summary[f'{clip.name}_approximate_cpu_s'] = approx.cpu_s
    summary[f'{clip.name}_exact_cpu_s'] = exact.cpu_s
    summary[f'{clip.name}_exact_over_approximate'] = ratio
  summary['total_approximate_s'] = totals[sampling.APPROXIMATE]
  summary['total_exact_s'] = totals[sampling.EXACT]
  summary['total_exact_over_approximate'] = (totals[sampling.EXACT] /
                                             totals[sampling.APPROXIMATE])
  log(f'  all clips: approximate {totals[sampling.APPROXIMATE]:.2f} s, exact '
      f'{totals[sampling.EXACT]:.2f} s, x{summary["total_exact_over_approximate"]:.2f}')
  return summary


# ---------------------------------------------------------------------------
# Derived copies.


def _decoded_rgb(path: str) -> Iterator[np.ndarray]:
  with av.open(path) as container:
    for frame in container.decode(container.streams.video[0]):
      yield frame.to_ndarray(format='rgb24')


def _greyscale(rgb: np.ndarray) -> np.ndarray:
  luma = (rgb @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)
  return np.repeat(luma[:, :, None], 3, axis=2)


def _logo(rgb: np.ndarray) -> np.ndarray:
  out = rgb.copy()
  height, width = out.shape[:2]
  h, w = height // 10, width // 8
  out[16:16 + h, width - 16 - w:width - 16] = (250, 250, 250)
  out[16 + h // 3:16 + 2 * h // 3, width - 16 - w + w // 6:width - 16 - w // 6] \
      = (200, 30, 30)
  return out


def _crop(rgb: np.ndarray, share: float = 0.01) -> np.ndarray:
  height, width = rgb.shape[:2]
  dy, dx = int(height * share) // 2 * 2, int(width * share) // 2 * 2
  return np.ascontiguousarray(rgb[dy:height - dy, dx:width - dx])


COPIES = {
    're-encoded crf 38': (lambda rgb: rgb, (('crf', '38'),)),
    'greyscale': (_greyscale, ()),
    'logo overlay': (_logo, ()),
    'cropped 1 %': (_crop, ()),
}


def write_copy(source: str, path: str, transform, options) -> str:
  if os.path.exists(path):
    return path
  with av.open(source) as container:
    rate = float(container.streams.video[0].average_rate)
  frames = (transform(rgb) for rgb in _decoded_rgb(source))
  first = next(frames)
  height, width = first.shape[:2]
  frames = itertools.chain([first], frames)
  codec = dataclasses.replace(H264, options=H264.options + tuple(options))
  partial = path + '.partial.mp4'
  encode_frames(partial, frames, codec, rate, (width, height),
                gop_seconds=COPY_SOURCE.gop_seconds)
  os.replace(partial, path)
  return path


def _vpdq_hashes(vpdq, path: str) -> hm.FrameHashes:
  features = vpdq.computeHash(path, seconds_per_hash=1.0)
  return hm.frame_hashes([bytes.fromhex(f.hex) for f in features],
                         [f.quality for f in features],
                         [int(round(f.timestamp * 1000)) for f in features])


def _ours(hashed: Hashed) -> hm.FrameHashes:
  return hm.frame_hashes_from_records(hashed.hashes)


def _percentages(query: hm.FrameHashes, entry: hm.FrameHashes
                 ) -> Tuple[float, float]:
  index = hm.build_index([hm.BankEntry('source', 'known', entry)])
  results = hm.score_bank(query, index)
  if not results:
    return 0.0, 0.0
  return results[0].query_match_pct, results[0].compared_match_pct


def _distances(ours: hm.FrameHashes, reference: hm.FrameHashes) -> np.ndarray:
  """Each of our hashes against vpdq's hash nearest in time (a hashing
  interval without a decoded frame has no hash of ours)."""
  nearest = [int(np.argmin(np.abs(reference.ts_ms - t))) for t in ours.ts_ms]
  return np.array([int(hm.hamming_distances(ours.pdq[i:i + 1],
                                            reference.pdq[j:j + 1])[0, 0])
                   for i, j in enumerate(nearest)])


def fidelity_benchmark(folder: str, fps: float, threads: int,
                       log=print) -> Dict[str, float]:
  import vpdq  # pylint: disable=import-outside-toplevel
  source = write_bench_video(folder, COPY_SOURCE)
  bank = _vpdq_hashes(vpdq, source)
  summary: Dict[str, float] = {}
  log(f'derived copies of {COPY_SOURCE.name} ({COPY_SOURCE.seconds:.0f} s), '
      'queried against vpdq\'s hashes of the source (match: query % >= 80):')
  log(f'  {"copy":18s} {"hashed by":26s} {"bits from vpdq":>22s} '
      f'{"query %":>8s} {"entry %":>8s}')
  for name, (transform, options) in COPIES.items():
    key = name.split()[0]
    path = write_copy(source, os.path.join(
        folder, f'{COPY_SOURCE.name}-{key}.mp4'), transform, options)
    reference = _vpdq_hashes(vpdq, path)
    rows = [('vpdq', reference)]
    for fidelity, mode in ((sampling.EXACT, sampling.AUTO),
                           (sampling.APPROXIMATE, sampling.FAST),
                           (sampling.APPROXIMATE, sampling.KEYFRAMES)):
      hashed = scan_hashes(path, fidelity, fps, threads, sampling_mode=mode)
      rows.append((f'{fidelity} ({hashed.mode})', _ours(hashed)))
    for label, hashes in rows:
      query_pct, entry_pct = _percentages(hashes, bank)
      distances = _distances(hashes, reference)
      log(f'  {name:18s} {label:26s} max {distances.max():3d} mean '
          f'{distances.mean():5.2f} {query_pct:8.1f} {entry_pct:8.1f}')
      tag = f'{key}_{label.split()[0]}_{label.split("(")[-1].rstrip(")")}'
      summary[f'{tag}_query_pct'] = query_pct
      summary[f'{tag}_compared_pct'] = entry_pct
      summary[f'{tag}_max_bits'] = float(distances.max())
      summary[f'{tag}_mean_bits'] = float(distances.mean())
  return summary


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, float]:
  parser = argparse.ArgumentParser(prog='python -m benchmarks.hash_fidelity')
  parser.add_argument('--folder', default=os.path.join(
      tempfile.gettempdir(), 'rescan_hash_fidelity'),
                      help='where the generated clips are kept and reused')
  parser.add_argument('--fps', type=float, default=1.0,
                      help='classifier samples per second')
  parser.add_argument('--repeats', type=int, default=2)
  parser.add_argument('--threads', type=int, default=1,
                      help='decoder threads (0: one per core)')
  parser.add_argument('--no-copies', dest='copies', action='store_false',
                      help='skip the derived-copy fidelity figures')
  args = parser.parse_args(sys.argv[1:] if argv is None else argv)
  os.makedirs(args.folder, exist_ok=True)
  summary = cost_benchmark(args.folder, args.fps, args.repeats, args.threads)
  if args.copies:
    summary.update(fidelity_benchmark(args.folder, args.fps, args.threads))
  return summary


if __name__ == '__main__':
  main()
