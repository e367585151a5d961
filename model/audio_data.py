"""Labelled videos -> an audio model's windows and targets.

Windows come from the scan's own audio path: the video is opened through
``pipeline.storage.files.open_media`` and its windows are cut by
``pipeline.media.audio.cut_audio_windows`` on the model's ``AudioGrid``
from the video stream's origin, as a scan's ``DecodeSegments`` cuts them
(``decode.iter_samples(..., audio=AudioRequest(grid))``; the windows of a
video cut in segments are byte for byte those of one pass, and
``tests/test_audio_toolkit.py`` checks training windows against segment
decodes).  So a model is trained on exactly the samples a scan feeds it.

**Window targets.**  Window ``k`` covers ``[start, start + window)``.  It
is **positive** for label L when its overlap with an annotated interval
of L is at least ``MIN_OVERLAP_FRACTION`` (one half) of the shorter of
the interval and the window: a single shot (0.3 s) must be at least
0.15 s inside the window.  A window that overlaps an interval of L less
than that is **ambiguous** for L: it may hear only a shot's tail.
Training leaves ambiguous windows out; evaluation counts them neither as
positives nor as negatives at window level (clip level uses every
window).  Every other window is negative.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, List, Optional, Sequence, Tuple

import av
import numpy as np

from model.annotations import Annotation
from model.annotations import DataError
from model.annotations import LabelledVideos
from pipeline.inference.contract import AudioModelSpec
from pipeline.media import audio as media_audio
from pipeline.media import errors as media_errors
from pipeline.media import probe
from pipeline.media.audio import AudioGrid
from pipeline.media.audio import AudioTrack
from pipeline.media.streams import select_video_stream
from pipeline.media.streams import stream_start_seconds
from pipeline.storage import files as storage

MIN_OVERLAP_FRACTION = 0.5


def grid_of(sample_rate: int, window_seconds: float,
            hop_seconds: float) -> AudioGrid:
  """The grid of an audio model with these settings."""
  return AudioGrid(sample_rate, round(window_seconds * sample_rate),
                   round(hop_seconds * sample_rate))


def video_audio(uri: str, grid: AudioGrid) -> Tuple[AudioTrack, int]:
  """A video's audio windows, as a scan cuts them, and its duration (ms).

  The windows that start in ``[0, duration)``, the ranges of a scan's
  segments together."""
  duration_ms = probe.probe_video(uri).duration_ms
  reader = storage.open_media(uri)
  try:
    with av.open(reader, mode='r') as container:
      origin_s = stream_start_seconds(select_video_stream(container))
      stats = media_audio.AudioStats()
      track = media_audio.cut_audio_windows(container, origin_s, grid, 0,
                                            duration_ms, stats)
  finally:
    reader.close()
  if stats.error_kind:
    raise media_errors.MediaError(stats.error_kind, stats.error_message or '')
  return track, duration_ms


def window_targets(start_ms: np.ndarray, window_ms: float,
                   annotations: Sequence[Annotation], labels: Sequence[str]
                   ) -> Tuple[np.ndarray, np.ndarray]:
  """float32 ``[N, C]`` targets and bool ``[N, C]`` ambiguity of windows
  starting at ``start_ms`` (see the module's rule)."""
  starts = np.asarray(start_ms, np.float64)
  ends = starts + window_ms
  targets = np.zeros((len(starts), len(labels)), np.float32)
  touched = np.zeros((len(starts), len(labels)), bool)
  column = {label: c for c, label in enumerate(labels)}
  for annotation in annotations:
    if annotation.label not in column:
      continue
    lo, hi = annotation.start_s * 1000.0, annotation.end_s * 1000.0
    overlap = np.minimum(ends, hi) - np.maximum(starts, lo)
    needed = MIN_OVERLAP_FRACTION * min(hi - lo, window_ms)
    c = column[annotation.label]
    targets[overlap >= needed, c] = 1.0
    touched[overlap > 0, c] = True
  return targets, touched & (targets == 0)


@dataclasses.dataclass(frozen=True)
class AudioWindows:
  """Every audio window of some videos, ready to feed an audio model."""
  videos: Tuple[str, ...]
  durations_ms: Tuple[int, ...]     # per video
  waveforms: np.ndarray             # float32 [N, S]
  targets: np.ndarray               # float32 [N, C]
  ambiguous: np.ndarray             # bool [N, C]
  video_index: np.ndarray           # int64 [N], into ``videos``
  ts_ms: np.ndarray                 # int64 [N], window starts
  statuses: Tuple[str, ...]         # per video: audio.OK, NO_AUDIO, ...

  def __len__(self) -> int:
    return int(self.waveforms.shape[0])

  def rows_of(self, videos: Sequence[str]) -> np.ndarray:
    names = set(videos)
    wanted = [i for i, v in enumerate(self.videos) if v in names]
    return np.flatnonzero(np.isin(self.video_index, wanted))

  def clear_rows(self, rows: np.ndarray) -> np.ndarray:
    """The rows ambiguous for no label."""
    return rows[~self.ambiguous[rows].any(axis=1)]


def window_videos(data: LabelledVideos, grid: AudioGrid,
                  videos: Optional[Sequence[str]] = None,
                  progress: Optional[Callable[[str], None]] = None
                  ) -> AudioWindows:
  """Cuts every window of ``videos`` (all of ``data`` by default)."""
  names = tuple(videos if videos is not None else data.videos)
  window_ms = grid.window_samples * 1000.0 / grid.sample_rate
  waves: List[np.ndarray] = []
  targets: List[np.ndarray] = []
  ambiguous: List[np.ndarray] = []
  index: List[np.ndarray] = []
  times: List[np.ndarray] = []
  durations: List[int] = []
  statuses: List[str] = []
  for number, name in enumerate(names):
    try:
      track, duration_ms = video_audio(data.uri(name), grid)
    except media_errors.MEDIA_EXCEPTIONS as exc:
      kind, message = media_errors.classify(exc)
      raise DataError(f'{name} cannot be decoded ({kind}): {message}; '
                      'remove it from the data folder') from exc
    durations.append(duration_ms)
    statuses.append(track.status)
    if progress:
      progress(f'  cut {number + 1}/{len(names)} {name}: '
               f'{len(track.windows)} windows ({track.status})')
    if not track.windows:
      continue
    starts = np.array([w.start_ms for w in track.windows], np.float64)
    waves.append(np.stack([w.samples for w in track.windows]))
    target, unsure = window_targets(starts, window_ms,
                                    data.annotations_of(name), data.labels)
    targets.append(target)
    ambiguous.append(unsure)
    index.append(np.full(len(starts), number, np.int64))
    times.append(np.round(starts).astype(np.int64))
  labels = len(data.labels)
  return AudioWindows(
      videos=names, durations_ms=tuple(durations),
      waveforms=(np.concatenate(waves) if waves else
                 np.zeros((0, grid.window_samples), np.float32)),
      targets=(np.concatenate(targets) if targets else
               np.zeros((0, labels), np.float32)),
      ambiguous=(np.concatenate(ambiguous) if ambiguous else
                 np.zeros((0, labels), bool)),
      video_index=(np.concatenate(index) if index else np.zeros(0, np.int64)),
      ts_ms=np.concatenate(times) if times else np.zeros(0, np.int64),
      statuses=tuple(statuses))
