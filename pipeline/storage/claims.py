"""Claims: under one output root, one scan id belongs to one run, for ever.

Beam's file sinks replace what they find: before renaming its shards into
place, a sink deletes every existing file that matches its final-name glob
(``FileBasedSink.pre_finalize``, see ``pipeline.storage.parquet``).  A second
scan with the same ``--scan-id`` under the same ``--output`` therefore
deleted the first scan's clips, ledger and hashes, and exited 0.  So before
any work a run (a scan, or a ``rescan match`` run, which share the id space
of a root) claims its id by creating one marker object exclusively:

    ROOT/_claims/scan=<id>      a small JSON record: who claimed it, when

The claim is made

- on a local filesystem with ``open(O_CREAT | O_EXCL)``: atomic, so of two
  runs racing for one id exactly one wins (also on NFS v3 and later);
- on GCS through ``google-cloud-storage`` with the precondition
  ``ifGenerationMatch=0`` ("create only if no live object has this name"):
  atomic on GCS itself.  The local GCS emulator of the tests ignores the
  precondition, so there it is check-then-create;
- on any other Beam filesystem by check-then-create through
  ``FileSystems``: NOT atomic; two runs started at the same moment with the
  same id could both pass.  The partition check below still refuses every
  run that starts after another one has written.

A claim also fails when any dataset partition of that id already exists
under the root (roots written before claims existed, or a claim deleted by
hand): deleting a claim file never lets a run overwrite data.

A claim is never released, not even when the run fails: a failed run may
have left files in its partitions, and a fresh id costs nothing.

Beside the claims, ``ROOT/_claims/state/scan=<id>.json`` holds each scan's
state (``running``, ``complete``, ``failed`` and its committed waves):
``pipeline.storage.scan_state``.
"""
from __future__ import annotations

import datetime
import errno
import json
import os
import secrets
import socket
from typing import List, NamedTuple, Optional, Sequence

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

import schemas
from schemas.tables import PARTITION_KEY

from pipeline.storage.scan_ids import check_scan_id

CLAIMS_FOLDER = '_claims'
# Beam's glob characters (``FileSystem.translate_pattern``), plus the
# closing bracket and braces, which other readers (DuckDB) may expand.
GLOB_CHARACTERS = frozenset('*?[]{}')
_MAX_CLAIM_BYTES = 64 * 1024


class ClaimError(ValueError):
  """A run cannot own this scan id under this root: a usage error, found
  before any work."""


class ScanIdTaken(ClaimError):
  """The scan id is claimed already, or its partitions exist."""


class UnsafeOutputRoot(ClaimError):
  """An output root that Beam's clean-up globs could read as a pattern."""


class OutputNotWritable(ClaimError):
  """The claim could not be written: the root is not writable."""


class Claim(NamedTuple):
  """The record a claim file holds; ``token`` tells one claimant from
  another when a GCS request is retried."""
  path: str
  scan_id: str
  tool: str
  claimed_at: str
  host: str
  pid: int
  token: str

  def to_json(self) -> bytes:
    record = self._asdict()
    record.pop('path')
    return (json.dumps(record, sort_keys=True) + '\n').encode('utf-8')


def claims_folder(root: str) -> str:
  return f"{root.rstrip('/')}/{CLAIMS_FOLDER}"


def claim_path(root: str, scan_id: str) -> str:
  """Where the claim of ``scan_id`` under ``root`` lives."""
  return f'{claims_folder(root)}/{PARTITION_KEY}={check_scan_id(scan_id)}'


def check_output_root(root: str) -> str:
  """``root`` when Beam's globs over it can only match its own files.

  Every delete a sink makes goes through ``FileSystems.match``: a root
  such as ``/data/*`` would make a scan's clean-up glob reach into every
  folder under ``/data``."""
  if not isinstance(root, str) or not root.strip():
    raise UnsafeOutputRoot('the output root is empty')
  found = sorted(set(root) & GLOB_CHARACTERS)
  if found:
    raise UnsafeOutputRoot(
        f'output root {root!r} contains the glob character(s) '
        f'{" ".join(found)}, which Beam\'s clean-up would expand to other '
        'folders; choose another --output')
  return root


def existing_partitions(root: str, scan_id: str) -> List[str]:
  """The dataset partitions of ``scan_id`` under ``root`` that exist: a
  local folder (even empty), or any object under the partition's prefix."""
  found = []
  for dataset in schemas.DATASETS:
    folder = schemas.partition_dir(root, dataset, scan_id)
    if _is_local(root):
      if os.path.lexists(folder):
        found.append(folder)
    elif FileSystems.match([folder + '/**'], limits=[1])[0].metadata_list:
      found.append(folder)
  return found


def claim_scan(root: str, scan_id: str, tool: str = 'scan',
               beam_args: Sequence[str] = (),
               now: Optional[datetime.datetime] = None,
               gcs_client=None) -> Claim:
  """Claims ``scan_id`` under ``root`` for this run, before any work.

  Returns the claim; raises ``InvalidScanId`` for an id that breaks the
  rule, ``UnsafeOutputRoot``, ``ScanIdTaken`` when another run claimed the
  id or its partitions exist, and ``OutputNotWritable`` when the claim
  cannot be written.  On GCS the claim is written with the credentials
  Beam's own options (``beam_args``: project, impersonation) give;
  ``gcs_client`` (a ``google.cloud.storage.Client``) replaces that client,
  for tests."""
  check_scan_id(scan_id)
  check_output_root(root)
  now = now or datetime.datetime.now(datetime.timezone.utc)
  claim = Claim(claim_path(root, scan_id), scan_id, tool,
                now.isoformat(timespec='seconds'), this_host(),
                os.getpid(), secrets.token_hex(8))
  try:
    claimed = _exists(claim.path)
    partitions = [] if claimed else existing_partitions(root, scan_id)
  except OSError as exc:  # BeamIOError too: no bucket, no access
    raise _not_writable(root, claim, exc) from exc
  if claimed:
    raise _taken(root, scan_id, claim.path)
  if partitions:
    raise ScanIdTaken(
        f'scan id {scan_id} already exists under {root} (its partition '
        f'{partitions[0]} exists); choose another --scan-id')
  if _is_local(root):
    _create_local(root, claim)
  elif claim.path.startswith('gs://'):
    _create_gcs(root, claim, gcs_client or _gcs_client(beam_args))
  else:
    _create_other(root, claim)
  return claim


