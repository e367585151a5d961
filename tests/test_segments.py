"""The segment planner against real encodes with planted keyframes:
segments of about equal decode cost, starting on the keyframe at or before
each planned boundary, collapsing where keyframes are sparse, bounded for
hostile headers; decoding the planned segments decodes each frame once and
samples exactly as one pass over the video does."""
import math
import os

import numpy as np
import pytest

from model.synthetic_video import PlantedEvent
from model.synthetic_video import write_video
from pipeline.inference.contract import ModelSpec
from pipeline.media import decode
from pipeline.media import errors as media_errors
from pipeline.media import probe
from pipeline.media import segments
from pipeline.media.sampling import EXACT
from pipeline.records import SegmentOutcome
from pipeline.records import VideoInfo
from pipeline.scan import decoding
from pipeline.scan.options import parse_scan_args
from pipeline.scan.settings import resolve_settings
from pipeline.storage import files as storage
from tests import faults
from tests.conftest import run_scan

SEGMENT_MS = 3_000
VIDEO_FPS = 10.0
SAMPLE_FPS = 2.0
SIZE = (160, 120)
# Planted keyframes (s) of a 12-s video, and what a 3-s plan makes of them:
# the boundaries at 3, 6 and 9 s land on the keyframes at 1.3, 4.5 and 4.5.
KEYFRAMES_S = (0.0, 1.3, 4.0, 4.5, 9.2)
EXPECTED_STARTS_S = (0.0, 1.3, 4.5)
# Frames a segment decodes past its end (decoder delay, the frame after its
# last sample): decoded twice, by it and by the next segment.  A segment
# decoding from an earlier keyframe would add a GOP (10 to 20 frames here).
LEAD_FRAMES = 3


def _keyed(folder, name, seconds, keyframes_s, size=SIZE, fps=VIDEO_FPS,
           events=()):
  return write_video(os.path.join(str(folder), name), seconds, 'h264',
                     fps=fps, size=size, keyframes_s=keyframes_s,
                     events=events)


def _packet_keyframes_s(path):
  with probe.av.open(path) as container:
    stream = container.streams.video[0]
    return [float(p.pts * p.time_base) for p in container.demux(stream)
            if p.is_keyframe and p.pts is not None]


def _plan(path, segment_ms=SEGMENT_MS):
  info = probe.probe_video(path, 'v', segment_ms=segment_ms)
  return info, segments.plan_segments(info, segment_ms)


def _decode(path, segment, info, stats=None, fps=SAMPLE_FPS):
  with storage.open_media(path) as reader:
    return list(decode.iter_samples(
        reader, segment.start_ms, segment.end_ms, fps, (32, 32),
        stats if stats is not None else decode.DecodeStats(), mode=EXACT,
        keyframe_interval_ms=info.keyframe_interval_ms))


def _one_pass(path, info, stats=None):
  whole = segments.plan_segments(info._replace(segment_starts_ms=()),
                                 info.duration_ms + 1)
  assert len(whole) == 1
  return _decode(path, whole[0], info, stats)


def _whole_and_pieces(path, planned, info):
  """The samples of one pass and the frames it decoded, and the samples of
  each planned segment and the frames they decoded in all."""
  whole_stats = decode.DecodeStats()
  whole = _one_pass(path, info, whole_stats)
  by_segment, decoded = [], 0
  for segment in planned:
    stats = decode.DecodeStats()
    by_segment.append(_decode(path, segment, info, stats))
    decoded += stats.frames_decoded
  return whole, whole_stats.frames_decoded, by_segment, decoded


def _same_samples(a, b):
  assert [(s.index, s.ts_ms) for s in a] == [(s.index, s.ts_ms) for s in b]
  for x, y in zip(a, b):
    assert np.array_equal(x.image, y.image), x.ts_ms


def test_segments_start_on_the_keyframe_at_or_before_each_boundary(tmp_path):
  path = _keyed(tmp_path, 'keyed.mp4', 12.0, KEYFRAMES_S)
  assert _packet_keyframes_s(path) == pytest.approx(KEYFRAMES_S)
  info, planned = _plan(path)
  assert info.duration_ms == 12_000
  assert len(planned) == len(EXPECTED_STARTS_S)
  for segment, start_s in zip(planned, EXPECTED_STARTS_S):
    # Rounded up (at most 1 ms) so that a seek back from it lands on it.
    assert start_s * 1000 <= segment.start_ms <= start_s * 1000 + 1
  assert [s.end_ms for s in planned] == [s.start_ms for s in planned[1:]] + [
      12_000]
  assert [s.index for s in planned] == [0, 1, 2]
  # [1.3, 4.5) spans two 3-s lengths, [4.5, 12) three.
  assert [s.limit_scale for s in planned] == [1, 2, 3]


