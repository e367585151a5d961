"""Deliberate faults for the reliability tests, patched in at test time:
nothing in ``pipeline/`` knows about them.

A fault spec holds comma-separated ``KIND:MATCH`` pairs (``RESCAN_FAULTS``
for a scan started with ``python -m tests.fault_scan``).  A fault fires for
inputs whose URI (video id, for ``retry_inference``) contains ``MATCH``:

* ``hang``: decoding the segment sleeps far past any timeout;
* ``stuck``: decoding the segment sleeps with ``SIGALRM`` blocked, as a
  decoder stuck inside FFmpeg that never returns to Python would;
* ``slow=SECONDS``: decoding the segment sleeps SECONDS after each sample
  it yields, as a slow decoder would (inside the segment's time limit,
  outside the decoder's own check between frames);
* ``hang_commit``: recording a wave of a run whose id contains ``MATCH``
  as committed (``scan_state.commit_wave``) sleeps far past any timeout:
  the run's files are written, its state still says ``running``;
* ``crash``: the decoding process dies at once (``os._exit``), as a
  segfaulting decoder would;
* ``retry_decode`` / ``retry_inference``: the first attempt to decode a
  segment of the input, or to score a batch holding one of its samples,
  fails as a lost worker would, so the runner retries the bundle.  The
  "first attempt" is remembered in a state directory
  (``RESCAN_FAULT_STATE_DIR``), so that it holds across processes.

Decode faults wrap ``pipeline.scan.decoding.decode_segment``, which
``DecodeSegmentFn`` calls first, so they fire where decoding runs: in the
watched child process with ``--decode-isolation=subprocess`` (forked, so it
inherits the patch).  Inference faults wrap Beam's
``KeyedModelHandler.run_inference``.
"""
from __future__ import annotations

import hashlib
import os
import signal
import time
from typing import List, Optional, Sequence, Tuple

import pytest
from apache_beam.ml.inference.base import KeyedModelHandler

from pipeline.scan import decoding
from pipeline.storage import scan_state

ENV = 'RESCAN_FAULTS'
STATE_ENV = 'RESCAN_FAULT_STATE_DIR'
HANG_SECONDS = 3600
KINDS = ('hang', 'stuck', 'slow', 'hang_commit', 'crash', 'retry_decode',
         'retry_inference')

Fault = Tuple[str, str]


class InjectedWorkerLoss(Exception):
  """Raised by ``retry_*`` faults, like a lost worker.  It is not one of
  ``media_errors.DEAD_LETTER_EXCEPTIONS``, so dead-letter handling lets it
  through and the runner retries the bundle."""


def parse(spec: str) -> List[Fault]:
  """``'hang:a.mkv,crash:b.avi,slow=0.5:c.mp4'`` ->
  ``[('hang', 'a.mkv'), ('crash', 'b.avi'), ('slow=0.5', 'c.mp4')]``."""
  faults = []
  for item in filter(None, (part.strip() for part in spec.split(','))):
    kind, _, match = item.partition(':')
    name, _, seconds = kind.partition('=')
    if name == 'slow':
      float(seconds)  # ValueError for 'slow' without its seconds
    if name not in KINDS:
      raise ValueError(f'unknown fault kind {kind!r} in {spec!r}')
    faults.append((kind, match))
  return faults


def _first_time(state_dir: Optional[str], kind: str, key: str) -> bool:
  """Whether ``kind`` fires for ``key`` for the first time (always, without
  a state directory)."""
  if not state_dir:
    return True
  digest = hashlib.sha256(f'{kind}\x1f{key}'.encode('utf-8')).hexdigest()
  try:
    fd = os.open(os.path.join(state_dir, digest), os.O_CREAT | os.O_EXCL)
  except FileExistsError:
    return False
  os.close(fd)
  return True


def before_decode(faults: Sequence[Fault], state_dir: Optional[str],
                  uri: str) -> None:
  for kind, match in faults:
    if match not in uri:
      continue
    if kind == 'hang':
      time.sleep(HANG_SECONDS)
    elif kind == 'stuck':
      signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
      time.sleep(HANG_SECONDS)
    elif kind == 'crash':
      os._exit(139)  # pylint: disable=protected-access
    elif kind == 'retry_decode' and _first_time(state_dir, kind, uri):
      raise InjectedWorkerLoss(f'injected worker loss decoding {uri}')


def slow_seconds(faults: Sequence[Fault], uri: str) -> float:
  """The seconds a ``slow=SECONDS`` fault adds after each sample of
  ``uri`` (0 without one)."""
  return sum(float(kind.partition('=')[2]) for kind, match in faults
             if kind.startswith('slow=') and match in uri)


def slowed(records, seconds: float):
  """``records`` (what ``decode_segment`` yields), each sample followed by
  a sleep of ``seconds``."""
  for record in records:
    yield record
    if isinstance(record, tuple) and not hasattr(record, '_fields'):
      time.sleep(seconds)


def before_inference(faults: Sequence[Fault], state_dir: Optional[str],
                     video_ids: Sequence[str]) -> None:
  for kind, match in faults:
    if kind != 'retry_inference':
      continue
    hit = sorted(v for v in video_ids if match in v)
    if hit and _first_time(state_dir, kind, hit[0]):
      raise InjectedWorkerLoss(f'injected worker loss scoring {hit[0]}')


def install(monkeypatch: pytest.MonkeyPatch, spec: str,
            state_dir: Optional[str] = None) -> None:
  """Patches the faults of ``spec`` in front of decoding and inference."""
  faults = parse(spec)
  decode_segment = decoding.decode_segment
  run_inference = KeyedModelHandler.run_inference
  commit_wave = scan_state.commit_wave

  def faulty_decode_segment(segment, *args, **kwargs):
    before_decode(faults, state_dir, segment.uri)
    records = decode_segment(segment, *args, **kwargs)
    delay = slow_seconds(faults, segment.uri)
    return slowed(records, delay) if delay else records

  def faulty_run_inference(self, batch, model, inference_args=None):
    before_inference(faults, state_dir, [key.video_id for key, _ in batch])
    return run_inference(self, batch, model, inference_args)

  def hanging_commit_wave(root, state, wave):
    if any(kind == 'hang_commit' and match in state.scan_id
           for kind, match in faults):
      time.sleep(HANG_SECONDS)
    return commit_wave(root, state, wave)

  monkeypatch.setattr(decoding, 'decode_segment', faulty_decode_segment)
  monkeypatch.setattr(scan_state, 'commit_wave', hanging_commit_wave)
  monkeypatch.setattr(KeyedModelHandler, 'run_inference',
                      faulty_run_inference)


def install_from_environment() -> None:
  """``install`` with ``RESCAN_FAULTS`` and ``RESCAN_FAULT_STATE_DIR``, for
  the whole life of this process."""
  install(pytest.MonkeyPatch(), os.environ.get(ENV, ''),
          os.environ.get(STATE_ENV))
