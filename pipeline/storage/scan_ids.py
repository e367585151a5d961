"""Scan ids: the name of each output partition a scan or match run writes."""
from __future__ import annotations

import argparse
import datetime
import secrets


def new_scan_id(now: datetime.datetime) -> str:
  """A sortable, unique scan id such as ``20261201T031500Z-3f9a1c``."""
  return now.strftime('%Y%m%dT%H%M%SZ') + '-' + secrets.token_hex(3)


def scan_id_arg(text: str) -> str:
  if not text or any(c in text for c in '/\\=') or text.startswith('.'):
    raise argparse.ArgumentTypeError(
        f'scan id must be a plain name without "/", "\\" or "=": {text!r}')
  return text
