"""``python -m pipeline.run``: the scan's entry point for Flex Templates
and scripts, the same as ``rescan scan`` (``pipeline.cli.scan``)."""
from pipeline.cli import scan
from pipeline.runtime import process_exit

if __name__ == '__main__':
  process_exit.exit_now(scan.main())
