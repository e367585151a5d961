"""An exact index of 256-bit PDQ hashes for Hamming-radius search.

Brute force compares every stored hash with every bank hash: a 1M-hash bank
against 10^8 stored hashes is 10^14 comparisons.  This is multi-index
hashing (Norouzi, Punjani and Fleet, "Fast Exact Search in Hamming Space
with Multi-Index Hashing", 2014) with per-chunk radii:

* the 256 bits are cut into ``k`` disjoint chunks of 8..24 bits, and chunk
  ``i`` gets a probe radius ``tau_i``; each chunk is a table (a bucket per
  chunk value, laid out as CSR: ``offsets`` and bank ``ids``);
* a query looks up, in every table, every bucket within ``tau_i`` bits of
  its own chunk value; the bank hashes found there are candidates, verified
  by their full distance.

Exactness is the pigeonhole principle: the chunks are disjoint, so a pair's
distance is at least the sum of its chunk distances.  If every chunk
differed in ``tau_i + 1`` bits or more, the distance would be at least
``sum(tau_i + 1)``.  The radii are chosen so that ``sum(tau_i + 1) >
threshold``, so a pair within the threshold differs in some chunk ``i`` by
at most ``tau_i`` bits and is a candidate of table ``i``.  Candidates are
verified by full distance, so no pair beyond the threshold is returned, and
matched pairs are deduplicated across tables: the pair set equals brute
force's, for any threshold the layout was built for (and any lower one).

The layout (chunk widths and radii) is chosen per threshold and bank size by
a cost model (probes plus expected candidates per query, against the cost of
brute force); where no layout beats brute force (large thresholds, tiny
banks) the index is empty and ``serves`` says so, and the caller keeps brute
force.  Skewed banks (many hashes sharing a chunk value, e.g. flat frames'
all-zero chunks) stay exact; they only make more candidates.

Pure numpy; no Python loop runs over pairs or queries.
"""
from __future__ import annotations

import functools
import itertools
import math
from typing import List, NamedTuple, Optional, Tuple

import numpy as np

HASH_BITS = 256
WORD_BITS = 64
WORDS = HASH_BITS // WORD_BITS
# Chunk widths the layout may use.  Narrow chunks make large buckets; wide
# ones make large offset tables (2^bits entries each).
MIN_CHUNK_BITS = 8
MAX_CHUNK_BITS = 24
# A table's offsets may take at most this many entries per bank hash (and
# always 2^16): bounds the index's memory to a few times the bank's.
OFFSETS_PER_HASH = 4
# Relative costs of the cost model, in nanoseconds on one core of the
# benchmark machine (benchmarks/hash_index.py): one bucket probe, one
# candidate verified, one pair compared by brute force.
PROBE_NS = 30.0
CANDIDATE_NS = 24.0
BRUTE_PAIR_NS = 2.0
# An index is used only when its expected cost per query is at most this
# share of brute force's.
WORTH_IT = 0.5
# Work per vectorized step: probes, and candidates, held at once.
PROBES_PER_BLOCK = 1 << 19
CANDIDATES_PER_BLOCK = 1 << 21


class Table(NamedTuple):
  """One chunk of the hash and its probe radius."""
  start: int   # first bit of the chunk (0 = most significant bit of word 0)
  bits: int
  radius: int


class HashIndex(NamedTuple):
  """A bank's multi-index tables (empty ``tables``: brute force serves)."""
  threshold: int           # the largest threshold the tables are exact for
  size: int                # bank hashes indexed
  tables: Tuple[Table, ...]
  offsets: Tuple[np.ndarray, ...]   # per table: (2^bits + 1,) bucket starts
  ids: Tuple[np.ndarray, ...]       # per table: (size,) bank columns by bucket
  occupied: Tuple[np.ndarray, ...]  # per table: (2^bits,) bool, non-empty
  lead: Tuple[np.ndarray, ...]      # per table: (2, size) words 0-1 by bucket
  words: np.ndarray                 # (4, size) uint64, the bank's words


def chunk_values(words: np.ndarray, table: Table) -> np.ndarray:
  """The chunk ``table`` of each hash of ``words`` (4, n), as integers."""
  first, shift = divmod(table.start, WORD_BITS)
  end = shift + table.bits
  mask = np.uint64((1 << table.bits) - 1)
  if end <= WORD_BITS:
    value = (words[first] >> np.uint64(WORD_BITS - end)) & mask
  else:
    high = words[first] << np.uint64(end - WORD_BITS)
    low = words[first + 1] >> np.uint64(2 * WORD_BITS - end)
    value = (high | low) & mask
  return value.astype(np.int32 if table.bits < 31 else np.int64)


