"""Hostile manifests, secrets in messages, private outputs, and incremental
re-scans that account for every input exactly once."""
import os
import signal
import stat
import subprocess
import sys
import time

import pytest

from pipeline.media import errors as media_errors
from pipeline.storage import files as storage
from pipeline.storage.parquet import read_partition
from tests import faults
from tests.conftest import relative_name
from tests.conftest import run_scan

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_allowed_prefixes_are_enforced_before_anything_is_read(
    corpus, marker_model_dir, tmp_path):
  outside = tmp_path / 'outside'
  outside.mkdir()
  escape = tmp_path / 'escape.mp4'
  os.symlink('/etc/passwd', escape)
  video = sorted(corpus.videos)[0]
  manifest = tmp_path / 'hostile.csv'
  manifest.write_text(
      'uri\n'
      f'{video}\n'
      '/etc/passwd\n'
      f'{corpus.root}/../../../../etc/passwd\n'
      f'{escape}\n'
      'gs://someone-else/secret.mp4\n', encoding='utf-8')
  scan = run_scan(str(tmp_path / 'out'), [str(manifest)], marker_model_dir,
                  'prefixed', '--allowed-prefix', corpus.root)
  rows = {r['video_uri']: r for r in scan.videos.to_pylist()}
  assert rows[video]['status'] == 'scanned'
  forbidden = [r for r in rows.values() if r['video_uri'] != video]
  # /etc/passwd named as is and by a symlink is one file, recorded once
  # under its canonical name ('..' resolves to it too when deep enough).
  uris = [r['video_uri'] for r in forbidden]
  assert uris.count('/etc/passwd') == 1
  assert 'gs://someone-else/secret.mp4' in uris
  assert len(uris) in (2, 3) and str(escape) not in uris
  for row in forbidden:
    assert (row['status'], row['error_kind']) == ('failed', 'forbidden_uri')
    assert row['size_bytes'] is None  # never even looked up


def test_prefix_matching_is_by_path_segment():
  assert storage.is_allowed('/data/up/a.mp4', ['/data/up'])
  assert not storage.is_allowed('/data/upload/a.mp4', ['/data/up'])
  assert storage.is_allowed('gs://b/up/a.mp4', ['gs://b/up/'])
  assert not storage.is_allowed('gs://b/up/../secret/a.mp4', ['gs://b/up'])
  assert storage.is_allowed('anything', [])


def test_messages_never_carry_signed_url_credentials():
  exc = OSError('GET https://storage.googleapis.com/b/v.mp4?X-Goog-Signature='
                'deadbeef&X-Goog-Credential=svc%40p failed; token=abc123')
  message = media_errors.short_message(exc)
  assert 'deadbeef' not in message and 'abc123' not in message
  assert 'svc%40p' not in message
  assert 'https://storage.googleapis.com/b/v.mp4' in message


def test_local_outputs_are_private_to_their_owner(corpus, marker_model_dir,
                                                  tmp_path):
  scan = run_scan(str(tmp_path / 'out'), [sorted(corpus.videos)[0]],
                  marker_model_dir, 'private')
  written = [os.path.join(d, f) for d, _, files in os.walk(scan.root)
             for f in files]
  assert written
  for path in written:
    assert stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0, path


def test_skip_scanned_scans_only_what_is_new_or_changed(
    corpus, marker_model_dir, tmp_path):
  root = str(tmp_path / 'out')
  videos = sorted(corpus.videos)
  first = run_scan(root, videos[:4], marker_model_dir, 'part1')
  assert sum(r['status'] == 'scanned' for r in first.videos.to_pylist()) == 4
  changed = tmp_path / 'changed.mp4'
  changed.write_bytes(open(videos[5], 'rb').read())  # pylint: disable=consider-using-with
  again = run_scan(root, videos[:4], marker_model_dir, 'again')
  del again
  os.utime(videos[0], None)  # touched: a new version must be scanned again
  second = run_scan(root, videos, marker_model_dir, 'part2', '--skip-scanned')
  status = {r['video_uri']: r['status'] for r in second.videos.to_pylist()}
  assert status[videos[0]] == 'scanned'
  assert all(status[v] == 'skipped' for v in videos[1:4])
  assert all(status[v] == 'scanned' for v in videos[4:])
  assert len(status) == len(videos)


@pytest.mark.slow
def test_a_killed_scan_resumes_with_every_input_scanned_exactly_once(
    corpus, marker_model_dir, tmp_path):
  root = str(tmp_path / 'out')
  videos = sorted(corpus.videos)
  run_scan(root, videos[:3], marker_model_dir, 'before')
  # The killed scan hangs on one video, so it is surely mid-job when killed.
  hung = os.path.basename(videos[-1])
  env = dict(os.environ, PYTHONPATH=ROOT)
  env[faults.ENV] = f'hang:{hung}'
  killed = subprocess.Popen(  # pylint: disable=consider-using-with
      [sys.executable, '-m', 'tests.fault_scan', 'scan', '--input',
       os.path.join(corpus.root, '*'), '--output', root, '--model',
       marker_model_dir, '--scan-id', 'killed', '--skip-scanned'],
      env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
      start_new_session=True)
  time.sleep(15)
  assert killed.poll() is None, 'the scan finished before it could be killed'
  os.killpg(killed.pid, signal.SIGKILL)
  killed.wait()
  resumed = run_scan(root, [os.path.join(corpus.root, '*')], marker_model_dir,
                     'resumed', '--skip-scanned')
  scanned = {}
  for scan_id in ('before', 'killed', 'resumed'):
    for row in read_partition(root, 'videos', scan_id).to_pylist():
      if row['status'] == 'scanned':
        scanned.setdefault(relative_name(row['video_uri']), []).append(scan_id)
  top_level = [v for v in videos if os.path.dirname(v) == corpus.root]
  assert sorted(scanned) == sorted(relative_name(v) for v in top_level)
  assert all(len(scans) == 1 for scans in scanned.values()), scanned
  assert resumed.videos.num_rows == len(top_level) + 0
