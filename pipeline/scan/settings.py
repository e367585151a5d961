"""What the scan's workers are told, resolved once from the flags and the
models' metadata.

``resolve_settings`` is the one place where a flag left unset falls back to
the model's own value (``--fps``, ``--threshold``) and where seconds become
the milliseconds the steps count in.  ``ScanSettings`` keeps the parsed
flags (``config``) and the models' metadata (``spec``, ``audio_spec``) as
they are, so a new flag reaches the workers without being copied here: only
values that need resolving get a field of their own.

A scan has a visual model (``--model``), an audio model
(``--audio-model``) or both; the one absent has ``None`` for its spec and
its rules.  An audio model's windows become clips by the same clip
assembly as frames (``audio_clip_rules``): a window stands for
``window_seconds`` (a clip ends at its last flagged window's end), windows
start every ``hop_seconds`` (the sample interval), and the merge gap and
the shortest clip are the scan's (``--merge-gap-seconds``, measured from a
clip's end to the next flagged window's start, and
``--min-clip-seconds``).
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

from pipeline.inference.contract import AudioModelSpec
from pipeline.inference.contract import ModelSpec
from pipeline.media import sampling
from pipeline.media import segments
from pipeline.media.audio import AudioGrid
from pipeline.scan.clips import DEFAULT_MERGE_GAP_MS, ClipRules
from pipeline.scan.options import ScanConfig
from pipeline.storage import files as storage

# The frame rate an audio-only scan's decode is configured with: no frame
# is sampled, so it only picks the decode mode (frames are decoded only
# for --hashes, which decode every frame anyway).
_AUDIO_ONLY_FPS = 1.0


# How long after its time limit a segment's watched decode child is ended
# (``decoding.time_limit``) when the decoder never returns to Python.
HARD_STOP_GRACE_S = 30.0


# The longest any time limit is set to: no segment decodes for a month,
# and Python's waits refuse more than ``threading.TIMEOUT_MAX`` (292 years
# on Linux), which a day's timeout x 10^7 spans would pass.
MAX_TIME_LIMIT_S = 30 * 86_400.0


def segment_time_limit_s(config: ScanConfig, limit_scale: int) -> float:
  """The decode time limit of a segment spanning ``limit_scale``
  --segment-seconds (a one-pass segment on sparse keyframes): it is held
  to as many times --segment-timeout-seconds, like its other limits (at
  most ``MAX_TIME_LIMIT_S``)."""
  return min(config.segment_timeout_seconds * limit_scale, MAX_TIME_LIMIT_S)


@dataclasses.dataclass(frozen=True)
class ScanSettings:
  """The flags and the models, plus what was resolved from them."""
  config: ScanConfig
  # The visual model, None in an audio-only scan.
  spec: Optional[ModelSpec]
  # Samples per second: --fps, else the visual model's.
  fps: float
  # Score threshold, sample interval and merge rules of clip assembly
  # (the visual model's).
  clip_rules: Optional[ClipRules]
  segment_ms: int
  # --max-duration-hours in ms: longer videos fail at probe.
  max_duration_ms: int
  # Beam's time limit on the DecodeSegments step (its outer backstop):
  # the longest segment's own limit (``segment_time_limit_s`` at the
  # largest ``Segment.limit_scale`` a video within --max-duration-hours can
  # be planned with) plus the watched child's hard stop.
  decode_step_timeout_s: float
  # --allowed-prefix values, normalized as input URIs are.
  allowed_prefixes: Tuple[str, ...]
  # The output root whose earlier ledgers --skip-scanned consults, if set.
  skip_scanned_root: Optional[str]
  # --audio-model's metadata, its windows and its clip rules.
  audio_spec: Optional[AudioModelSpec] = None
  audio_grid: Optional[AudioGrid] = None
  audio_clip_rules: Optional[ClipRules] = None

  @property
  def threshold(self) -> float:
    """--threshold, else the visual model's."""
    return self.clip_rules.threshold

  @property
  def frames_scored(self) -> bool:
    """Whether frames are sampled and scored (a visual model is given)."""
    return self.spec is not None

  @property
  def main_spec(self):
    """The model the ledger's ``model_name`` and ``model_version`` name:
    the visual one, else (audio-only) the audio one."""
    return self.spec if self.spec is not None else self.audio_spec

  @property
  def model_versions(self) -> Tuple[str, Optional[str]]:
    """What this scan writes in the ledger's ``model_version`` and
    ``audio_model_version`` (``--skip-scanned`` compares both)."""
    return (self.main_spec.version,
            self.audio_spec.version if self.audio_spec else None)


def audio_grid(spec: AudioModelSpec) -> AudioGrid:
  """The audio model's windows on a video's grid."""
  return AudioGrid(spec.sample_rate, spec.window_samples, spec.hop_samples)


def audio_clip_rules(spec: AudioModelSpec, threshold: float,
                     merge_gap_ms: float = DEFAULT_MERGE_GAP_MS,
                     min_clip_ms: float = 0.0) -> ClipRules:
  """How an audio model's window scores become clips: windows on the hop
  grid, each standing for its whole window (a clip ends at its last
  flagged window's end).  The scan's rules, and ``rescan evaluate``'s."""
  return ClipRules(threshold=threshold,
                   sample_interval_ms=spec.hop_seconds * 1000.0,
                   merge_gap_ms=merge_gap_ms, min_clip_ms=min_clip_ms,
                   span_ms=spec.window_seconds * 1000.0)


def resolve_settings(config: ScanConfig, spec: Optional[ModelSpec],
                     audio_spec: Optional[AudioModelSpec] = None
                     ) -> ScanSettings:
  """Resolves the flags against the models' metadata (flags win)."""
  if spec is None and audio_spec is None:
    raise ValueError('a scan needs a visual or an audio model')
  merge_gap_ms = config.merge_gap_seconds * 1000.0
  min_clip_ms = config.min_clip_seconds * 1000.0
  segment_ms = int(round(config.segment_seconds * 1000))
  max_duration_ms = int(config.max_duration_hours * 3_600_000)
  clip_rules = None
  fps = config.fps or _AUDIO_ONLY_FPS
  if spec is not None:
    fps = config.fps or spec.fps
    clip_rules = ClipRules(
        threshold=(spec.threshold if config.threshold is None
                   else config.threshold),
        sample_interval_ms=sampling.sample_interval_ms(fps),
        merge_gap_ms=merge_gap_ms, min_clip_ms=min_clip_ms)
  audio_rules = None
  if audio_spec is not None:
    audio_rules = audio_clip_rules(
        audio_spec, (audio_spec.threshold if config.audio_threshold is None
                     else config.audio_threshold), merge_gap_ms, min_clip_ms)
  return ScanSettings(
      config=config,
      spec=spec,
      fps=fps,
      clip_rules=clip_rules,
      segment_ms=segment_ms,
      max_duration_ms=max_duration_ms,
      decode_step_timeout_s=segment_time_limit_s(
          config, segments.max_limit_scale(max_duration_ms, segment_ms))
      + 2 * HARD_STOP_GRACE_S,
      allowed_prefixes=tuple(storage.normalize_uri(p)
                             for p in config.allowed_prefixes),
      skip_scanned_root=config.output if config.skip_scanned else None,
      audio_spec=audio_spec,
      audio_grid=audio_grid(audio_spec) if audio_spec else None,
      audio_clip_rules=audio_rules)
