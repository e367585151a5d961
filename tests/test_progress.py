"""The scan's progress line: formatting, terminals only, live counters."""
from __future__ import annotations

import io
import time

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter

from pipeline.scan import progress
from pipeline.runtime import runners


class FakeTerminal(io.StringIO):
  def isatty(self) -> bool:
    return True


def _snapshot(**overrides) -> progress.ProgressSnapshot:
  fields = dict(elapsed_s=102.0, videos_total=12, videos_done=5,
                videos_failed=2, video_s_scanned=84.0, video_s_total=210.0,
                frames_sampled=168, frames_per_second=31.44,
                bytes_read=120_000_000, segments_failed=0)
  fields.update(overrides)
  return progress.ProgressSnapshot(**fields)


def test_format_progress_says_videos_video_seconds_rate_and_failures():
  assert progress.format_progress(_snapshot()) == (
      'scan 1:42 · videos 5/12 done · 84.0/210.0 video-s (40%) · '
      '31.4 frames/s · 120 MB read · 2 failed')
  assert progress.format_progress(_snapshot(
      elapsed_s=3725.0, video_s_total=None, bytes_read=0,
      segments_failed=3)) == (
          'scan 1:02:05 · videos 5/12 done · 84.0 video-s · 31.4 frames/s · '
          '2 failed · 3 segment errors')
  assert ' · 168 frames · ' in progress.format_progress(_snapshot(
      video_s_scanned=None))
  cut = progress.format_progress(_snapshot(), width=30)
  assert len(cut) == 30 and cut.endswith('…')


def test_snapshot_from_the_scans_counters():
  counters = {'videos_probed': 9, 'videos_failed_probe': 3,
              'videos_scanned': 4, 'videos_failed': 1,
              'frames_sampled': 120, 'video_ms_probed': 90_000,
              'bytes_read': 2_000_000, 'segments_failed': 1}
  snapshot = progress.snapshot_from_counters(counters, 10.0, 12.0, fps=2.0)
  assert (snapshot.videos_total, snapshot.videos_done,
          snapshot.videos_failed) == (12, 5, 3)
  assert (snapshot.video_s_scanned, snapshot.video_s_total) == (60.0, 90.0)
  assert snapshot.bytes_read == 2_000_000
  bare = progress.snapshot_from_counters({'frames_sampled': 120}, 1.0, 0.0)
  assert (bare.video_s_scanned, bare.video_s_total) == (None, None)


def test_windowed_rate_uses_the_recent_window():
  history = [(0.0, 0), (1.0, 10), (6.0, 60), (7.0, 90)]
  assert progress.windowed_rate(history, window_s=5.0) == 30.0  # 6 s -> 7 s
  assert progress.windowed_rate(history[:1]) == 0.0
  assert progress.windowed_rate([(0.0, 0), (2.0, 10)], window_s=5.0) == 5.0


def test_reporter_is_quiet_when_the_stream_is_not_a_terminal():
  stream = io.StringIO()
  with progress.ProgressReporter(lambda: {'videos_probed': 1}, stream,
                                 interval_s=0.01) as reporter:
    time.sleep(0.05)
    reporter.draw()
  assert not reporter.enabled
  assert stream.getvalue() == ''
  with progress.scan_progress([], stream=stream) as reporter:
    assert not reporter.enabled
  assert stream.getvalue() == ''


def test_reporter_redraws_one_line_on_a_terminal():
  terminal = FakeTerminal()
  ticks = iter([0.0, 1.0, 2.0, 3.0])
  counters = {'videos_probed': 2, 'frames_sampled': 0}
  reporter = progress.ProgressReporter(lambda: dict(counters), terminal,
                                       clock=lambda: next(ticks))
  reporter.draw()
  counters['frames_sampled'] = 40
  reporter.draw(final=True)
  first, second = terminal.getvalue().split('\r')[1:]
  assert first.startswith('scan 0:01 · videos 0/2 done')
  assert first.endswith(progress.CLEAR_TO_END_OF_LINE)
  assert '40.0 frames/s' in second and second.endswith('\x1b[K\n')


def test_live_progress_only_where_dofns_run_in_this_process():
  assert progress.live_progress_supported([])
  assert progress.live_progress_supported(
      ['--runner', 'DirectRunner', '--direct_running_mode=multi_threading'])
  assert not progress.live_progress_supported(
      ['--direct_running_mode=multi_processing', '--direct_num_workers=2'])
  assert not progress.live_progress_supported(['--runner', 'PortableRunner'])
  with progress.scan_progress(['--runner', 'PrismRunner'],
                              stream=FakeTerminal()) as reporter:
    assert not reporter.enabled


class _CountSlowly(beam.DoFn):
  def __init__(self):
    self._probed = progress.counter(progress.NAMESPACE, 'videos_probed')
    self._bytes = progress.distribution(progress.NAMESPACE,
                                        'bytes_read_per_segment')

  def process(self, element):
    time.sleep(0.15)
    self._probed.inc()
    self._bytes.update(1000)
    yield element


def test_the_local_runner_feeds_the_line_while_it_runs():
  """``p.run()`` on the FnApiRunner blocks until the end; the line still
  moves because the DoFns add to this process's tally as they go."""
  terminal = FakeTerminal()
  elements = 6
  with progress.scan_progress([], stream=terminal,
                              interval_s=0.03) as reporter:
    p = beam.Pipeline(runner=runners.local_runner())
    _ = (p | beam.Create(list(range(elements)))
         | beam.Reshuffle() | beam.ParDo(_CountSlowly()))
    result = p.run()
    reporter.follow(result, [])
    result.wait_until_finish()
  seen = {line.split('videos 0/')[1].split(' ')[0]
          for line in terminal.getvalue().split('\r') if 'videos 0/' in line}
  assert str(elements) in seen
  assert len(seen) >= 3, seen  # intermediate counts were drawn
  totals = progress.counters_from_metrics(result.metrics().query(
      MetricsFilter().with_namespace(progress.NAMESPACE)))
  assert totals == {'videos_probed': elements,
                    'bytes_read_per_segment_sum': 1000 * elements,
                    'bytes_read_per_segment_count': elements}
