"""Whether a run can write where its datasets go, found before any work.

Claiming a scan id (``pipeline.storage.claims``) writes one file under
``ROOT/_claims/``, which proves the root writable; but a dataset folder
that already exists (``ROOT/videos/``, from earlier scans) may not be: an
immutable or read-only folder, or a file in its place.  Beam would find out
when it renames its shards, after every video was decoded, with a long
traceback.  So each existing dataset folder of a local root gets a probe
file, created and removed; a probe is the only test that holds for root,
for whom permission bits do not stop writes but ``chattr +i`` and
read-only mounts do.  On object stores a folder is a name prefix: there is
nothing to probe beyond the claim itself.
"""
from __future__ import annotations

import os
import tempfile
from typing import Iterable

from pipeline.storage.claims import OutputNotWritable


def check_datasets_writable(root: str, datasets: Iterable[str]) -> None:
  """Raises ``OutputNotWritable`` naming the first dataset folder under a
  local ``root`` that exists and cannot take a new file."""
  if '://' in root:
    return
  for dataset in datasets:
    folder = os.path.join(root, dataset)
    if not os.path.lexists(folder):
      continue
    try:
      fd, probe = tempfile.mkstemp(prefix='.rescan-probe-', dir=folder)
      os.close(fd)
      os.unlink(probe)
    except OSError as exc:
      raise OutputNotWritable(
          f'cannot write into {folder}: {exc.strerror or exc}; choose '
          'another --output or make it writable') from exc

