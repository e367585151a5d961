"""Ending a command-line process once its work is done and written.

Arrow's (and other native libraries') thread pools can still hold a worker
thread when the interpreter shuts down; destroying it aborts the process
("terminate called without an active exception", exit 134;
apache/arrow#34314), which would turn a finished scan into a failed
command.  Command entry points therefore flush and leave with ``os._exit``,
which skips the native static destructors.  Library code and tests call the
commands' ``main`` functions instead, and never this.
"""
from __future__ import annotations

import logging
import os
import sys
from typing import Optional


def exit_now(status: Optional[int]) -> None:
  """Flushes output and logging, then ends the process with ``status``."""
  sys.stdout.flush()
  sys.stderr.flush()
  logging.shutdown()
  os._exit(int(status or 0))  # pylint: disable=protected-access
