"""Matching a video's frame hashes against hash-bank entries by vPDQ's rules.

The rules are those of the reference matcher, py-threatexchange's
``match_VPDQ_hash_brute`` (``extensions/vpdq/vpdq_brute_matcher.py``) as
used by ``VPDQSignal.compare_hash``, replicated exactly:

1. Each side is deduplicated by exact hash, keeping the first occurrence in
   frame order, and *then* frames with quality below 50 are dropped
   (``quality_filter(dedupe(...))``: a hash whose first occurrence has a low
   quality is dropped even when a later copy has a high one).
2. Two frames match when their Hamming distance is ``<= 31``.
3. ``query_match_pct`` = 100 * (query hashes with a match among the entry's
   hashes) / (query hashes); ``compared_match_pct`` the same from the
   entry's side.  The query is the video being checked, the compared side
   the bank entry (as in py-threatexchange's ``VPDQIndex``, where the
   second percentage is the index's).
4. A match needs ``query_match_pct >= 80`` and ``compared_match_pct >= 0``
   (``VPDQ_QUERY_MATCH_THRESHOLD_PERCENT``,
   ``VPDQ_INDEX_MATCH_THRESHOLD_PERCENT``); all four numbers are settings.

Mirrored copies: PDQ is not invariant to mirroring, so a video's frames
also carry the hash of their mirror image (``pdq_mirror``, computed by the
scan from the same DCT, ``pipeline.hashes.pdq.mirror_from_dct``).  A video
is matched twice against a bank, once with its frame hashes and once with
their mirror hashes (a mirror of a mirror is the original, so a flipped
copy's mirror hashes are near the original's); the entry matches when
either does, reported with ``mirrored`` true when only the mirror hashes
matched.  Videos hashed before ``pdq_mirror`` existed are matched directly
only.

Where we differ, deliberately: a side left with no hash after step 1 makes
no match (the reference divides by zero), and a pair with no matching frame
at all is never reported even if both thresholds are 0.  (The C++
``matchTwoHashBrute`` of the vpdq package differs from the reference: no
deduplication and a strict ``< 31``.)

The 256-bit hashes are packed as 4 ``uint64`` words and compared in blocks
with ``np.bitwise_count``; no Python loop runs over pairs.  Pairs are
pruned on the first two words (a partial distance already above the
threshold cannot come down), so only near pairs get a full distance.
Banks of ``INDEXED_BANK_HASHES`` or more are searched through an exact
multi-index (``pipeline.hashes.index``) instead: the same pairs, hence the
same decisions, without comparing every pair.
"""
from __future__ import annotations

from typing import Iterable, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from pipeline.hashes.index import HashIndex
from pipeline.hashes.index import optional_index
from pipeline.hashes.index import pairs_within_index
from pipeline.hashes.index import serves
from pipeline.hashes.pdq import PDQ_BYTES
from pipeline.hashes.pdq import FrameHash
from schemas.hash_tables import MATCH_KIND_VPDQ

QUALITY_THRESHOLD = 50
DISTANCE_THRESHOLD = 31
QUERY_MATCH_PCT = 80.0
COMPARED_MATCH_PCT = 0.0

WORDS = 4
# Block shape of the distance computation: query rows x bank columns.
QUERY_BLOCK = 64
BANK_BLOCK = 8192
# Banks of fewer prepared hashes are matched by brute force: below this,
# building and probing an index does not pay (benchmarks/hash_index.py).
INDEXED_BANK_HASHES = 50_000


class MatchRules(NamedTuple):
  quality_threshold: int = QUALITY_THRESHOLD
  distance_threshold: int = DISTANCE_THRESHOLD
  query_match_pct: float = QUERY_MATCH_PCT
  compared_match_pct: float = COMPARED_MATCH_PCT


class FrameHashes(NamedTuple):
  """The frame hashes of one video or one bank entry, in frame order."""
  pdq: np.ndarray      # (n, 4) uint64, see ``pack_hashes``
  quality: np.ndarray  # (n,) int32
  ts_ms: np.ndarray    # (n,) int64
  # (n, 4) uint64: the hashes of the frames' mirror images, row for row;
  # ``None`` when not every frame has one (hashed before they existed).
  mirror: Optional[np.ndarray] = None


class BankEntry(NamedTuple):
  """One known item of a hash bank."""
  entry_id: str
  label: str
  hashes: FrameHashes
  # The confirmed clip the entry was made from (``--from-verdicts``).
  source_clip_id: Optional[str] = None


