"""The ``rescan`` command with deliberate faults, for tests that must run a
scan as a separate process (to kill it, for example)::

    RESCAN_FAULTS=hang:NAME python -m tests.fault_scan scan FLAGS...

It installs the faults of ``RESCAN_FAULTS`` (see ``tests.faults``), then
runs ``pipeline.cli.main.main`` as the console script does.
"""
from __future__ import annotations

from pipeline.cli import main as cli
from pipeline.runtime import process_exit
from tests import faults

if __name__ == '__main__':
  faults.install_from_environment()
  process_exit.exit_now(cli.main())
