"""The ledger policy, without Beam: every input ends as exactly one ledger
row, and clips are written whenever samples were scored."""
from __future__ import annotations

import datetime
from fractions import Fraction

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


def _settings(*flags):
  return resolve_settings(parse_scan_args(
      ['--input', 'x', '--output', '/out', '--model', 'm', '--scan-id',
       'scan1', *flags], now=NOW), SPEC)


def test_a_fully_scored_video_is_scanned_with_coverage_one():
  (row,) = _assemble([INFO], outcomes=[_outcome(0)], scores=_scores()).rows
  assert (row.status, row.samples_expected, row.frames_scored,
          row.coverage) == ('scanned', 20, 20, 1.0)


def test_samples_expected_is_the_grid_over_each_planned_segment():
  for duration_ms, segment_s, fps in [(10_000, '5', 2.0), (10_001, '3', 2.0),
                                      (7_777, '1', 3.0), (999, '60', 29.97),
                                      (61_234, '7', 0.5)]:
    settings = _settings('--segment-seconds', segment_s, '--fps', str(fps))
    rate = Fraction(fps).limit_denominator(1000)
    # Grid times k / fps before the end of the probed duration.
    grid = sum(1 for k in range(5000) if Fraction(k * 1000) / rate
               < duration_ms)
    info = INFO._replace(duration_ms=duration_ms)
    assert ledger.samples_expected(info, settings) == grid


def test_a_video_scored_below_min_coverage_is_partial_never_scanned():
  kept = [s for s in _scores() if not 5000 <= s.ts_ms < 9000]  # 12 of 20
  result = _assemble([INFO], outcomes=[_outcome(0), _outcome(1)],
                     scores=kept)
  (row,) = result.rows
  assert (row.status, row.error_kind, row.error_message) == (
      'partial', 'low_coverage', '12 of 20 samples scored (60%)')
  assert (row.samples_expected, row.frames_scored, row.coverage) == (
      20, 12, 0.6)
  # Its clips are still written.
  assert [(c.label, c.start_ms, c.end_ms) for c in result.clips] == [
      ('red', 2000, 4000)]
  assert row.clips == 1


def test_a_partial_video_keeps_its_segment_error_in_the_message():
  kept = _scores()[:10]
  outcomes = [_outcome(0), _outcome(1, media_errors.DECODE_ERROR, 'bits')]
  (row,) = _assemble([INFO], outcomes=outcomes, scores=kept).rows
  assert (row.status, row.error_kind, row.error_message) == (
      'partial', 'low_coverage', '10 of 20 samples scored (50%); bits')


def test_one_lost_sample_of_twenty_is_partial_only_above_the_default_bar():
  kept = _scores()[1:]  # 19 of 20: 95%
  (row,) = _assemble([INFO], outcomes=[_outcome(0)], scores=kept).rows
  assert (row.status, row.coverage) == ('scanned', 0.95)
  strict = ledger.assemble_video('v1', [INFO], [], [], [_outcome(0)], kept,
                                 _settings('--min-coverage', '1'))
  assert (strict.rows[0].status, strict.rows[0].error_message) == (
      'partial', '19 of 20 samples scored (95%)')
  lax = ledger.assemble_video('v1', [INFO], [], [], [_outcome(0)],
                              _scores()[:1], _settings('--min-coverage', '0'))
  assert lax.rows[0].status == 'scanned'


def test_a_segment_lost_to_a_timeout_lowers_coverage_and_fails_the_video():
  kept = [s for s in _scores() if s.ts_ms < 5000]  # segment 1 never decoded
  outcomes = [_outcome(0), _outcome(1, media_errors.TIMEOUT, 'segment 1 hung',
                                    frames=0)]
  (row,) = _assemble([INFO], outcomes=outcomes, scores=kept).rows
  assert (row.status, row.error_kind, row.coverage) == ('failed', 'timeout',
                                                        0.5)


def test_rows_without_a_decode_have_no_coverage():
  skipped = _assemble(skipped=[Skipped('v1', '/a/v1.mp4', 1000, 1.5e9,
                                       'scan0')]).rows[0]
  failed = _assemble(failed=[Failure('v1', '/a/v1.mp4', None,
                                     media_errors.NOT_FOUND, 'gone')]).rows[0]
  for row in (skipped, failed):
    assert (row.samples_expected, row.coverage) == (None, None)
  (nothing,) = _assemble([INFO], outcomes=[_outcome(0, frames=0)]).rows
  assert (nothing.status, nothing.samples_expected, nothing.coverage) == (
      'failed', 20, 0.0)


def test_a_video_with_no_expected_sample_has_no_coverage():
  info = INFO._replace(duration_ms=0)
  (row,) = _assemble([info], outcomes=[_outcome(0)],
                     scores=[FrameScore(0, (0.1, 0.0))]).rows
  assert (row.status, row.samples_expected, row.coverage) == ('scanned', 0,
                                                              None)
