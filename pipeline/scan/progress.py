"""Live progress of a scan on a terminal: one line on stderr, redrawn.

    scan 1:42 · videos 5/12 done · 84.0/210.0 video-s (40%) · 31.4 frames/s
      · 120 MB read · 2 failed

Where the numbers come from depends on where the DoFns run:

- **The local runner** (``DirectRunner`` -> Beam's ``FnApiRunner``, in
  memory or multi-threaded) runs the pipeline inside ``p.run()``, which
  returns only when the job is done; its ``PipelineResult`` and metrics do
  not exist while it runs, so there is nothing to poll.  Instead the scan's
  DoFns create their counters with ``progress.counter`` (a Beam counter that
  also adds to a tally in this process) and a background thread draws the
  tally.  A counter moves while a stage runs only if it is counted in that
  stage: the FnApiRunner does not fuse across a ``Flatten``, so decode
  outcomes must be counted before they are flattened with the dead-letter
  ones.  With ``--direct_running_mode=multi_processing`` the DoFns run in
  other processes, so there is no live line (the summary still prints).
- **Remote runners** return from ``p.run()`` at once.  Dataflow's metrics
  are live, so ``ProgressReporter.follow`` polls
  ``PipelineResult.metrics().query()`` every few seconds; Prism, Flink and
  the portable job service show progress in their own UIs.

Nothing is drawn unless the stream is a terminal (``isatty``), so logs and
CI output stay clean.
"""
from __future__ import annotations

import contextlib
import dataclasses
import shutil
import sys
import threading
import time
from typing import (Callable, Dict, Iterator, List, Mapping, Optional,
                    Sequence, TextIO, Tuple)

from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import DirectOptions
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.runtime import runners

NAMESPACE = 'rescan'
# The scan's counters the line is made of (namespace ``rescan``).
VIDEOS_PROBED = 'videos_probed'
VIDEOS_FAILED_PROBE = 'videos_failed_probe'
VIDEOS_SCANNED = 'videos_scanned'
VIDEOS_FAILED = 'videos_failed'
VIDEOS_PARTIAL = 'videos_partial'  # scored below --min-coverage
FRAMES_SAMPLED = 'frames_sampled'
SEGMENTS_DECODED = 'segments_decoded'
SEGMENTS_FAILED = 'segments_failed'
BYTES_READ = 'bytes_read'
VIDEO_MS_PROBED = 'video_ms_probed'  # summed durations of probed videos

POLLED_RUNNERS = runners.DATAFLOW_RUNNER_NAMES
REDRAW_INTERVAL_S = 0.5
POLL_INTERVAL_S = 10.0
RATE_WINDOW_S = 5.0
CLEAR_TO_END_OF_LINE = '\x1b[K'


class ProcessTally:
  """Counter totals of the DoFns running in this process, thread-safe."""

  def __init__(self):
    self._lock = threading.Lock()
    self._totals: Dict[str, int] = {}

  def add(self, name: str, value: int) -> None:
    with self._lock:
      self._totals[name] = self._totals.get(name, 0) + value

  def snapshot(self) -> Dict[str, int]:
    with self._lock:
      return dict(self._totals)


_TALLY: Optional[ProcessTally] = None


def _add_to_tally(namespace: str, name: str, value: int) -> None:
  tally = _TALLY
  if tally is not None and namespace == NAMESPACE:
    tally.add(name, value)


class ProgressCounter:
  """A Beam counter that also adds to this process's tally, if a reporter
  installed one (the in-process runner); picklable like Beam's own."""

  def __init__(self, namespace: str, name: str):
    self._namespace, self._name = namespace, name
    self._counter = Metrics.counter(namespace, name)

  def inc(self, n: int = 1) -> None:
    self._counter.inc(n)
    _add_to_tally(self._namespace, self._name, n)


class ProgressDistribution:
  """A Beam distribution whose sum and count also go to the tally, as
  ``<name>_sum`` and ``<name>_count``."""

  def __init__(self, namespace: str, name: str):
    self._namespace, self._name = namespace, name
    self._distribution = Metrics.distribution(namespace, name)

  def update(self, value: int) -> None:
    self._distribution.update(value)
    _add_to_tally(self._namespace, self._name + '_sum', value)
    _add_to_tally(self._namespace, self._name + '_count', 1)


def counter(namespace: str, name: str) -> ProgressCounter:
  """Use instead of ``Metrics.counter`` in the scan's DoFns."""
  return ProgressCounter(namespace, name)


def distribution(namespace: str, name: str) -> ProgressDistribution:
  """Use instead of ``Metrics.distribution`` in the scan's DoFns."""
  return ProgressDistribution(namespace, name)


