"""Agreement with Meta's reference vPDQ (``pip install vpdq==0.2.5``).

On generated videos and copies derived from them (re-encoded, scaled,
cropped, trimmed, another codec), our decode-pick-hash path must pick the
frames vPDQ picks, hash them bit for bit as vPDQ does, and our matcher must
decide every (query, entry) pair as the reference matcher decides it on
vPDQ's own hashes.

vpdq builds from source against FFmpeg's development packages; without it
the test is skipped, except under CI (``CI`` set), where it fails.
"""
from __future__ import annotations

import os
import subprocess
import sys
from typing import Dict, List, NamedTuple, Tuple

import av
import numpy as np
import pytest

from model.synthetic_video import CODECS
from model.synthetic_video import variable_frame_times
from model.synthetic_video import write_video
from pipeline.cli import bank as bank_cli
from pipeline.hashes import banks as hash_banks
from pipeline.hashes import matching as hm
from pipeline.hashes import pdq as hashing
from tests.test_hash_matching import HashedFrame
from tests.test_hash_matching import as_frame_hashes
from tests.test_hash_matching import derive_video
from tests.test_hash_matching import encode_frames
from tests.test_hash_matching import hash_video
from tests.test_hash_matching import reference_decision
from tests.test_hash_matching import reference_match
from tests.test_hash_matching import render_textured
from tests.test_hashing import _pattern

# Module-scoped video corpora: keep each module's tests on one xdist worker.
pytestmark = pytest.mark.xdist_group('vpdq_agreement')


@pytest.fixture(scope='module')
def vpdq():
  try:
    import vpdq  # pylint: disable=import-outside-toplevel,redefined-outer-name
  except ImportError as exc:
    message = (f'Meta\'s vpdq is not importable ({exc}); install it with '
               '"apt-get install -y build-essential cmake pkg-config '
               'libavcodec-dev '
               'libavformat-dev libavutil-dev libswscale-dev libavfilter-dev '
               'libavdevice-dev libswresample-dev" and "pip install '
               'vpdq==0.2.5"')
    if os.environ.get('CI'):
      pytest.fail(message)
    pytest.skip(message)
  return vpdq


def _frames(seed: int, count: int, fps: float, size: Tuple[int, int]):
  return (render_textured(seed, i / fps, *size) for i in range(count))


@pytest.fixture(scope='module')
def corpus(tmp_path_factory) -> Dict[str, str]:
  """name -> path: originals at several codecs and frame rates, derived
  copies, a variable-frame-rate phone-style video, unrelated videos."""
  root = str(tmp_path_factory.mktemp('vpdq_corpus'))

  def path(name: str, codec: str) -> str:
    return os.path.join(root, name + CODECS[codec].extension)

  videos = {
      'h264_10fps': encode_frames(path('h264_10fps', 'h264'),
                                  _frames(31, 100, 10.0, (320, 240)), 'h264',
                                  10.0, (320, 240)),
      'vp9_ntsc': encode_frames(path('vp9_ntsc', 'vp9'),
                                _frames(32, 240, 30000 / 1001, (320, 240)),
                                'vp9', 30000 / 1001, (320, 240)),
      'hevc_25fps': encode_frames(path('hevc_25fps', 'hevc'),
                                  _frames(33, 200, 25.0, (256, 192)), 'hevc',
                                  25.0, (256, 192)),
      'av1_24fps': encode_frames(path('av1_24fps', 'av1'),
                                 _frames(34, 168, 24.0, (256, 144)), 'av1',
                                 24.0, (256, 144)),
      'mpeg4_15fps_odd': encode_frames(path('mpeg4_15fps', 'mpeg4'),
                                       _frames(35, 120, 15.0, (318, 202)),
                                       'mpeg4', 15.0, (318, 202)),
      'vfr_h264': write_video(
          os.path.join(root, 'vfr.mp4'), 8.0, 'h264', fps=10.0,
          size=(320, 240), seed=2,
          frame_times_s=variable_frame_times(8.0, seed=3)),
  }
  for seed in (36, 37):
    videos[f'unrelated_{seed}'] = encode_frames(
        path(f'unrelated_{seed}', 'h264'), _frames(seed, 80, 10.0, (320, 240)),
        'h264', 10.0, (320, 240))
  for source in ('h264_10fps', 'vp9_ntsc', 'hevc_25fps'):
    s = videos[source]
    videos.update({
        f'{source}-crf40': derive_video(s, path(f'{source}-crf40', 'h264'),
                                        options=(('crf', '40'),)),
        f'{source}-scaled': derive_video(s, path(f'{source}-scaled', 'h264'),
                                         size=(224, 168)),
        f'{source}-cropped': derive_video(s, path(f'{source}-cropped', 'h264'),
                                          crop=0.01),
        f'{source}-trimmed': derive_video(s, path(f'{source}-trimmed', 'h264'),
                                          start_s=1.5, end_s=7.0),
        f'{source}-mpeg4': derive_video(s, path(f'{source}-mpeg4', 'mpeg4'),
                                        codec='mpeg4'),
    })
  return videos


