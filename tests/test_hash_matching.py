"""Known-content matching: the vPDQ rules, hash banks, the match job, and
robustness on real encoded videos (derived copies match, unrelated videos
never do).

The video helpers here (a textured scene renderer with PDQ quality 100,
copies derived by re-encoding, scaling, cropping, trimming, and a reference
decode-and-hash loop) are shared with ``test_vpdq_agreement``.
"""
from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import os
from fractions import Fraction
from typing import (Callable, Iterable, List, NamedTuple, Optional, Sequence,
                    Tuple)

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from model.synthetic_video import CODECS
from model.synthetic_video import write_video
from pipeline.cli import bank as bank_cli
from pipeline.cli import match as match_cli
from pipeline.storage.parquet import read_partition
from pipeline.hashes import banks as hash_banks
from pipeline.hashes import match_job
from pipeline.hashes import matching as hm
from pipeline.hashes.pdq import FrameHash
from pipeline.hashes.pdq import hash_frame_and_mirror
from pipeline.hashes.pdq import pdq_hex
from pipeline.hashes.pdq import pick_vpdq_frames
from pipeline.hashes.pdq import vpdq_frame_rate
from schemas.hash_tables import FRAME_HASHES
from schemas import partition_dir

# Module-scoped video corpora: keep each module's tests on one xdist worker.
pytestmark = pytest.mark.xdist_group('hash_matching')


# --------------------------------------------------------------------------
# The reference matcher, transcribed literally from py-threatexchange 1.2.17
# (threatexchange/extensions/vpdq/vpdq_brute_matcher.py and vpdq_util.py).
# Features are (pdq_hex, quality); ``distance`` is any Hamming distance.


def _ref_dedupe(features):
  unique_features = set()
  ret = []
  for h in features:
    if h[0] not in unique_features:
      ret.append(h)
      unique_features.add(h[0])
  return ret


def _ref_quality_filter(features, quality_tolerance):
  return [f for f in features if f[1] >= quality_tolerance]


def _ref_match_in_another(hash1, hash2, distance_tolerance, distance):
  return sum(
      any(distance(h1[0], h2[0]) <= distance_tolerance for h2 in hash2)
      for h1 in hash1)


def reference_match(query, compared, quality_tolerance=50,
                    distance_tolerance=31, distance=None):
  """``match_VPDQ_hash_brute``: (query %, compared %); ZeroDivisionError
  when a side has no hash left, as in the reference."""
  distance = distance or hex_distance
  filtered_query = _ref_quality_filter(_ref_dedupe(query), quality_tolerance)
  filtered_compared = _ref_quality_filter(_ref_dedupe(compared),
                                          quality_tolerance)
  query_match_cnt = _ref_match_in_another(filtered_query, filtered_compared,
                                          distance_tolerance, distance)
  compared_match_cnt = _ref_match_in_another(filtered_compared, filtered_query,
                                             distance_tolerance, distance)
  return (query_match_cnt * 100 / len(filtered_query),
          compared_match_cnt * 100 / len(filtered_compared))


def reference_decision(query, compared, **kwargs) -> bool:
  """``VPDQSignal.compare_hash`` with its default thresholds (80, 0)."""
  try:
    query_pct, compared_pct = reference_match(query, compared, **kwargs)
  except ZeroDivisionError:
    return False
  return query_pct >= 80.0 and compared_pct >= 0.0


def hex_distance(a: str, b: str) -> int:
  return bin(int(a, 16) ^ int(b, 16)).count('1')


# --------------------------------------------------------------------------
# Real encoded videos with PDQ-friendly content.


def _upsample(small: np.ndarray, height: int, width: int) -> np.ndarray:
  sh, sw = small.shape
  ys, xs = np.linspace(0, sh - 1, height), np.linspace(0, sw - 1, width)
  y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
  y1, x1 = np.minimum(y0 + 1, sh - 1), np.minimum(x0 + 1, sw - 1)
  fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
  top = small[y0][:, x0] * (1 - fx) + small[y0][:, x1] * fx
  bottom = small[y1][:, x0] * (1 - fx) + small[y1][:, x1] * fx
  return top * (1 - fy) + bottom * fy


