"""Scan ids: the name of each output partition a scan or match run writes.

A scan id becomes part of every path the run writes and deletes
(``ROOT/<dataset>/scan=<id>/part-*.parquet``, ``ROOT/_claims/scan=<id>``),
and Beam's file sinks delete by glob (``pipeline.storage.parquet``).  So an
id is checked here, in one place, before it reaches any path:

  1 to 64 characters from ``A-Z a-z 0-9 . _ -``, starting with a letter or
  a digit, and without ``..``.

That leaves out, on purpose:

- glob characters (``* ? [ ] { }``): ``--scan-id '*'`` made Beam's clean-up
  glob delete every other scan under the root;
- path separators and ``..`` (``/``, ``\\``): an id must name one folder
  inside ``ROOT/<dataset>/``, never another place;
- ``=``: ``scan=<id>`` is a Hive partition, read back by DuckDB;
- a leading ``.`` or ``-``: hidden files, and ids read as flags by shells
  and tools;
- whitespace, control characters and non-ASCII: ids are printed, typed,
  quoted in SQL and compared byte for byte on every filesystem;
- more than 64 characters: object names and paths stay far below limits.

Generated ids (``new_scan_id``) obey the rule and sort by time.
"""
from __future__ import annotations

import argparse
import datetime
import re
import secrets

MAX_SCAN_ID_LENGTH = 64
_SCAN_ID = re.compile(r'[A-Za-z0-9][A-Za-z0-9._-]{0,%d}'
                      % (MAX_SCAN_ID_LENGTH - 1))
SCAN_ID_RULE = (f'a scan id is 1 to {MAX_SCAN_ID_LENGTH} characters from '
                'A-Z a-z 0-9 . _ -, starts with a letter or digit and has '
                'no ".."')
# How much of a refused id an error message repeats.
_SHOWN_CHARACTERS = 80


class InvalidScanId(ValueError):
  """A scan id that breaks ``SCAN_ID_RULE``."""


def is_valid_scan_id(text: object) -> bool:
  return (isinstance(text, str) and _SCAN_ID.fullmatch(text) is not None
          and '..' not in text)


def _shown(text: object) -> str:
  """The refused id for an error message: quoted with its control
  characters escaped (``repr``), and cut short when very long."""
  if isinstance(text, str) and len(text) > _SHOWN_CHARACTERS:
    return repr(text[:_SHOWN_CHARACTERS]) + f'... ({len(text)} characters)'
  return repr(text)


def check_scan_id(text: object) -> str:
  """``text`` when it is a valid scan id, else ``InvalidScanId`` (a
  ``ValueError``) naming the rule.  For ids passed programmatically or read
  back from data."""
  if not is_valid_scan_id(text):
    raise InvalidScanId(f'invalid scan id {_shown(text)}: {SCAN_ID_RULE}')
  return text


def scan_id_arg(text: str) -> str:
  """``argparse`` type of ``--scan-id``: the same rule, as a usage error."""
  try:
    return check_scan_id(text)
  except InvalidScanId as exc:
    raise argparse.ArgumentTypeError(str(exc)) from exc


def new_scan_id(now: datetime.datetime) -> str:
  """A sortable, unique scan id such as ``20261201T031500Z-3f9a1c``."""
  return check_scan_id(now.strftime('%Y%m%dT%H%M%SZ') + '-' +
                       secrets.token_hex(3))
