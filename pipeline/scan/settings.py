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
from pipeline.scan.clips import ClipRules
from pipeline.scan.options import ScanConfig
from pipeline.storage import files as storage


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
      segment_ms=int(round(config.segment_seconds * 1000)),
      allowed_prefixes=tuple(storage.normalize_uri(p)
                             for p in config.allowed_prefixes),
      skip_scanned_root=config.output if config.skip_scanned else None)
