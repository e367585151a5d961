"""Typed records that flow between the pipeline's steps.

``FlaggedClip``, ``VideoLedgerRow`` and ``SampleScore`` mirror the pyarrow schemas in
``schemas.tables`` field for field (a test keeps them in step).
"""
from __future__ import annotations

import datetime
from typing import NamedTuple, Optional, Tuple

from schemas.tables import MODALITY_VISUAL


class VideoRef(NamedTuple):
  """One input video, as named by a file pattern or a manifest row.

  ``uri`` is canonical (``storage.files.canonical_uri``), so one file has
  one name; ``explicit_id`` says a manifest gave ``video_id`` (it then wins
  over a derived one when a file is named twice); ``shared_video_id`` is
  set when ``video_id`` had to be made unique (see
  ``pipeline.scan.identities``)."""
  video_id: str
  uri: str
  explicit_id: bool = False
  shared_video_id: Optional[str] = None


class SourceVersion(NamedTuple):
  """Which version of a stored file was read: size and update time
  everywhere; locally the inode and the inode change time (``ctime``, which
  no one can set back); on GCS the object generation, its CRC32C and its
  MD5 (hex; absent for composite objects), from the object's metadata; with
  ``--digests`` (or ``--verify-digest``) the MD5 and SHA-256 of the content,
  computed in one read."""
  size_bytes: int
  updated_s: float
  inode: Optional[int] = None
  changed_s: Optional[float] = None
  generation: Optional[int] = None
  crc32c: Optional[str] = None
  sha256: Optional[str] = None
  md5: Optional[str] = None


class VideoInfo(NamedTuple):
  """What probing a video's container header told us."""
  video_id: str
  uri: str
  size_bytes: int
  duration_ms: int
  width: int
  height: int
  codec: str
  updated_s: Optional[float] = None
  # Longest gap between the first keyframes (see ``probe``); None if unknown.
  keyframe_interval_ms: Optional[int] = None
  version: Optional[SourceVersion] = None
  shared_video_id: Optional[str] = None
  # Frames per second from the header (None if it gives none).
  frame_rate: Optional[float] = None
  # Where segments start: the keyframe at or before each boundary the
  # planner asked about (``segments``, ``probe.segment_starts_ms``), in ms;
  # None when the probe was not asked.
  segment_starts_ms: Optional[Tuple[int, ...]] = None


class Skipped(NamedTuple):
  """A video this model version already scanned, unchanged since."""
  video_id: str
  uri: str
  size_bytes: int
  updated_s: float
  previous_scan_id: str
  version: Optional[SourceVersion] = None
  shared_video_id: Optional[str] = None


class Failure(NamedTuple):
  """A video that could not be scanned at all, and why."""
  video_id: str
  uri: str
  size_bytes: Optional[int]
  error_kind: str
  error_message: str
  updated_s: Optional[float] = None
  version: Optional[SourceVersion] = None
  shared_video_id: Optional[str] = None


class Segment(NamedTuple):
  """A time range ``[start_ms, end_ms)`` of one video, decoded as a unit."""
  video_id: str
  uri: str
  index: int
  start_ms: int
  end_ms: int
  duration_ms: int
  keyframe_interval_ms: Optional[int] = None
  # How many planned segment lengths this one spans (keyframes too sparse
  # to cut it shorter): its per-segment limits are scaled by it.
  limit_scale: int = 1


class SegmentOutcome(NamedTuple):
  """How decoding one segment went."""
  video_id: str
  index: int
  frames_sampled: int
  bytes_read: int
  error_kind: Optional[str] = None
  error_message: Optional[str] = None
  packets_damaged: int = 0
  # With an audio model: the segment's audio (``pipeline.media.audio``'s
  # OK, NO_AUDIO or UNSUPPORTED_AUDIO; None when the audio was not cut,
  # e.g. the frames' decode failed first), the windows cut, the audio
  # packets stepped over and what ended the audio's decode.
  audio_status: Optional[str] = None
  audio_windows: int = 0
  audio_packets_damaged: int = 0
  audio_error_kind: Optional[str] = None
  audio_error_message: Optional[str] = None


class SampleKey(NamedTuple):
  """Identifies one sampled frame on its way through inference."""
  video_id: str
  ts_ms: int


class WindowKey(NamedTuple):
  """Identifies one audio window (its start, ms from the video's origin,
  rounded) on its way through inference."""
  video_id: str
  ts_ms: int


class FrameScore(NamedTuple):
  """The model's scores, one per label, for the frame sampled at ``ts_ms``;
  a JPEG of the frame when some score reached the threshold."""
  ts_ms: int
  scores: Tuple[float, ...]
  thumbnail: Optional[bytes] = None


class FlaggedClip(NamedTuple):
  clip_id: str
  video_id: str
  video_uri: str
  label: str
  start_ms: int
  end_ms: int
  peak_ms: int
  peak_score: float
  mean_score: float
  frames: int
  model_name: str
  model_version: str
  threshold: float
  scan_id: str
  scanned_at: datetime.datetime
  thumbnail: Optional[bytes]
  # Set only on the clips of a ``rescan rethreshold`` partition.
  source_scan_id: Optional[str] = None
  # 'visual' or 'audio' (``schemas.tables.MODALITIES``).
  modality: str = MODALITY_VISUAL


class SampleScore(NamedTuple):
  """One ``frame_scores`` row: one label's score of the sample at
  ``ts_ms``, with the scan's clip rules (``pipeline.scan.clips.ClipRules``)
  that turned the scores into clips."""
  scan_id: str
  video_id: str
  video_uri: str
  label: str
  ts_ms: int
  score: float
  threshold: float
  sample_interval_ms: float
  merge_gap_ms: float
  min_clip_ms: float
  modality: str = MODALITY_VISUAL


class VideoLedgerRow(NamedTuple):
  video_id: str
  video_uri: str
  size_bytes: Optional[int]
  status: str
  error_kind: Optional[str]
  error_message: Optional[str]
  duration_ms: Optional[int]
  width: Optional[int]
  height: Optional[int]
  codec: Optional[str]
  source_updated_at: Optional[datetime.datetime]
  source_inode: Optional[int]
  source_changed_at: Optional[datetime.datetime]
  source_generation: Optional[int]
  source_crc32c: Optional[str]
  content_sha256: Optional[str]
  shared_video_id: Optional[str]
  frames_scored: int
  samples_expected: Optional[int]
  coverage: Optional[float]
  segments: int
  segments_failed: int
  packets_damaged: int
  bytes_read: int
  max_score: Optional[float]
  clips: int
  model_name: str
  model_version: str
  scan_id: str
  scanned_at: datetime.datetime
  content_md5: Optional[str]
  # With --audio-model (None otherwise): see ``schemas.tables.VIDEOS``.
  audio_status: Optional[str] = None
  audio_windows_scored: Optional[int] = None
  audio_windows_expected: Optional[int] = None
  audio_coverage: Optional[float] = None
  audio_max_score: Optional[float] = None
  audio_model_name: Optional[str] = None
  audio_model_version: Optional[str] = None
