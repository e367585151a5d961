"""Files readable by their owner only.

Scan outputs, extracts, sidecars and verdicts all point at the most
sensitive content a platform holds (SECURITY.md): every file and folder a
command creates locally is ``0600`` / ``0700``.  ``private_files`` sets the
process umask for the duration of a write; it is a context manager and,
through ``contextlib``, a decorator of the functions that write, safe
across threads.
"""
from __future__ import annotations

import contextlib
import os
import threading
from typing import Iterator, Optional

PRIVATE_UMASK = 0o077

# The umask belongs to the process, and the review server writes from
# several threads: the first writer sets it, the last one restores it, so
# that no thread's exit loosens it under another one still writing.
_LOCK = threading.Lock()
_writers = 0
_saved_umask: Optional[int] = None


@contextlib.contextmanager
def private_files() -> Iterator[None]:
  """Files and folders created meanwhile (by this process and the ones it
  starts) are readable by their owner only."""
  global _writers, _saved_umask  # pylint: disable=global-statement
  with _LOCK:
    if _writers == 0:
      _saved_umask = os.umask(PRIVATE_UMASK)
    _writers += 1
  try:
    yield
  finally:
    with _LOCK:
      _writers -= 1
      if _writers == 0 and _saved_umask is not None:
        os.umask(_saved_umask)
        _saved_umask = None
