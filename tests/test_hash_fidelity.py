"""vPDQ fidelity at default settings: the scan's stored frame hashes equal
Meta's vpdq (0.2.5) bit for bit on constant-frame-rate video, although
``--sampling auto`` would decode these videos with ``fast`` or
``keyframes`` (their keyframe interval is longer, resp. shorter, than the
sampling interval) and those decodes give other frames and other pixels.

The videos are encoded as uploads are (B-frames, deblocking), so that a
decode that skips non-reference frames or the loop filter would hash other
frames or other pixels; ``test_approximate_hashes_drift`` shows that it does
on these very files, so the agreement test can fail.
"""
from __future__ import annotations

import collections
import os
from typing import Dict, List, Tuple

import pytest

from model.synthetic_video import Codec
from model.synthetic_video import encode_frames
from pipeline.hashes import pdq as hashing
from pipeline.media import decode
from pipeline.media import probe
from pipeline.media import sampling
from pipeline.storage.parquet import read_partition
from tests.conftest import FPS
from tests.conftest import run_scan
from tests.test_hash_matching import render_textured
from tests.test_vpdq_agreement import vpdq  # pylint: disable=unused-import

pytestmark = pytest.mark.xdist_group('hash_fidelity')

# Encoders as uploads use them: B-frames and the loop filter on.
_CODECS = {
    'h264': Codec('libx264', 'mp4', '.mp4', (('preset', 'veryfast'),)),
    'vp9': Codec('libvpx-vp9', 'webm', '.webm',
                 (('deadline', 'realtime'), ('cpu-used', '8'))),
    'mpeg4': Codec('mpeg4', 'avi', '.avi', (('qscale', '4'), ('bf', '2'))),
}
# (codec, frame rate, size): a 2-s keyframe interval, longer than the
# default 0.5-s sampling interval (auto: fast), shorter than 4 s (auto with
# --fps 0.25: keyframes).
_VIDEOS = {
    'h264_25fps': ('h264', 25.0, (320, 240)),
    'vp9_ntsc': ('vp9', 30000 / 1001, (320, 240)),
    'mpeg4_20fps': ('mpeg4', 20.0, (318, 202)),
}
_SECONDS = 11.0
_GOP_SECONDS = 2.0
# --fps for which auto picks keyframes on these videos.
_KEYFRAMES_FPS = 0.25


@pytest.fixture(scope='module')
def archive(tmp_path_factory) -> Dict[str, str]:
  root = tmp_path_factory.mktemp('fidelity') / 'archive'
  os.makedirs(root)
  paths = {}
  for seed, (name, (codec, rate, size)) in enumerate(sorted(_VIDEOS.items())):
    spec = _CODECS[codec]
    frames = (render_textured(50 + seed, i / rate, *size)
              for i in range(int(_SECONDS * rate)))
    paths[name] = encode_frames(str(root / (name + spec.extension)), frames,
                                spec, rate, size, gop_seconds=_GOP_SECONDS,
                                container_format=spec.container)
  return paths


def _auto_mode(path: str, fps: float) -> str:
  info = probe.probe_video(path)
  return sampling.resolve_sampling(sampling.AUTO, fps,
                                   info.keyframe_interval_ms)


def _reference(vpdq, path: str) -> List[Tuple[int, str, int]]:
  """vpdq's ``(timestamp ms, hex, quality)`` rows of a video."""
  return [(int(round(f.timestamp * 1000)), f.hex, f.quality)
          for f in vpdq.computeHash(path, seconds_per_hash=1.0)]


def _stored(root: str, scan_id: str) -> Dict[str, List[Tuple[int, str, int]]]:
  """file name -> the scan's ``(ts_ms, hex, quality)`` rows."""
  rows = collections.defaultdict(list)
  for row in read_partition(root, 'frame_hashes', scan_id).to_pylist():
    rows[os.path.basename(row['video_uri'])].append(
        (row['ts_ms'], row['pdq'].hex(), row['quality']))
  return {name: sorted(found) for name, found in rows.items()}


def _assert_equal(ours: List[Tuple[int, str, int]],
                  reference: List[Tuple[int, str, int]], name: str,
                  frame_ms: float) -> None:
  """Hashes and qualities bit for bit.  Times: vpdq's is frame number /
  frame rate, ours the frame's presentation time on the scan's timeline;
  they differ by where the first frame is shown (a frame late in an AVI
  with B-frames), never by more than a frame."""
  assert [(h, q) for _, h, q in ours] == [(h, q) for _, h, q in reference], \
      name
  assert max(abs(a[0] - b[0]) for a, b in zip(ours, reference)) <= \
      frame_ms + 1, name