@functools.lru_cache(maxsize=64)
def textured_scene(seed: int, height: int, width: int) -> np.ndarray:
  """A still scene of smooth colour noise and blocks: PDQ quality ~100."""
  rng = np.random.default_rng(seed)
  image = np.full((height, width, 3), 128.0, np.float32)
  for cells, amplitude in ((3, 70.0), (6, 35.0), (12, 12.0)):
    for channel in range(3):
      noise = rng.normal(size=(cells, cells * width // height + 1))
      image[..., channel] += _upsample(noise, height, width) * amplitude
  for _ in range(5):
    cy, cx = rng.integers(0, height), rng.integers(0, width)
    ry = rng.integers(height // 10, height // 4)
    rx = rng.integers(width // 10, width // 4)
    image[max(cy - ry, 0):cy + ry, max(cx - rx, 0):cx + rx] = rng.integers(
        0, 256, 3)
  return np.clip(image, 0, 255).astype(np.uint8)


def render_textured(seed: int, t: float, width: int, height: int,
                    scene_s: float = 3.0) -> np.ndarray:
  """Frame at ``t``: a new scene every ``scene_s``, a small block moving."""
  scene = int(t // scene_s)
  frame = textured_scene(seed * 1000 + scene, height, width).copy()
  bw, bh = max(width // 24, 2), max(height // 24, 2)
  x = int((t - scene * scene_s) / scene_s * (width - bw))
  y = height * 3 // 4
  frame[y:y + bh, x:x + bw] = 128
  return frame


def encode_frames(path: str, frames: Iterable[np.ndarray], codec: str,
                  fps: float, size: Tuple[int, int],
                  options: Sequence[Tuple[str, str]] = ()) -> str:
  """Encodes RGB frames at a constant rate with one of ``CODECS``."""
  spec = CODECS[codec]
  with av.open(path, mode='w', format=spec.container) as out:
    stream = out.add_stream(spec.encoder,
                            rate=Fraction(fps).limit_denominator(1001),
                            options=dict(spec.options + tuple(options)))
    stream.width, stream.height, stream.pix_fmt = size[0], size[1], \
        spec.pix_fmt
    stream.codec_context.gop_size = max(int(2 * fps), 1)
    for index, rgb in enumerate(frames):
      frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb),
                                         format='rgb24')
      frame.pts = index
      for packet in stream.encode(frame):
        out.mux(packet)
    for packet in stream.encode(None):
      out.mux(packet)
  return path


def write_textured_video(path: str, seed: int, seconds: float,
                         codec: str = 'h264', fps: float = 10.0,
                         size: Tuple[int, int] = (320, 240)) -> str:
  count = int(round(seconds * fps))
  frames = (render_textured(seed, i / fps, *size) for i in range(count))
  return encode_frames(path, frames, codec, fps, size)


def _decoded_rgb(path: str) -> Tuple[float, List[Tuple[float, np.ndarray]]]:
  with av.open(path) as container:
    stream = container.streams.video[0]
    rate = float(stream.average_rate or stream.guessed_rate)
    frames = [(frame.time * 1000.0, frame.to_ndarray(format='rgb24'))
              for frame in container.decode(stream)]
  return rate, frames


def derive_video(source: str, path: str, codec: str = 'h264',
                 size: Optional[Tuple[int, int]] = None, crop: float = 0.0,
                 start_s: float = 0.0, end_s: float = float('inf'),
                 options: Sequence[Tuple[str, str]] = (),
                 mirror: bool = False,
                 effect: Optional[Callable[[np.ndarray], np.ndarray]] = None
                 ) -> str:
  """A copy of ``source``: trimmed, cropped by ``crop`` of each side,
  mirrored left to right, scaled to ``size``, edited by ``effect`` (RGB
  frame -> RGB frame), re-encoded with ``codec``."""
  rate, frames = _decoded_rgb(source)
  kept = [rgb for ms, rgb in frames if start_s * 1000 <= ms < end_s * 1000]
  height, width = kept[0].shape[:2]
  dy, dx = int(round(height * crop)), int(round(width * crop))
  out_size = size or (width - 2 * dx, height - 2 * dy)

  def transform(rgb):
    cut = rgb[dy:height - dy, dx:width - dx]
    cut = np.ascontiguousarray(cut[:, ::-1] if mirror else cut)
    out = av.VideoFrame.from_ndarray(cut, format='rgb24').reformat(
        width=out_size[0], height=out_size[1],
        interpolation='AREA').to_ndarray()
    return np.ascontiguousarray(effect(out)) if effect else out

  return encode_frames(path, (transform(f) for f in kept), codec, rate,
                       out_size, options)


class HashedFrame(NamedTuple):
  frame_number: int
  ts_ms: int
  pdq: bytes
  quality: int
  mirror: Optional[bytes] = None   # the hash of the mirrored frame


def hash_video(path: str, seconds_per_hash: float = 1.0,
               size: Optional[Tuple[int, int]] = None,
               interpolation: str = 'AREA') -> List[HashedFrame]:
  """What the scan's decode pass does for hashing: PyAV decode from the
  start, vPDQ's frame pick, RGB at full resolution (or ``size``), PDQ."""
  out = []
  with av.open(path) as container:
    stream = container.streams.video[0]
    rate = vpdq_frame_rate(stream.average_rate and float(stream.average_rate),
                           stream.base_rate and float(stream.base_rate))
    frames = ((frame.time * 1000.0, frame)
              for frame in container.decode(stream))
    for pick in pick_vpdq_frames(frames, rate, seconds_per_hash):
      kwargs = {'width': size[0], 'height': size[1]} if size else {}
      rgb = pick.frame.to_ndarray(format='rgb24',
                                  interpolation=interpolation, **kwargs)
      hashes = hash_frame_and_mirror(rgb)
      out.append(HashedFrame(pick.frame_number, int(round(pick.time_ms)),
                             hashes.pdq, hashes.quality, hashes.mirror))
  return out


def as_frame_hashes(hashed: Sequence[HashedFrame],
                    mirrors: bool = True) -> hm.FrameHashes:
  """Matcher columns, with the mirror hashes unless ``mirrors`` is False."""
  return hm.frame_hashes([h.pdq for h in hashed], [h.quality for h in hashed],
                         [h.ts_ms for h in hashed],
                         [h.mirror for h in hashed] if mirrors else None)


# --------------------------------------------------------------------------
# The matcher against the reference, on hash sets built to sit on the
# thresholds.


def _flip(pdq: bytes, bits: int, rng: np.random.Generator) -> bytes:
  array = np.unpackbits(np.frombuffer(pdq, np.uint8)).copy()
  array[rng.choice(256, bits, replace=False)] ^= 1
  return np.packbits(array).tobytes()


def _random_side(rng, bases, n,
                 unrelated: float = 0.25) -> List[Tuple[bytes, int, int]]:
  side = []
  for i in range(n):
    r = rng.random()
    base = bases[rng.integers(len(bases))]
    if r < 0.2:
      pdq = base
    elif r < 1.0 - unrelated:
      pdq = _flip(base, int(rng.integers(6, 22)), rng)
    else:
      pdq = rng.bytes(32)
    side.append((pdq, int(rng.choice([10, 49, 50, 51, 100])), i * 1000))
  return side


def _columns(side) -> hm.FrameHashes:
  if not side:
    return hm.frame_hashes([], [], [])
  return hm.frame_hashes(*zip(*side))


def _features(side) -> List[Tuple[str, int]]:
  return [(pdq.hex(), quality) for pdq, quality, _ in side]


def test_percentages_equal_the_reference_to_the_last_bit():
  rng = np.random.default_rng(7)
  compared = matched = 0
  for _ in range(400):
    bases = [rng.bytes(32) for _ in range(rng.integers(1, 8))]
    unrelated = float(rng.choice([0.0, 0.05, 0.25]))
    query = _random_side(rng, bases, int(rng.integers(0, 25)), unrelated)
    entry = _random_side(rng, bases, int(rng.integers(0, 25)), unrelated)
    try:
      expected = reference_match(_features(query), _features(entry))
    except ZeroDivisionError:
      expected = None
    scores = hm.score_bank(_columns(query),
                           hm.build_index([hm.BankEntry('e', 'l',
                                                        _columns(entry))]))
    got = (scores[0].query_match_pct, scores[0].compared_match_pct) \
        if scores else None
    if expected is not None and expected != (0.0, 0.0):
      compared += 1
      assert got == expected
    elif expected is None:
      assert got is None
    else:
      assert got in (None, (0.0, 0.0))
    decision = hm.match_video(_columns(query),
                              hm.BankEntry('e', 'l', _columns(entry)))
    assert (decision is not None) == reference_decision(_features(query),
                                                        _features(entry))
    matched += decision is not None
  assert compared > 200 and matched > 20


def test_distance_31_matches_and_32_does_not():
  rng = np.random.default_rng(1)
  base = rng.bytes(32)
  entry = hm.BankEntry('e', 'l', hm.frame_hashes([base], [100], [0]))
  for bits, expected in ((31, True), (32, False)):
    query = hm.frame_hashes([_flip(base, bits, rng)], [100], [0])
    assert (hm.match_video(query, entry) is not None) == expected


def test_quality_below_50_is_dropped_and_50_is_kept():
  rng = np.random.default_rng(2)
  base, other = rng.bytes(32), rng.bytes(32)
  entry = hm.BankEntry('e', 'l', hm.frame_hashes([base], [100], [0]))
  kept = hm.score_bank(hm.frame_hashes([base, other], [100, 50], [0, 1]),
                       hm.build_index([entry]))
  assert kept[0].query_match_pct == 50.0
  dropped = hm.score_bank(hm.frame_hashes([base, other], [100, 49], [0, 1]),
                          hm.build_index([entry]))
  assert dropped[0].query_match_pct == 100.0
  low_entry = hm.BankEntry('e', 'l', hm.frame_hashes([base], [49], [0]))
  assert hm.match_video(hm.frame_hashes([base], [100], [0]), low_entry) is None


def test_dedupe_counts_a_hash_once_and_then_filters_quality():
  rng = np.random.default_rng(3)
  a, b, c = (rng.bytes(32) for _ in range(3))
  entry = hm.BankEntry('e', 'l', hm.frame_hashes([a], [100], [0]))
  # Query a a a b: distinct {a, b} -> 50 %, not 75 %.
  query = hm.frame_hashes([a, a, a, b], [100] * 4, [0, 1000, 2000, 3000])
  score = hm.score_bank(query, hm.build_index([entry]))[0]
  assert score.query_match_pct == 50.0 and score.compared_match_pct == 100.0
  # ... but all three frames of a are matched frames, from 0 to 2000 ms.
  assert (score.matched_frames, score.first_match_ms,
          score.last_match_ms) == (3, 0, 2000)
  # The first copy of c has a low quality: c is dropped although a later
  # copy is good (dedupe first, then quality, as the reference).
  query = hm.frame_hashes([a, c, c], [100, 10, 100], [0, 1000, 2000])
  score = hm.score_bank(query, hm.build_index([entry]))[0]
  assert score.query_match_pct == 100.0
  assert reference_match(_features([(a, 100, 0), (c, 10, 1), (c, 100, 2)]),
                         _features([(a, 100, 0)])) == (100.0, 100.0)


def test_both_thresholds_apply():
  rng = np.random.default_rng(4)
  hashes = [rng.bytes(32) for _ in range(10)]
  entry = hm.BankEntry('e', 'l', hm.frame_hashes(hashes, [100] * 10,
                                                 range(10)))
  query = hm.frame_hashes(hashes[:4], [100] * 4, range(4))  # 100 % / 40 %
  assert hm.match_video(query, entry) is not None
  strict = hm.MatchRules(compared_match_pct=50.0)
  assert hm.match_video(query, entry, strict) is None
  mixed = hm.frame_hashes(hashes[:4] + [rng.bytes(32)], [100] * 5, range(5))
  assert hm.match_video(mixed, entry) is not None           # 80 %
  mixed = hm.frame_hashes(hashes[:3] + [rng.bytes(32)], [100] * 4, range(4))
  assert hm.match_video(mixed, entry) is None               # 75 %


def test_nothing_left_after_filtering_is_no_match():
  rng = np.random.default_rng(5)
  base = rng.bytes(32)
  entry = hm.BankEntry('e', 'l', hm.frame_hashes([base], [100], [0]))
  assert hm.match_video(hm.frame_hashes([], [], []), entry) is None
  assert hm.match_video(hm.frame_hashes([base], [10], [0]), entry) is None
  zero = hm.MatchRules(query_match_pct=0.0)
  unrelated = hm.frame_hashes([rng.bytes(32)], [100], [0])
  assert hm.match_video(unrelated, entry, zero) is None


def test_bank_form_equals_entry_by_entry_across_blocks(monkeypatch):
  monkeypatch.setattr(hm, 'QUERY_BLOCK', 7)
  monkeypatch.setattr(hm, 'BANK_BLOCK', 11)
  rng = np.random.default_rng(6)
  bases = [rng.bytes(32) for _ in range(6)]
  entries = [hm.BankEntry(f'e{i}', f'l{i % 2}',
                          _columns(_random_side(rng, bases,
                                                int(rng.integers(0, 30)))))
             for i in range(12)]
  query = _columns(_random_side(rng, bases, 40))
  rules = hm.MatchRules(query_match_pct=20.0)
  index = hm.build_index(entries, rules, bank='b')
  together = {r.entry_id: r for r in hm.match_bank(query, index, rules)}
  alone = {e.entry_id: hm.match_video(query, e, rules) for e in entries}
  assert together == {k: v for k, v in alone.items() if v is not None}
  assert together
  for result in together.values():
    entry = next(e for e in entries if e.entry_id == result.entry_id)
    side = list(zip(hm.unpack_hashes(entry.hashes.pdq),
                    entry.hashes.quality.tolist(), entry.hashes.ts_ms))
    qside = list(zip(hm.unpack_hashes(query.pdq), query.quality.tolist(),
                     query.ts_ms))
    assert reference_match(_features(qside), _features(side)) == (
        result.query_match_pct, result.compared_match_pct)


def test_pairs_within_equals_the_full_distance_matrix(monkeypatch):
  monkeypatch.setattr(hm, 'QUERY_BLOCK', 5)
  monkeypatch.setattr(hm, 'BANK_BLOCK', 9)
  rng = np.random.default_rng(8)
  bases = [rng.bytes(32) for _ in range(3)]
  a = hm.pack_hashes([_flip(bases[i % 3], int(rng.integers(0, 60)), rng)
                      for i in range(23)])
  b = hm.pack_hashes([_flip(bases[i % 3], int(rng.integers(0, 60)), rng)
                      for i in range(31)])
  for threshold in (0, 31, 70, 256):
    rows, cols = hm.pairs_within(np.ascontiguousarray(a.T),
                                 np.ascontiguousarray(b.T), threshold)
    expected = np.argwhere(hm.hamming_distances(a, b) <= threshold)
    assert sorted(zip(rows.tolist(), cols.tolist())) == \
        sorted(map(tuple, expected.tolist()))


def test_pack_round_trip():
  rng = np.random.default_rng(9)
  hashes = [rng.bytes(32) for _ in range(5)]
  packed = hm.pack_hashes(hashes)
  assert packed.shape == (5, 4) and packed.dtype == np.uint64
  assert hm.unpack_hashes(packed) == hashes
  assert hm.hamming_distances(packed[:1], packed[:1])[0, 0] == 0
  with pytest.raises(ValueError):
    hm.pack_hashes([b'short'])


def test_hash_matches_rows():
  rng = np.random.default_rng(10)
  hashes = [rng.bytes(32) for _ in range(3)]
  entry = hm.BankEntry('e', 'lab', hm.frame_hashes(hashes, [100] * 3,
                                                   range(3)))
  records = [FrameHash('v', 'u', 2000 - 1000 * i, h, 100, 's')
             for i, h in enumerate(hashes)]
  query = hm.frame_hashes_from_records(records)
  assert query.ts_ms.tolist() == [0, 1000, 2000]
  rows = hm.hash_matches('v', 'u', 'm', query,
                         [hm.build_index([entry], bank='b1'),
                          hm.build_index([entry], bank='b2')])
  assert [(r.bank, r.entry_id, r.label, r.matched_frames, r.first_match_ms,
           r.last_match_ms, r.scan_id) for r in rows] == [
               ('b1', 'e', 'lab', 3, 0, 2000, 'm'),
               ('b2', 'e', 'lab', 3, 0, 2000, 'm')]


# --------------------------------------------------------------------------
# Hash banks.

_HEX = [('%064x' % (0x1234567 * (i + 1) ** 7))[-64:] for i in range(4)]


def test_vpdq_feature_files_in_all_three_spellings():
  cpp = ''.join(f'{i * 30},{90 + i},{h},{i:.3f}\n' for i, h in enumerate(_HEX))
  compact = ''.join(f'{h},{90 + i},{i:.3f}\n' for i, h in enumerate(_HEX))
  signal = json.dumps([f'{h},{90 + i},{float(i):.3}' for i, h in
                       enumerate(_HEX)])
  for text in (cpp, compact, signal):
    hashes = hash_banks.parse_vpdq(text)
    assert [pdq_hex(h.pdq) for h in hashes] == _HEX
    assert [h.quality for h in hashes] == [90, 91, 92, 93]
    assert [h.ts_ms for h in hashes] == [0, 1000, 2000, 3000]
  with pytest.raises(ValueError, match=':2:'):
    hash_banks.parse_vpdq(f'0,100,{_HEX[0]},0.000\n1,100,nothex,1.000\n')
  with pytest.raises(ValueError, match='quality'):
    hash_banks.parse_vpdq(f'0,101,{_HEX[0]},0.000\n')
  with pytest.raises(ValueError):
    hash_banks.parse_vpdq('')


def test_pdq_hex_lists():
  text = (f'# known images\n{_HEX[0]}\n{_HEX[1]},70\n\n'
          f'{_HEX[2].upper()}\t40\t12.5  # with a time\n')
  hashes = hash_banks.parse_pdq_hex(text)
  assert [pdq_hex(h.pdq) for h in hashes] == _HEX[:3]
  assert [h.quality for h in hashes] == [100, 70, 40]
  assert [h.ts_ms for h in hashes] == [0, 1000, 12500]
  with pytest.raises(ValueError, match=':1:'):
    hash_banks.parse_pdq_hex('abc\n')


def test_bank_entries_round_trip_through_parquet():
  rng = np.random.default_rng(12)
  entries = [
      hm.BankEntry('a', 'x', hm.frame_hashes([rng.bytes(32) for _ in range(3)],
                                             [100, 40, 60], [0, 1000, 2000])),
      hm.BankEntry('empty', 'y', hm.frame_hashes([], [], [])),
      hm.BankEntry('b', 'x', hm.frame_hashes([rng.bytes(32)], [90], [5]))]
  back = hash_banks.entries_from_table(hash_banks.entries_table(entries))
  assert [(e.entry_id, e.label) for e in back] == [
      (e.entry_id, e.label) for e in entries]
  for before, after in zip(entries, back):
    for column in range(3):
      assert np.array_equal(before.hashes[column], after.hashes[column])
  assert hash_banks.entries_from_table(hash_banks.entries_table([])) == []


def _write_frame_hashes(root: str, scan_id: str,
                        rows: Sequence[FrameHash]) -> None:
  folder = partition_dir(root, 'frame_hashes', scan_id)
  os.makedirs(folder, exist_ok=True)
  pq.write_table(pa.Table.from_pylist([r._asdict() for r in rows],
                                      schema=FRAME_HASHES),
                 os.path.join(folder, 'part-00000.parquet'))


def test_bank_import_cli_from_every_source(tmp_path):
  rng = np.random.default_rng(11)
  bank = str(tmp_path / 'bank')
  vpdq_file = tmp_path / 'clip_a.txt'
  vpdq_file.write_text(''.join(f'{i},{100},{h},{i:.3f}\n'
                               for i, h in enumerate(_HEX)))
  hex_file = tmp_path / 'images.txt'
  hex_file.write_text('\n'.join(_HEX[:2] + _HEX[:1]) + '\n')
  old = [FrameHash('vid1', '/a/vid1.mp4', t, rng.bytes(32), 100, '20260101')
         for t in (0, 1000)]
  new = [FrameHash('vid1', '/a/vid1.mp4', t, rng.bytes(32), 100, '20260201')
         for t in (1000, 0, 2000)]
  other = [FrameHash('vid2', '/a/vid2.mp4', 0, rng.bytes(32), 100, '20260101')]
  _write_frame_hashes(str(tmp_path / 'out'), '20260101', old + other)
  _write_frame_hashes(str(tmp_path / 'out'), '20260201', new)

  common = ['import', '--bank', bank, '--id', 'known', '--label']
  assert bank_cli.main(common + ['csam', '--vpdq', str(vpdq_file)]) == 0
  assert bank_cli.main(common + ['images', '--pdq-hex', str(hex_file),
                                 '--entry-per-hash']) == 0
  assert bank_cli.main(common + ['ours', '--frame-hashes',
                                 str(tmp_path / 'out'), '--video-id',
                                 'vid1', '--video-id', 'vid2']) == 0
  assert bank_cli.main(common + ['renamed', '--vpdq', str(vpdq_file)]) == 0
  assert bank_cli.main(['import', '--bank', bank, '--id', 'other',
                        '--label', 'x', '--vpdq', str(vpdq_file)]) == 1
  assert bank_cli.main(common + ['x', '--frame-hashes',
                                 str(tmp_path / 'out'), '--video-id',
                                 'nope']) == 1

  meta = json.loads((tmp_path / 'bank' / 'bank.json').read_text())
  assert (meta['id'], meta['label']) == ('known', 'csam')
  assert [s['kind'] for s in meta['sources']] == [
      'vpdq', 'pdq_hex', 'frame_hashes', 'vpdq']
  loaded = hash_banks.load_bank(bank)
  by_id = {e.entry_id: e for e in loaded.entries}
  assert sorted(by_id) == sorted(['clip_a', _HEX[0], _HEX[1], 'vid1', 'vid2'])
  assert by_id['clip_a'].label == 'renamed'        # re-import replaces
  assert len(by_id['clip_a'].hashes.quality) == 4
  # vid1 comes from its latest scan only, in time order.
  assert by_id['vid1'].hashes.ts_ms.tolist() == [0, 1000, 2000]
  assert hm.unpack_hashes(by_id['vid1'].hashes.pdq) == [
      new[1].pdq, new[0].pdq, new[2].pdq]
  index = hash_banks.load_index(bank)
  assert index.bank == 'known' and len(index.entry_ids) == 5


# --------------------------------------------------------------------------
# Robustness on real videos, and the Beam match job over stored hashes.

SIZE = (320, 240)
SECONDS = 12.0


class Corpus(NamedTuple):
  root: str
  originals: dict     # entry id -> path
  derived: dict       # name -> (path, entry id it derives from)
  unrelated: dict     # name -> path
  hashes: dict        # name -> List[HashedFrame]


@pytest.fixture(scope='module')
def corpus(tmp_path_factory) -> Corpus:
  root = str(tmp_path_factory.mktemp('hash_corpus'))
  path = lambda name, codec: os.path.join(root, name + CODECS[codec].extension)
  originals = {
      'orig_a': write_textured_video(path('orig_a', 'h264'), 1, SECONDS),
      'orig_b': write_textured_video(path('orig_b', 'h264'), 2, SECONDS),
  }
  a, b = originals['orig_a'], originals['orig_b']
  derived = {
      'a_reencoded_crf40': (derive_video(a, path('a_crf40', 'h264'),
                                         options=(('crf', '40'),)), 'orig_a'),
      'a_scaled_down': (derive_video(a, path('a_small', 'h264'),
                                     size=(192, 144)), 'orig_a'),
      'a_scaled_up': (derive_video(a, path('a_big', 'h264'),
                                   size=(480, 360)), 'orig_a'),
      'a_cropped_1pct': (derive_video(a, path('a_crop', 'h264'), crop=0.01),
                         'orig_a'),
      'a_trimmed': (derive_video(a, path('a_trim', 'h264'), start_s=2.5,
                                 end_s=9.5), 'orig_a'),
      'a_vp9': (derive_video(a, path('a_vp9', 'vp9'), codec='vp9'), 'orig_a'),
      'a_mpeg4_trim_scale': (derive_video(a, path('a_mix', 'mpeg4'),
                                          codec='mpeg4', size=(240, 180),
                                          start_s=1.3), 'orig_a'),
      'b_hevc_cropped': (derive_video(b, path('b_hevc', 'hevc'), codec='hevc',
                                      crop=0.01), 'orig_b'),
      'b_av1_scaled': (derive_video(b, path('b_av1', 'av1'), codec='av1',
                                    size=(256, 192)), 'orig_b'),
      # Mirrored left to right: found through the frames' mirror hashes.
      'a_mirrored': (derive_video(a, path('a_mirror', 'h264'), mirror=True),
                     'orig_a'),
      'b_mirrored_reencoded': (derive_video(
          b, path('b_mirror_vp9', 'vp9'), codec='vp9', size=(288, 216),
          crop=0.01, mirror=True), 'orig_b'),
  }
  unrelated = {
      f'other_{seed}_{codec}': write_textured_video(
          path(f'other_{seed}', codec), seed, 8.0, codec)
      for seed, codec in ((3, 'h264'), (4, 'vp9'), (5, 'hevc'), (6, 'mpeg4'),
                          (7, 'h264'), (8, 'av1'))}
  # A mirrored unrelated video is still unrelated.
  unrelated['other_3_mirrored'] = derive_video(
      unrelated['other_3_h264'], path('other_3_mirror', 'h264'), mirror=True)
  unrelated['flat_synthetic'] = write_video(
      os.path.join(root, 'flat.mp4'), 8.0, 'h264', fps=10.0, size=SIZE,
      seed=3)
  # 2 s of orig_a, then 10 s of something else: below the 80 % rule.
  partial = [render_textured(1, i / 10, *SIZE) for i in range(20)] + \
      [render_textured(9, i / 10, *SIZE) for i in range(100)]
  unrelated['partial_overlap'] = encode_frames(
      os.path.join(root, 'partial.mp4'), partial, 'h264', 10.0, SIZE)
  names = dict(originals)
  names.update({k: v[0] for k, v in derived.items()})
  names.update(unrelated)
  hashes = {name: hash_video(p) for name, p in names.items()}
  return Corpus(root, originals, derived, unrelated, hashes)


@pytest.fixture(scope='module')
def bank_index(corpus) -> hm.BankIndex:
  entries = [hm.BankEntry(name, 'known', as_frame_hashes(corpus.hashes[name]))
             for name in corpus.originals]
  return hm.build_index(entries, bank='test-bank')


def test_the_corpus_is_hashable(corpus):
  for name, hashed in corpus.hashes.items():
    qualities = [h.quality for h in hashed]
    if name == 'flat_synthetic':
      assert max(qualities) < 50     # smooth gradients: PDQ will not vouch
    else:
      assert min(qualities) >= 50, name


def test_derived_copies_match_their_original_only(corpus, bank_index):
  for name, (_, original) in corpus.derived.items():
    matches = hm.match_bank(as_frame_hashes(corpus.hashes[name]), bank_index)
    assert [m.entry_id for m in matches] == [original], (name, matches)
    match = matches[0]
    assert match.query_match_pct >= 80.0
    assert match.matched_frames >= 5
    assert match.mirrored == ('mirrored' in name), name


def test_mirrored_copies_need_the_mirror_hashes(corpus, bank_index):
  """Without the frames' mirror hashes a mirrored copy is not found (PDQ
  is not invariant to mirroring); the unmirrored copies do not need them."""
  for name in corpus.derived:
    direct = hm.match_bank(as_frame_hashes(corpus.hashes[name], False),
                           bank_index)
    assert bool(direct) == ('mirrored' not in name), name


def test_unrelated_videos_are_never_matched(corpus, bank_index):
  false_matches = {
      name: hm.match_bank(as_frame_hashes(corpus.hashes[name]), bank_index)
      for name in corpus.unrelated}
  assert {k: v for k, v in false_matches.items() if v} == {}
  # Nor do the originals match each other, nor unrelated videos one another.
  everything = {k: as_frame_hashes(v) for k, v in corpus.hashes.items()
                if k in corpus.unrelated or k in corpus.originals}
  # (other_3 and its mirror image are one video: they match each other.)
  same = {'other_3_h264', 'other_3_mirrored'}
  for query_name, query in everything.items():
    for entry_name, entry in everything.items():
      if query_name != entry_name and {query_name, entry_name} != same:
        assert hm.match_video(query, hm.BankEntry(entry_name, 'x', entry)) \
            is None, (query_name, entry_name)
  mirror_pair = hm.match_video(as_frame_hashes(corpus.hashes['other_3_h264']),
                               hm.BankEntry('m', 'x', everything[
                                   'other_3_mirrored']))
  assert mirror_pair is not None and mirror_pair.mirrored


def test_partial_overlap_is_found_with_a_lower_query_threshold(corpus,
                                                               bank_index):
  query = as_frame_hashes(corpus.hashes['partial_overlap'])
  scores = {s.entry_id: s for s in hm.score_bank(query, bank_index)}
  assert 10.0 <= scores['orig_a'].query_match_pct < 80.0
  rules = hm.MatchRules(query_match_pct=10.0)
  match = hm.match_bank(query, hm.build_index(
      [hm.BankEntry('orig_a', 'k', as_frame_hashes(corpus.hashes['orig_a']))],
      rules), rules)[0]
  assert match.first_match_ms == 0 and match.last_match_ms <= 2000


def test_match_job_over_stored_hashes(corpus, tmp_path, capsys):
  """The Beam job: frame_hashes on disk -> bank import -> hash_matches."""
  out = str(tmp_path / 'out')
  rows = [FrameHash(name, f'/archive/{name}', h.ts_ms, h.pdq, h.quality,
                    '20261201T000000Z-aaaaaa', h.mirror)
          for name, hashed in corpus.hashes.items() for h in hashed]
  _write_frame_hashes(out, '20261201T000000Z-aaaaaa', rows)
  # An older scan of orig_b with garbage hashes: ignored, the latest wins.
  rng = np.random.default_rng(0)
  _write_frame_hashes(out, '20251201T000000Z-bbbbbb', [
      FrameHash('orig_b', '/archive/orig_b', t, rng.bytes(32), 100,
                '20251201T000000Z-bbbbbb') for t in range(0, 12000, 1000)])
  bank = str(tmp_path / 'bank')
  assert bank_cli.main(['import', '--bank', bank, '--id', 'ours',
                        '--label', 'known', '--frame-hashes', out,
                        '--video-id', 'orig_a', '--video-id',
                        'orig_b']) == 0
  assert match_cli.main(['--hashes', out, '--bank', bank, '--output', out,
                         '--scan-id', 'match1']) == 0
  assert 'hash matches:' in capsys.readouterr().out
  table = read_partition(out, 'hash_matches', 'match1')
  got = sorted((r['video_id'], r['entry_id']) for r in table.to_pylist())
  expected = sorted([(k, k) for k in corpus.originals] +
                    [(k, v[1]) for k, v in corpus.derived.items()])
  assert got == expected
  row = next(r for r in table.to_pylist() if r['video_id'] == 'a_trimmed')
  assert row['bank'] == 'ours' and row['label'] == 'known'
  assert row['scan_id'] == 'match1'
  assert row['video_uri'] == '/archive/a_trimmed'
  assert row['first_match_ms'] <= row['last_match_ms']
  mirrored = {r['video_id'] for r in table.to_pylist() if r['mirrored']}
  assert mirrored == {k for k in corpus.derived if 'mirrored' in k}


def test_bank_import_takes_exactly_one_source(tmp_path):
  request = hash_banks.ImportRequest(str(tmp_path / 'bank'), 'b', 'x')
  with pytest.raises(ValueError, match='exactly one of'):
    hash_banks.import_bank(request)
  with pytest.raises(ValueError, match='exactly one of'):
    hash_banks.import_bank(dataclasses.replace(
        request, vpdq=('a.txt',), frame_hashes=str(tmp_path)))
  assert not (tmp_path / 'bank').exists()


def test_match_job_config_from_its_flags():
  now = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
  config = match_job.parse_match_args(
      ['--hashes', 'h', '--bank', 'a', '--bank', 'b', '--output', 'o',
       '--distance-threshold', '20', '--temp_location', 't'], now)
  assert (config.hashes, config.banks, config.output) == ('h', ('a', 'b'),
                                                          'o')
  assert config.rules == hm.MatchRules(distance_threshold=20)
  assert config.scan_id.startswith('20260102T030405Z-')
  assert config.beam_args == ('--runner', 'DirectRunner', '--temp_location',
                              't')


def test_match_job_refuses_missing_inputs(tmp_path, capsys):
  assert match_cli.main(['--hashes', str(tmp_path), '--bank',
                         str(tmp_path / 'nobank'), '--output',
                         str(tmp_path)]) == 1
  assert 'no hash bank' in capsys.readouterr().err


def test_hashes_stored_before_mirror_hashes_existed_still_match(corpus,
                                                                 tmp_path):
  """A frame_hashes file without the pdq_mirror column (an older scan) is
  banked and matched directly: its copies are found, its mirrored copies
  are not (nothing to match them with), and nothing fails."""
  out = str(tmp_path / 'out')
  folder = partition_dir(out, 'frame_hashes', '20261101T000000Z-oldold')
  os.makedirs(folder)
  old_schema = pa.schema([f for f in FRAME_HASHES if f.name != 'pdq_mirror'])
  names = ('orig_a', 'a_reencoded_crf40', 'a_mirrored')
  rows = [dict(video_id=name, video_uri=f'/archive/{name}', ts_ms=h.ts_ms,
               pdq=h.pdq, quality=h.quality, scan_id='20261101T000000Z-oldold')
          for name in names for h in corpus.hashes[name]]
  pq.write_table(pa.Table.from_pylist(rows, schema=old_schema),
                 os.path.join(folder, 'part-00000.parquet'))
  bank = str(tmp_path / 'bank')
  assert bank_cli.main(['import', '--bank', bank, '--id', 'old', '--label',
                        'known', '--frame-hashes', out, '--video-id',
                        'orig_a']) == 0
  assert match_cli.main(['--hashes', out, '--bank', bank, '--output', out,
                         '--scan-id', 'match-old']) == 0
  table = read_partition(out, 'hash_matches', 'match-old').to_pylist()
  assert sorted(r['video_id'] for r in table) == ['a_reencoded_crf40',
                                                  'orig_a']
  assert not any(r['mirrored'] for r in table)