class MatchResult(NamedTuple):
  """How one video's hashes compare with one bank entry's."""
  entry_id: str
  label: str
  query_match_pct: float
  compared_match_pct: float
  matched_frames: int
  first_match_ms: int
  last_match_ms: int
  # True when only the query's mirror hashes matched (a flipped copy).
  mirrored: bool = False
  # The confirmed clip the entry was made from, if any.
  source_clip_id: Optional[str] = None


class HashMatch(NamedTuple):
  """One matched (video, entry); mirrors ``schemas.hash_tables.HASH_MATCHES``."""
  video_id: str
  video_uri: str
  bank: str
  entry_id: str
  label: str
  query_match_pct: float
  compared_match_pct: float
  matched_frames: int
  first_match_ms: int
  last_match_ms: int
  scan_id: str
  # ``vpdq`` for a perceptual match; ``md5``/``sha256`` for an exact one
  # (``pipeline.hashes.digests``).
  kind: str = MATCH_KIND_VPDQ
  mirrored: bool = False
  source_clip_id: Optional[str] = None


class BankIndex(NamedTuple):
  """A bank's prepared hashes, concatenated entry after entry."""
  bank: str
  entry_ids: Tuple[str, ...]
  labels: Tuple[str, ...]
  words: np.ndarray   # (4, N) uint64: word w of every prepared hash
  owner: np.ndarray   # (N,) int64: the entry each prepared hash belongs to
  sizes: np.ndarray   # (entries,) int64: prepared hashes per entry
  # Exact multi-index over ``words`` (pipeline.hashes.index), for banks of
  # ``INDEXED_BANK_HASHES`` or more; ``None``: brute force.
  hash_index: Optional[HashIndex] = None
  # Per entry, the confirmed clip it was made from (or ``None``).
  source_clip_ids: Tuple[Optional[str], ...] = ()


def pack_hashes(pdqs: Sequence[bytes]) -> np.ndarray:
  """32-byte PDQ hashes -> ``(n, 4)`` uint64 (big-endian words)."""
  for pdq in pdqs:
    if len(pdq) != PDQ_BYTES:
      raise ValueError(f'a PDQ hash is {PDQ_BYTES} bytes, got {len(pdq)}')
  if not pdqs:
    return np.zeros((0, WORDS), np.uint64)
  words = np.frombuffer(b''.join(bytes(p) for p in pdqs), dtype='>u8')
  return words.astype(np.uint64).reshape(-1, WORDS)


def unpack_hashes(packed: np.ndarray) -> List[bytes]:
  """The inverse of ``pack_hashes``."""
  raw = np.ascontiguousarray(packed, dtype='>u8').tobytes()
  return [raw[i:i + PDQ_BYTES] for i in range(0, len(raw), PDQ_BYTES)]


def frame_hashes(pdqs: Sequence[bytes], qualities: Sequence[int],
                 ts_ms: Sequence[int],
                 mirrors: Optional[Sequence[Optional[bytes]]] = None
                 ) -> FrameHashes:
  """Columns of frame hashes, kept in the order given; with ``mirrors``
  (the mirror-image hashes, row for row) when every row has one."""
  if not len(pdqs) == len(qualities) == len(ts_ms):
    raise ValueError('pdqs, qualities and ts_ms differ in length')
  mirrors = list(mirrors) if mirrors is not None else []
  complete = len(mirrors) == len(pdqs) and all(
      m is not None for m in mirrors)
  return FrameHashes(pack_hashes(list(pdqs)),
                     np.asarray(qualities, np.int32).reshape(-1),
                     np.asarray(ts_ms, np.int64).reshape(-1),
                     pack_hashes(mirrors) if complete else None)


def frame_hashes_from_records(records: Iterable[FrameHash]) -> FrameHashes:
  """One video's ``FrameHash`` rows, put in time order."""
  rows = sorted(records, key=lambda r: r.ts_ms)
  return frame_hashes([r.pdq for r in rows], [r.quality for r in rows],
                      [r.ts_ms for r in rows], [r.pdq_mirror for r in rows])


def mirrored_query(query: FrameHashes) -> Optional[FrameHashes]:
  """The query seen through its frames' mirror hashes, if it has them."""
  if query.mirror is None:
    return None
  return FrameHashes(query.mirror, query.quality, query.ts_ms)


