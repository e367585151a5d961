"""Running a scan for the commands that do (``scan`` and ``demo``): a
library for ``pipeline/cli/*``, not a command.  It imports only what a
worker image has (no review tools), as ``python -m pipeline.run`` runs it."""
from __future__ import annotations

import logging
import os
import sys
from typing import Sequence

from pipeline.inference import contract as model_contract
from pipeline.scan import inputs
from pipeline.scan import job
from pipeline.storage import claims
from pipeline.storage import parquet


def run_scan(argv: Sequence[str]) -> int:
  """Runs one scan; a usage error (model contract, inputs, a scan id that
  is taken) is one line on
  stderr and exit status 2."""
  logging.getLogger().setLevel(os.environ.get('RESCAN_LOG_LEVEL', 'ERROR'))
  try:
    job.run(argv)
  except (model_contract.ContractError, inputs.InputError,
          claims.ClaimError) as exc:
    print(f'rescan: error: {exc}', file=sys.stderr)
    return 2
  except parquet.BrokenParquetFile as exc:
    # An earlier ledger (--skip-scanned) or this scan's own output is not
    # Parquet: the run cannot be trusted, and the file is named.
    print(f'rescan: error: {exc}', file=sys.stderr)
    return 1
  return 0
