"""Limits enforced where the data is, not where the header says (issue #14).

* every decoded frame is held to ``--max-pixels``: a file whose header
  describes small frames and whose later frames are large ends as failed
  with ``frame_too_large``, never ``scanned``, in every decode mode, for
  MJPEG (new picture size in any packet) and H.264 (new sequence header);
* every numeric flag of ``rescan scan`` and every number of a model's
  metadata has bounds, refused before any work with one line and exit 2;
* the peak memory of the whole process tree of a scan stays under a stated
  bound for each of these hostile cases (polled from /proc as
  ``benchmarks.measure`` does).
"""
from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import struct
import subprocess
import sys
import threading
from fractions import Fraction
from typing import List, Sequence, Tuple

import av
import numpy as np
import pytest

from benchmarks import measure
from model.synthetic_video import write_video
from pipeline.inference import contract
from pipeline.media import decode
from pipeline.media import errors as media_errors
from pipeline.media import frame_size
from pipeline.scan import options
from pipeline.storage.parquet import read_partition
from tests.conftest import LABELS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = (64, 64)
LARGE = (1280, 720)
# The largest frame --max-pixels admits (8192x8192), for the memory test.
HUGE = (8192, 8192)
# Between SMALL and LARGE: the header passes, the later frames do not.
TEST_MAX_PIXELS = 100_000
RATE = 10
MiB = 1 << 20
# The stated bounds (README "Limits"): peak memory of the whole process
# tree (sum of PSS) of a `rescan scan` refused at start, and of a whole
# scan on the local runner of the hostile files below.  A scan's baseline
# is Python, Beam, TensorFlow and the watched decode process; the limits
# add at most one refused packet (nothing is allocated at the refused
# size) per segment.
REFUSED_AT_START_BOUND = 512 * MiB
SCAN_BOUND = 1024 * MiB


# Hostile media ---------------------------------------------------------------

