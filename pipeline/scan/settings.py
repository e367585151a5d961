"""What the scan's workers are told, resolved once from the flags and the
model's metadata.

``resolve_settings`` is the one place where a flag left unset falls back to
the model's own value (``--fps``, ``--threshold``) and where seconds become
the milliseconds the steps count in.  ``ScanSettings`` keeps the parsed
flags (``config``) and the model's metadata (``spec``) as they are, so a new
flag reaches the workers without being copied here: only values that need
resolving get a field of their own.
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

from pipeline.inference.contract import ModelSpec
from pipeline.media import sampling
from pipeline.media import segments
from pipeline.scan.clips import ClipRules
from pipeline.scan.options import ScanConfig
from pipeline.storage import files as storage


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
  """The flags and the model, plus what was resolved from both."""
  config: ScanConfig
  spec: ModelSpec
  # Samples per second: --fps, else the model's.
  fps: float
  # Score threshold, sample interval and merge rules of clip assembly.
  clip_rules: ClipRules
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

  @property
  def threshold(self) -> float:
    """--threshold, else the model's."""
    return self.clip_rules.threshold


def resolve_settings(config: ScanConfig, spec: ModelSpec) -> ScanSettings:
  """Resolves the flags against the model's metadata (flags win)."""
  fps = config.fps or spec.fps
  segment_ms = int(round(config.segment_seconds * 1000))
  max_duration_ms = int(config.max_duration_hours * 3_600_000)
  threshold = spec.threshold if config.threshold is None else config.threshold
  return ScanSettings(
      config=config,
      spec=spec,
      fps=fps,
      clip_rules=ClipRules(
          threshold=threshold,
          sample_interval_ms=sampling.sample_interval_ms(fps),
          merge_gap_ms=config.merge_gap_seconds * 1000.0,
          min_clip_ms=config.min_clip_seconds * 1000.0),
      segment_ms=segment_ms,
      max_duration_ms=max_duration_ms,
      decode_step_timeout_s=segment_time_limit_s(
          config, segments.max_limit_scale(max_duration_ms, segment_ms))
      + 2 * HARD_STOP_GRACE_S,
      allowed_prefixes=tuple(storage.normalize_uri(p)
                             for p in config.allowed_prefixes),
      skip_scanned_root=config.output if config.skip_scanned else None)
