"""The ledger policy, without Beam: every input ends as exactly one ledger
row, and clips are written whenever samples were scored."""
from __future__ import annotations

import datetime

from pipeline.inference.contract import ModelSpec
from pipeline.media import errors as media_errors
from pipeline.records import Failure
from pipeline.records import FrameScore
from pipeline.records import SegmentOutcome
from pipeline.records import Skipped
from pipeline.records import VideoInfo
from pipeline.scan import clips as clip_assembly
from pipeline.scan import ledger
from pipeline.scan.options import parse_scan_args
from pipeline.scan.settings import resolve_settings

SPEC = ModelSpec(path='unused', name='marker', version='7',
                 labels=('red', 'green'), input_height=32, input_width=32,
                 fps=2.0, threshold=0.5)
NOW = datetime.datetime(2026, 12, 2, 12, 0, tzinfo=datetime.timezone.utc)
SETTINGS = resolve_settings(
    parse_scan_args(['--input', 'x', '--output', '/out', '--model', 'm',
                     '--scan-id', 'scan1'], now=NOW), SPEC)
INFO = VideoInfo('v1', '/a/v1.mp4', 1000, 10_000, 64, 48, 'h264', 1.5e9)


def _outcome(index, error_kind=None, message=None, frames=10, damaged=0):
  return SegmentOutcome('v1', index, frames, 100, error_kind, message, damaged)


def _scores(positive_from_ms=2000, positive_to_ms=4000):
  """A sample every 500 ms over 10 s, red from ``positive_from_ms``."""
  return [FrameScore(t, (0.9 if positive_from_ms <= t < positive_to_ms
                         else 0.1, 0.0), b'jpeg' if t == 2000 else None)
          for t in range(0, 10_000, 500)]


def _assemble(probed=(), failed=(), skipped=(), outcomes=(), scores=()):
  return ledger.assemble_video('v1', list(probed), list(failed),
                               list(skipped), outcomes, scores, SETTINGS)


def test_inputs_sharing_a_video_id_each_get_a_failed_row_and_no_clips():
  failure = Failure('v1', '/a/copy.mkv', 5, media_errors.DECODE_ERROR, 'x')
  skipped = Skipped('v1', '/a/old.mp4', 7, 1.0, 'scan0')
  result = _assemble([INFO], [failure], [skipped], [_outcome(0)], _scores())
  assert result.clips == []
  assert [(r.video_uri, r.size_bytes, r.status, r.error_kind)
          for r in result.rows] == [
              ('/a/v1.mp4', 1000, 'failed', 'duplicate_video_id'),
              ('/a/copy.mkv', 5, 'failed', 'duplicate_video_id'),
              ('/a/old.mp4', 7, 'failed', 'duplicate_video_id')]
  assert {r.error_message for r in result.rows} == {
      '3 inputs share video_id v1'}
  assert all(r.source_updated_at is None for r in result.rows)


def test_a_skipped_video_names_the_scan_that_covered_it():
  result = _assemble(skipped=[Skipped('v1', '/a/v1.mp4', 1000, 1.5e9,
                                      'scan0')])
  (row,) = result.rows
  assert result.clips == []
  assert (row.status, row.error_kind, row.error_message) == (
      'skipped', None, 'unchanged since scan scan0')
  assert row.source_updated_at == datetime.datetime.fromtimestamp(
      1.5e9, datetime.timezone.utc)
  assert (row.model_name, row.model_version, row.scan_id, row.scanned_at) == (
      'marker', '7', 'scan1', NOW)


def test_a_failed_probe_keeps_its_error():
  failure = Failure('v1', '/a/v1.mp4', None, media_errors.FORBIDDEN_URI,
                    'outside every --allowed-prefix; not read')
  (row,) = _assemble(failed=[failure]).rows
  assert (row.status, row.error_kind, row.error_message, row.size_bytes,
          row.frames_scored, row.clips) == (
              'failed', 'forbidden_uri',
              'outside every --allowed-prefix; not read', None, 0, 0)


def test_scores_without_a_probe_record_write_nothing():
  assert _assemble(scores=_scores()) == ledger.VideoResult([], [])


def test_no_scores_fail_with_the_first_segment_error():
  outcomes = [_outcome(1, media_errors.DECODE_ERROR, 'second', frames=0),
              _outcome(0, media_errors.IO_ERROR, 'first', frames=0)]
  result = _assemble([INFO], outcomes=outcomes)
  (row,) = result.rows
  assert result.clips == []
  assert (row.status, row.error_kind, row.error_message) == (
      'failed', 'io_error', 'first')
  assert (row.segments, row.segments_failed, row.frames_scored,
          row.max_score) == (2, 2, 0, None)


def test_no_scores_and_no_error_fail_as_no_frames():
  (row,) = _assemble([INFO], outcomes=[_outcome(0, frames=0)]).rows
  assert (row.status, row.error_kind, row.error_message) == (
      'failed', 'no_frames', 'no frame could be decoded')


def test_a_fatal_segment_fails_the_video_and_its_clips_are_still_written():
  outcomes = [_outcome(0, media_errors.DECODE_ERROR, 'damaged', damaged=3),
              _outcome(1, media_errors.TIMEOUT, 'segment 1 hung')]
  result = _assemble([INFO], outcomes=outcomes, scores=_scores())
  (row,) = result.rows
  assert [(c.label, c.start_ms, c.end_ms) for c in result.clips] == [
      ('red', 2000, 4000)]
  assert (row.status, row.error_kind, row.error_message) == (
      'failed', 'timeout', 'segment 1 hung')
  assert (row.clips, row.segments_failed, row.packets_damaged,
          row.bytes_read) == (1, 2, 3, 200)


def test_a_non_fatal_error_is_reported_on_a_scanned_video():
  outcomes = [_outcome(0), _outcome(1, media_errors.DECODE_ERROR, 'bits')]
  result = _assemble([INFO], outcomes=outcomes, scores=_scores())
  (row,) = result.rows
  assert (row.status, row.error_kind, row.error_message) == (
      'scanned', 'decode_error', 'bits')
  assert (row.frames_scored, row.max_score, row.clips, row.duration_ms,
          row.codec) == (20, 0.9, 1, 10_000, 'h264')


def test_clips_carry_their_id_threshold_and_peak_thumbnail():
  scores = _scores() + [FrameScore(2000, (0.9, 0.0), b'jpeg')]  # twice
  result = _assemble([INFO], outcomes=[_outcome(0)], scores=scores)
  (clip,) = result.clips
  assert clip.clip_id == clip_assembly.clip_id('v1', 'red', 2000, '7')
  assert (clip.video_uri, clip.peak_ms, clip.thumbnail, clip.frames,
          clip.threshold, clip.scan_id) == ('/a/v1.mp4', 2000, b'jpeg', 4,
                                            0.5, 'scan1')
  assert result.rows[0].frames_scored == 20  # one score per sample time


def test_clips_follow_the_resolved_threshold():
  settings = resolve_settings(parse_scan_args(
      ['--input', 'x', '--output', '/out', '--model', 'm', '--threshold',
       '0.95']), SPEC)
  result = ledger.assemble_video('v1', [INFO], [], [], [_outcome(0)],
                                 _scores(), settings)
  assert result.clips == []
  assert result.rows[0].status == 'scanned'