def test_planned_segments_decode_each_frame_once_and_sample_as_one_pass(
    tmp_path):
  path = _keyed(tmp_path, 'keyed.mp4', 12.0, KEYFRAMES_S)
  info, planned = _plan(path)
  whole, whole_frames, by_segment, decoded = _whole_and_pieces(
      path, planned, info)
  pieces = []
  for segment, samples in zip(planned, by_segment):
    pieces += samples
    first_frame_s = min(s.frame_ms for s in pieces[-1:]) / 1000
    assert first_frame_s >= segment.start_ms / 1000 - 0.1
  _same_samples(pieces, whole)
  # No segment decodes from an earlier keyframe: only the frames a segment
  # reads past its end to see its last sample are decoded twice.
  assert decoded <= whole_frames + len(planned) * LEAD_FRAMES


def test_one_keyframe_is_one_segment_decoded_in_one_pass(tmp_path):
  path = _keyed(tmp_path, 'sparse.mp4', 20.0, (0.0,))
  dense = write_video(str(tmp_path / 'dense.mp4'), 20.0, 'h264',
                      fps=VIDEO_FPS, size=SIZE, gop_seconds=1.0)
  assert _packet_keyframes_s(path) == [0.0]
  info, planned = _plan(path)
  assert [(s.start_ms, s.end_ms) for s in planned] == [(0, 20_000)]
  assert planned[0].limit_scale == math.ceil(20_000 / SEGMENT_MS)
  stats, whole_stats = decode.DecodeStats(), decode.DecodeStats()
  samples = _decode(path, planned[0], info, stats)
  _one_pass(path, info, whole_stats)
  assert stats.frames_decoded == whole_stats.frames_decoded >= 195
  dense_info, dense_planned = _plan(dense)
  assert len(dense_planned) == math.ceil(20_000 / SEGMENT_MS)
  # Two encodes differ in pixels, not in which frame each sample shows.
  assert [(s.index, s.ts_ms, s.frame_ms) for s in samples] == [
      (s.index, s.ts_ms, s.frame_ms) for segment in dense_planned
      for s in _decode(dense, segment, dense_info)]


def test_costlier_streams_get_shorter_segments_of_equal_cost(tmp_path):
  """A 960x540 30-fps stream costs 2.5 x the 480p30 reference: its
  segments are planned that much shorter, on its 0.5-s keyframes, and each
  costs (in frames actually decoded x pixels) about what the reference's
  segment does; a 160x120 stream keeps ``SEGMENT_MS``."""
  costly = write_video(str(tmp_path / 'costly.mp4'), 6.0, 'h264', fps=30.0,
                       size=(960, 540), gop_seconds=0.5)
  cheap = write_video(str(tmp_path / 'cheap.mp4'), 6.0, 'h264', fps=30.0,
                      size=SIZE, gop_seconds=0.5)
  info, planned = _plan(costly)
  budget = segments.REFERENCE_COST_PER_SECOND * SEGMENT_MS / 1000
  length = segments.planned_length_ms(info, SEGMENT_MS)
  assert length == math.ceil(SEGMENT_MS * segments.REFERENCE_COST_PER_SECOND
                             / (960 * 540 * 30.0))
  assert len(planned) == math.ceil(6_000 / length)
  frames = []
  for segment in planned:
    stats = decode.DecodeStats()
    _decode(costly, segment, info, stats)
    frames.append(stats.frames_decoded)
  # Each but the last (the rest) costs the budget to a GOP (15 frames) and
  # the frames read past its end: the boundaries move back to keyframes.
  budget_frames = budget / (960 * 540)
  assert all(budget_frames - 15 <= n <= budget_frames + 15 + LEAD_FRAMES
             for n in frames[:-1]), (budget_frames, frames)
  cheap_info, cheap_planned = _plan(cheap)
  assert segments.planned_length_ms(cheap_info, SEGMENT_MS) == SEGMENT_MS
  assert len(cheap_planned) == 2