@contextlib.contextmanager
def process_tally() -> Iterator[ProcessTally]:
  """Installs a fresh tally that this process's progress counters feed."""
  global _TALLY  # pylint: disable=global-statement
  previous, _TALLY = _TALLY, ProcessTally()
  try:
    yield _TALLY
  finally:
    _TALLY = previous


def counters_from_metrics(query_result: Mapping[str, Sequence]
                          ) -> Dict[str, int]:
  """``PipelineResult.metrics().query()`` as totals by name (committed
  values where the runner has them, else attempted); a distribution
  becomes ``<name>_sum`` and ``<name>_count``."""
  totals: Dict[str, int] = {}

  def value_of(result):
    if result.committed is not None:
      return result.committed
    return result.attempted

  for result in query_result.get('counters', ()):
    name = result.key.metric.name
    totals[name] = totals.get(name, 0) + int(value_of(result) or 0)
  for result in query_result.get('distributions', ()):
    name, value = result.key.metric.name, value_of(result)
    if value is None:
      continue
    totals[name + '_sum'] = totals.get(name + '_sum', 0) + int(value.sum)
    totals[name + '_count'] = totals.get(name + '_count', 0) + int(value.count)
  return totals


@dataclasses.dataclass(frozen=True)
class ProgressSnapshot:
  """What the progress line says at one moment."""
  elapsed_s: float
  videos_total: int
  videos_done: int
  videos_failed: int
  video_s_scanned: Optional[float]
  video_s_total: Optional[float]
  frames_sampled: int
  frames_per_second: float
  bytes_read: int
  segments_failed: int


def snapshot_from_counters(counters: Mapping[str, int], elapsed_s: float,
                           frames_per_second: float,
                           fps: Optional[float] = None) -> ProgressSnapshot:
  """The line's numbers from the scan's counters.  Samples lie on a grid of
  ``1 / fps`` seconds, so video-seconds scanned are samples / ``fps``."""
  get = lambda name: int(counters.get(name, 0))  # noqa: E731
  probed_ms = get(VIDEO_MS_PROBED)
  return ProgressSnapshot(
      elapsed_s=elapsed_s,
      videos_total=get(VIDEOS_PROBED) + get(VIDEOS_FAILED_PROBE),
      videos_done=(get(VIDEOS_SCANNED) + get(VIDEOS_PARTIAL) +
                   get(VIDEOS_FAILED)),
      videos_failed=max(get(VIDEOS_FAILED), get(VIDEOS_FAILED_PROBE)),
      video_s_scanned=get(FRAMES_SAMPLED) / fps if fps else None,
      video_s_total=probed_ms / 1000 if probed_ms else None,
      frames_sampled=get(FRAMES_SAMPLED),
      frames_per_second=frames_per_second,
      bytes_read=get(BYTES_READ) or get('bytes_read_per_segment_sum'),
      segments_failed=get(SEGMENTS_FAILED))


def _clock(seconds: float) -> str:
  minutes, secs = divmod(int(seconds), 60)
  hours, minutes = divmod(minutes, 60)
  if hours:
    return f'{hours}:{minutes:02d}:{secs:02d}'
  return f'{minutes}:{secs:02d}'


def _megabytes(count: int) -> str:
  return f'{count / 1e9:.1f} GB' if count >= 1e9 else f'{count / 1e6:.0f} MB'


def format_progress(snapshot: ProgressSnapshot,
                    width: Optional[int] = None) -> str:
  """The progress line, cut to ``width`` characters when given."""
  parts = [f'scan {_clock(snapshot.elapsed_s)}',
           f'videos {snapshot.videos_done}/{snapshot.videos_total} done']
  if snapshot.video_s_scanned is None:
    parts.append(f'{snapshot.frames_sampled} frames')
  elif snapshot.video_s_total:
    share = min(snapshot.video_s_scanned / snapshot.video_s_total, 1.0)
    parts.append(f'{snapshot.video_s_scanned:.1f}/'
                 f'{snapshot.video_s_total:.1f} video-s ({share:.0%})')
  else:
    parts.append(f'{snapshot.video_s_scanned:.1f} video-s')
  parts.append(f'{snapshot.frames_per_second:.1f} frames/s')
  if snapshot.bytes_read:
    parts.append(f'{_megabytes(snapshot.bytes_read)} read')
  parts.append(f'{snapshot.videos_failed} failed')
  if snapshot.segments_failed:
    parts.append(f'{snapshot.segments_failed} segment errors')
  line = ' · '.join(parts)
  if width is not None and len(line) > width:
    line = line[:max(width - 1, 0)] + '…'
  return line


