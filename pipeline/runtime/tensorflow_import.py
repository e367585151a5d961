"""Importing TensorFlow without its start-up chatter on stderr.

TensorFlow 2.21 logs through absl before absl's logging is initialised, so
``TF_CPP_MIN_LOG_LEVEL`` does not reach its first lines: every process that
imports it prints "All log messages before absl::InitializeLog() ..." and
"oneDNN custom operations are on ..." (twice, once per library that links
absl).  A command whose answer is one line (an error, a summary) would
otherwise print four lines of noise first.

``import_tensorflow`` is the one place TensorFlow is imported by our code:
the import runs with file descriptor 2 sent to a temporary file, and
whatever it printed is written back to stderr except those known lines.
If the import fails, everything it printed is written back.
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from types import ModuleType
from typing import Iterator

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

# Lines TensorFlow prints at import whatever its log level.
CHATTER = re.compile(
    r'All log messages before absl::InitializeLog\(\) is called'
    r'|oneDNN custom operations are on'
    r'|Unable to register cu(DNN|FFT|BLAS) factory'
    r'|computation placer already registered'
    r'|This TensorFlow binary is optimized to use available CPU instructions'
    r'|To enable the following instructions')


def import_tensorflow() -> ModuleType:
  """The ``tensorflow`` module, imported once with its chatter removed."""
  module = sys.modules.get('tensorflow')
  if module is not None:
    return module
  with _filtered_stderr():
    import tensorflow  # pylint: disable=import-outside-toplevel
  return tensorflow


@contextlib.contextmanager
def _filtered_stderr() -> Iterator[None]:
  sys.stderr.flush()
  with tempfile.TemporaryFile() as captured:
    saved = os.dup(2)
    os.dup2(captured.fileno(), 2)
    failed = True
    try:
      yield
      failed = False
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      captured.seek(0)
      text = captured.read().decode('utf-8', 'replace')
      kept = [line for line in text.splitlines()
              if failed or not CHATTER.search(line)]
      if kept:
        sys.stderr.write('\n'.join(kept) + '\n')
        sys.stderr.flush()