def test_the_estimate_is_pixels_times_frames_times_the_codec_factor():
  info = VideoInfo('v', 'u', 1, 60_000, 1920, 1080, 'vp9', frame_rate=30.0)
  assert segments.decode_cost(info, 0, 2_000) == pytest.approx(
      1920 * 1080 * 60 * segments.CODEC_COST_FACTORS['vp9'])
  assert segments.codec_cost_factor('no-such-codec') == (
      segments.DEFAULT_CODEC_COST_FACTOR)
  for codec in ('h264', 'hevc', 'vp9', 'mpeg4'):
    for width, height, rate in ((1920, 1080, 30.0), (1280, 720, 60.0),
                                (640, 360, 25.0)):
      info = VideoInfo('v', 'u', 1, 600_000, width, height, codec,
                       frame_rate=rate)
      starts = segments.planned_boundaries_ms(info, 60_000)
      for start in starts[:-1]:
        cost = segments.decode_cost(info, start, start + 1 + (
            segments.planned_length_ms(info, 60_000) - 1))
        assert cost <= segments.REFERENCE_COST_PER_SECOND * 60 * 1.001


@pytest.mark.parametrize('width,height,rate,duration_ms', [
    (7680, 4320, 1000.0, 24 * 3_600_000),   # 8K at 1,000 fps for a day
    (16, 16, 1.0, 24 * 3_600_000),
    (1920, 1080, None, 3_600_000),          # no rate in the header
    (1920, 1080, 0.0, 1),
])
def test_plans_are_bounded_whatever_the_header_claims(width, height, rate,
                                                      duration_ms):
  info = VideoInfo('v', 'u', 1, duration_ms, width, height, 'h264',
                   frame_rate=rate)
  boundaries = segments.planned_boundaries_ms(info, 60_000)
  assert 1 <= len(boundaries) <= segments.MAX_SEGMENTS_PER_VIDEO
  assert segments.planned_length_ms(info, 60_000) >= min(
      segments.MIN_SEGMENT_MS, duration_ms / segments.MAX_SEGMENTS_PER_VIDEO)
  planned = segments.plan_segments(info, 60_000)
  assert planned[0].start_ms == 0 and planned[-1].end_ms == duration_ms
  # Keyframes outside the timeline (a lying index) are dropped.
  lying = info._replace(segment_starts_ms=(-5, 0, duration_ms,
                                           duration_ms * 10))
  assert [(s.start_ms, s.end_ms) for s in segments.plan_segments(
      lying, 60_000)] == [(0, duration_ms)]


def test_a_sparse_keyframe_video_scans_as_its_dense_copy_in_one_pass(
    tmp_path, marker_model_dir):
  """End to end: the same planted events, one keyframe against a 1-s GOP;
  the same samples scored and clips flagged; the sparse copy is decoded as
  one segment that reads the file once."""
  events = (PlantedEvent('red_marker', 6.0, 9.5),
            PlantedEvent('green_marker', 13.0, 15.0))
  folder = tmp_path / 'in'
  folder.mkdir()
  sparse = _keyed(folder, 'sparse.mp4', 24.0, (0.0,), events=events)
  dense = write_video(str(folder / 'dense.mp4'), 24.0, 'h264', fps=VIDEO_FPS,
                      size=SIZE, events=events, gop_seconds=1.0)
  scan = run_scan(str(tmp_path / 'out'), [sparse, dense], marker_model_dir,
                  'sparse')
  rows = {os.path.basename(r['video_uri']): r
          for r in scan.videos.to_pylist()}
  assert {name: r['status'] for name, r in rows.items()} == {
      'sparse.mp4': 'scanned', 'dense.mp4': 'scanned'}
  assert rows['sparse.mp4']['frames_scored'] == rows['dense.mp4'][
      'frames_scored'] == 48
  assert rows['sparse.mp4']['segments'] == 1
  assert rows['dense.mp4']['segments'] == math.ceil(24 / 5)
  # One read of the file (and its index), not one per segment from 0.
  assert rows["sparse.mp4"]["bytes_read"] <= 1.5 * os.path.getsize(sparse)
  clips = {}
  for clip in scan.clips.to_pylist():
    clips.setdefault(os.path.basename(clip['video_uri']), []).append(
        (clip['label'], clip['start_ms'], clip['end_ms']))
  assert sorted(clips['sparse.mp4']) == sorted(clips['dense.mp4'])
  assert {label for label, _, _ in clips['sparse.mp4']} == {
      'red_marker', 'green_marker'}


def _segment_outcome(path, info, segment_ms, *flags):
  """The outcome of decoding the one planned segment as the scan does."""
  spec = ModelSpec(path='unused', name='m', version='1', labels=('x',),
                   input_height=24, input_width=32, fps=SAMPLE_FPS,
                   threshold=0.5)
  settings = resolve_settings(parse_scan_args(
      ['--input', path, '--output', '/unused', '--model', 'unused',
       '--scan-id', 's1', '--no-hashes',
       '--segment-seconds', str(segment_ms / 1000), *flags]), spec)
  (segment,) = segments.plan_segments(info, segment_ms)
  records = list(decoding.decode_segment(segment, settings))
  outcome = records[-1]
  assert isinstance(outcome, SegmentOutcome)
  return segment, outcome


