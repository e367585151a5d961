"""A scan's state, and the one rule every reader of the datasets obeys.

A scan runs as ``--waves K`` successive Beam jobs (``pipeline.scan.job``):
wave ``i`` scans the inputs whose canonical URI hashes to ``i``
(``pipeline.scan.identities.wave_of``) and writes its own files into the
scan's partitions, named with a per-wave prefix (``wave_file_prefix``)::

    ROOT/<dataset>/scan=<id>/wave-00002-of-00004-part-00000-of-00003.parquet

(one wave, the default, keeps the old names ``part-00000-of-00003.parquet``).
After a wave's job has finished, the launcher records the wave as committed
in the scan's state, next to its claim (``pipeline.storage.claims``)::

    ROOT/_claims/state/scan=<id>.json
        {"scan_id": ..., "state": "running" | "complete" | "failed",
         "waves": K, "committed": [0, 1], "updated_at": ...}

written when the scan is claimed (``running``), after each wave, at the end
(``complete``) and when the run raises (``failed``).  ``rescan match`` and
``rescan rethreshold`` runs record the same state, as one wave
(``run_recorded``).  A killed launcher
leaves ``running``: readers cannot tell a running scan from a killed one,
and show it as incomplete.

``committed_paths`` is the rule every reader applies (the review commands
and page, the summary, ``--skip-scanned``, ``rescan match``, extract):

- files of a scan with a state: only the files of its committed waves,
  named exactly as its sink names them; never a ``beam-temp-*`` folder's
  files, never a file of a wave in flight or of a killed one;
- files of a partition without a state file: a scan (or match or
  rethreshold run) written before runs had states: all its ``*.parquet``
  files, as before (``beam-temp-*`` folders are one level deeper and never matched).

Why waves, not per-bundle files: docs/scale.md "Finished work survives".
"""
from __future__ import annotations

import datetime
import glob
import json
import os
import re
import tempfile
from typing import (Callable, Dict, Iterable, List, NamedTuple, Optional,
                    Tuple)

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.runners.runner import PipelineState

import schemas
from schemas.tables import PARTITION_KEY

from pipeline.storage import claims
from pipeline.storage.scan_ids import check_scan_id
from pipeline.storage.scan_ids import is_valid_scan_id

RUNNING = 'running'
COMPLETE = 'complete'
FAILED = 'failed'
STATES = (RUNNING, COMPLETE, FAILED)
# What readers call a scan without a state file (written before states).
LEGACY = 'complete (no state recorded)'
STATE_FOLDER = 'state'
# Beam's temporary folders inside a partition (``FileBasedSink``).
TEMP_FOLDER_PREFIX = 'beam-temp-'
LEGACY_FILE_PREFIX = 'part'
_MAX_STATE_BYTES = 1 << 20
_WAVE_FILE = re.compile(
    r'wave-(\d{5})-of-(\d{5})-part-\d{5,}-of-\d{5,}\.parquet\Z')
_ONE_WAVE_FILE = re.compile(r'part-\d{5,}-of-\d{5,}\.parquet\Z')


class ScanState(NamedTuple):
  """The recorded state of one scan."""
  scan_id: str
  state: str
  waves: int
  committed: Tuple[int, ...]
  updated_at: str

  def to_json(self) -> bytes:
    record = self._asdict()
    record['committed'] = list(self.committed)
    return (json.dumps(record, sort_keys=True) + '\n').encode('utf-8')

  def describe(self) -> str:
    """``complete``, or e.g. ``running or killed, 2 of 5 waves
    committed``."""
    if self.state == COMPLETE:
      return COMPLETE
    shown = 'running or killed' if self.state == RUNNING else self.state
    return f'{shown}, {len(self.committed)} of {self.waves} waves committed'


def wave_file_prefix(wave: int, waves: int) -> str:
  """The file-name prefix of wave ``wave`` of ``waves`` inside a partition
  (Beam's sink appends ``-SSSSS-of-NNNNN.parquet``).  It ends the glob the
  sink deletes by, so a wave's job can only replace its own files."""
  if waves == 1:
    return LEGACY_FILE_PREFIX
  return f'wave-{wave:05d}-of-{waves:05d}-{LEGACY_FILE_PREFIX}'


def state_path(root: str, scan_id: str) -> str:
  return (f'{claims.claims_folder(root)}/{STATE_FOLDER}/'
          f'{PARTITION_KEY}={check_scan_id(scan_id)}.json')


def _now() -> str:
  return datetime.datetime.now(datetime.timezone.utc).isoformat(
      timespec='seconds')


