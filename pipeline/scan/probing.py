"""Probing one input for the scan: the allow-list, the skip rule of
``--skip-scanned``, then the probe, without Beam.

Each input becomes exactly one record: ``VideoInfo`` when it can be
scanned, ``Skipped`` when an earlier scan by the same model version covered
it unchanged, ``Failure`` otherwise.  ``ProbeVideoFn`` runs ``probe_input``
and counts what it returns.
"""
from __future__ import annotations

from typing import Mapping, NamedTuple, Optional, Sequence, Union

from pipeline.media import errors as media_errors
from pipeline.media import probe
from pipeline.records import Failure
from pipeline.records import Skipped
from pipeline.records import VideoInfo
from pipeline.records import VideoRef
from pipeline.storage import files as storage


class ScannedVersion(NamedTuple):
  """The version of a video an earlier ledger records as scanned."""
  scan_id: str
  size_bytes: int
  updated_s: float


# An input's probe result.
Probed = Union[VideoInfo, Failure, Skipped]


def forbidden(ref: VideoRef, allowed_prefixes: Sequence[str]
              ) -> Optional[Failure]:
  """The failure of an input outside every ``--allowed-prefix``, which is
  then never read; ``None`` when it may be read."""
  if storage.is_allowed(ref.uri, allowed_prefixes):
    return None
  return Failure(ref.video_id, ref.uri, None, media_errors.FORBIDDEN_URI,
                 'outside every --allowed-prefix; not read')


def same_version(recorded: ScannedVersion,
                 current: storage.SourceVersion) -> bool:
  """Same size, and the same update time to the millisecond (the ledger
  stores microseconds; filesystems report finer)."""
  return (recorded.size_bytes == current.size_bytes and
          round(recorded.updated_s * 1000) == round(current.updated_s * 1000))


def unchanged_since(ref: VideoRef, current: storage.SourceVersion,
                    previous: Mapping[str, ScannedVersion]
                    ) -> Optional[Skipped]:
  """The ``Skipped`` record of an input an earlier scan already covered in
  its ``current`` version; ``None`` when it must be scanned."""
  earlier = previous.get(ref.uri)
  if earlier is None or not same_version(earlier, current):
    return None
  return Skipped(ref.video_id, ref.uri, current.size_bytes, current.updated_s,
                 earlier.scan_id)


def probe_input(ref: VideoRef, allowed_prefixes: Sequence[str],
                max_pixels: int,
                previous: Mapping[str, ScannedVersion]) -> Probed:
  """Checks the allow-list before anything is read, then the stored
  version against ``previous`` (the latest scanned versions by URI, empty
  without ``--skip-scanned``), then probes the video."""
  refused = forbidden(ref, allowed_prefixes)
  if refused is not None:
    return refused
  version = None
  try:
    version = storage.source_version(ref.uri)
    skipped = unchanged_since(ref, version, previous)
    if skipped is not None:
      return skipped
    return probe.probe_video(ref.uri, ref.video_id, max_pixels,
                             version.size_bytes, version.updated_s)
  except media_errors.MEDIA_EXCEPTIONS as exc:
    kind, message = media_errors.classify(exc)
    return Failure(ref.video_id, ref.uri,
                   version.size_bytes if version else None, kind, message,
                   version.updated_s if version else None)


def dead_probe_failure(ref: VideoRef, exc_type, exc_value) -> Failure:
  """An input whose probe raised something we did not expect (a bug):
  recorded as failed instead of failing the job."""
  return Failure(ref.video_id, ref.uri, None, media_errors.INTERNAL_ERROR,
                 f'{getattr(exc_type, "__name__", exc_type)}: '
                 f'{media_errors.short_message(exc_value)}')