def test_a_one_pass_segment_is_held_to_limits_scaled_by_its_span(tmp_path):
  """200 frames in one 20-s segment, 7 spans of 3 s: at 30 frames per span
  it may read 210 and scans; at 25 per span (175) it is a frame flood."""
  path = _keyed(tmp_path, 'sparse.mp4', 20.0, (0.0,))
  info = probe.probe_video(path, 'v', segment_ms=SEGMENT_MS)
  segment, outcome = _segment_outcome(path, info, SEGMENT_MS,
                                      '--max-frames-per-segment', '30')
  assert segment.limit_scale == 7
  assert (outcome.error_kind, outcome.frames_sampled) == (None, 40)
  _, outcome = _segment_outcome(path, info, SEGMENT_MS,
                                '--max-frames-per-segment', '25')
  assert outcome.error_kind == 'too_many_frames'
  assert 'more than 175 frames' in outcome.error_message


def test_a_one_pass_segment_whose_samples_exceed_the_memory_limit_fails(
    tmp_path, monkeypatch):
  """A one-pass segment's model inputs are held at once: 40 samples of
  24 x 32 x 3 bytes (92,160) fit in 92,160 bytes, not in one byte less;
  over the limit the segment fails before decoding (``too_many_frames``)."""
  from pipeline.inference import contract  # pylint: disable=import-outside-toplevel
  path = _keyed(tmp_path, 'sparse.mp4', 20.0, (0.0,))
  info = probe.probe_video(path, 'v', segment_ms=SEGMENT_MS)
  monkeypatch.setattr(contract, 'MAX_ONE_PASS_INPUT_BYTES', 40 * 24 * 32 * 3)
  _, outcome = _segment_outcome(path, info, SEGMENT_MS)
  assert (outcome.error_kind, outcome.frames_sampled) == (None, 40)
  monkeypatch.setattr(contract, 'MAX_ONE_PASS_INPUT_BYTES',
                      40 * 24 * 32 * 3 - 1)
  _, outcome = _segment_outcome(path, info, SEGMENT_MS)
  assert (outcome.error_kind, outcome.frames_sampled,
          outcome.bytes_read) == ('too_many_frames', 0, 0)
  assert 'its 92160 bytes of model inputs exceed the limit' in (
      outcome.error_message)


def test_time_limits_scale_with_the_span_and_stay_finite():
  """A segment's limit is --segment-timeout-seconds x its span; Beam's
  step backstop covers the longest video --max-duration-hours allows, and
  no limit passes what Python's waits accept, whatever the flags."""
  import threading  # pylint: disable=import-outside-toplevel
  from pipeline.scan import settings as scan_settings  # pylint: disable=import-outside-toplevel
  spec = ModelSpec(path='unused', name='m', version='1', labels=('x',),
                   input_height=24, input_width=32, fps=SAMPLE_FPS,
                   threshold=0.5)

  def resolved(*flags):
    return resolve_settings(parse_scan_args(
        ['--input', 'x', '--output', '/unused', '--model', 'unused',
         *flags]), spec)
  plain = resolved('--segment-timeout-seconds', '10',
                   '--segment-seconds', '60', '--max-duration-hours', '2')
  assert scan_settings.segment_time_limit_s(plain.config, 1) == 10
  assert scan_settings.segment_time_limit_s(plain.config, 60) == 600
  # A 2-h video with one keyframe spans 120 segments of 60 s.
  assert plain.decode_step_timeout_s == (
      10 * 120 + 2 * scan_settings.HARD_STOP_GRACE_S)
  extreme = resolved('--segment-timeout-seconds', '86400',
                     '--segment-seconds', '1', '--max-duration-hours',
                     '10000')
  assert extreme.decode_step_timeout_s < threading.TIMEOUT_MAX
  assert scan_settings.segment_time_limit_s(
      extreme.config, 10**9) == scan_settings.MAX_TIME_LIMIT_S


def test_decoding_past_its_time_limit_is_a_timeout(tmp_path):
  """The time limit checked as a segment decodes (``--segment-timeout-
  seconds`` x its span): past it, decoding ends with ``timeout``."""
  path = _keyed(tmp_path, 'sparse.mp4', 4.0, (0.0,))
  with storage.open_media(path) as reader:
    with pytest.raises(media_errors.MediaError) as ended:
      list(decode.iter_samples(reader, 0, 4_000, SAMPLE_FPS, (32, 32),
                               mode=EXACT, max_seconds=1e-9))
  assert ended.value.kind == 'timeout'
  with storage.open_media(path) as reader:
    assert len(list(decode.iter_samples(reader, 0, 4_000, SAMPLE_FPS,
                                        (32, 32), mode=EXACT,
                                        max_seconds=600))) == 8