def write_state(root: str, state: ScanState) -> ScanState:
  """Stores ``state`` (replacing the earlier one) in one atomic step: a
  local rename, or one object upload."""
  state = state._replace(updated_at=_now())
  path = state_path(root, state.scan_id)
  if '://' not in path:
    folder = os.path.dirname(path)
    claims.make_private_folders(folder)
    fd, temporary = tempfile.mkstemp(dir=folder, prefix='.tmp-')
    try:
      with os.fdopen(fd, 'wb') as f:
        f.write(state.to_json())
        f.flush()
        os.fsync(f.fileno())
      os.replace(temporary, path)
    except BaseException:
      if os.path.exists(temporary):
        os.remove(temporary)
      raise
    return state
  with FileSystems.create(path, mime_type='application/json',
                          compression_type=CompressionTypes.UNCOMPRESSED) \
      as f:
    f.write(state.to_json())
  return state


def begin(root: str, scan_id: str, waves: int) -> ScanState:
  """The state of a scan just claimed: running, nothing committed."""
  return write_state(root, ScanState(scan_id, RUNNING, waves, (), ''))


def commit_wave(root: str, state: ScanState, wave: int) -> ScanState:
  """Records wave ``wave`` as committed: its job finished."""
  return write_state(root, state._replace(
      committed=tuple(sorted(set(state.committed) | {wave}))))


def finish(root: str, state: ScanState, outcome: str) -> ScanState:
  """Records the end of the run: ``complete`` or ``failed``."""
  return write_state(root, state._replace(state=outcome))


class JobNotFinished(RuntimeError):
  """A job ended without finishing, and its runner did not raise."""


# A Beam job that ended in one of these did not write its files.
NOT_FINISHED = (PipelineState.FAILED, PipelineState.CANCELLED,
                PipelineState.STOPPED)


def check_finished(job_state: str, what: str) -> None:
  """Raises ``JobNotFinished`` unless the job (``what``) finished: only a
  finished job's files may be committed."""
  if job_state in NOT_FINISHED:
    raise JobNotFinished(f'{what} ended {job_state}')


def run_recorded(root: str, scan_id: str, job: Callable[[], str],
                 what: str) -> None:
  """Runs ``job`` (a one-job run: ``rescan match``, ``rescan
  rethreshold``; it returns the Beam job's final state) under a state like
  a scan's of one wave: ``running`` before it, its wave committed and
  ``complete`` when it finished, ``failed`` when it raises or ends
  unfinished.  A killed run leaves ``running`` and its files are read by
  no reader, like a killed scan's."""
  state = begin(root, scan_id, 1)
  try:
    check_finished(job(), what)
  except BaseException:
    finish(root, state, FAILED)
    raise
  finish(root, commit_wave(root, state, 0), COMPLETE)


def read_state(root: str, scan_id: str) -> Optional[ScanState]:
  """The recorded state of ``scan_id``, or None when there is none (a scan,
  match or rethreshold run from before states)."""
  path = state_path(root, scan_id)
  try:
    if not FileSystems.exists(path):
      return None
    with FileSystems.open(path, mime_type='application/json',
                          compression_type=CompressionTypes.UNCOMPRESSED) \
        as f:
      record = json.loads(f.read(_MAX_STATE_BYTES).decode('utf-8'))
    state = ScanState(str(record['scan_id']), str(record['state']),
                      int(record['waves']),
                      tuple(int(w) for w in record['committed']),
                      str(record['updated_at']))
  except (ValueError, KeyError, TypeError) as exc:
    raise claims.ClaimError(f'the state of scan {scan_id} ({path}) is not '
                            f'a scan state record: {exc}') from exc
  if state.state not in STATES:
    raise claims.ClaimError(f'the state of scan {scan_id} ({path}) is '
                            f'{state.state!r}, not one of {", ".join(STATES)}')
  return state


def describe(state: Optional[ScanState]) -> str:
  return LEGACY if state is None else state.describe()


def is_committed_file(name: str, state: Optional[ScanState]) -> bool:
  """Whether readers may read the file ``name`` of a partition of a scan
  whose state is ``state`` (None: no state recorded)."""
  if state is None:
    return name.endswith('.parquet')
  if state.waves == 1:
    return 0 in state.committed and bool(_ONE_WAVE_FILE.match(name))
  found = _WAVE_FILE.match(name)
  return (found is not None and int(found.group(2)) == state.waves
          and int(found.group(1)) in state.committed)


def partition_scan_id(path: str) -> Optional[str]:
  """The scan id of the partition folder holding the file ``path``, or
  None when its folder is no ``scan=<id>`` partition."""
  return _scan_of_folder(path.rstrip('/').rsplit('/', 2)[-2])


def _scan_of_folder(folder: str) -> Optional[str]:
  """``<id>`` of a folder (or file stem) named ``scan=<id>``, else None."""
  key, _, scan_id = folder.partition('=')
  if key != PARTITION_KEY or not is_valid_scan_id(scan_id):
    return None
  return scan_id


def committed_among(root: str, paths: Iterable[str],
                    states: Optional[Dict[str, Optional[ScanState]]] = None
                    ) -> List[str]:
  """The files of ``paths`` (direct children of partitions under
  ``root``) that readers may read (``is_committed_file``); ``states``
  caches each scan's state across calls."""
  states = {} if states is None else states
  kept = []
  for path in paths:
    scan_id = partition_scan_id(path)
    if scan_id is None:
      kept.append(path)
      continue
    if scan_id not in states:
      states[scan_id] = read_state(root, scan_id)
    if is_committed_file(path.rsplit('/', 1)[-1], states[scan_id]):
      kept.append(path)
  return kept