@functools.lru_cache(maxsize=64)
def flip_masks(bits: int, radius: int) -> np.ndarray:
  """Every ``bits``-bit mask with at most ``radius`` bits set (0 first)."""
  masks = [0]
  for flips in range(1, radius + 1):
    for chosen in itertools.combinations(range(bits), flips):
      masks.append(sum(1 << b for b in chosen))
  return np.array(masks, np.int32 if bits < 31 else np.int64)


def probes(table: Table) -> int:
  return sum(math.comb(table.bits, j) for j in range(table.radius + 1))


def layout(chunks: int, threshold: int) -> Tuple[Table, ...]:
  """``chunks`` near-equal chunks over 256 bits, with radii whose
  ``radius + 1`` sum to ``threshold + 1`` (the pigeonhole bound); chunks
  with no share (radius -1) are left out."""
  widths = [HASH_BITS // chunks + (i < HASH_BITS % chunks)
            for i in range(chunks)]
  shares = [(threshold + 1) // chunks + (i < (threshold + 1) % chunks)
            for i in range(chunks)]
  starts = np.concatenate([[0], np.cumsum(widths)[:-1]]).tolist()
  return tuple(Table(int(s), w, share - 1)
               for s, w, share in zip(starts, widths, shares) if share > 0)


def cost_ns(tables: Tuple[Table, ...], size: int) -> float:
  """Expected cost of one query on uniformly random hashes."""
  return sum(probes(t) * (PROBE_NS + CANDIDATE_NS * size / 2.0 ** t.bits)
             for t in tables)