# --segment-timeout-seconds of the scan below: a one-pass segment of a
# 24-s video spans 5 segments of 5 s, so it may decode for 5 x 2 s.
SLOW_TIMEOUT_S = 2.0


@pytest.mark.slow
def test_a_one_pass_segment_gets_the_time_its_span_needs(
    tmp_path, marker_model_dir, monkeypatch):
  """Two one-keyframe 24-s videos, each decoded as one segment of 5 spans,
  slowed by fault injection in the watched decode child: one to 48 x 0.1 s
  (more than the 2-s --segment-timeout-seconds, less than 5 x 2 s) scans
  fully; one to 48 x 0.5 s (past 5 x 2 s) ends as ``timeout``, alone."""
  folder = tmp_path / 'in'
  folder.mkdir()
  slow = _keyed(folder, 'slow.mp4', 24.0, (0.0,))
  stalled = _keyed(folder, 'stalled.mp4', 24.0, (0.0,))
  faults.install(monkeypatch, 'slow=0.1:slow.mp4,slow=0.5:stalled.mp4')
  scan = run_scan(str(tmp_path / 'out'), [slow, stalled], marker_model_dir,
                  'slowed', '--segment-timeout-seconds', str(SLOW_TIMEOUT_S))
  rows = {os.path.basename(r['video_uri']): r
          for r in scan.videos.to_pylist()}
  assert (rows['slow.mp4']['status'], rows['slow.mp4']['error_kind'],
          rows['slow.mp4']['frames_scored'], rows['slow.mp4']['segments']
          ) == ('scanned', None, 48, 1)
  assert 48 * 0.1 > SLOW_TIMEOUT_S  # it did take longer than one span's
  stalled_row = rows['stalled.mp4']
  assert (stalled_row['status'], stalled_row['error_kind']) == (
      'failed', 'timeout'), stalled_row
  # Cut at 5 x 2 s: about 20 of its 48 samples, never all.
  assert stalled_row['frames_scored'] < 48


@pytest.mark.slow
def test_a_decoder_stuck_outside_python_is_ended_by_the_watchdog(
    tmp_path, marker_model_dir, monkeypatch):
  """A segment whose decoder never returns to Python (SIGALRM blocked, as
  in a hang inside FFmpeg) is ended by the decode child's watchdog at its
  limit plus the grace and recorded as ``crash``; the next video decodes
  in a new child."""
  folder = tmp_path / 'in'
  folder.mkdir()
  stuck = _keyed(folder, 'stuck.mp4', 6.0, (0.0,))
  fine = _keyed(folder, 'fine.mp4', 6.0, (0.0,))
  faults.install(monkeypatch, 'stuck:stuck.mp4')
  monkeypatch.setattr(decoding, 'HARD_STOP_GRACE_S', 1.0)
  scan = run_scan(str(tmp_path / 'out'), [stuck, fine], marker_model_dir,
                  'stuck', '--segment-timeout-seconds', '2')
  rows = {os.path.basename(r['video_uri']): (r['status'], r['error_kind'])
          for r in scan.videos.to_pylist()}
  assert rows == {'stuck.mp4': ('failed', 'crash'),
                  'fine.mp4': ('scanned', None)}


@pytest.mark.parametrize('codec,container', [
    ('h264', 'mpegts'), ('hevc', 'matroska'), ('vp9', 'webm'),
    ('mpeg4', 'avi')])
def test_every_container_starts_segments_on_keyframes(tmp_path, codec,
                                                      container):
  """Whatever a container's seek lands on (MPEG-TS seeks inexactly and may
  land on a later keyframe), each segment starts on a keyframe of the
  stream, and the segments' samples are one pass's."""
  path = write_video(str(tmp_path / f'v.{container}'), 12.0, codec,
                     fps=VIDEO_FPS, size=SIZE, gop_seconds=2.0,
                     container_format=container)
  keyframes_ms = _packet_keyframes_s(path)
  info, planned = _plan(path)
  assert len(planned) > 1
  for segment in planned:
    assert any(k * 1000 <= segment.start_ms <= k * 1000 + 1
               for k in keyframes_ms), (segment.start_ms, keyframes_ms)
  whole, whole_frames, by_segment, decoded = _whole_and_pieces(
      path, planned, info)
  _same_samples([s for samples in by_segment for s in samples], whole)
  assert decoded <= whole_frames + len(planned) * LEAD_FRAMES