def hamming_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """All distances between packed hashes ``a`` (n, 4) and ``b`` (m, 4)."""
  total = np.zeros((len(a), len(b)), np.uint16)
  for w in range(WORDS):
    total += np.bitwise_count(np.bitwise_xor(a[:, w, None], b[None, :, w]))
  return total


def index_from_arrays(entry_ids: Sequence[str], labels: Sequence[str],
                      lengths: np.ndarray, pdq: np.ndarray,
                      quality: np.ndarray, rules: MatchRules = MatchRules(),
                      bank: str = '',
                      source_clip_ids: Sequence[Optional[str]] = ()
                      ) -> BankIndex:
  """A bank index from its entries' hashes laid end to end.

  ``lengths[i]`` hashes of ``pdq`` (n, 4) and ``quality`` (n,) belong to
  entry ``i``, in frame order.  Each entry is deduplicated, then quality
  filtered, as the reference prepares the compared side.
  """
  lengths = np.asarray(lengths, np.int64).reshape(-1)
  owner = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
  keep = np.zeros(len(owner), bool)
  if len(owner):
    keys = np.column_stack([owner.astype(np.uint64), pdq])
    _, first_index = np.unique(keys, axis=0, return_index=True)
    keep[first_index] = True
  keep &= np.asarray(quality) >= rules.quality_threshold
  words = np.ascontiguousarray(pdq[keep].T).reshape(WORDS, -1)
  return BankIndex(
      bank=bank,
      entry_ids=tuple(entry_ids),
      labels=tuple(labels),
      words=words,
      owner=owner[keep],
      sizes=np.bincount(owner[keep], minlength=len(lengths)).astype(np.int64),
      hash_index=optional_index(words, rules.distance_threshold,
                                INDEXED_BANK_HASHES),
      source_clip_ids=tuple(source_clip_ids) or (None,) * len(lengths))


def build_index(entries: Sequence[BankEntry], rules: MatchRules = MatchRules(),
                bank: str = '') -> BankIndex:
  """Prepares bank entries (dedupe, then quality filter) for matching."""
  if not entries:
    return index_from_arrays((), (), np.zeros(0, np.int64),
                             np.zeros((0, WORDS), np.uint64),
                             np.zeros(0, np.int32), rules, bank)
  return index_from_arrays(
      [e.entry_id for e in entries], [e.label for e in entries],
      np.array([len(e.hashes.quality) for e in entries], np.int64),
      np.concatenate([e.hashes.pdq for e in entries]),
      np.concatenate([e.hashes.quality for e in entries]), rules, bank,
      [e.source_clip_id for e in entries])


def pairs_within(query_words: np.ndarray, bank_words: np.ndarray,
                 threshold: int) -> Tuple[np.ndarray, np.ndarray]:
  """``(rows, cols)`` of every pair at Hamming distance ``<= threshold``.

  Both arguments are ``(4, n)`` word planes (``packed.T``).
  """
  n, m = query_words.shape[1], bank_words.shape[1]
  rows: List[np.ndarray] = []
  cols: List[np.ndarray] = []
  if n == 0 or m == 0:
    return np.zeros(0, np.int64), np.zeros(0, np.int64)
  qs, bs = min(QUERY_BLOCK, n), min(BANK_BLOCK, m)
  xor = np.empty((qs, bs), np.uint64)
  partial = np.empty((qs, bs), np.uint8)
  count = np.empty((qs, bs), np.uint8)
  for i in range(0, n, qs):
    q = query_words[:, i:i + qs]
    for j in range(0, m, bs):
      b = bank_words[:, j:j + bs]
      x, p, c = (buf[:q.shape[1], :b.shape[1]] for buf in (xor, partial,
                                                          count))
      np.bitwise_xor(q[0][:, None], b[0][None, :], out=x)
      np.bitwise_count(x, out=p)
      np.bitwise_xor(q[1][:, None], b[1][None, :], out=x)
      np.bitwise_count(x, out=c)
      np.add(p, c, out=p)
      near = np.flatnonzero(p <= threshold)
      if not len(near):
        continue
      r, k = np.divmod(near, b.shape[1])
      distance = p.reshape(-1)[near].astype(np.uint16)
      for w in (2, 3):
        distance += np.bitwise_count(q[w][r] ^ b[w][k])
      keep = distance <= threshold
      rows.append(r[keep] + i)
      cols.append(k[keep] + j)
  if not rows:
    return np.zeros(0, np.int64), np.zeros(0, np.int64)
  return np.concatenate(rows), np.concatenate(cols)