def plan(threshold: int, size: int) -> Tuple[Table, ...]:
  """The cheapest exact layout for ``threshold`` over ``size`` bank hashes,
  or ``()`` when brute force is expected to be as fast."""
  if threshold < 0 or threshold >= HASH_BITS or size == 0:
    return ()
  widest = min(MAX_CHUNK_BITS,
               max(16, math.ceil(math.log2(OFFSETS_PER_HASH * size))))
  best: Tuple[Table, ...] = ()
  best_cost = WORTH_IT * BRUTE_PAIR_NS * size
  for chunks in range(math.ceil(HASH_BITS / widest),
                      HASH_BITS // MIN_CHUNK_BITS + 1):
    tables = layout(chunks, threshold)
    if any(t.radius >= t.bits for t in tables):
      continue   # a chunk probed in full: the index would be brute force
    cost = cost_ns(tables, size)
    if cost < best_cost:
      best, best_cost = tables, cost
  return best


def reach(tables: Tuple[Table, ...]) -> int:
  """The largest threshold ``tables`` are exact for (pigeonhole: a pair
  within it is within ``radius`` bits on some chunk), -1 when none."""
  return sum(t.radius + 1 for t in tables) - 1


def _check(tables: Tuple[Table, ...]) -> None:
  """Chunks must be disjoint and inside the hash, or exactness is lost."""
  covered = np.zeros(HASH_BITS, np.int64)
  for t in tables:
    if not (0 <= t.start and t.start + t.bits <= HASH_BITS
            and 0 < t.bits <= MAX_CHUNK_BITS and 0 <= t.radius < t.bits):
      raise ValueError(f'bad table {t}')
    covered[t.start:t.start + t.bits] += 1
  if covered.max(initial=0) > 1:
    raise ValueError('the chunks of a hash index overlap')


def build_hash_index(words: np.ndarray, threshold: int,
                     tables: Optional[Tuple[Table, ...]] = None) -> HashIndex:
  """The index of a bank's ``(4, m)`` uint64 word planes, exact for every
  threshold up to ``threshold``.  Built once per bank.

  ``tables`` overrides the planned layout (tests, benchmarks); it must
  reach ``threshold``.
  """
  words = np.ascontiguousarray(words, np.uint64).reshape(WORDS, -1)
  size = words.shape[1]
  if tables is None:
    tables = plan(threshold, size)
  elif reach(tables) < threshold:
    raise ValueError(f'these tables are exact up to {reach(tables)}, '
                     f'not {threshold}')
  _check(tables)
  offsets: List[np.ndarray] = []
  ids: List[np.ndarray] = []
  occupied: List[np.ndarray] = []
  lead: List[np.ndarray] = []
  id_type = np.int32 if size < 2**31 else np.int64
  for table in tables:
    keys = chunk_values(words, table)
    counts = np.bincount(keys, minlength=1 << table.bits)
    offsets.append(np.concatenate([[0], np.cumsum(counts)]).astype(id_type))
    order = np.argsort(keys, kind='stable').astype(id_type)
    ids.append(order)
    occupied.append(counts > 0)
    lead.append(np.ascontiguousarray(words[:2, order]))
  return HashIndex(reach(tables), size, tables, tuple(offsets), tuple(ids),
                   tuple(occupied), tuple(lead), words)


def serves(index: HashIndex, threshold: int) -> bool:
  """Whether ``index`` answers ``threshold`` exactly (else brute force)."""
  return bool(index.tables) and 0 <= threshold <= index.threshold


def index_bytes(index: HashIndex) -> int:
  """Memory of the tables (the bank's words not counted: brute force holds
  them too)."""
  return sum(a.nbytes for a in
             index.offsets + index.ids + index.occupied + index.lead)


def _table_pairs(query_words: np.ndarray, index: HashIndex, number: int,
                 threshold: int, rows: List[np.ndarray],
                 cols: List[np.ndarray]) -> None:
  """Verified pairs found through table ``number``, appended."""
  table = index.tables[number]
  offsets, ids = index.offsets[number], index.ids[number]
  occupied, lead = index.occupied[number], index.lead[number]
  masks = flip_masks(table.bits, table.radius)
  keys = chunk_values(query_words, table)
  step = max(1, PROBES_PER_BLOCK // len(masks))
  for begin in range(0, len(keys), step):
    probe = (keys[begin:begin + step, None] ^ masks[None, :]).reshape(-1)
    hit = np.flatnonzero(occupied[probe])
    if not len(hit):
      continue
    bucket = probe[hit]
    starts = offsets[bucket]
    counts = offsets[bucket + 1] - starts
    owners = (hit // len(masks) + begin).astype(np.int32)
    ends = np.cumsum(counts, dtype=np.int64)
    # Expand buckets into candidates, a bounded number at a time.
    first = 0
    while first < len(hit):
      base = int(ends[first] - counts[first])
      last = max(first + 1, int(np.searchsorted(
          ends, base + CANDIDATES_PER_BLOCK, side='right')))
      part = slice(first, last)
      number_of = counts[part]
      total = int(ends[last - 1]) - base
      # Positions in bucket order: the bucket's start, plus the rank.
      position = np.arange(total, dtype=np.int64) + np.repeat(
          starts[part] - (ends[part] - number_of - base), number_of)
      row = np.repeat(owners[part], number_of)
      # Partial distance on two words held in bucket order (no gather
      # through ``ids`` for the many candidates pruned here).
      distance = np.bitwise_count(query_words[0][row] ^ lead[0][position])
      distance += np.bitwise_count(query_words[1][row] ^ lead[1][position])
      near = np.flatnonzero(distance <= threshold)
      if len(near):
        row = row[near]
        cand = ids[position[near]]
        distance = distance[near].astype(np.int16)
        distance += np.bitwise_count(query_words[2][row] ^ index.words[2][cand])
        distance += np.bitwise_count(query_words[3][row] ^ index.words[3][cand])
        keep = distance <= threshold
        rows.append(row[keep].astype(np.int64))
        cols.append(cand[keep].astype(np.int64))
      first = last


def pairs_within_index(query_words: np.ndarray, index: HashIndex,
                       threshold: int) -> Tuple[np.ndarray, np.ndarray]:
  """``(rows, cols)`` of every pair at Hamming distance ``<= threshold``
  between ``query_words`` (4, n) and the indexed bank: the same set as
  ``matching.pairs_within``, each pair once, sorted by row then column.

  Raises ``ValueError`` when the index does not serve ``threshold``
  (``serves``); the caller then uses brute force.
  """
  if not serves(index, threshold):
    raise ValueError(f'this index is exact up to distance {index.threshold} '
                     f'with {len(index.tables)} tables, not {threshold}')
  query_words = np.ascontiguousarray(query_words, np.uint64).reshape(WORDS,
                                                                     -1)
  rows: List[np.ndarray] = []
  cols: List[np.ndarray] = []
  if query_words.shape[1] and index.size:
    for number in range(len(index.tables)):
      _table_pairs(query_words, index, number, threshold, rows, cols)
  if not rows:
    return np.zeros(0, np.int64), np.zeros(0, np.int64)
  # A pair near in several chunks is found by several tables: once each.
  pair = np.unique(np.concatenate(rows) * index.size + np.concatenate(cols))
  return pair // index.size, pair % index.size


def optional_index(words: np.ndarray, threshold: int,
                   min_size: int) -> Optional[HashIndex]:
  """The index of a bank of at least ``min_size`` hashes, else ``None``:
  small banks are faster by brute force and need no tables."""
  if words.shape[1] < min_size:
    return None
  index = build_hash_index(words, threshold)
  return index if index.tables else None
