"""The exact hash index: the pairs (hence the match decisions) it finds
equal brute force's, on random, planted, boundary, skewed and empty data,
for every layout and threshold it serves."""
from __future__ import annotations

from typing import Set, Tuple

import numpy as np
import pytest

from benchmarks.hash_matching import flip_bits
from benchmarks.hash_matching import random_hashes
from pipeline.hashes import index as hi
from pipeline.hashes import matching as hm


_random = random_hashes
_at_distance = flip_bits


def _brute(query: np.ndarray, bank: np.ndarray,
           threshold: int) -> Set[Tuple[int, int]]:
  """Every pair within ``threshold``, from the full distance matrix."""
  found = np.argwhere(hm.hamming_distances(query, bank) <= threshold)
  return set(map(tuple, found.tolist()))


def _indexed(query: np.ndarray, index: hi.HashIndex,
             threshold: int) -> Set[Tuple[int, int]]:
  rows, cols = hi.pairs_within_index(np.ascontiguousarray(query.T), index,
                                     threshold)
  pairs = list(zip(rows.tolist(), cols.tolist()))
  assert len(pairs) == len(set(pairs)), 'a pair was returned twice'
  return set(pairs)


def _planted(rng: np.random.Generator, bank_size: int = 600,
             distances=range(0, 41)) -> Tuple[np.ndarray, np.ndarray, dict]:
  """A random bank and queries each planted at a known distance from one
  bank hash: ``{query row: (bank col, distance)}``."""
  bank = _random(bank_size, rng)
  rows = []
  truth = {}
  for distance in distances:
    for _ in range(3):
      col = int(rng.integers(bank_size))
      truth[len(rows)] = (col, distance)
      rows.append(_at_distance(bank[col:col + 1], distance, rng)[0])
  query = np.concatenate([np.array(rows), _random(50, rng)])
  return query, bank, truth


# Every chunk count the planner may choose, from 24-bit chunks (crossing
# word boundaries) to 8-bit ones.
LAYOUTS = (11, 12, 13, 16, 21, 32)


def test_chunk_values_read_the_bits_of_the_hash():
  rng = np.random.default_rng(1)
  packed = _random(40, rng)
  bits = np.unpackbits(packed.astype('>u8').view(np.uint8), axis=1)
  for table in (hi.Table(0, 8, 0), hi.Table(60, 8, 0), hi.Table(59, 24, 1),
                hi.Table(120, 17, 1), hi.Table(232, 24, 2)):
    expected = [int(''.join(map(str, row[table.start:table.start
                                         + table.bits])), 2) for row in bits]
    assert hi.chunk_values(np.ascontiguousarray(packed.T),
                           table).tolist() == expected


def test_flip_masks_enumerate_the_ball():
  masks = hi.flip_masks(10, 2)
  assert len(masks) == len(set(masks.tolist())) == 1 + 10 + 45
  assert masks[0] == 0
  assert max(bin(int(m)).count('1') for m in masks) == 2
  assert hi.probes(hi.Table(0, 10, 2)) == 56


@pytest.mark.parametrize('threshold', [0, 1, 8, 15, 31, 40])
def test_planned_layouts_are_exact_by_the_pigeonhole(threshold):
  for size in (10, 10_000, 1_000_000, 100_000_000):
    tables = hi.plan(threshold, size)
    if tables:
      assert hi.reach(tables) >= threshold
      hi._check(tables)   # pylint: disable=protected-access
  for chunks in range(11, 33):
    tables = hi.layout(chunks, threshold)
    assert hi.reach(tables) == threshold
    hi._check(tables)     # pylint: disable=protected-access


def test_every_threshold_the_rules_allow_is_exact_or_brute_force():
  for threshold in range(-1, 257):
    tables = hi.plan(threshold, 1_000_000)
    assert not tables or hi.reach(tables) >= threshold >= 0
  # The default radius is indexed at archive sizes, wide ones are not.
  assert hi.plan(hm.DISTANCE_THRESHOLD, 1_000_000)
  assert hi.plan(100, 1_000_000) == ()


