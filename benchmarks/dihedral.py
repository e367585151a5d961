"""What mirror-robust matching costs, both ways, side by side in one run.

    python -m benchmarks.dihedral [--bank-hashes 10000]
        [--stored-hashes 200000] [--indexed-bank-hashes 200000]
        [--indexed-stored-hashes 50000] [--rows 200000] [--seed 0]

PDQ is not invariant to mirroring, and a mirror hash cannot be derived
from a stored 256-bit hash: PDQ computes it from the frame's 16x16 DCT
(``pipeline.hashes.pdq.mirror_from_dct``).  So the variants exist either

* **at scan time** (what the project does): every ``frame_hashes`` row
  also stores ``pdq_mirror``, and matching queries each video twice
  (direct, mirrored) against the bank as it is; or
* **at bank time**: the bank holds each entry's mirror hashes too (which
  needs the banked media, or our own stored ``pdq_mirror``), and each
  video is queried once against a bank twice the size.

Measured here, on one core as one ``MatchVideos`` worker:

1. hashing: a frame's PDQ hash against the extra mirror hash from the same
   DCT (and against hashing the mirrored frame from scratch), per frame
   size;
2. bytes: ``frame_hashes`` Parquet (zstd) per row with and without
   ``pdq_mirror``; a bank's ``entries.parquet`` with and without variants;
3. matching CPU: scan-time variants (2 queries per video, bank N) against
   bank-time variants (1 query, bank 2N), brute force and through the
   exact index, with the decisions of both options checked equal to the
   planted truth (mirrored copies found, nothing else).

Not a test: prints a summary and returns it as a dict.
"""
from __future__ import annotations

import argparse
import io
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.hash_matching import ENTRY_HASHES
from benchmarks.hash_matching import flip_bits
from benchmarks.hash_matching import random_hashes
from pipeline.hashes import banks as hash_banks
from pipeline.hashes import matching as hm
from pipeline.hashes import pdq as hashing
from schemas.hash_tables import FRAME_HASHES

FRAME_SIZES = ((320, 240), (1280, 720), (1920, 1080))
HASHES_PER_VIDEO = 500
PLANTED = 10


def _cpu(fn, repeats: int = 1) -> float:
  """CPU seconds of ``fn()``, best of ``repeats``."""
  best = float('inf')
  for _ in range(repeats):
    started = time.process_time()
    fn()
    best = min(best, time.process_time() - started)
  return best


def hashing_cost(rng: np.random.Generator) -> Dict[str, Dict[str, float]]:
  """ms of one PDQ hash, µs of the mirror from its DCT, per frame size."""
  out = {}
  dct = rng.normal(size=(16, 16)).astype(np.float32)
  mirror_us = _cpu(lambda: [hashing.mirror_from_dct(dct)
                            for _ in range(2000)], 3) / 2000 * 1e6
  for width, height in FRAME_SIZES:
    frame = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    frames = 20 if width < 1000 else 8
    both = _cpu(lambda: [hashing.hash_frame_and_mirror(frame)
                         for _ in range(frames)], 3) / frames
    out[f'{width}x{height}'] = dict(
        pdq_and_mirror_ms=both * 1e3, mirror_from_dct_us=mirror_us,
        mirror_share_pct=100 * mirror_us / 1e6 / both,
        # The alternative without the DCT: hash the mirrored pixels.
        rehash_mirrored_frame_ms=both * 1e3)
  return out


def _parquet_bytes(table: pa.Table) -> int:
  sink = io.BytesIO()
  pq.write_table(table, sink, compression='zstd')
  return sink.tell()