def bank_pairs(query_words: np.ndarray, index: BankIndex,
               threshold: int) -> Tuple[np.ndarray, np.ndarray]:
  """``pairs_within`` against a bank: through its hash index when it has one
  exact for ``threshold`` (the same pairs, found faster), else brute force.
  Pairs come in no particular order."""
  if index.hash_index is not None and serves(index.hash_index, threshold):
    return pairs_within_index(query_words, index.hash_index, threshold)
  return pairs_within(query_words, index.words, threshold)


def score_bank(query: FrameHashes, index: BankIndex,
               rules: MatchRules = MatchRules()) -> List[MatchResult]:
  """Match percentages against every entry sharing at least one matching
  frame with the query, thresholds not applied."""
  if not len(query.quality) or not len(index.sizes):
    return []
  distinct, first_index, inverse = np.unique(
      query.pdq, axis=0, return_index=True, return_inverse=True)
  inverse = inverse.reshape(-1)
  passing = query.quality >= rules.quality_threshold
  # Distinct hashes with a passing frame; the reference counts only those
  # whose first occurrence passes.
  considered = np.bincount(inverse[passing], minlength=len(distinct)) > 0
  counted = query.quality[first_index] >= rules.quality_threshold
  query_size = int(counted.sum())
  if query_size == 0:
    return []
  slot = np.cumsum(considered) - 1   # distinct row -> considered row
  # Order-independent from here: counts go through np.unique and masks.
  rows, cols = bank_pairs(np.ascontiguousarray(distinct[considered].T),
                          index, rules.distance_threshold)
  if not len(rows):
    return []
  entries = index.owner[cols]
  in_count = counted[considered][rows]
  width = int(considered.sum())
  query_hits = np.bincount(
      np.unique(entries[in_count] * width + rows[in_count]) // width,
      minlength=len(index.sizes))
  bank_hits = np.bincount(index.owner[np.unique(cols[in_count])],
                          minlength=len(index.sizes))
  frame_rows = np.where(passing, slot[inverse], -1)
  results = []
  for entry in np.unique(entries):
    matched_rows = np.zeros(width + 1, bool)
    matched_rows[rows[entries == entry]] = True
    frames = passing & matched_rows[frame_rows]
    times = query.ts_ms[frames]
    size = int(index.sizes[entry])
    results.append(MatchResult(
        entry_id=index.entry_ids[entry],
        label=index.labels[entry],
        query_match_pct=int(query_hits[entry]) * 100 / query_size,
        compared_match_pct=int(bank_hits[entry]) * 100 / size,
        matched_frames=int(frames.sum()),
        first_match_ms=int(times.min()),
        last_match_ms=int(times.max()),
        source_clip_id=index.source_clip_ids[entry]))
  return results


def is_match(result: MatchResult, rules: MatchRules) -> bool:
  return (result.matched_frames > 0
          and result.query_match_pct >= rules.query_match_pct
          and result.compared_match_pct >= rules.compared_match_pct)


def match_bank(query: FrameHashes, index: BankIndex,
               rules: MatchRules = MatchRules()) -> List[MatchResult]:
  """The entries of a bank the query video matches, directly or, when
  the query has mirror hashes, mirrored (``mirrored`` true: only the
  mirror hashes matched)."""
  found = {r.entry_id: r for r in score_bank(query, index, rules)
           if is_match(r, rules)}
  mirror = mirrored_query(query)
  if mirror is not None:
    for result in score_bank(mirror, index, rules):
      if result.entry_id not in found and is_match(result, rules):
        found[result.entry_id] = result._replace(mirrored=True)
  return list(found.values())


def match_video(query: FrameHashes, entry: BankEntry,
                rules: MatchRules = MatchRules()) -> Optional[MatchResult]:
  """The match of a query video with one bank entry, or ``None``."""
  matches = match_bank(query, build_index([entry], rules), rules)
  return matches[0] if matches else None


def hash_matches(video_id: str, video_uri: str, scan_id: str,
                 query: FrameHashes, indexes: Sequence[BankIndex],
                 rules: MatchRules = MatchRules()) -> List[HashMatch]:
  """The ``hash_matches`` rows of one video against several banks."""
  return [HashMatch(video_id, video_uri, index.bank, r.entry_id, r.label,
                    r.query_match_pct, r.compared_match_pct,
                    r.matched_frames, r.first_match_ms, r.last_match_ms,
                    scan_id=scan_id, mirrored=r.mirrored,
                    source_clip_id=r.source_clip_id)
          for index in indexes for r in match_bank(query, index, rules)]