def read_claim(path: str) -> Optional[Claim]:
  """The claim stored at ``path``, or None when it is missing or not (yet)
  a whole claim record, as while its writer is still writing it."""
  try:
    with FileSystems.open(path, mime_type='application/json',
                          compression_type=CompressionTypes.UNCOMPRESSED) \
        as f:
      record = json.loads(f.read(_MAX_CLAIM_BYTES).decode('utf-8'))
    return Claim(path, str(record['scan_id']), str(record['tool']),
                 str(record['claimed_at']), str(record['host']),
                 int(record['pid']), str(record['token']))
  except (OSError, ValueError, KeyError, TypeError):
    return None


def _taken(root: str, scan_id: str, path: str) -> ScanIdTaken:
  """The one-line refusal, saying who holds the claim when it can."""
  claim = read_claim(path)
  holder = (f'claimed at {claim.claimed_at} by {claim.tool} on {claim.host}'
            f', pid {claim.pid}' if claim else f'claimed in {path}')
  return ScanIdTaken(f'scan id {scan_id} already exists under {root} '
                     f'({holder}); choose another --scan-id')


def _not_writable(root: str, claim: Claim, reason) -> OutputNotWritable:
  return OutputNotWritable(f'cannot claim scan id {claim.scan_id} under '
                           f'{root}: {reason}')


def this_host() -> str:
  """The host name a claim records (``pipeline.storage.scan_state`` tells
  a killed launcher of this host by it)."""
  return socket.gethostname()


def _is_local(root: str) -> bool:
  return '://' not in root


def _exists(path: str) -> bool:
  if '://' not in path:
    return os.path.lexists(path)
  return FileSystems.exists(path)


def make_private_folders(folder: str) -> None:
  """``folder`` and its missing parents, each readable by its owner only
  (scan outputs are private, as ``pipeline.runtime.private.private_files`` makes
  the files a scan writes)."""
  missing = []
  while folder and not os.path.isdir(folder):
    missing.append(folder)
    parent = os.path.dirname(folder)
    if parent == folder:
      break
    folder = parent
  for path in reversed(missing):
    try:
      os.mkdir(path, 0o700)
    except FileExistsError as exc:
      if not os.path.isdir(path):
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR),
                                 path) from exc


def _create_local(root: str, claim: Claim) -> None:
  try:
    make_private_folders(os.path.dirname(claim.path))
    fd = os.open(claim.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
  except OSError as exc:
    if isinstance(exc, FileExistsError) and exc.filename == claim.path:
      raise _taken(root, claim.scan_id, claim.path) from exc
    raise _not_writable(root, claim, exc.strerror or exc) from exc
  with os.fdopen(fd, 'wb') as f:
    f.write(claim.to_json())
    f.flush()
    os.fsync(f.fileno())


def _gcs_client(beam_args: Sequence[str]):
  """The storage client Beam's ``GcsIO`` builds from the run's options
  (same credentials and emulator handling as Beam's own GCS access).  Not
  cached: a run claims once."""
  from apache_beam.io.gcp import gcsio  # pylint: disable=import-outside-toplevel
  from apache_beam.options.pipeline_options import PipelineOptions  # pylint: disable=import-outside-toplevel
  return gcsio.GcsIO(pipeline_options=PipelineOptions(list(beam_args))).client


def _create_gcs(root: str, claim: Claim, client) -> None:
  from apache_beam.io.gcp import gcsio  # pylint: disable=import-outside-toplevel
  from google.api_core import exceptions as gapi  # pylint: disable=import-outside-toplevel
  bucket, name = gcsio.parse_gcs_path(claim.path)
  blob = client.bucket(bucket).blob(name)
  try:
    blob.upload_from_string(claim.to_json(), content_type='application/json',
                            if_generation_match=0)
  except gapi.PreconditionFailed as exc:
    # A retried request whose first attempt did create the object fails
    # its precondition too: the token tells whether the claim is ours.
    stored = read_claim(claim.path)
    if stored is not None and stored.token == claim.token:
      return
    raise _taken(root, claim.scan_id, claim.path) from exc
  except gapi.GoogleAPICallError as exc:
    raise _not_writable(root, claim, exc.message or exc) from exc


def _create_other(root: str, claim: Claim) -> None:
  """Check-then-create through ``FileSystems``: not atomic (see above)."""
  try:
    if FileSystems.exists(claim.path):
      raise _taken(root, claim.scan_id, claim.path)
    with FileSystems.create(
        claim.path, mime_type='application/json',
        compression_type=CompressionTypes.UNCOMPRESSED) as f:
      f.write(claim.to_json())
  except OSError as exc:  # BeamIOError is an OSError too
    raise _not_writable(root, claim, exc) from exc