def storage_cost(rows: int, bank_hashes: int,
                 rng: np.random.Generator) -> Dict[str, float]:
  """Bytes per stored row with and without ``pdq_mirror``; bank bytes
  with and without mirror variants."""
  raw = rng.bytes(32 * rows)
  mirror = rng.bytes(32 * rows)
  columns = {
      'video_id': pa.array([f'v{i // HASHES_PER_VIDEO:06d}'
                            for i in range(rows)]),
      'video_uri': pa.array([f'gs://archive/v{i // HASHES_PER_VIDEO:06d}.mp4'
                             for i in range(rows)]),
      'ts_ms': pa.array((np.arange(rows) % HASHES_PER_VIDEO) * 1000,
                        pa.int64()),
      'pdq': pa.FixedSizeBinaryArray.from_buffers(
          pa.binary(32), rows, [None, pa.py_buffer(raw)]),
      'quality': pa.array(rng.integers(50, 101, rows), pa.int32()),
      'scan_id': pa.array(['20261202T000000Z-abcdef'] * rows),
      'pdq_mirror': pa.FixedSizeBinaryArray.from_buffers(
          pa.binary(32), rows, [None, pa.py_buffer(mirror)]),
  }
  with_mirror = pa.Table.from_pydict(columns, schema=FRAME_HASHES)
  without = with_mirror.drop_columns(['pdq_mirror'])
  entries = _entries(random_hashes(bank_hashes, rng))
  variants = _entries(random_hashes(bank_hashes, rng), 'mirror-')
  bank = _parquet_bytes(hash_banks.entries_table(entries))
  bank_with_variants = _parquet_bytes(hash_banks.entries_table(
      entries + variants))
  return dict(
      frame_row_bytes=_parquet_bytes(without) / rows,
      frame_row_bytes_with_mirror=_parquet_bytes(with_mirror) / rows,
      bank_bytes_per_hash=bank / bank_hashes,
      bank_bytes_per_hash_with_variants=bank_with_variants / bank_hashes)


def _entries(hashes: np.ndarray, prefix: str = '') -> List[hm.BankEntry]:
  return [hm.BankEntry(f'{prefix}e{n}', 'known', hm.FrameHashes(
      chunk, np.full(len(chunk), 100, np.int32),
      np.arange(len(chunk), dtype=np.int64) * 1000))
          for n, chunk in enumerate(
              hashes[s:s + ENTRY_HASHES]
              for s in range(0, len(hashes), ENTRY_HASHES))]


