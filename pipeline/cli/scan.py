"""``rescan scan``: one scan of stored videos (``pipeline.scan.job``)."""
from __future__ import annotations

import sys
from typing import Optional, Sequence

from pipeline.cli import common


def main(argv: Optional[Sequence[str]] = None) -> int:
  return common.run_scan(sys.argv[1:] if argv is None else argv)
