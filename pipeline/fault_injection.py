"""Deliberate faults for the reliability tests; inert unless configured.

``RESCAN_FAULTS`` holds comma-separated ``KIND:MATCH`` pairs.  A fault fires
for inputs whose URI contains ``MATCH``:

* ``hang``: decoding the segment sleeps far past any timeout;
* ``crash``: the decoding process dies at once (``os._exit``), as a
  segfaulting decoder would;
* ``retry_decode`` / ``retry_inference``: the first attempt to decode a
  segment of the input, or to score a batch holding one of its samples,
  fails as a lost worker would, so the runner retries the bundle.  The "first attempt" is
  remembered in ``RESCAN_FAULT_STATE_DIR`` so it holds across processes.

Production never sets these variables.
"""
from __future__ import annotations

import hashlib
import os
import time
from typing import List, Tuple

ENV = 'RESCAN_FAULTS'
STATE_ENV = 'RESCAN_FAULT_STATE_DIR'
HANG_SECONDS = 3600


class InjectedWorkerLoss(Exception):
  """Raised by ``retry_*`` faults, like a lost worker.  It is not one of
  ``media_errors.DEAD_LETTER_EXCEPTIONS``, so dead-letter handling lets it
  through and the runner retries the bundle."""


def _faults() -> List[Tuple[str, str]]:
  spec = os.environ.get(ENV, '')
  pairs = []
  for item in filter(None, (part.strip() for part in spec.split(','))):
    kind, _, match = item.partition(':')
    pairs.append((kind, match))
  return pairs


def _first_time(kind: str, key: str) -> bool:
  state = os.environ.get(STATE_ENV)
  if not state:
    return True
  digest = hashlib.sha256(f'{kind}\x1f{key}'.encode('utf-8')).hexdigest()
  try:
    fd = os.open(os.path.join(state, digest), os.O_CREAT | os.O_EXCL)
  except FileExistsError:
    return False
  os.close(fd)
  return True


def before_decode(uri: str) -> None:
  for kind, match in _faults():
    if match not in uri:
      continue
    if kind == 'hang':
      time.sleep(HANG_SECONDS)
    elif kind == 'crash':
      os._exit(139)  # pylint: disable=protected-access
    elif kind == 'retry_decode' and _first_time(kind, uri):
      raise InjectedWorkerLoss(f'injected worker loss decoding {uri}')


def before_inference(video_ids: List[str]) -> None:
  for kind, match in _faults():
    if kind != 'retry_inference':
      continue
    hit = sorted(v for v in video_ids if match in v)
    if hit and _first_time(kind, hit[0]):
      raise InjectedWorkerLoss(f'injected worker loss scoring {hit[0]}')