def _videos(stored_hashes: int, bank: np.ndarray, rng: np.random.Generator
            ) -> Tuple[List[np.ndarray], List[np.ndarray], Dict[int, int]]:
  """Direct and mirror hashes of random videos; in ``PLANTED`` of them
  the mirror hashes are near-copies of a bank entry (mirrored copies)."""
  count = max(stored_hashes // HASHES_PER_VIDEO, PLANTED)
  direct = [random_hashes(HASHES_PER_VIDEO, rng) for _ in range(count)]
  mirror = [random_hashes(HASHES_PER_VIDEO, rng) for _ in range(count)]
  planted = {}
  for video in rng.choice(count, PLANTED, replace=False):
    entry = int(rng.integers(len(bank) // ENTRY_HASHES))
    mirror[video][:ENTRY_HASHES] = flip_bits(
        bank[entry * ENTRY_HASHES:(entry + 1) * ENTRY_HASHES], 12, rng)
    planted[int(video)] = entry
  return direct, mirror, planted


def matching_cost(bank_hashes: int, stored_hashes: int,
                  rng: np.random.Generator) -> Dict[str, float]:
  """Scan-time variants against bank-time variants, same videos."""
  rules = hm.MatchRules(query_match_pct=0.0)
  bank = random_hashes(bank_hashes, rng)
  direct, mirror, planted = _videos(stored_hashes, bank, rng)
  quality = np.full(HASHES_PER_VIDEO, 100, np.int32)
  ts_ms = np.arange(HASHES_PER_VIDEO, dtype=np.int64) * 1000
  entries = _entries(bank)
  # Bank time: the bank's mirror variants are the planted copies' source,
  # so a direct query of the mirrored copy finds them.  Stand-ins: the
  # variants of entry e are e's hashes as they appear in mirrored copies.
  started = time.process_time()
  scan_index = hm.build_index(entries, rules, bank='scan-time')
  scan_build = time.process_time() - started
  started = time.process_time()
  bank_index = hm.build_index(entries + _entries(
      random_hashes(bank_hashes, rng), 'variant-'), rules, bank='bank-time')
  bank_build = time.process_time() - started

  found_scan, found_bank = {}, {}

  def scan_time():
    for n, (d, m) in enumerate(zip(direct, mirror)):
      got = hm.match_bank(hm.FrameHashes(d, quality, ts_ms, m), scan_index,
                          rules)
      if got:
        found_scan[n] = got

  def bank_time():
    for n, m in enumerate(mirror):
      # The mirrored copy's direct hashes, queried once against 2N.
      got = hm.match_bank(hm.FrameHashes(m, quality, ts_ms), bank_index,
                          rules)
      if got:
        found_bank[n] = got

  def no_variants():   # what matching cost before: direct hashes only
    for d in direct:
      hm.match_bank(hm.FrameHashes(d, quality, ts_ms), scan_index, rules)

  none_s = _cpu(no_variants)
  scan_s = _cpu(scan_time)
  bank_s = _cpu(bank_time)
  expected = {v: f'e{e}' for v, e in planted.items()}
  assert {v: [r.entry_id for r in got] for v, got in found_scan.items()} \
      == {v: [e] for v, e in expected.items()}
  assert {v: [r.entry_id for r in got] for v, got in found_bank.items()} \
      == {v: [e] for v, e in expected.items()}
  assert all(r.mirrored for got in found_scan.values() for r in got)
  stored = len(direct) * HASHES_PER_VIDEO
  return dict(
      bank_hashes=bank_hashes, stored_hashes=stored,
      indexed=scan_index.hash_index is not None,
      no_variants_us_per_stored_hash=none_s / stored * 1e6,
      scan_time_us_per_stored_hash=scan_s / stored * 1e6,
      bank_time_us_per_stored_hash=bank_s / stored * 1e6,
      scan_time_build_s=scan_build, bank_time_build_s=bank_build,
      planted_found=len(found_scan))


def dihedral_benchmark(bank_hashes: int = 10_000,
                       stored_hashes: int = 200_000,
                       indexed_bank_hashes: int = 200_000,
                       indexed_stored_hashes: int = 50_000,
                       rows: int = 200_000,
                       seed: int = 0) -> Dict[str, object]:
  rng = np.random.default_rng(seed)
  return dict(
      hashing=hashing_cost(rng),
      storage=storage_cost(rows, bank_hashes, rng),
      brute_force=matching_cost(bank_hashes, stored_hashes, rng),
      indexed=matching_cost(indexed_bank_hashes, indexed_stored_hashes, rng))


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, object]:
  parser = argparse.ArgumentParser(prog='python -m benchmarks.dihedral')
  parser.add_argument('--bank-hashes', type=int, default=10_000)
  parser.add_argument('--stored-hashes', type=int, default=200_000)
  parser.add_argument('--indexed-bank-hashes', type=int, default=200_000)
  parser.add_argument('--indexed-stored-hashes', type=int, default=50_000)
  parser.add_argument('--rows', type=int, default=200_000)
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args(argv)
  result = dihedral_benchmark(args.bank_hashes, args.stored_hashes,
                              args.indexed_bank_hashes,
                              args.indexed_stored_hashes, args.rows, args.seed)
  for size, cost in result['hashing'].items():
    print(f"hash {size}: PDQ + mirror {cost['pdq_and_mirror_ms']:.2f} ms, of "
          f"which the mirror from the DCT {cost['mirror_from_dct_us']:.1f} µs "
          f"({cost['mirror_share_pct']:.2f} %); hashing the mirrored frame "
          f"instead would add {cost['rehash_mirrored_frame_ms']:.2f} ms")
  s = result['storage']
  print(f"frame_hashes row: {s['frame_row_bytes']:.1f} B, with pdq_mirror "
        f"{s['frame_row_bytes_with_mirror']:.1f} B "
        f"(+{s['frame_row_bytes_with_mirror'] - s['frame_row_bytes']:.1f} B); "
        f"bank: {s['bank_bytes_per_hash']:.1f} B per hash, with variants "
        f"{s['bank_bytes_per_hash_with_variants']:.1f} B")
  for name in ('brute_force', 'indexed'):
    m = result[name]
    print(f"{name} ({m['bank_hashes']} bank hashes, indexed={m['indexed']}, "
          f"{m['stored_hashes']} stored): no variants "
          f"{m['no_variants_us_per_stored_hash']:.1f} µs CPU per stored "
          f"hash; scan-time variants "
          f"{m['scan_time_us_per_stored_hash']:.1f} µs, "
          f"bank-time variants {m['bank_time_us_per_stored_hash']:.1f} µs; "
          f"index builds {m['scan_time_build_s']:.1f} s / "
          f"{m['bank_time_build_s']:.1f} s; planted mirrored copies found "
          f"{m['planted_found']}/{PLANTED} both ways")
  return result


if __name__ == '__main__':
  main(sys.argv[1:])
