"""Mutation fuzzing of real videos through a whole scan.

Hypothesis draws one derandomized seed (no example database) for a
``random.Random`` that draws every file's mutation plan, so CI runs the same
files every time.  A longer run:
``RESCAN_FUZZ_FILES=2000 pytest tests/test_fuzz_media.py``.
"""
import os
import random

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from model.synthetic_video import PlantedEvent
from model.synthetic_video import write_video
from pipeline.media import errors as media_errors
from tests.conftest import FPS
from tests.conftest import run_scan

pytestmark = pytest.mark.slow
FILES = int(os.environ.get('RESCAN_FUZZ_FILES', '200'))
SEEDS = (('h264', '.mp4'), ('vp9', '.webm'), ('hevc', '.mkv'),
         ('mpeg4', '.avi'), ('av1', '.mp4'))
KNOWN_KINDS = {
    getattr(media_errors, name) for name in dir(media_errors)
    if name.isupper() and isinstance(getattr(media_errors, name), str)
} - {media_errors.INTERNAL_ERROR}

MUTATIONS = ('flip', 'truncate', 'zero', 'duplicate', 'header', 'splice')


def _plan(rng):
  """One to four mutations: (kind, where, extent, count)."""
  return [(rng.choice(MUTATIONS), rng.random(), rng.random(),
           rng.randint(1, 64)) for _ in range(rng.randint(1, 4))]


def _mutate(data: bytes, plan) -> bytes:
  out = bytearray(data)
  for kind, where, extent, count in plan:
    at = int(where * (len(out) - 1))
    span = max(int(extent * len(out) * 0.1), 1)
    if kind == 'flip':
      for i in range(count):
        position = (at + i * 997) % len(out)
        out[position] ^= 1 << (i % 8)
    elif kind == 'truncate':
      out = out[:max(at, 1)]
    elif kind == 'zero':
      out[at:at + span] = bytes(len(out[at:at + span]))
    elif kind == 'duplicate':
      out[at:at] = out[at:at + span]
    elif kind == 'header':
      position = min(at, 1023) % len(out)
      out[position] = (out[position] + count) % 256
    elif kind == 'splice':
      other = (at * 7 + span) % len(out)
      out[at:at + span], out[other:other + span] = (
          out[other:other + span], out[at:at + span])
  return bytes(out)


@settings(max_examples=1, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**32 - 1))
def test_every_mutated_video_is_accounted_for_within_limits(
    seed, tmp_path_factory, marker_model_dir):
  rng = random.Random(seed)
  plans = [_plan(rng) for _ in range(FILES)]
  root = tmp_path_factory.mktemp('fuzz')
  seeds = []
  for index, (codec, extension) in enumerate(SEEDS):
    path = write_video(str(root / f'seed_{codec}{extension}'), 4.0, codec,
                       size=(96, 72), seed=index,
                       events=(PlantedEvent('red_marker', 1.0, 2.0),))
    with open(path, 'rb') as f:
      seeds.append((extension, f.read()))
    os.remove(path)
  corpus = root / 'mutants'
  corpus.mkdir()
  for index, plan in enumerate(plans):
    extension, data = seeds[index % len(seeds)]
    (corpus / f'mutant_{index:04d}{extension}').write_bytes(_mutate(data,
                                                                    plan))
  scan = run_scan(str(root / 'out'), [str(corpus / '*')], marker_model_dir,
                  'fuzz', '--segment-seconds', '2',
                  '--segment-timeout-seconds', '60',
                  '--max-frames-per-segment', '2000')
  rows = scan.videos.to_pylist()
  assert len(rows) == FILES
  assert len({r['video_uri'] for r in rows}) == FILES
  for row in rows:
    assert row['status'] in ('scanned', 'partial', 'failed'), row
    if row['error_kind'] is not None:
      assert row['error_kind'] in KNOWN_KINDS, row
    if row['status'] in ('scanned', 'partial'):
      assert row['frames_scored'] <= row['duration_ms'] * FPS / 1000 + 1, row
  statuses = [r['status'] for r in rows]
  print(f'fuzz: {FILES} files, {statuses.count("scanned")} scanned, '
        f'{statuses.count("failed")} failed')
