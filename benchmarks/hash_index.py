"""The exact hash index against brute force, side by side in one run.

    python -m benchmarks.hash_index [--bank-hashes 1000000]
        [--stored-hashes 10000000] [--hashes-per-video 500]
        [--brute-videos 20] [--seed 0]

A bank of ``--bank-hashes`` random hashes (entries of 20) is matched
against ``--stored-hashes`` random stored hashes grouped into videos, with
``pipeline.hashes.matching.match_bank`` on one core, as one ``MatchVideos``
worker does: first through the bank's hash index (every video), then by
brute force.  Brute force over every pair is out of reach at full size
(10^13 pairs), so it runs on a random subsample of ``--brute-videos``
videos, plus every planted one, and its cost per stored hash is
extrapolated to the whole set; the output says so.  Decisions must be equal
on every video both ran (asserted), and equal the planted ground truth:
videos holding copies of an entry at known distances 0..40, found exactly
when the distance is <= 31.

Times are wall clock and CPU time of this process (the machine may be
shared; CPU time is the steadier of the two, and the speed-up is given in
both).  Not a test: prints a summary and returns it as a dict.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from typing import Dict, List, Optional, Sequence

import numpy as np

from benchmarks.hash_matching import ENTRY_HASHES
from benchmarks.hash_matching import flip_bits
from benchmarks.hash_matching import random_hashes
from pipeline.hashes import index as hash_index
from pipeline.hashes import matching as hm

# Planted copies: distances around the 31-bit threshold, on both sides.
PLANTED_DISTANCES = (0, 8, 16, 24, 28, 30, 31, 32, 33, 36, 40)


class _Clock:
  """Wall and CPU seconds of a block."""

  def __enter__(self) -> '_Clock':
    self.wall, self.cpu = time.perf_counter(), time.process_time()
    return self

  def __exit__(self, *exc) -> None:
    self.wall = time.perf_counter() - self.wall
    self.cpu = time.process_time() - self.cpu


def _decisions(videos: Sequence[hm.FrameHashes], index: hm.BankIndex,
               rules: hm.MatchRules) -> List[List[hm.MatchResult]]:
  return [sorted(hm.match_bank(video, index, rules)) for video in videos]


def index_benchmark(bank_hashes: int = 1_000_000,
                    stored_hashes: int = 10_000_000,
                    hashes_per_video: int = 500, brute_videos: int = 20,
                    seed: int = 0) -> Dict[str, float]:
  rng = np.random.default_rng(seed)
  bank = random_hashes(bank_hashes, rng)
  entries = len(range(0, bank_hashes, ENTRY_HASHES))
  lengths = np.full(entries, ENTRY_HASHES, np.int64)
  lengths[-1] = bank_hashes - ENTRY_HASHES * (entries - 1)
  rules = hm.MatchRules(query_match_pct=0.0)
  with _Clock() as build:
    indexed = hm.index_from_arrays(
        [f'entry{i}' for i in range(entries)], ['known'] * entries, lengths,
        bank, np.full(bank_hashes, 100, np.int32), rules, 'benchmark')
  if indexed.hash_index is None:
    raise SystemExit(f'a bank of {bank_hashes} hashes is matched by brute '
                     'force (below INDEXED_BANK_HASHES or no layout pays)')
  brute = indexed._replace(hash_index=None)

  videos = max(stored_hashes // hashes_per_video, 1)
  stored = random_hashes(videos * hashes_per_video, rng)
  planted = {}   # video -> (entry, distance)
  chosen = rng.choice(videos, min(len(PLANTED_DISTANCES), videos),
                      replace=False)
  for video, distance in zip(chosen.tolist(), PLANTED_DISTANCES):
    entry = int(rng.integers(entries))
    start = video * hashes_per_video
    copy = bank[entry * ENTRY_HASHES:(entry + 1) * ENTRY_HASHES]
    stored[start:start + len(copy)] = flip_bits(copy, distance, rng)
    planted[video] = (f'entry{entry}', distance)
  quality = np.full(hashes_per_video, 100, np.int32)
  ts_ms = np.arange(hashes_per_video, dtype=np.int64) * 1000

  def video(number: int) -> hm.FrameHashes:
    return hm.FrameHashes(stored[number * hashes_per_video:
                                 (number + 1) * hashes_per_video],
                          quality, ts_ms)

  with _Clock() as by_index:
    found = _decisions([video(v) for v in range(videos)], indexed, rules)
  sample = sorted(set(planted) | set(rng.choice(
      videos, min(brute_videos, videos), replace=False).tolist()))
  with _Clock() as by_brute:
    brute_found = _decisions([video(v) for v in sample], brute, rules)
  assert brute_found == [found[v] for v in sample], \
      'index and brute force decided differently'
  for number, (entry, distance) in planted.items():
    assert (entry in [r.entry_id for r in found[number]]) == (distance <= 31)
  false_matches = sum(len(found[v]) for v in range(videos)
                      if v not in planted)
  assert false_matches == 0

  total = videos * hashes_per_video
  sampled = len(sample) * hashes_per_video
  index_cpu, index_wall = by_index.cpu / total, by_index.wall / total
  brute_cpu, brute_wall = by_brute.cpu / sampled, by_brute.wall / sampled
  summary = {
      'bank_hashes': float(bank_hashes),
      'stored_hashes': float(total),
      'videos': float(videos),
      'index_build_seconds': build.wall,
      'index_bytes': float(hash_index.index_bytes(indexed.hash_index)),
      'bank_words_bytes': float(indexed.words.nbytes),
      'index_tables': float(len(indexed.hash_index.tables)),
      'index_seconds': by_index.wall,
      'index_cpu_seconds': by_index.cpu,
      'index_us_per_hash': index_wall * 1e6,
      'index_cpu_us_per_hash': index_cpu * 1e6,
      'index_hashes_per_second': 1 / index_wall,
      'brute_sampled_hashes': float(sampled),
      'brute_sample_seconds': by_brute.wall,
      'brute_us_per_hash': brute_wall * 1e6,
      'brute_cpu_us_per_hash': brute_cpu * 1e6,
      'brute_extrapolated_seconds': brute_wall * total,
      'speedup': brute_wall / index_wall,
      'speedup_cpu': brute_cpu / index_cpu,
      'decisions_compared_videos': float(len(sample)),
      'planted': float(len(planted)),
      'planted_within_threshold': float(sum(d <= 31
                                            for _, d in planted.values())),
      'false_matches': float(false_matches),
      'peak_rss_bytes': float(resource.getrusage(
          resource.RUSAGE_SELF).ru_maxrss * 1024),
  }
  layout = sorted({(t.bits, t.radius) for t in indexed.hash_index.tables})
  print(f'hash index: bank {bank_hashes:,} hashes x {total:,} stored hashes '
        f'({videos:,} videos of {hashes_per_video}), one core, threshold '
        f'{rules.distance_threshold}\n'
        f'  index: {len(indexed.hash_index.tables)} tables '
        f'(bits, radius) {layout}; built in {build.wall:.1f} s; '
        f'{summary["index_bytes"] / 2**20:,.0f} MiB of tables (+ '
        f'{summary["bank_words_bytes"] / 2**20:,.0f} MiB of bank words, '
        f'which brute force holds too)\n'
        f'  index, all {total:,} stored hashes: {by_index.wall:,.1f} s wall '
        f'({by_index.cpu:,.1f} s CPU): {index_wall * 1e6:,.1f} us/hash, '
        f'{1 / index_wall:,.0f} hashes/s\n'
        f'  brute force, MEASURED on a subsample of {len(sample)} videos '
        f'({sampled:,} stored hashes: {len(planted)} planted + random): '
        f'{by_brute.wall:,.1f} s wall ({by_brute.cpu:,.1f} s CPU): '
        f'{brute_wall * 1e6:,.0f} us/hash\n'
        f'  brute force, EXTRAPOLATED to all {total:,} stored hashes: '
        f'{brute_wall * total:,.0f} s ({brute_wall * total / 3600:,.1f} h)\n'
        f'  speed-up at equal decisions: {summary["speedup"]:,.1f}x wall, '
        f'{summary["speedup_cpu"]:,.1f}x CPU (decisions equal on all '
        f'{len(sample)} videos both ran; planted copies at distances '
        f'{list(PLANTED_DISTANCES)}: found exactly those <= 31; '
        f'{false_matches} false matches)\n'
        f'  peak RSS {summary["peak_rss_bytes"] / 2**20:,.0f} MiB')
  return summary


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, float]:
  parser = argparse.ArgumentParser(prog='python -m benchmarks.hash_index')
  parser.add_argument('--bank-hashes', type=int, default=1_000_000)
  parser.add_argument('--stored-hashes', type=int, default=10_000_000)
  parser.add_argument('--hashes-per-video', type=int, default=500)
  parser.add_argument('--brute-videos', type=int, default=20,
                      help='random videos also matched by brute force, '
                      'besides the planted ones (default %(default)s)')
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args(sys.argv[1:] if argv is None else argv)
  return index_benchmark(args.bank_hashes, args.stored_hashes,
                         args.hashes_per_video, args.brute_videos, args.seed)


if __name__ == '__main__':
  main()