def _jpeg(width: int, height: int, shade: int) -> bytes:
  """One JPEG picture of ``width`` x ``height``."""
  buffer = io.BytesIO()
  with av.open(buffer, 'w', format='mjpeg') as out:
    stream = out.add_stream('mjpeg', rate=1)
    stream.width, stream.height, stream.pix_fmt = width, height, 'yuvj420p'
    image = np.full((height, width, 3), shade, np.uint8)
    image[: height // 4, : width // 4] = (255, 0, 0)
    frame = av.VideoFrame.from_ndarray(image, format='rgb24')
    for packet in list(stream.encode(frame)) + list(stream.encode(None)):
      out.mux(packet)
  return buffer.getvalue()


def write_growing_mjpeg(path: str, sizes: Sequence[Tuple[int, int]],
                        container: str = 'avi') -> str:
  """An MJPEG video whose header says ``sizes[0]``; frame i is
  ``sizes[i]``, at ``RATE`` frames per second."""
  pictures = {size: _jpeg(*size, shade=90) for size in set(sizes)}
  with av.open(path, 'w', format=container) as out:
    stream = out.add_stream('mjpeg', rate=RATE)
    stream.width, stream.height = sizes[0]
    stream.pix_fmt = 'yuvj420p'
    for i, size in enumerate(sizes):
      packet = av.Packet(pictures[size])
      packet.stream = stream
      packet.pts = packet.dts = i
      packet.time_base = Fraction(1, RATE)
      packet.is_keyframe = True
      out.mux(packet)
  return path


def _annex_b(width: int, height: int, frames: int) -> bytes:
  buffer = io.BytesIO()
  with av.open(buffer, 'w', format='h264') as out:
    stream = out.add_stream('libx264', rate=RATE,
                            options={'preset': 'ultrafast'})
    stream.width, stream.height, stream.pix_fmt = width, height, 'yuv420p'
    for i in range(frames):
      image = np.full((height, width, 3), (i * 9) % 255, np.uint8)
      frame = av.VideoFrame.from_ndarray(image, format='rgb24')
      frame.pts = i
      for packet in stream.encode(frame):
        out.mux(packet)
    for packet in stream.encode(None):
      out.mux(packet)
  return buffer.getvalue()


def write_growing_h264(path: str, small_frames: int, large_frames: int,
                       large: Tuple[int, int] = LARGE) -> str:
  """An H.264 stream in Matroska: ``small_frames`` of ``SMALL``, then a new
  sequence header and ``large_frames`` of ``large``.  The container's
  header (and the decoder's extradata) describe the small frames."""
  raw = path + '.h264'
  with open(raw, 'wb') as f:
    f.write(_annex_b(*SMALL, small_frames) + _annex_b(*large, large_frames))
  with av.open(raw, format='h264') as source, \
      av.open(path, 'w', format='matroska') as out:
    video = source.streams.video[0]
    stream = out.add_stream_from_template(video)
    index = 0
    for packet in source.demux(video):
      if not packet.size:
        continue
      packet.stream = stream
      packet.pts = packet.dts = index
      packet.time_base = Fraction(1, RATE)
      out.mux(packet)
      index += 1
  os.remove(raw)
  return path


@pytest.fixture(scope='module')
def growing(tmp_path_factory):
  """{name: path} of videos whose header says 64x64 and whose later
  frames are 1280x720: from 2 s on, or only in their last second."""
  root = tmp_path_factory.mktemp('growing')
  j = lambda name: str(root / name)  # pylint: disable=unnecessary-lambda-assignment
  return {
      'mjpeg.avi': write_growing_mjpeg(j('mjpeg.avi'),
                                       [SMALL] * 20 + [LARGE] * 40),
      'mjpeg.mkv': write_growing_mjpeg(j('mjpeg.mkv'),
                                       [SMALL] * 20 + [LARGE] * 40,
                                       'matroska'),
      'mjpeg_late.avi': write_growing_mjpeg(j('mjpeg_late.avi'),
                                            [SMALL] * 70 + [LARGE] * 10),
      'h264.mkv': write_growing_h264(j('h264.mkv'), 20, 40),
      'h264_late.mkv': write_growing_h264(j('h264_late.mkv'), 70, 10),
  }


def _decode_all(path: str, mode: str, max_pixels, hasher=None):
  stats = decode.DecodeStats()
  samples = []
  with open(path, 'rb') as f:
    with pytest.raises(media_errors.MediaError) as raised:
      for sample in decode.iter_samples(
          f, 0, 8000, 5.0, (32, 32), stats, max_pixels=max_pixels,
          mode=mode, on_hash_pick=hasher):
        samples.append(sample)
  return raised.value, samples


# Every decoded frame --------------------------------------------------------

@pytest.mark.parametrize('mode', ['exact', 'fast', 'keyframes', 'auto'])
@pytest.mark.parametrize('name', ['mjpeg.avi', 'mjpeg.mkv', 'mjpeg_late.avi',
                                  'h264.mkv', 'h264_late.mkv'])
def test_a_frame_beyond_the_limit_ends_the_range(growing, name, mode):
  """The header (64x64) passes the limit; the first large frame, whatever
  decode mode skips, ends decoding with frame_too_large."""
  hasher = decode.FrameHasher('v', growing[name], 's')
  error, samples = _decode_all(growing[name], mode, TEST_MAX_PIXELS, hasher)
  assert error.kind == media_errors.FRAME_TOO_LARGE
  assert str(TEST_MAX_PIXELS) in str(error)
  large_from_ms = (70 if 'late' in name else 20) * 1000 / RATE
  assert all(s.frame_ms < large_from_ms for s in samples)
  # Nothing was hashed (converted to RGB at full size) past the limit.
  assert all(h.ts_ms < large_from_ms for h in hasher.hashes)


@pytest.mark.parametrize('name', ['mjpeg.avi', 'h264.mkv'])
def test_the_same_files_decode_under_a_larger_limit(growing, name):
  """The check is on the size, not on the size change: under a limit the
  large frames fit, every frame decodes."""
  stats = decode.DecodeStats()
  with open(growing[name], 'rb') as f:
    samples = list(decode.iter_samples(f, 0, 6000, 5.0, (32, 32), stats,
                                       max_pixels=LARGE[0] * LARGE[1],
                                       mode='exact'))
  assert len(samples) == 30 and stats.error_kind is None


def test_frame_size_refusals_are_told_apart_from_damage():
  einval = av.error.ArgumentError(22, 'Invalid argument')
  invalid = av.error.InvalidDataError(1094995529, 'Invalid data')
  assert frame_size.refused_for_size(invalid, 1280, 720, 100_000)
  assert frame_size.refused_for_size(einval, 0, 0, 100_000)
  assert not frame_size.refused_for_size(invalid, 0, 0, 100_000)
  assert not frame_size.refused_for_size(invalid, 64, 64, 100_000)
  assert not frame_size.refused_for_size(invalid, 1280, 720, None)
  frame_size.check_frame(316, 316, 100_000)
  with pytest.raises(media_errors.MediaError) as raised:
    frame_size.check_frame(317, 316, 100_000)
  assert raised.value.kind == media_errors.FRAME_TOO_LARGE
  assert frame_size.decoder_options(100_000) == {'max_pixels': '100000'}


def test_frame_too_large_fails_the_video():
  """A segment that ended on a large frame left the rest unseen."""
  assert media_errors.FRAME_TOO_LARGE in media_errors.FATAL_SEGMENT_KINDS
  kind, _ = media_errors.classify(frame_size.refused_error(0, 0, 10))
  assert kind == 'frame_too_large'


# Flag bounds -------------------------------------------------------------------

REQUIRED = ['--input', 'x.mp4', '--output', 'out', '--model', 'm']
# flag: (values at the bounds, values outside them).
FLAG_BOUNDS = {
    '--fps': (['0.001', '120'], ['0', '-1', '120.5', '1e9', 'inf', 'nan']),
    '--threshold': (['0', '1'], ['-0.1', '1.1', 'inf']),
    '--audio-threshold': (['0', '1'], ['-0.1', '1.1', 'nan']),
    '--segment-seconds': (['1', '86400'], ['1e-9', '0.5', '86401', 'inf']),
    '--batch-size': (['1', '4096'], ['0', '4097', '1e9']),
    '--audio-batch-size': (['1', '4096'], ['0', '4097', '1e9']),
    '--merge-gap-seconds': (['0', '86400'], ['-1', '86401', 'inf']),
    '--min-clip-seconds': (['0', '86400'], ['-1', '1e12', 'nan']),
    '--max-pixels': (['1', str(8192 * 8192)], ['0', str(8192 * 8192 + 1)]),
    '--max-frames-per-segment': (['1', '10000000'], ['0', '10000001']),
    '--segment-timeout-seconds': (['0.5', '86400'],
                                  ['0', '86401', 'inf', '-inf']),
    '--decode-threads': (['0', '256'], ['-1', '257']),
    '--inference-threads': (['0', '256'], ['-1', '100000']),
    '--hash-seconds': (['0.001', '3600'], ['0', '1e-9', '3601', 'inf']),
    '--model-copies': (['1', '64'], ['0', '65']),
    '--min-coverage': (['0', '1'], ['-0.1', '1.5', 'nan']),
    '--max-duration-hours': (['0.001', '10000'], ['0', '-1', '10001', 'inf']),
    '--waves': (['1', '1000'], ['0', '-1', '1001', '2.5']),
}


def _numeric_flags() -> List[str]:
  """Every flag of `rescan scan` that takes a number."""
  numeric = []
  for action in options.build_arg_parser()._actions:  # pylint: disable=protected-access
    kind = action.type
    if kind is None or kind in (str,) or action.choices:
      continue
    try:
      value = kind('1')
    except (argparse.ArgumentTypeError, ValueError):
      continue
    if isinstance(value, (int, float)) and not isinstance(value, bool):
      numeric.append(action.option_strings[0])
  return numeric


def test_every_numeric_flag_has_bounds():
  """A new numeric flag needs its bounds here (and in its help)."""
  assert sorted(_numeric_flags()) == sorted(FLAG_BOUNDS)
  text = ' '.join(options.build_arg_parser().format_help().split())
  for interval in ('(0, 120]', '[1, 86400]', '[1, 4096]', '(0, 86400]'):
    assert interval in text


@pytest.mark.parametrize('flag', sorted(FLAG_BOUNDS))
def test_numeric_flags_are_bounded(flag, capsys):
  good, bad = FLAG_BOUNDS[flag]
  # The audio model's threshold needs an audio model.
  required = REQUIRED + (['--audio-model', 'a']
                         if flag == '--audio-threshold' else [])
  for value in good:
    options.parse_scan_args(required + [flag, value])
  for value in bad:
    with pytest.raises(SystemExit) as raised:
      options.parse_scan_args(required + [f'{flag}={value}'])
    assert raised.value.code == 2
    err = capsys.readouterr().err.strip()
    assert flag in err and 'Traceback' not in err, err


# Model metadata bounds -------------------------------------------------------

GOOD_METADATA = {'name': 'm', 'version': '1', 'labels': ['a'],
                 'input_height': 64, 'input_width': 64, 'fps': 2.0,
                 'threshold': 0.5}


@pytest.mark.parametrize('change,problem', [
    ({'fps': 1e9}, '"fps" must be in (0, 120]'),
    ({'fps': 0}, '"fps" must be in (0, 120]'),
    ({'fps': 121}, '"fps" must be in (0, 120]'),
    ({'input_height': 20000, 'input_width': 20000}, '"input_height"'),
    ({'input_width': 1025}, '"input_width" must be in [1, 1024]'),
    ({'input_width': 0}, '"input_width" must be in [1, 1024]'),
    ({'window': 65}, '"window" must be an integer in [1, 64]'),
    ({'window': 0}, '"window"'),
    ({'window': 64, 'input_height': 1024, 'input_width': 1024},
     'one input'),
    ({'labels': [f'l{i}' for i in range(1001)]}, 'at most 1000'),
    ({'labels': ['x' * 129]}, 'at most 128 characters'),
    ({'name': 'n' * 2000}, '"name" must be at most'),
    ({'threshold': 1.5}, '"threshold" must be in [0, 1]'),
    ({'calibration': float('nan')}, '"calibration" must be a finite'),
])
def test_metadata_numbers_are_bounded(change, problem):
  with pytest.raises(contract.ContractError) as raised:
    contract.parse_metadata('m', {**GOOD_METADATA, **change})
  assert problem in str(raised.value)


def test_metadata_at_its_bounds_is_accepted():
  spec = contract.parse_metadata('m', {
      **GOOD_METADATA, 'fps': 120, 'input_height': 1024,
      'input_width': 1024, 'window': 21,
      'labels': [f'l{i}' for i in range(1000)]})
  assert spec.fps == 120 and spec.window == 21


@pytest.mark.parametrize('constant', ['Infinity', '-Infinity', 'NaN'])
def test_non_finite_json_numbers_are_refused(tmp_path, constant):
  (tmp_path / contract.METADATA_FILE).write_text(
      json.dumps(GOOD_METADATA).replace('2.0', constant))
  with pytest.raises(contract.ContractError, match=constant):
    contract.load_model_spec(str(tmp_path))


def test_oversized_metadata_is_refused(tmp_path):
  (tmp_path / contract.METADATA_FILE).write_text(
      json.dumps({**GOOD_METADATA, 'pad': ' ' * (2 << 20)}))
  with pytest.raises(contract.ContractError, match='larger than'):
    contract.load_model_spec(str(tmp_path))


def test_scan_budget_of_flags_and_model():
  spec = contract.parse_metadata('m', {
      **GOOD_METADATA, 'input_height': 1024, 'input_width': 1024})
  contract.check_scan_budget(spec, 2.0, 60, 64)
  with pytest.raises(contract.ContractError, match='per segment'):
    contract.check_scan_budget(spec, 120, 3600, 64)
  with pytest.raises(contract.ContractError, match='at most 341'):
    contract.check_scan_budget(spec, 1.0, 1, 4096)


# The whole process tree, measured ---------------------------------------------

@dataclasses.dataclass(frozen=True)
class Measured:
  returncode: int
  stdout: str
  stderr: str
  peak_bytes: int


def run_measured(argv: Sequence[str], timeout_s: float = 900) -> Measured:
  """Runs ``argv`` and polls the memory (sum of PSS) of its whole process
  tree every 50 ms, as ``benchmarks.measure.run_child`` does, also when it
  fails."""
  env = dict(os.environ, RESCAN_LOG_LEVEL='ERROR')
  with subprocess.Popen(list(argv), cwd=ROOT, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                        text=True, env=env) as process:
    peak = [0]
    done = threading.Event()

    def poll() -> None:
      while not done.is_set():
        peak[0] = max(peak[0], measure.tree_memory_bytes(process.pid))
        done.wait(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
      out, err = process.communicate(timeout=timeout_s)
    finally:
      done.set()
      poller.join()
  return Measured(process.returncode, out, err, peak[0])


def _scan_argv(inputs: Sequence[str], output: str, model: str,
               *extra: str) -> List[str]:
  argv = [sys.executable, '-m', 'pipeline.cli', 'scan', '--output', output,
          '--model', model, '--scan-id', 'limits']
  for path in inputs:
    argv += ['--input', path]
  return argv + list(extra)


def _write_metadata(model_dir: str, **changes) -> None:
  path = os.path.join(model_dir, contract.METADATA_FILE)
  with open(path, encoding='utf-8') as f:
    metadata = json.load(f)
  metadata.update(changes)
  with open(path, 'w', encoding='utf-8') as f:
    json.dump(metadata, f)


def _copy_model(source: str, target: str) -> str:
  import shutil  # pylint: disable=import-outside-toplevel
  shutil.copytree(source, target)
  return target


@pytest.fixture(scope='module')
def dynamic_shape_model(tmp_path_factory) -> str:
  """A model whose signature leaves H and W open ([None, None, None, 3]),
  whose metadata asks for a 20000x20000 input."""
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from tests.fixtures import marker_model  # pylint: disable=import-outside-toplevel
  out = str(tmp_path_factory.mktemp('models') / 'dynamic')
  module = marker_model.MarkerDetector(LABELS, None, None)
  tf.saved_model.save(module, out,
                      signatures={'serving_default': module.serve})
  with open(os.path.join(out, contract.METADATA_FILE), 'w',
            encoding='utf-8') as f:
    json.dump({**GOOD_METADATA, 'labels': list(LABELS),
               'input_height': 20000, 'input_width': 20000}, f)
  return out


def _assert_refused_at_start(result: Measured, words: str) -> None:
  lines = result.stderr.strip().splitlines()
  assert result.returncode == 2, result.stderr[-2000:]
  assert len(lines) == 1 and words in lines[0], result.stderr[-2000:]
  print(f'peak memory, refused at start: {result.peak_bytes / MiB:.0f} MiB')
  assert result.peak_bytes < REFUSED_AT_START_BOUND, result.peak_bytes


@pytest.mark.slow
def test_model_fps_of_a_billion_is_refused_at_start(tmp_path, growing,
                                                    marker_model_dir):
  model = _copy_model(marker_model_dir, str(tmp_path / 'model'))
  _write_metadata(model, fps=1e9)
  result = run_measured(_scan_argv([growing['h264.mkv']],
                                   str(tmp_path / 'out'), model))
  _assert_refused_at_start(result, '"fps" must be in (0, 120]')
  assert not os.path.exists(tmp_path / 'out' / 'videos')


@pytest.mark.slow
def test_dynamic_shape_model_with_a_huge_input_is_refused_at_start(
    tmp_path, growing, dynamic_shape_model):
  result = run_measured(_scan_argv([growing['h264.mkv']],
                                   str(tmp_path / 'out'),
                                   dynamic_shape_model))
  _assert_refused_at_start(result, '"input_height" must be in [1, 1024]')


@pytest.mark.slow
@pytest.mark.parametrize('flags,words', [
    (('--fps', 'inf'), 'argument --fps'),
    (('--segment-seconds', '1e-9'), 'argument --segment-seconds'),
    (('--segment-timeout-seconds', 'inf'),
     'argument --segment-timeout-seconds'),
    (('--fps', '120', '--segment-seconds', '86400'), 'per segment'),
])
def test_hostile_flags_are_refused_at_start(tmp_path, growing,
                                            marker_model_dir, flags, words):
  result = run_measured(_scan_argv([growing['h264.mkv']],
                                   str(tmp_path / 'out'), marker_model_dir,
                                   *flags))
  _assert_refused_at_start(result, words)


@pytest.mark.slow
def test_header_small_frames_large_fail_with_bounded_memory(
    tmp_path, growing, marker_model_dir):
  """The whole scan of the growing files (and one ordinary video):
  each growing file fails with frame_too_large, never scanned; the
  ordinary one is scanned; the process tree stays under SCAN_BOUND."""
  ordinary = write_video(str(tmp_path / 'ordinary.mp4'), 6.0, 'h264')
  # Header 64x64, then 8192x8192 frames: decoded at full size, each is
  # 100 MB of YUV and 200 MB of RGB for its hash.
  huge = write_growing_mjpeg(str(tmp_path / 'mjpeg_huge.avi'),
                             [SMALL] * 20 + [HUGE] * 6)
  inputs = sorted(growing.values()) + [ordinary, huge]
  output = str(tmp_path / 'out')
  result = run_measured(_scan_argv(
      inputs, output, marker_model_dir, '--segment-seconds', '5',
      '--max-pixels', str(TEST_MAX_PIXELS)))
  assert result.returncode == 0, result.stderr[-3000:]
  print(f'peak memory of the scan tree: {result.peak_bytes / MiB:.0f} MiB')
  rows = {os.path.basename(r['video_uri']): r for r in read_partition(
      output, 'videos', 'limits').to_pylist()}
  assert rows['ordinary.mp4']['status'] == 'scanned', rows['ordinary.mp4']
  for name in list(growing) + ['mjpeg_huge.avi']:
    assert rows[name]['status'] in ('failed', 'partial'), rows[name]
    assert rows[name]['error_kind'] == 'frame_too_large', rows[name]
  assert result.peak_bytes < SCAN_BOUND, result.peak_bytes


@pytest.mark.slow
def test_extract_holds_frames_to_the_limit(tmp_path):
  """`rescan extract` decodes to transcode: a frame beyond the default
  limit (8192x8192 > 8K) after a small header ends the extract with
  frame_too_large, not a full-size decode and scale."""
  from pipeline.review import extract  # pylint: disable=import-outside-toplevel
  video = write_growing_mjpeg(str(tmp_path / 'huge.avi'),
                              [SMALL] * 20 + [HUGE] * 3)
  request = extract.ExtractRequest('c0ffee', video, 1500, 2500, 2300)
  with pytest.raises(media_errors.MediaError) as raised:
    extract.extract_clip(request, str(tmp_path / 'out'),
                         context_seconds=0.5, transcode='always')
  assert raised.value.kind == media_errors.FRAME_TOO_LARGE


# Durations: the data's, not the header's ------------------------------------

def _patch_avi_length(data: bytes, frames: int) -> bytes:
  """Sets the video stream header's ``dwLength`` (``strh`` + 8 + 32) and
  the main header's ``dwTotalFrames`` (``avih`` + 8 + 16)."""
  out = bytearray(data)
  for tag, offset in ((b'strh', 8 + 32), (b'avih', 8 + 16)):
    at = out.find(tag)
    assert at >= 0, tag
    out[at + offset:at + offset + 4] = frames.to_bytes(4, 'little')
  return bytes(out)


def _patch_matroska_duration(data: bytes, ticks: float) -> bytes:
  """Sets the Segment Info ``Duration`` (EBML id ``0x4489``, a float)."""
  out = bytearray(data)
  at = out.find(b'\x44\x89')
  assert at >= 0
  size = out[at + 2] & 0x7F
  fmt = {4: '>f', 8: '>d'}[size]
  out[at + 3:at + 3 + size] = struct.pack(fmt, ticks)
  return bytes(out)


@pytest.mark.parametrize('extension,codec,patch', [
    ('.avi', 'mpeg4', lambda d: _patch_avi_length(d, 0x7FFFFFFF)),
    ('.webm', 'vp9', lambda d: _patch_matroska_duration(d, 1e12)),
])
def test_a_header_that_claims_hours_plans_the_data_seconds(
    tmp_path, extension, codec, patch):
  """A 4-s file whose header claims months (a fuzzed AVI claimed 466 h and
  fanned out into 838,862 segments) is probed at its data's duration."""
  from pipeline.media import probe  # pylint: disable=import-outside-toplevel
  path = str(tmp_path / f'honest{extension}')
  write_video(path, 4.0, codec, size=(96, 72), fps=RATE, seed=3)
  honest = probe.probe_video(path, 'honest')
  liar = str(tmp_path / f'liar{extension}')
  with open(path, 'rb') as f, open(liar, 'wb') as out:
    out.write(patch(f.read()))
  claimed = av.open(liar)
  stream = claimed.streams.video[0]
  claimed_s = float((stream.duration or 0) * stream.time_base) or (
      claimed.duration or 0) / av.time_base
  claimed.close()
  assert claimed_s > 3600, 'the patch did not make the header lie'
  assert 3500 <= honest.duration_ms <= 4500
  assert probe.probe_video(liar, 'liar').duration_ms == honest.duration_ms


def _patch_avi_rate(data: bytes, scale: int, rate: int) -> bytes:
  """Sets the video stream's ``dwScale``/``dwRate`` (its time base): every
  packet's timestamp then says so, not only the header."""
  out = bytearray(data)
  at = out.find(b'strh')
  out[at + 8 + 20:at + 8 + 24] = scale.to_bytes(4, 'little')
  out[at + 8 + 24:at + 8 + 28] = rate.to_bytes(4, 'little')
  return bytes(out)


def test_a_timeline_of_months_fails_too_long_before_any_segment(tmp_path):
  """A fuzzed AVI's time base made each of its 40 frames last 77 days: the
  packets themselves claim 65,000 h.  With segments of 2 s that was
  117 million segments; now the probe refuses it (``too_long``), and a
  scan of it records one failed row at once."""
  path = str(tmp_path / 'seed.avi')
  write_video(path, 4.0, 'mpeg4', size=(96, 72), fps=RATE, seed=5)
  uploads = tmp_path / 'uploads'
  uploads.mkdir()
  liar = uploads / 'months.avi'
  with open(path, 'rb') as f:
    liar.write_bytes(_patch_avi_rate(f.read(), 13421773, 2))
  from pipeline.media import probe  # pylint: disable=import-outside-toplevel
  with pytest.raises(media_errors.MediaError) as refused:
    probe.probe_video(str(liar), 'months',
                      max_duration_ms=int(options.DEFAULT_MAX_DURATION_HOURS
                                          * 3_600_000))
  assert refused.value.kind == media_errors.TOO_LONG
  assert probe.probe_video(str(liar), 'months').duration_ms > 10**11
  out = str(tmp_path / 'out')
  result = subprocess.run(
      [sys.executable, '-m', 'pipeline.run', '--input', str(liar),
       '--output', out, '--model', os.path.join(ROOT, 'model', 'demo_model'),
       '--segment-seconds', '2', '--scan-id', 'months'],
      capture_output=True, text=True, timeout=600, cwd=ROOT, check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  rows = read_partition(out, 'videos', 'months').to_pylist()
  assert [(r['status'], r['error_kind']) for r in rows] == [
      ('failed', media_errors.TOO_LONG)]


@pytest.mark.parametrize('command,argv', [
    ('match', ['--hashes', 'h', '--bank', 'b', '--output', 'o',
               '--distance-threshold', '257']),
    ('match', ['--hashes', 'h', '--bank', 'b', '--output', 'o',
               '--quality-threshold', '-1']),
    ('match', ['--hashes', 'h', '--bank', 'b', '--output', 'o',
               '--query-match-pct', 'inf']),
    ('match', ['--hashes', 'h', '--bank', 'b', '--output', 'o',
               '--compared-match-pct', '100.5']),
    ('train', ['--data', 'd', '--out', 'o', '--fps', '1e9']),
    ('train', ['--data', 'd', '--out', 'o', '--input-size', '20000']),
    ('train', ['--data', 'd', '--out', 'o', '--window', '65']),
    ('train', ['--data', 'd', '--out', 'o', '--epochs', '100000']),
    ('train', ['--data', 'd', '--out', 'o', '--learning-rate', 'nan']),
    ('evaluate', ['--model', 'm', '--data', 'd', '--batch-size', '0']),
])
def test_other_commands_bound_their_numbers(command, argv):
  """``rescan match``, ``train`` and ``evaluate`` refuse out-of-range
  numbers with one line and exit 2, before any work."""
  result = subprocess.run(
      [sys.executable, '-m', 'pipeline.cli.main', command, *argv],
      capture_output=True, text=True, timeout=300, cwd=ROOT, check=False)
  assert result.returncode == 2, result.stderr[-1000:]
  # Exactly one line: TensorFlow's import chatter is filtered too
  # (pipeline.runtime.tensorflow_import).
  errors = result.stderr.splitlines()
  assert len(errors) == 1 and errors[0].startswith(
      f'rescan {command}: error:') and ('must be' in errors[0]
                                        or 'input size' in errors[0]), (
                                            result.stderr)