@pytest.mark.parametrize('chunks', LAYOUTS)
@pytest.mark.parametrize('threshold', [0, 5, 31])
def test_random_data_equals_brute_force(chunks, threshold):
  rng = np.random.default_rng(chunks * 100 + threshold)
  query, bank, truth = _planted(rng)
  index = hi.build_hash_index(np.ascontiguousarray(bank.T), threshold,
                              hi.layout(chunks, threshold))
  expected = _brute(query, bank, threshold)
  assert _indexed(query, index, threshold) == expected
  # The planted ground truth, around the threshold on both sides.
  for row, (col, distance) in truth.items():
    assert ((row, col) in expected) == (distance <= threshold)


def test_planted_boundary_distances_0_to_40_at_the_default_threshold():
  rng = np.random.default_rng(31)
  query, bank, truth = _planted(rng, bank_size=2000)
  words = np.ascontiguousarray(bank.T)
  for tables in (None, hi.layout(13, 31), hi.layout(16, 31)):
    index = hi.build_hash_index(words, 31, tables)
    if tables is None:
      index = hi.build_hash_index(words, 31, hi.plan(31, 1_000_000))
    found = _indexed(query, index, 31)
    assert found == _brute(query, bank, 31)
    for row, (col, distance) in truth.items():
      assert ((row, col) in found) == (distance <= 31), (row, distance)


def test_an_index_answers_lower_thresholds_exactly_and_refuses_higher():
  rng = np.random.default_rng(4)
  query, bank, _ = _planted(rng)
  index = hi.build_hash_index(np.ascontiguousarray(bank.T), 31,
                              hi.layout(16, 31))
  for threshold in (0, 3, 30, 31):
    assert _indexed(query, index, threshold) == _brute(query, bank, threshold)
  for threshold in (32, 255, -1):
    assert not hi.serves(index, threshold)
    with pytest.raises(ValueError):
      hi.pairs_within_index(np.ascontiguousarray(query.T), index, threshold)
  with pytest.raises(ValueError):
    hi.build_hash_index(np.ascontiguousarray(bank.T), 32, hi.layout(16, 31))


def test_skewed_banks_with_shared_chunks_equal_brute_force(monkeypatch):
  """Real banks hold many hashes sharing chunks (flat frames: long runs of
  zero bits), so some buckets hold most of the bank.  Small work blocks
  force the candidate expansion through its block loop."""
  monkeypatch.setattr(hi, 'PROBES_PER_BLOCK', 64)
  monkeypatch.setattr(hi, 'CANDIDATES_PER_BLOCK', 100)
  rng = np.random.default_rng(5)
  sparse = _random(900, rng)
  sparse[:, :2] = 0                        # words 0 and 1 all zero
  sparse[:300, 2] = 0                      # a third of them: 192 zero bits
  sparse[300:600] &= _random(300, rng)     # few bits set elsewhere
  sparse[300:600] &= _random(300, rng)
  bank = np.concatenate([sparse, np.zeros((5, 4), np.uint64),
                         _random(100, rng)])
  query = np.concatenate([
      _at_distance(bank[rng.choice(len(bank), 60)], 20, rng),
      _at_distance(bank[rng.choice(len(bank), 60)], 31, rng),
      _at_distance(bank[rng.choice(len(bank), 60)], 32, rng),
      np.zeros((2, 4), np.uint64), _random(30, rng)])
  for chunks in (11, 13, 16):
    for threshold in (0, 12, 31):
      index = hi.build_hash_index(np.ascontiguousarray(bank.T), threshold,
                                  hi.layout(chunks, threshold))
      expected = _brute(query, bank, threshold)
      assert _indexed(query, index, threshold) == expected
      # Truly skewed: the first chunk's zero bucket holds over 900 hashes.
      assert np.diff(index.offsets[0]).max() > 900
  assert len(_brute(query, bank, 31)) > 1000


def test_empty_banks_and_queries():
  rng = np.random.default_rng(6)
  some = np.ascontiguousarray(_random(20, rng).T)
  nothing = np.zeros((4, 0), np.uint64)
  empty_bank = hi.build_hash_index(nothing, 31, hi.layout(16, 31))
  assert empty_bank.size == 0
  for query, index in ((some, empty_bank),
                       (nothing, hi.build_hash_index(some, 31,
                                                     hi.layout(16, 31)))):
    rows, cols = hi.pairs_within_index(query, index, 31)
    assert rows.shape == cols.shape == (0,)
  assert hi.build_hash_index(nothing, 31).tables == ()
  assert hi.optional_index(some, 31, min_size=1000) is None


