"""A decoder that hangs or crashes fails one video, never the job; Beam
retries of decode and inference bundles neither lose nor double rows."""
import os

import pytest

from pipeline.scan.inputs import stable_video_id
from tests import faults
from tests.conftest import golden_rows
from tests.conftest import relative_name
from tests.conftest import run_scan

pytestmark = pytest.mark.slow
HANG = 'hevc_clip.mkv'
CRASH = 'mpeg4_clip.avi'


def test_injected_hang_and_crash_fail_only_their_videos(
    corpus, marker_model_dir, golden_scan, tmp_path, monkeypatch):
  faults.install(monkeypatch, f'hang:{HANG},crash:{CRASH}')
  scan = run_scan(str(tmp_path), [os.path.join(corpus.root, '**')],
                  marker_model_dir, 'contained',
                  '--segment-timeout-seconds', '5')
  rows = {relative_name(r['video_uri']): r for r in scan.videos.to_pylist()}
  assert len(rows) == golden_scan.videos.num_rows
  assert (rows[HANG]['status'], rows[HANG]['error_kind']) == ('failed',
                                                              'timeout')
  assert (rows[CRASH]['status'], rows[CRASH]['error_kind']) == ('failed',
                                                                'crash')
  clips, ledger = golden_rows(scan)
  golden_clips, golden_ledger = golden_rows(golden_scan)
  untouched = lambda row: row[0] not in (HANG, CRASH)  # pylint: disable=unnecessary-lambda-assignment
  assert set(filter(untouched, ledger)) == set(filter(untouched,
                                                      golden_ledger))
  assert set(filter(untouched, clips)) == set(filter(untouched, golden_clips))


def test_retried_decode_and_inference_bundles_lose_and_double_nothing(
    corpus, marker_model_dir, golden_scan, tmp_path, monkeypatch):
  victim = next(p for p, v in corpus.videos.items() if v.events)
  state = tmp_path / 'fault-state'
  state.mkdir()
  faults.install(monkeypatch,
                 f'retry_decode:{os.path.basename(victim)},'
                 f'retry_inference:{stable_video_id(victim)}', str(state))
  scan = run_scan(str(tmp_path / 'out'), [os.path.join(corpus.root, '**')],
                  marker_model_dir, 'retried',
                  '--runner', 'BundleBasedDirectRunner')
  assert len(os.listdir(state)) == 2 + 0  # each fault fired once, then retried
  assert scan.videos.num_rows == golden_scan.videos.num_rows
  assert scan.clips.num_rows == golden_scan.clips.num_rows
  assert golden_rows(scan) == golden_rows(golden_scan)
