"""Probing one input for the scan: the allow-list, the skip rule of
``--skip-scanned``, then the probe, without Beam.

Each input becomes exactly one record: ``VideoInfo`` when it can be
scanned, ``Skipped`` when an earlier scan by the same model version covered
it unchanged, ``Failure`` otherwise.  ``ProbeVideoFn`` runs ``probe_input``
and counts what it returns.
"""
from __future__ import annotations

from typing import (Iterable, Iterator, NamedTuple, Optional, Sequence, Tuple,
                    Union)

from pipeline.media import errors as media_errors
from pipeline.media import probe
from pipeline.records import Failure
from pipeline.records import Skipped
from pipeline.records import VideoInfo
from pipeline.records import VideoRef
from pipeline.storage import files as storage


class ScannedVersion(NamedTuple):
  """The version of a video an earlier ledger records as scanned, and by
  which scan (``ledger.recorded_version``: identity facts are ``None`` in
  ledgers that did not record them)."""
  scan_id: str
  version: storage.SourceVersion


# An input's probe result.
Probed = Union[VideoInfo, Failure, Skipped]

def forbidden(ref: VideoRef, allowed_prefixes: Sequence[str]
              ) -> Optional[Failure]:
  """The failure of an input outside every ``--allowed-prefix``, which is
  then never read; ``None`` when it may be read.  The check is on the
  canonical file (``storage.is_allowed``): a symlink or ``..`` leading out
  is outside."""
  if storage.is_allowed(ref.uri, allowed_prefixes):
    return None
  return Failure(ref.video_id, ref.uri, None, media_errors.FORBIDDEN_URI,
                 'outside every --allowed-prefix; not read',
                 shared_video_id=ref.shared_video_id)


def unchanged_since(ref: VideoRef, current: storage.SourceVersion,
                    earlier: Optional[ScannedVersion],
                    verify_digest: bool = False) -> Optional[Skipped]:
  """The ``Skipped`` record of an input an earlier scan already covered in
  its ``current`` version (``earlier``: the latest version an earlier
  ledger recorded for its file, ``None`` if none did); ``None`` when it
  must be scanned."""
  if earlier is None or not storage.same_version(earlier.version, current,
                                                 verify_digest):
    return None
  return Skipped(ref.video_id, ref.uri, current.size_bytes, current.updated_s,
                 earlier.scan_id, version=current,
                 shared_video_id=ref.shared_video_id)


def latest_scan(versions: Iterable[ScannedVersion]) -> ScannedVersion:
  """The version recorded by the latest scan (scan ids sort by time)."""
  return max(versions, key=lambda version: version.scan_id)


def with_earlier_scan(refs: Iterable[VideoRef],
                      earlier: Iterable[ScannedVersion]
                      ) -> Iterator[Tuple[VideoRef, Optional[ScannedVersion]]]:
  """One file's side of the ``--skip-scanned`` join: each of its inputs
  with the latest version earlier ledgers recorded for it (``None`` when
  none did).  Versions without an input (files of earlier scans not
  named this time) yield nothing."""
  versions = list(earlier)
  latest = latest_scan(versions) if versions else None
  for ref in refs:
    yield ref, latest


def with_digests(uri: str, version: storage.SourceVersion
                 ) -> storage.SourceVersion:
  """``version`` with the MD5 and SHA-256 of the content, computed in one
  read of the whole file (``storage.content_digests``)."""
  digests = storage.content_digests(uri, expected=version)
  return version._replace(md5=digests.md5, sha256=digests.sha256)


def probe_input(ref: VideoRef, allowed_prefixes: Sequence[str],
                max_pixels: int,
                earlier: Optional[ScannedVersion],
                verify_digest: bool = False,
                digests: bool = False,
                max_duration_ms: Optional[int] = None,
                segment_ms: Optional[int] = None) -> Probed:
  """Checks the allow-list on the canonical file before anything is read,
  then its identity (``storage.identify``: on GCS it brings the MD5 for
  free) against ``earlier`` (the latest version earlier ledgers recorded
  for its file, joined to it by ``with_earlier_scan``; always ``None``
  without ``--skip-scanned``), then probes the video.  With
  ``digests`` or ``verify_digest`` the whole file is read once more, once,
  for its MD5 and SHA-256, which the ledger keeps (``verify_digest`` then
  compares the SHA-256).  ``segment_ms`` (``--segment-seconds``): the
  probe also finds the keyframes segments start on (``probe``)."""
  ref = ref._replace(uri=storage.canonical_uri(ref.uri))
  refused = forbidden(ref, allowed_prefixes)
  if refused is not None:
    return refused
  version = None
  try:
    version = storage.identify(ref.uri).version
    if digests or verify_digest:
      version = with_digests(ref.uri, version)
    skipped = unchanged_since(ref, version, earlier, verify_digest)
    if skipped is not None:
      return skipped
    info = probe.probe_video(ref.uri, ref.video_id, max_pixels,
                             version.size_bytes, version.updated_s,
                             max_duration_ms, segment_ms)
    return info._replace(version=version,
                         shared_video_id=ref.shared_video_id)
  except media_errors.MEDIA_EXCEPTIONS as exc:
    kind, message = media_errors.classify(exc)
    return Failure(ref.video_id, ref.uri,
                   version.size_bytes if version else None, kind, message,
                   version.updated_s if version else None, version=version,
                   shared_video_id=ref.shared_video_id)


def dead_probe_failure(ref: VideoRef, exc_type, exc_value) -> Failure:
  """An input whose probe raised something we did not expect (a bug):
  recorded as failed instead of failing the job."""
  return Failure(ref.video_id, ref.uri, None, media_errors.INTERNAL_ERROR,
                 f'{getattr(exc_type, "__name__", exc_type)}: '
                 f'{media_errors.short_message(exc_value)}',
                 shared_video_id=ref.shared_video_id)
