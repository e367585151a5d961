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
  """The version of a video an earlier ledger records as scanned (the
  identity facts are ``None`` in ledgers that did not record them)."""
  scan_id: str
  size_bytes: int
  updated_s: float
  inode: Optional[int] = None
  changed_s: Optional[float] = None
  generation: Optional[int] = None
  crc32c: Optional[str] = None
  sha256: Optional[str] = None


# An input's probe result.
Probed = Union[VideoInfo, Failure, Skipped]

# Identity facts compared as they are, and those compared to the
# millisecond (the ledger stores microseconds; filesystems report finer).
_EXACT_FACTS = ('inode', 'generation', 'crc32c')
_TIME_FACTS = ('changed_s',)


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


def _ms(seconds: Optional[float]) -> Optional[int]:
  return None if seconds is None else round(seconds * 1000)


def same_version(recorded: ScannedVersion, current: storage.SourceVersion,
                 verify_digest: bool = False) -> bool:
  """Whether ``current`` is the version an earlier scan recorded: same
  size and update time (to the millisecond), and every identity fact the
  storage gives now (local inode and ctime, GCS generation and CRC32C)
  recorded and equal: a fact the ledger lacks cannot vouch.  With
  ``verify_digest`` the content SHA-256 must be recorded and equal too."""
  if (recorded.size_bytes != current.size_bytes or
      _ms(recorded.updated_s) != _ms(current.updated_s)):
    return False
  for fact in _EXACT_FACTS + _TIME_FACTS:
    now = getattr(current, fact)
    then = getattr(recorded, fact)
    if fact in _TIME_FACTS:
      now, then = _ms(now), _ms(then)
    if now is not None and now != then:
      return False
  if verify_digest:
    return recorded.sha256 is not None and recorded.sha256 == current.sha256
  return True


def unchanged_since(ref: VideoRef, current: storage.SourceVersion,
                    previous: Mapping[str, ScannedVersion],
                    verify_digest: bool = False) -> Optional[Skipped]:
  """The ``Skipped`` record of an input an earlier scan already covered in
  its ``current`` version; ``None`` when it must be scanned."""
  earlier = previous.get(ref.uri)
  if earlier is None or not same_version(earlier, current, verify_digest):
    return None
  return Skipped(ref.video_id, ref.uri, current.size_bytes, current.updated_s,
                 earlier.scan_id, version=current,
                 shared_video_id=ref.shared_video_id)


def probe_input(ref: VideoRef, allowed_prefixes: Sequence[str],
                max_pixels: int,
                previous: Mapping[str, ScannedVersion],
                verify_digest: bool = False) -> Probed:
  """Checks the allow-list on the canonical file before anything is read,
  then its identity (``storage.identify``) against ``previous`` (the
  latest scanned versions by canonical URI, empty without
  ``--skip-scanned``), then probes the video.  With ``verify_digest`` the
  whole file is read once more for its SHA-256, which the ledger keeps."""
  ref = ref._replace(uri=storage.canonical_uri(ref.uri))
  refused = forbidden(ref, allowed_prefixes)
  if refused is not None:
    return refused
  version = None
  try:
    version = storage.identify(ref.uri).version
    if verify_digest:
      version = version._replace(
          sha256=storage.content_sha256(ref.uri, expected=version))
    skipped = unchanged_since(ref, version, previous, verify_digest)
    if skipped is not None:
      return skipped
    info = probe.probe_video(ref.uri, ref.video_id, max_pixels,
                             version.size_bytes, version.updated_s)
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