class Hashes(NamedTuple):
  reference: list          # vpdq.VpdqFeature
  ours: List[HashedFrame]


@pytest.fixture(scope='module')
def hashed(vpdq, corpus) -> Dict[str, Hashes]:
  return {name: Hashes(vpdq.computeHash(path, seconds_per_hash=1.0),
                       hash_video(path))
          for name, path in corpus.items()}


def _distance(reference, ours: HashedFrame) -> int:
  return bin(int(reference.hex, 16) ^ int.from_bytes(ours.pdq, 'big')).count(
      '1')


@pytest.mark.usefixtures('vpdq')
def test_we_pick_the_frames_vpdq_picks(corpus, hashed):
  for name, (reference, ours) in hashed.items():
    assert [f.frame_number for f in reference] == \
        [f.frame_number for f in ours], name
    with av.open(corpus[name]) as container:
      rate = float(container.streams.video[0].average_rate)
    assert [f.timestamp for f in reference] == [
        hashing.vpdq_timestamp_s(f.frame_number, rate) for f in ours], name


@pytest.mark.usefixtures('vpdq')
def test_per_frame_hashes_are_bit_identical(hashed):
  distances = [_distance(r, o) for reference, ours in hashed.values()
               for r, o in zip(reference, ours)]
  quality_gaps = [abs(r.quality - o.quality)
                  for reference, ours in hashed.values()
                  for r, o in zip(reference, ours)]
  print(f'\nvPDQ agreement: {len(distances)} frames of {len(hashed)} videos, '
        f'Hamming distance max {max(distances)}, mean '
        f'{np.mean(distances):.3f}, {distances.count(0)} identical; quality '
        f'max gap {max(quality_gaps)}')
  assert len(distances) > 150
  assert max(distances) == 0 and max(quality_gaps) == 0


@pytest.mark.parametrize('seconds_per_hash', [0.0, 0.5, 2.0, 2.5])
def test_other_hash_rates(vpdq, corpus, seconds_per_hash):
  for name in ('vp9_ntsc', 'vfr_h264'):
    reference = vpdq.computeHash(corpus[name],
                                 seconds_per_hash=seconds_per_hash)
    ours = hash_video(corpus[name], seconds_per_hash)
    assert [(f.frame_number, f.hex, f.quality) for f in reference] == [
        (f.frame_number, f.pdq.hex(), f.quality) for f in ours], name


@pytest.mark.usefixtures('vpdq')
def test_the_variable_frame_rate_video_is_numbered_by_count(corpus, hashed):
  """vPDQ's frames on VFR video are every n-th frame, not evenly timed: the
  count picker matches it, a time-based pick would not."""
  reference, ours = hashed['vfr_h264']
  with av.open(corpus['vfr_h264']) as container:
    stream = container.streams.video[0]
    rate = float(stream.average_rate)
    times = [frame.time * 1000.0 for frame in container.decode(stream)]
  by_time = [p.frame_number for p in hashing.pick_vpdq_frames_by_time(
      ((t, None) for t in times), rate)]
  assert [f.frame_number for f in reference] != by_time
  nominal = [f.timestamp * 1000 for f in reference]
  assert max(abs(n - o.ts_ms) for n, o in zip(nominal, ours)) > 100


def test_hash_frame_equals_vpdq_on_lossless_rgb(vpdq, tmp_path):
  """The hash function alone: exact RGB frames in a lossless video."""
  frames = [render_textured(41, i / 5.0, 160, 120) for i in range(10)]
  frames.append(_pattern())
  path = str(tmp_path / 'lossless.avi')
  with av.open(path, mode='w', format='avi') as out:
    stream = out.add_stream('png', rate=5)
    stream.width, stream.height, stream.pix_fmt = 160, 120, 'rgb24'
    for index, rgb in enumerate(frames):
      frame = av.VideoFrame.from_ndarray(rgb, format='rgb24')
      frame.pts = index
      for packet in stream.encode(frame):
        out.mux(packet)
    for packet in stream.encode(None):
      out.mux(packet)
  reference = vpdq.computeHash(path, seconds_per_hash=0.0)
  assert len(reference) == len(frames)
  for feature in reference:
    pdq, quality = hashing.hash_frame(frames[feature.frame_number])
    assert (feature.hex, feature.quality) == (hashing.pdq_hex(pdq), quality)


