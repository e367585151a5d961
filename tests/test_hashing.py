"""PDQ frame hashing, the vPDQ frame-picking rule, and the hash records."""
import ctypes

import numpy as np
import pdqhash
import pyarrow as pa
import pytest

from pipeline.hashes import pdq as hashing
from pipeline.media import sampling
from pipeline.hashes.matching import HashMatch
from pipeline.hashes.pdq import FrameHash
from schemas import hash_tables


def _pattern(width: int = 160, height: int = 120) -> np.ndarray:
  ys, xs = np.mgrid[0:height, 0:width]
  return np.stack([xs * 255 // (width - 1), ys * 255 // (height - 1),
                   ((xs // 20 + ys // 20) % 2) * 255], -1).astype(np.uint8)


def test_hash_frame_is_32_bytes_and_a_quality():
  pdq, quality = hashing.hash_frame(_pattern())
  assert isinstance(pdq, bytes) and len(pdq) == 32
  assert isinstance(quality, int) and 0 <= quality <= 100
  # A regression value: vPDQ's hash of this image (vpdq 0.2.5 on a lossless
  # video of it gives the same).
  assert hashing.pdq_hex(pdq) == ('5d17ff2a8182ff2a4284ff2a323300d5'
                                  '2d8600d545a9ff2a4d8bff2ad2a0ff2a')
  assert quality == 99


def test_frames_are_hashed_with_vpdq_float32_luma():
  # pdqhash.compute takes luma in float64; on this image of exact ties it
  # lands 52 bits away from vPDQ.  The pinned pdqhash exports PDQ's C++
  # luma and hash functions, which hash_frame calls.
  assert hashing.EXACT_VPDQ_LUMA
  bits, _ = pdqhash.compute(_pattern())
  float64_luma = np.packbits(bits.astype(np.uint8)).tobytes()
  assert float64_luma != hashing.hash_frame(_pattern())[0]


def test_hash_frame_takes_strided_views_and_is_deterministic():
  frame = _pattern(200, 150)
  view = frame[10:130, 20:180]
  assert hashing.hash_frame(view) == hashing.hash_frame(view.copy())


def test_flat_frames_have_low_quality():
  _, quality = hashing.hash_frame(np.full((64, 64, 3), 90, np.uint8))
  assert quality < 50


@pytest.mark.parametrize('bad', [
    np.zeros((32, 32), np.uint8),
    np.zeros((32, 32, 4), np.uint8),
    np.zeros((32, 32, 3), np.float32),
    np.zeros((4, 32, 3), np.uint8),
])
def test_hash_frame_refuses_what_is_not_an_rgb_frame(bad):
  with pytest.raises(ValueError):
    hashing.hash_frame(bad)


def test_hex_round_trip():
  pdq, _ = hashing.hash_frame(_pattern())
  assert hashing.pdq_from_hex(hashing.pdq_hex(pdq).upper()) == pdq
  with pytest.raises(ValueError):
    hashing.pdq_from_hex('ab' * 31)
  with pytest.raises(ValueError):
    hashing.pdq_from_hex('zz' * 32)


@pytest.mark.parametrize('rate,seconds,interval', [
    (30.0, 1.0, 30),
    (30000 / 1001, 1.0, 29),     # truncated, as vpdq's static_cast<int>
    (23.976, 0.5, 11),
    (10.0, 2.5, 25),
    (0.5, 1.0, 1),               # truncates to 0 -> 1
    (25.0, 0.0, 1),              # 0 seconds per hash: every frame
])
def test_vpdq_frame_interval(rate, seconds, interval):
  assert hashing.vpdq_frame_interval(rate, seconds) == interval


def test_vpdq_frame_interval_refuses_nonsense():
  with pytest.raises(ValueError):
    hashing.vpdq_frame_interval(30.0, -1.0)
  with pytest.raises(ValueError):
    hashing.vpdq_frame_interval(0.0, 1.0)


def test_vpdq_frame_rate_falls_back_to_the_base_rate():
  assert hashing.vpdq_frame_rate(25.0, 50.0) == 25.0
  assert hashing.vpdq_frame_rate(0, 50.0) == 50.0
  assert hashing.vpdq_frame_rate(None, 24.0) == 24.0
  with pytest.raises(ValueError):
    hashing.vpdq_frame_rate(None, 0)


def test_vpdq_timestamp_is_float32_division():
  rate = 30000 / 1001
  expected = float(np.float32(29) / np.float32(rate))
  assert hashing.vpdq_timestamp_s(29, rate) == expected
  assert f'{hashing.vpdq_timestamp_s(29, rate):.3f}' == '0.968'


def test_pick_vpdq_frames_counts_frames_not_time():
  # Irregular times: vPDQ still takes every 10th frame by count.
  times = [0, 40, 55, 300, 301, 302, 700, 720, 900, 950, 951, 1500, 1501,
           1502, 1503, 1504, 1505, 1506, 1507, 1508, 1509, 1510]
  frames = [(t, f'frame{i}') for i, t in enumerate(times)]
  picks = list(hashing.pick_vpdq_frames(frames, 10.0, 1.0))
  assert [p.frame_number for p in picks] == [0, 10, 20]
  assert [p.frame for p in picks] == ['frame0', 'frame10', 'frame20']
  assert [p.time_ms for p in picks] == [0, 951, 1509]


def test_pick_vpdq_frames_continues_a_count():
  frames = [(i * 100.0, i) for i in range(25, 45)]
  picks = hashing.pick_vpdq_frames(frames, 10.0, 1.0, first_frame_number=25)
  assert [p.frame for p in picks] == [30, 40]


def test_pick_by_time_matches_the_count_on_constant_rate_segments():
  rate = 30000 / 1001
  frames = [(n * 1001 / 30.0, n) for n in range(0, 400)]
  by_count = [p.frame for p in hashing.pick_vpdq_frames(frames, rate)]
  segments = [(0, 4000), (4000, 9000), (9000, 20000)]
  by_time = [p.frame for start, end in segments
             for p in hashing.pick_vpdq_frames_by_time(
                 frames, rate, start_ms=start, end_ms=end)]
  assert by_time == by_count == list(range(0, 400, 29))


def test_pick_by_time_takes_a_repeated_frame_once():
  frames = [(0.0, 'a'), (0.0, 'dup'), (100.0, 'b'), (1000.0, 'c'),
            (1000.2, 'c-dup')]
  picks = list(hashing.pick_vpdq_frames_by_time(frames, 10.0))
  assert [p.frame for p in picks] == ['a', 'c']


def test_one_loop_feeds_the_model_sampler_and_the_hasher():
  """A segmented decode: pick_frames takes the model's 2 fps samples from a
  tapped stream, the tap collects vPDQ's frames; both from one pass."""
  rate = 25.0
  frames = [(n * 40.0, n) for n in range(0, 500)]   # 20 s at 25 fps
  by_count = [p.frame for p in hashing.pick_vpdq_frames(frames, rate)]
  hashed, sampled = [], []
  for start, end in ((0, 7000), (7000, 14000), (14000, 20000)):
    picker = hashing.VpdqTimePicker(rate, 1.0, start, end)
    picks = []
    stream = iter([f for f in frames if f[0] >= start - 1000])  # a seek
    tapped = hashing.tap_vpdq_frames(stream, picker, picks.append)
    times = [t for t in range(0, 20000, 500) if start <= t < end]
    sampled += [frame for _, frame in sampling.pick_frames(tapped, times,
                                                          500.0)]
    for time_ms, _ in tapped:       # drain to the end of the segment
      if time_ms >= end:
        break
    hashed += [p.frame for p in picks]
  assert hashed == by_count == list(range(0, 500, 25))
  assert sampled == [t // 40 for t in range(0, 20000, 500)]


def test_hash_size_keeps_aspect_and_full_resolution_by_default():
  assert hashing.hash_size(1920, 1080) == (1920, 1080)
  assert hashing.hash_size(1920, 1080, 512) == (512, 288)
  assert hashing.hash_size(1080, 1920, 512) == (288, 512)
  assert hashing.hash_size(320, 240, 512) == (320, 240)
  assert hashing.hash_size(4000, 8, 512) == (512, 5)


def test_frame_hash_record():
  record = hashing.frame_hash('v', 'gs://b/v.mp4', 's', 1000.4, _pattern())
  assert record.ts_ms == 1000
  assert record.pdq == hashing.hash_frame(_pattern())[0]
  assert record.pdq_mirror == hashing.hash_frame_and_mirror(_pattern()).mirror


# PDQ's own dihedral hasher, compiled into the pdqhash extension next to
# the functions hash_frame calls: the reference for the mirror hash.
_DIHEDRAL = ('_ZN8facebook3pdq7hashing33pdqDihedralHash256esFromFloatLumaEPfS2_'
             'iiPA64_fS4_PA16_fS6_PNS1_7Hash256ES8_S8_S8_S8_S8_S8_S8_Ri')
_FLIP_Y = 5   # original, rot90, rot180, rot270, flipX, flipY, flip+1, flip-1


def _pdq_dihedral(rgb: np.ndarray):
  """PDQ's eight dihedral hashes of ``rgb`` and its quality."""
  from pdqhash import bindings  # pylint: disable=import-outside-toplevel
  dihedral = getattr(ctypes.CDLL(bindings.__file__), _DIHEDRAL)
  dihedral.restype = ctypes.c_bool
  dihedral.argtypes = [ctypes.c_void_p] * 2 + [ctypes.c_int] * 2 + [
      ctypes.c_void_p] * 13
  fill_luma, _ = hashing._NATIVE  # pylint: disable=protected-access
  height, width = rgb.shape[:2]
  rgb = np.ascontiguousarray(rgb)
  luma = np.empty((height, width), np.float32)
  fill_luma(rgb.ctypes.data, rgb.ctypes.data + 1, rgb.ctypes.data + 2,
            height, width, width * 3, 3, luma.ctypes.data)
  scratch = np.empty_like(luma)
  buffers = [np.empty(shape, np.float32)
             for shape in ((64, 64), (16, 64), (16, 16), (16, 16))]
  words = [np.zeros(16, np.uint16) for _ in range(8)]
  quality = ctypes.c_int(0)
  dihedral(luma.ctypes.data, scratch.ctypes.data, height, width,
           *(b.ctypes.data for b in buffers), *(w.ctypes.data for w in words),
           ctypes.addressof(quality))
  return [w[::-1].astype('>u2').tobytes() for w in words], quality.value


def _distance(a: bytes, b: bytes) -> int:
  return int(np.unpackbits(np.frombuffer(bytes(x ^ y for x, y in zip(a, b)),
                                         np.uint8)).sum())


def test_the_mirror_hash_is_pdqs_dihedral_flip_bit_for_bit():
  """From one DCT, the mirror hash equals PDQ's own FlipY hash (median
  recomputed) and the direct hash stays PDQ's; both on random sizes and
  contents, smooth and noisy."""
  rng = np.random.default_rng(3)
  images = [_pattern(), _pattern(333, 77)]
  for _ in range(40):
    height, width = (int(v) for v in rng.integers(5, 260, 2))
    noise = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    images += [noise, np.cumsum(noise, axis=1, dtype=np.uint8)]
  for rgb in images:
    expected, quality = _pdq_dihedral(rgb)
    got = hashing.hash_frame_and_mirror(rgb)
    assert (got.pdq, got.quality) == (expected[0], quality)
    assert got.mirror == expected[_FLIP_Y]


def test_the_mirror_hash_is_near_the_hash_of_the_mirrored_frame():
  frame = _pattern(320, 240)
  frame[40:120, 30:90] = (250, 30, 30)     # not symmetric
  direct = hashing.hash_frame_and_mirror(frame)
  mirrored = hashing.hash_frame_and_mirror(np.ascontiguousarray(
      frame[:, ::-1]))
  assert _distance(direct.mirror, mirrored.pdq) <= 8
  assert _distance(mirrored.mirror, direct.pdq) <= 8
  assert _distance(direct.pdq, mirrored.pdq) > 64   # PDQ alone misses it


def test_records_mirror_the_schemas_field_for_field():
  assert list(FrameHash._fields) == hash_tables.FRAME_HASHES.names
  assert list(HashMatch._fields) == hash_tables.HASH_MATCHES.names
  # A perceptual match is a row of kind vpdq.
  match = HashMatch('v', 'u', 'bank', 'e', 'label', 87.5, 100.0, 7, 1000,
                    8000, 's')
  assert match.kind == 'vpdq'


def test_records_convert_to_their_schemas():
  pdq, quality = hashing.hash_frame(_pattern())
  row = FrameHash('v', 'gs://b/v.mp4', 1000, pdq, quality, 's')
  table = pa.Table.from_pylist([row._asdict()],
                               schema=hash_tables.FRAME_HASHES)
  assert table.column('pdq')[0].as_py() == pdq
  match = HashMatch('v', 'gs://b/v.mp4', 'bank', 'e', 'label', 87.5, 100.0, 7,
                    1000, 8000, 's')
  table = pa.Table.from_pylist([match._asdict()],
                               schema=hash_tables.HASH_MATCHES)
  assert table.column('kind')[0].as_py() == 'vpdq'
  assert table.column('query_match_pct')[0].as_py() == 87.5
  with pytest.raises((pa.ArrowInvalid, ValueError)):
    pa.Table.from_pylist([row._replace(pdq=pdq[:31])._asdict()],
                         schema=hash_tables.FRAME_HASHES)


def test_hash_datasets_share_the_scan_layout():
  import schemas  # pylint: disable=import-outside-toplevel
  assert schemas.partition_dir('gs://b/out/', 'frame_hashes', 'x') \
      == 'gs://b/out/frame_hashes/scan=x'
  assert schemas.dataset_glob('/r', 'hash_matches') == \
      '/r/hash_matches/*/*.parquet'
  with pytest.raises(KeyError):
    schemas.partition_dir('/r', 'no_such_dataset', 'x')