def windowed_rate(history: Sequence[Tuple[float, int]],
                  window_s: float = RATE_WINDOW_S) -> float:
  """Per-second rate of a growing count over the last ``window_s`` of its
  ``(time, count)`` history."""
  if len(history) < 2:
    return 0.0
  now, latest = history[-1]
  earlier = [(t, c) for t, c in history if now - t <= window_s]
  start_t, start_count = earlier[0] if len(earlier) > 1 else history[-2]
  if now <= start_t:
    return 0.0
  return (latest - start_count) / (now - start_t)


def live_progress_supported(beam_args: Sequence[str]) -> bool:
  """Whether the scan's DoFns run in this process (the local runner, in
  memory or multi-threaded), so that the tally sees them."""
  mode = PipelineOptions(list(beam_args)).view_as(
      DirectOptions).direct_running_mode
  return (runners.runner_name(beam_args) in runners.LOCAL_RUNNER_NAMES
          and mode != 'multi_processing')


class ProgressReporter:
  """Redraws the progress line from a counter source in a background
  thread; silent unless ``stream`` is a terminal."""

  def __init__(self, source: Callable[[], Mapping[str, int]],
               stream: TextIO = sys.stderr,
               interval_s: float = REDRAW_INTERVAL_S,
               fps: Optional[float] = None,
               clock: Callable[[], float] = time.monotonic,
               wanted: bool = True):
    self._source = source
    self._stream = stream
    self._interval_s = interval_s
    self._fps = fps
    self._clock = clock
    self._started = clock()
    self._history: List[Tuple[float, int]] = []
    self._stop = threading.Event()
    self._thread: Optional[threading.Thread] = None
    self.enabled = wanted and bool(getattr(stream, 'isatty', lambda: False)())

  def use_source(self, source: Callable[[], Mapping[str, int]],
                 interval_s: Optional[float] = None) -> None:
    self._source = source
    self._interval_s = interval_s or self._interval_s

  def follow(self, result, beam_args: Sequence[str]) -> None:
    """After ``p.run()`` returns: on a runner with live metrics, poll the
    job's metrics instead of this process's tally."""
    if runners.runner_name(beam_args) in POLLED_RUNNERS:
      self.use_source(lambda: counters_from_metrics(result.metrics().query(
          MetricsFilter().with_namespace(NAMESPACE))), POLL_INTERVAL_S)

  def line(self, width: Optional[int] = None) -> str:
    """Reads the source once and formats the line."""
    counters = self._source()
    now = self._clock()
    self._history.append((now, int(counters.get(FRAMES_SAMPLED, 0))))
    self._history = [(t, c) for t, c in self._history
                     if now - t <= RATE_WINDOW_S * 2] or self._history[-1:]
    snapshot = snapshot_from_counters(counters, now - self._started,
                                      windowed_rate(self._history), self._fps)
    return format_progress(snapshot, width)

  def draw(self, final: bool = False) -> None:
    if not self.enabled:
      return
    width = shutil.get_terminal_size(fallback=(100, 24)).columns - 1
    self._stream.write('\r' + self.line(width) + CLEAR_TO_END_OF_LINE
                       + ('\n' if final else ''))
    self._stream.flush()

  def _run(self) -> None:
    while not self._stop.wait(self._interval_s):
      self.draw()

  def __enter__(self) -> 'ProgressReporter':
    if self.enabled:
      self._thread = threading.Thread(target=self._run, name='scan-progress',
                                      daemon=True)
      self._thread.start()
    return self

  def __exit__(self, *exc_info) -> None:
    self._stop.set()
    if self._thread is not None:
      self._thread.join(timeout=5)
      self.draw(final=True)


@contextlib.contextmanager
def scan_progress(beam_args: Sequence[str], stream: TextIO = sys.stderr,
                  fps: Optional[float] = None,
                  interval_s: float = REDRAW_INTERVAL_S
                  ) -> Iterator[ProgressReporter]:
  """What ``rescan scan`` wraps around running the pipeline::

      with progress.scan_progress(config.beam_args, fps=fps) as reporter:
        result = p.run()
        reporter.follow(result, config.beam_args)
        result.wait_until_finish()
  """
  live = live_progress_supported(beam_args)
  with contextlib.ExitStack() as stack:
    source: Callable[[], Mapping[str, int]] = dict
    if live:
      source = stack.enter_context(process_tally()).snapshot
    wanted = live or runners.runner_name(beam_args) in POLLED_RUNNERS
    yield stack.enter_context(ProgressReporter(
        source, stream, interval_s=interval_s, fps=fps, wanted=wanted))