@pytest.mark.parametrize('extra,auto', [((), sampling.FAST),
                                        (('--fps', str(_KEYFRAMES_FPS)),
                                         sampling.KEYFRAMES)])
def test_default_scan_hashes_equal_vpdq_bit_for_bit(vpdq, archive,
                                                    marker_model_dir,
                                                    tmp_path, extra, auto):
  fps = float(extra[1]) if extra else FPS
  assert {_auto_mode(p, fps) for p in archive.values()} == {auto}
  root = str(tmp_path / 'out')
  run_scan(root, list(archive.values()), marker_model_dir, 'fidelity',
           *extra)
  stored = _stored(root, 'fidelity')
  compared = 0
  for name, path in archive.items():
    reference = _reference(vpdq, path)
    assert len(reference) >= int(_SECONDS) - 1, name
    _assert_equal(stored[os.path.basename(path)], reference, name,
                  1000.0 / _VIDEOS[name][1])
    compared += len(reference)
  assert compared >= 3 * (int(_SECONDS) - 1)


# The videos whose approximate hashes drift from vpdq's: all of them when
# only keyframes are decoded; with ``fast``, those whose codec has
# non-reference frames or honours ``skip_loop_filter`` (FFmpeg's VP9
# decoder does not, and realtime libvpx makes no non-reference frames).
@pytest.mark.parametrize('mode,drifting', [
    (sampling.FAST, {'h264_25fps', 'mpeg4_20fps'}),
    (sampling.KEYFRAMES, set(_VIDEOS))])
def test_approximate_hashes_drift(vpdq, archive, mode, drifting):
  """What the scan stored before exact hashing was the default (and still
  stores with ``--hash-fidelity approximate``): other frames or other
  pixels than vpdq's, so the agreement test above can fail."""
  drifted = set()
  for name, path in archive.items():
    info = probe.probe_video(path)
    hasher = decode.FrameHasher('v', path, 's')
    with open(path, 'rb') as source:
      for _ in decode.iter_samples(
          source, 0, info.duration_ms, FPS, (32, 32), on_hash_pick=hasher,
          mode=mode, keyframe_interval_ms=info.keyframe_interval_ms,
          hash_fidelity=sampling.APPROXIMATE):
        pass
    ours = [(h.pdq.hex(), h.quality) for h in hasher.hashes]
    if ours != [(h, q) for _, h, q in _reference(vpdq, path)]:
      drifted.add(name)
  assert drifted == drifting


@pytest.mark.parametrize('requested,hashing,fidelity,expected', [
    (sampling.AUTO, True, sampling.EXACT, sampling.EXACT),
    (sampling.FAST, True, sampling.EXACT, sampling.EXACT),
    (sampling.KEYFRAMES, True, sampling.EXACT, sampling.EXACT),
    (sampling.AUTO, True, sampling.APPROXIMATE, sampling.FAST),
    (sampling.KEYFRAMES, True, sampling.APPROXIMATE, sampling.KEYFRAMES),
    (sampling.AUTO, False, sampling.EXACT, sampling.FAST),
    (sampling.KEYFRAMES, False, sampling.EXACT, sampling.KEYFRAMES),
])
def test_decode_mode(requested, hashing, fidelity, expected):
  """Hashing at exact fidelity decodes every frame; otherwise --sampling
  decides (auto: fast on a 2-s GOP sampled twice a second)."""
  assert sampling.decode_mode(requested, 2.0, 2000, hashing=hashing,
                              hash_fidelity=fidelity) == expected


def test_decode_mode_refuses_an_unknown_fidelity():
  with pytest.raises(ValueError, match='hash fidelity'):
    sampling.decode_mode(sampling.AUTO, 2.0, 2000, True, 'roughly')


def test_frames_are_numbered_from_the_first_frame_shown():
  """vPDQ counts frames: a stream whose first frame is shown at 67 ms (an
  AVI with B-frames) has its frame 0 there, and a segment decoded after a
  seek numbers its frames from that origin too."""
  times = [67 + i * 50.0 for i in range(60)]   # 20 fps
  from_start = hashing.VpdqTimePicker(20.0, 1.0, origin_ms=None)
  assert [t for t in times if from_start.pick(t) is not None] == [
      67, 1067, 2067]
  segment = hashing.VpdqTimePicker(20.0, 1.0, 1000, 3000, origin_ms=67)
  assert [t for t in times if segment.pick(t) is not None] == [1067, 2067]
  at_zero = hashing.VpdqTimePicker(20.0, 1.0)
  assert [t for t in times if at_zero.pick(t) is not None] == [
      1017, 2017, 3017]