def committed_paths(root: str, dataset: str, scan_id: Optional[str] = None,
                    states: Optional[Dict[str, Optional[ScanState]]] = None
                    ) -> List[str]:
  """THE reader rule: the Parquet files of ``dataset`` under ``root`` (of
  one scan, or of every scan) that hold committed rows, in name order."""
  pattern = (schemas.partition_dir(root, dataset, check_scan_id(scan_id))
             + '/*.parquet' if scan_id else schemas.dataset_glob(root, dataset))
  return committed_among(root, _matching(pattern), states)


def _matching(pattern: str) -> List[str]:
  return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)


def scan_states(root: str) -> Dict[str, Optional[ScanState]]:
  """Every scan with a partition or a state under ``root``, with its state
  (None: none recorded)."""
  found: Dict[str, Optional[ScanState]] = {}
  for dataset in schemas.DATASETS:
    for path in _matching(f"{root.rstrip('/')}/{dataset}/*/*"):
      scan_id = partition_scan_id(path)
      if scan_id is not None and scan_id not in found:
        found[scan_id] = read_state(root, scan_id)
  for path in _matching(f'{claims.claims_folder(root)}/{STATE_FOLDER}/*.json'):
    scan_id = _scan_of_folder(path.rsplit('/', 1)[-1][:-len('.json')])
    if scan_id is not None:
      found[scan_id] = read_state(root, scan_id)
  return found


def _is_over(root: str, scan_id: str, state: Optional[ScanState]) -> bool:
  """Whether no live run can still write ``scan_id``'s partitions: its
  state says it ended, or it has no claim (a root from before claims), or
  its claim names a process of this host that no longer runs (a killed
  launcher).  A run of another host (a launcher elsewhere, a Dataflow job)
  cannot be told from a live one, and counts as live."""
  if state is not None and state.state != RUNNING:
    return True
  claim = claims.read_claim(claims.claim_path(root, scan_id))
  if claim is None:
    return state is None
  if claim.host != claims.this_host():
    return False
  try:
    os.kill(claim.pid, 0)
  except ProcessLookupError:
    return True
  except PermissionError:
    return False
  return False


def orphans(root: str, states: Optional[Dict[str, Optional[ScanState]]] = None
            ) -> List[str]:
  """What earlier runs under ``root`` left that no reader will ever read:
  the files in ``beam-temp-*`` folders and the files of uncommitted waves,
  of every scan that is over (``_is_over``).  A scan that may still run is
  left alone; readers ignore its uncommitted files anyway.  Committed
  files are never listed."""
  states = scan_states(root) if states is None else states
  over: Dict[str, bool] = {}
  found = []
  for dataset in schemas.DATASETS:
    base = f"{root.rstrip('/')}/{dataset}"
    for path in (_matching(f'{base}/*/*') + _local_temp_folders(base) +
                 _matching(f'{base}/*/{TEMP_FOLDER_PREFIX}*/*')):
      scan_id = _scan_of_nested(path)
      if scan_id is None or scan_id not in states:
        continue
      state = states[scan_id]
      if scan_id not in over:
        over[scan_id] = _is_over(root, scan_id, state)
      if not over[scan_id]:
        continue
      folder, name = path.rsplit('/', 2)[-2:]
      if (folder.startswith(TEMP_FOLDER_PREFIX)
          or name.startswith(TEMP_FOLDER_PREFIX)) or (
          state is not None and not is_committed_file(name, state)):
        found.append(path)
  return sorted(found)


def _local_temp_folders(base: str) -> List[str]:
  """The ``beam-temp-*`` folders in the partitions under a local dataset
  folder ``base`` (a sink makes its folder when its job starts, and a
  killed job may leave it empty; GCS has no folders)."""
  if '://' in base:
    return []
  return sorted(path for path in glob.glob(
      f'{glob.escape(base)}/*/{TEMP_FOLDER_PREFIX}*') if os.path.isdir(path))


def _scan_of_nested(path: str) -> Optional[str]:
  """The scan id of a file directly in a partition or in a ``beam-temp-*``
  folder inside it."""
  parts = path.rstrip('/').split('/')
  for folder in (parts[-2], parts[-3] if len(parts) > 2 else ''):
    scan_id = _scan_of_folder(folder)
    if scan_id is not None:
      return scan_id
  return None


def clean_orphans(root: str) -> List[str]:
  """Deletes ``orphans(root)`` (a local ``beam-temp-*`` folder as a
  whole); returns what it deleted."""
  found = orphans(root)
  # A folder listed as a whole goes with its files.
  folders = {p for p in found if '://' not in p and os.path.isdir(p)}
  found = [p for p in found
           if not any(p.startswith(folder + '/') for folder in folders)]
  if found:
    FileSystems.delete(found)
  return found
