"""How fast stored frame hashes are matched against a hash bank.

    python -m benchmarks.hash_matching [--bank-hashes 10000]
        [--stored-hashes 1000000] [--hashes-per-video 500] [--downscale]

Matches ``--stored-hashes`` random frame hashes, grouped into videos of
``--hashes-per-video``, against a bank of ``--bank-hashes`` (entries of 20
hashes) with ``pipeline.hashes.matching.match_bank``, on one core, as one
``MatchVideos`` worker does.  A few videos carry planted near-copies of bank
entries, so the near-pair path is exercised and checked.

``--downscale`` also measures what hashing a downscaled frame costs in
Hamming distance against the full-resolution hash, and the time per frame.
Not a test: prints a summary and returns it as a dict.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Dict, Optional, Sequence

import numpy as np

from pipeline.hashes import matching as hm

ENTRY_HASHES = 20
PLANTED_VIDEOS = 10


def flip_bits(packed: np.ndarray, bits: int,
               rng: np.random.Generator) -> np.ndarray:
  """Each hash with ``bits`` random bits flipped."""
  unpacked = np.unpackbits(packed.astype('>u8').view(np.uint8), axis=1)
  for row in unpacked:
    row[rng.choice(256, bits, replace=False)] ^= 1
  return np.packbits(unpacked, axis=1).view('>u8').astype(np.uint64)


def random_hashes(count: int, rng: np.random.Generator) -> np.ndarray:
  return rng.integers(0, np.iinfo(np.uint64).max, size=(count, hm.WORDS),
                      dtype=np.uint64, endpoint=True)


def matching_benchmark(bank_hashes: int = 10_000,
                       stored_hashes: int = 1_000_000,
                       hashes_per_video: int = 500,
                       seed: int = 0) -> Dict[str, float]:
  rng = np.random.default_rng(seed)
  entries = []
  bank = random_hashes(bank_hashes, rng)
  for number, start in enumerate(range(0, bank_hashes, ENTRY_HASHES)):
    chunk = bank[start:start + ENTRY_HASHES]
    entries.append(hm.BankEntry(f'entry{number}', 'known', hm.FrameHashes(
        chunk, np.full(len(chunk), 100, np.int32),
        np.arange(len(chunk), dtype=np.int64) * 1000)))
  started = time.perf_counter()
  index = hm.build_index(entries, bank='benchmark')
  index_s = time.perf_counter() - started

  videos = max(stored_hashes // hashes_per_video, 1)
  stored = random_hashes(videos * hashes_per_video, rng)
  planted = {}
  for video in rng.choice(videos, min(PLANTED_VIDEOS, videos), replace=False):
    entry = int(rng.integers(len(entries)))
    rows = slice(video * hashes_per_video,
                 video * hashes_per_video + ENTRY_HASHES)
    stored[rows] = flip_bits(entries[entry].hashes.pdq, 12, rng)
    planted[int(video)] = entries[entry].entry_id
  quality = np.full(hashes_per_video, 100, np.int32)
  ts_ms = np.arange(hashes_per_video, dtype=np.int64) * 1000
  rules = hm.MatchRules(query_match_pct=0.0)

  found = {}
  started = time.perf_counter()
  for video in range(videos):
    query = hm.FrameHashes(
        stored[video * hashes_per_video:(video + 1) * hashes_per_video],
        quality, ts_ms)
    for result in hm.match_bank(query, index, rules):
      found.setdefault(video, []).append(result.entry_id)
  elapsed = time.perf_counter() - started

  pairs = float(videos * hashes_per_video) * bank_hashes
  summary = {
      'bank_hashes': float(bank_hashes),
      'stored_hashes': float(videos * hashes_per_video),
      'videos': float(videos),
      'seconds': elapsed,
      'index_seconds': index_s,
      'pairs_per_second': pairs / elapsed,
      'stored_hashes_per_second': videos * hashes_per_video / elapsed,
      'planted_found': float(sum(planted[v] in found.get(v, [])
                                 for v in planted)),
      'planted': float(len(planted)),
      'false_matches': float(sum(len(e) for v, e in found.items()
                                 if v not in planted)),
  }
  print(f'hash matching: {summary["stored_hashes"]:,.0f} stored hashes '
        f'({videos:,} videos) x {bank_hashes:,} bank hashes in '
        f'{elapsed:.1f} s on one core: '
        f'{summary["pairs_per_second"] / 1e6:,.0f} M hash pairs/s, '
        f'{summary["stored_hashes_per_second"]:,.0f} stored hashes/s; '
        f'planted {summary["planted_found"]:.0f}/{len(planted)} found, '
        f'{summary["false_matches"]:.0f} false matches')
  return summary


def downscale_benchmark(sizes: Sequence[Optional[tuple]] = (
    (512, None), (224, 224), (96, 96)), frames: int = 48,
                        seed: int = 0) -> Dict[str, float]:
  """Hamming distance of hashes of downscaled frames to full-resolution
  ones, on 1920x1080 H.264 video decoded with PyAV as the scan does."""
  import os  # pylint: disable=import-outside-toplevel
  import tempfile  # pylint: disable=import-outside-toplevel

  import av  # pylint: disable=import-outside-toplevel

  from pipeline.hashes.pdq import hash_frame  # pylint: disable=import-outside-toplevel
  from pipeline.hashes.pdq import hash_size  # pylint: disable=import-outside-toplevel
  from tests.test_hash_matching import encode_frames  # pylint: disable=import-outside-toplevel
  from tests.test_hash_matching import render_textured  # pylint: disable=import-outside-toplevel

  width, height = 1920, 1080
  summary: Dict[str, float] = {}
  with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, 'full_hd.mp4')
    encode_frames(path, (render_textured(seed + i, 0.7 * i, width, height)
                         for i in range(frames)), 'h264', 1.0,
                  (width, height))
    with av.open(path) as container:
      decoded = list(container.decode(video=0))
    timings = {}
    started = time.perf_counter()
    full = [hash_frame(f.to_ndarray(format='rgb24')) for f in decoded]
    timings['full'] = (time.perf_counter() - started) / len(decoded)
    print(f'downscale: {len(decoded)} frames {width}x{height}, full '
          f'resolution convert+hash {timings["full"] * 1000:.1f} ms/frame')
    for target in sizes:
      size = (hash_size(width, height, target[0]) if target[1] is None
              else target)
      for interpolation in ('BILINEAR', 'AREA'):
        started = time.perf_counter()
        small = [hash_frame(f.to_ndarray(format='rgb24', width=size[0],
                                         height=size[1],
                                         interpolation=interpolation))
                 for f in decoded]
        per_frame = (time.perf_counter() - started) / len(decoded)
        distances = [bin(int.from_bytes(a[0], 'big') ^
                         int.from_bytes(b[0], 'big')).count('1')
                     for a, b in zip(full, small)]
        name = f'{size[0]}x{size[1]}_{interpolation.lower()}'
        summary[name + '_mean_bits'] = float(np.mean(distances))
        summary[name + '_max_bits'] = float(np.max(distances))
        summary[name + '_ms_per_frame'] = per_frame * 1000
        print(f'  {name:>20}: Hamming to full resolution mean '
              f'{np.mean(distances):.2f}, max {np.max(distances)}, '
              f'quality change max '
              f'{max(abs(a[1] - b[1]) for a, b in zip(full, small))}; '
              f'{per_frame * 1000:.1f} ms/frame')
  summary['full_ms_per_frame'] = timings['full'] * 1000
  return summary


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, float]:
  parser = argparse.ArgumentParser(prog='python -m benchmarks.hash_matching')
  parser.add_argument('--bank-hashes', type=int, default=10_000)
  parser.add_argument('--stored-hashes', type=int, default=1_000_000)
  parser.add_argument('--hashes-per-video', type=int, default=500)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--downscale', action='store_true',
                      help='also measure hashing downscaled frames')
  args = parser.parse_args(sys.argv[1:] if argv is None else argv)
  summary = matching_benchmark(args.bank_hashes, args.stored_hashes,
                               args.hashes_per_video, args.seed)
  if args.downscale:
    summary.update(downscale_benchmark(seed=args.seed))
  return summary


if __name__ == '__main__':
  main()
