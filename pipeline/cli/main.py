"""The ``rescan`` command: its usage text and the dispatch to one module
per command.

    rescan scan  --input PATTERN|MANIFEST --output ROOT --model DIR [...]
    rescan demo  [--workdir DIR] [BEAM FLAGS]

Each command is ``pipeline/cli/<name>.py``: its flags (argparse) and a
``main(argv) -> int`` that calls libraries.  This dispatcher imports a
command only when it runs, so that a command loads only what it needs.
Three commands import the model toolkit ``model/``: ``demo`` (to make its
sample archive), ``train`` and ``evaluate`` (with TensorFlow and Keras).
No other command does, and the scan graph (``pipeline/scan``), which the
workers run, never does.
``scan`` is the pipeline itself (also ``python -m pipeline.run``).
"""
from __future__ import annotations

import importlib
import os
import sys
from typing import Optional, Sequence

from pipeline.runtime import process_exit

# Quiet TensorFlow's C++ start-up chatter before anything imports it.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('SVT_LOG', '1')

USAGE = """usage: rescan COMMAND [ARGS]

commands:
  scan      re-scan stored videos with a model; writes Parquet
  demo      generate a small sample archive and scan it on the DirectRunner
  review    query clips, a video's timeline, stats and precision (table/json/csv)
  extract   cut selected clips, with context, into small MP4s
  report    the review page: static HTML, or a local app that records verdicts
  bank      import known-content hash lists into a hash bank
  match     match stored frame hashes against hash banks (no decoding)
  rethreshold  clips at another threshold from stored scores (no decoding)
  train     train a classifier from labelled footage (model toolkit)
  evaluate  evaluate a model, pick its threshold, write metrics (model toolkit)

Run 'rescan COMMAND --help' for a command's flags.
"""


# Each command's module, whose ``main(argv) -> int`` runs it, imported
# only when that command runs.
COMMANDS = {
    name: f'pipeline.cli.{name}'
    for name in ('scan', 'demo', 'review', 'extract', 'report', 'bank',
                 'match', 'rethreshold', 'train', 'evaluate')
}


def main(argv: Optional[Sequence[str]] = None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  if not argv or argv[0] in ('-h', '--help', 'help'):
    print(USAGE)
    return 0 if argv else 2
  command, rest = argv[0], argv[1:]
  if command in COMMANDS:
    return importlib.import_module(COMMANDS[command]).main(rest)
  print(f'rescan: unknown command {command!r}\n\n{USAGE}', file=sys.stderr)
  return 2


def console_main() -> None:
  """The ``rescan`` console script (see ``process_exit``)."""
  process_exit.exit_now(main())


if __name__ == '__main__':
  console_main()