def test_downscaled_hashes_stay_close(vpdq, corpus):
  """vpdq's own downsampling (FFmpeg 5.1's swscale, SWS_AREA) against
  PyAV's (FFmpeg 8's swscale): not bit-identical, but a few bits apart."""
  distances = []
  for name in ('h264_10fps', 'hevc_25fps', 'mpeg4_15fps_odd'):
    for size in ((160, 120), (96, 96)):
      reference = vpdq.computeHash(corpus[name], seconds_per_hash=1.0,
                                   downsample_width=size[0],
                                   downsample_height=size[1])
      ours = hash_video(corpus[name], size=size)
      distances += [_distance(r, o) for r, o in zip(reference, ours)]
  print(f'\nvPDQ downsampled vs ours: max {max(distances)}, mean '
        f'{np.mean(distances):.2f} bits over {len(distances)} frames')
  assert max(distances) <= 8


def test_match_decisions_agree_with_the_reference(vpdq, hashed):
  """Every (query, entry) pair: the reference matcher on vPDQ's hashes and
  distance, against our matcher on our hashes."""
  names = sorted(hashed)
  reference_features = {n: [(f.hex, f.quality) for f in hashed[n].reference]
                        for n in names}
  by_hex = {f.hex: f.hash for n in names for f in hashed[n].reference}

  def vpdq_distance(a: str, b: str) -> int:
    return vpdq.hamming_distance(by_hex[a], by_hex[b])

  ours = {n: as_frame_hashes(hashed[n].ours) for n in names}
  agree = positives = 0
  for query in names:
    for entry in names:
      expected = reference_decision(reference_features[query],
                                    reference_features[entry],
                                    distance=vpdq_distance)
      got = hm.match_video(ours[query], hm.BankEntry(entry, 'x', ours[entry]))
      assert (got is not None) == expected, (query, entry)
      if got is not None:
        assert (got.query_match_pct, got.compared_match_pct) == \
            reference_match(reference_features[query],
                            reference_features[entry],
                            distance=vpdq_distance)
      agree += 1
      positives += expected
  derived = [n for n in names if '-' in n]
  found = [n for n in derived if hm.match_video(
      ours[n], hm.BankEntry('source', 'x', ours[n.split('-')[0]]))]
  print(f'\nmatch decisions: {agree}/{agree} pairs agree with the reference, '
        f'{positives} matches, {agree - positives} non-matches; '
        f'{len(found)}/{len(derived)} derived copies match their source '
        f'(missed: {sorted(set(derived) - set(found))})')
  # PDQ is weak against crops: a 1 % crop of some scenes is already more
  # than 31 bits away, so not every derived copy has to match here.
  assert len(found) >= len(derived) - 2
  for name in ('unrelated_36', 'unrelated_37'):
    assert not [e for e in names if e != name and hm.match_video(
        ours[name], hm.BankEntry(e, 'x', ours[e]))]


def test_a_bank_of_vpdq_files_matches_our_hashes(vpdq, corpus, tmp_path):
  """vPDQ's own output, in the C++ tool's file format and from the vpdq
  Python CLI, imported into a bank: our hashes of the copies match it."""
  # The C++ vpdq-hash-video format (vpdqio.cpp outputVPDQFeatureToFile).
  cpp_file = tmp_path / 'h264_10fps.txt'
  cpp_file.write_text(''.join(
      f'{f.frame_number},{f.quality},{f.hex},{f.timestamp:.3f}\n'
      for f in vpdq.computeHash(corpus['h264_10fps'])))
  # The Python package's CLI (vpdq._cli): hex,quality,timestamp lines.
  cli = subprocess.run(
      [sys.executable, '-c', 'import sys, vpdq; sys.argv[1:] = [sys.argv[-1]];'
       ' vpdq._cli()', corpus['vp9_ntsc']],
      check=True, capture_output=True, text=True)
  cli_file = tmp_path / 'vp9_ntsc.txt'
  cli_file.write_text(cli.stdout)
  bank = str(tmp_path / 'bank')
  assert bank_cli.main(['import', '--bank', bank, '--id', 'meta',
                          '--label', 'known', '--vpdq', str(cpp_file),
                          str(cli_file)]) == 0
  index = hash_banks.load_index(bank)
  for name in ('h264_10fps', 'vp9_ntsc', 'h264_10fps-crf40',
               'vp9_ntsc-trimmed', 'hevc_25fps', 'unrelated_36'):
    matches = hm.match_bank(as_frame_hashes(hash_video(corpus[name])), index)
    source = name.split('-')[0]
    expected = [source] if source in ('h264_10fps', 'vp9_ntsc') else []
    assert [m.entry_id for m in matches] == expected, name
