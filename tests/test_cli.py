"""The ``rescan`` command as a user runs it, in a subprocess."""
import os
import subprocess
import sys

import duckdb
import pytest

from model import demo_archive
from tests.conftest import BROKEN_KINDS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _rescan(*args, cwd=ROOT):
  env = dict(os.environ, PYTHONPATH=ROOT)
  return subprocess.run([sys.executable, '-m', 'pipeline.cli', *args],
                        cwd=cwd, env=env, capture_output=True, text=True,
                        timeout=600, check=False)


def test_help_lists_the_commands():
  result = _rescan('--help')
  assert result.returncode == 0
  for command in ('scan', 'demo', 'review', 'extract', 'report', 'bank',
                  'match', 'train', 'evaluate'):
    assert command in result.stdout


def test_scan_with_a_model_that_breaks_the_contract_fails_clearly(tmp_path):
  (tmp_path / 'model').mkdir()
  result = _rescan('scan', '--input', str(tmp_path / '*.mp4'), '--output',
                   str(tmp_path / 'out'), '--model', str(tmp_path / 'model'))
  assert result.returncode == 2
  assert 'rescan_model.json is missing' in result.stderr
  assert not (tmp_path / 'out').exists()


def test_module_entry_point_takes_the_same_flags():
  env = dict(os.environ, PYTHONPATH=ROOT)
  result = subprocess.run([sys.executable, '-m', 'pipeline.run', '--help'],
                          cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
  assert result.returncode == 0
  assert '--segment-seconds' in result.stdout and '--input' in result.stdout


@pytest.mark.slow
def test_demo_scans_the_sample_archive_and_prints_a_summary(tmp_path):
  result = _rescan('demo', '--workdir', str(tmp_path / 'demo'))
  assert result.returncode == 0, result.stderr[-3000:]
  out = result.stdout
  scanned = len(demo_archive.DEMO_VIDEOS) + 1  # + the manifest's re-upload
  failed = len(BROKEN_KINDS) + 1               # + the deleted upload
  planted = sum(len(v[3]) for v in demo_archive.DEMO_VIDEOS +
                (demo_archive.MANIFEST_VIDEO,))
  assert (f'{scanned + failed} videos, {scanned} scanned, {failed} failed, '
          f'{planted} flagged clips') in out, out
  assert 'not_found' in out and 'empty_file' in out
  assert "hive_partitioning=true" in out
  rows = duckdb.sql(
      f"SELECT count(*) FROM read_parquet('{tmp_path}/demo/results/videos/"
      "*/*.parquet', hive_partitioning=true)").fetchall()[0]
  assert rows == (scanned + failed,)