def _bank_and_videos(rng: np.random.Generator):
  """Bank entries of 20 hashes, and videos made of planted near-copies at
  distances around the threshold plus random frames."""
  bank = _random(4000, rng)
  entries = [hm.BankEntry(f'e{i}', 'known', hm.FrameHashes(
      bank[i * 20:(i + 1) * 20], np.full(20, 100, np.int32),
      np.arange(20, dtype=np.int64) * 1000)) for i in range(200)]
  videos = []
  for number in range(40):
    entry = entries[int(rng.integers(len(entries)))]
    distance = int(rng.integers(24, 40))
    copied = _at_distance(entry.hashes.pdq[:int(rng.integers(5, 21))],
                          distance, rng)
    frames = np.concatenate([copied, _random(int(rng.integers(0, 10)), rng)])
    quality = np.where(rng.random(len(frames)) < 0.1, 10, 100).astype(
        np.int32)
    videos.append(hm.FrameHashes(frames, quality,
                                 np.arange(len(frames), dtype=np.int64) * 40))
  return entries, videos


def test_match_decisions_through_the_bank_index_equal_brute_force(
    monkeypatch):
  monkeypatch.setattr(hm, 'INDEXED_BANK_HASHES', 1)
  monkeypatch.setattr(hi, 'WORTH_IT', 1e9)     # index even a small bank
  rng = np.random.default_rng(7)
  entries, videos = _bank_and_videos(rng)
  rules = hm.MatchRules(query_match_pct=50.0)
  indexed = hm.build_index(entries, rules, bank='b')
  assert indexed.hash_index is not None and indexed.hash_index.tables
  brute = indexed._replace(hash_index=None)
  decided = 0
  for video in videos:
    by_index = hm.score_bank(video, indexed, rules)
    by_brute = hm.score_bank(video, brute, rules)
    assert sorted(by_index) == sorted(by_brute)
    assert hm.match_bank(video, indexed, rules) == \
        hm.match_bank(video, brute, rules)
    decided += len(hm.match_bank(video, brute, rules))
  assert 5 < decided < len(videos)   # both decisions occur
  # A threshold the index was not built for falls back to brute force.
  wider = rules._replace(distance_threshold=45)
  assert hm.score_bank(videos[0], indexed, wider) == \
      hm.score_bank(videos[0], brute, wider)


def test_small_banks_keep_brute_force():
  rng = np.random.default_rng(8)
  entries, _ = _bank_and_videos(rng)
  assert hm.build_index(entries[:10]).hash_index is None


def test_mirror_decisions_through_the_bank_index_equal_brute_force(
    monkeypatch):
  """Videos whose mirror hashes (not their direct ones) are near-copies of
  bank entries: the index and brute force decide alike, and the decisions
  come through the mirror hashes."""
  monkeypatch.setattr(hm, 'INDEXED_BANK_HASHES', 1)
  monkeypatch.setattr(hi, 'WORTH_IT', 1e9)     # index even a small bank
  rng = np.random.default_rng(11)
  entries, planted = _bank_and_videos(rng)
  videos = [hm.FrameHashes(_random(len(v.quality), rng), v.quality, v.ts_ms,
                           mirror=v.pdq) for v in planted]
  rules = hm.MatchRules(query_match_pct=50.0)
  indexed = hm.build_index(entries, rules, bank='b')
  assert indexed.hash_index is not None and indexed.hash_index.tables
  brute = indexed._replace(hash_index=None)
  decided = 0
  for video, direct in zip(videos, planted):
    by_index = hm.match_bank(video, indexed, rules)
    assert by_index == hm.match_bank(video, brute, rules)
    assert all(m.mirrored for m in by_index)
    # The same decisions as the direct hashes of the planted video.
    assert [m._replace(mirrored=False) for m in by_index] == \
        hm.match_bank(direct, brute, rules)
    decided += len(by_index)
  assert 5 < decided < len(videos)
