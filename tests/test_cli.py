"""The ``rescan`` command as a user runs it, in a subprocess."""
import ast
import os
import pathlib
import re
import subprocess
import sys
from typing import Set

import duckdb
import pytest

from model import demo_archive
from model.demo_archive import FoundClip
from model.demo_dataset import MUZZLE_FLASH
from model.demo_dataset import WEAPON
from model.synthetic_video import PlantedEvent
from pipeline.cli import main as cli_main
from tests.conftest import BROKEN_KINDS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _rescan(*args, cwd=ROOT):
  env = dict(os.environ, PYTHONPATH=ROOT)
  return subprocess.run([sys.executable, '-m', 'pipeline.cli', *args],
                        cwd=cwd, env=env, capture_output=True, text=True,
                        timeout=600, check=False)


def _command_modules() -> Set[str]:
  """The commands on disk: every ``pipeline/cli/<name>.py`` that defines
  ``main``, but the dispatcher itself."""
  found = set()
  for path in pathlib.Path(ROOT, 'pipeline', 'cli').glob('*.py'):
    tree = ast.parse(path.read_text(encoding='utf-8'))
    if path.stem not in ('main', '__main__') and any(
        isinstance(node, ast.FunctionDef) and node.name == 'main'
        for node in tree.body):
      found.add(path.stem)
  return found


def test_help_lists_every_command_once_and_nothing_else():
  """Every command the dispatcher runs, and every command module on disk,
  has exactly one line of its own in ``rescan --help``, and no other name
  has one."""
  assert set(cli_main.COMMANDS) == _command_modules()
  assert cli_main.COMMANDS == {name: f'pipeline.cli.{name}'
                               for name in cli_main.COMMANDS}
  result = _rescan('--help')
  assert result.returncode == 0
  listed = re.findall(r'^  (\S+)\s', result.stdout, re.MULTILINE)
  assert sorted(listed) == sorted(cli_main.COMMANDS)


@pytest.mark.parametrize('command', sorted(cli_main.COMMANDS))
def test_every_command_prints_its_help(command):
  result = _rescan(command, '--help')
  assert result.returncode == 0, result.stderr[-3000:]
  assert re.match(rf'usage: rescan {command}\b', result.stdout), result.stdout


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


def test_demo_check_matches_planted_intervals_within_the_tolerance():
  uri, other = '/d/archive/a.mp4', '/d/archive/b.mp4'
  planted = ((uri, PlantedEvent(WEAPON, 17.0, 24.0)),
             (uri, PlantedEvent(MUZZLE_FLASH, 18.0, 18.3)),
             (other, PlantedEvent(WEAPON, 2.0, 6.0)))
  clips = (FoundClip(uri, WEAPON, 17_800, 24_600),         # 0.8 s off: found
           FoundClip(uri, MUZZLE_FLASH, 19_400, 19_600),   # 1.4 s off: false
           FoundClip(other, WEAPON, 2_000, 4_000),         # split in two:
           FoundClip(other, WEAPON, 4_400, 6_000),         # both false
           FoundClip('/d/archive/c.mp4', WEAPON, 2_000, 6_000))  # clean video
  check = demo_archive.check_clips(planted, clips, tolerance_s=1.0)
  assert [m.clip for m in check.matches] == [clips[0], None, None]
  assert check.false_clips == clips[1:]
  assert check.found(WEAPON) == (1, 2) and check.found(MUZZLE_FLASH) == (0, 1)
  text = demo_archive.format_check(check, '/d')
  assert 'demo check: found weapon 1/2, muzzle_flash 0/1; 4 false clips' in text
  assert text.count('missed') == 2 and text.count('false   ') == 4


@pytest.mark.slow
def test_demo_scans_the_sample_archive_and_prints_a_summary(tmp_path):
  """Every planted interval comes back as one clip of its label, from the
  Parquet the scan wrote, and nothing else is flagged."""
  workdir = tmp_path / 'demo'
  result = _rescan('demo', '--workdir', str(workdir))
  assert result.returncode == 0, result.stderr[-3000:]
  out = result.stdout
  scanned = len(demo_archive.DEMO_VIDEOS) + 1  # + the manifest's re-upload
  failed = len(BROKEN_KINDS) + 1               # + the deleted upload
  assert (f'{scanned + failed} videos, {scanned} scanned, {failed} failed, '
          ) in out, out
  assert 'not_found' in out and 'empty_file' in out
  assert 'hive_partitioning=true' in out
  assert 'not a real harmful-content detector' in out
  assert f'--model {demo_archive.MODEL_DIR} ' in out
  results = workdir / 'results'
  ledger = duckdb.sql(
      f"SELECT count(*), count(DISTINCT model_name) FROM read_parquet("
      f"'{results}/videos/*/*.parquet', hive_partitioning=true)").fetchall()
  assert ledger == [(scanned + failed, 1)]
  rows = duckdb.sql(
      f"SELECT video_uri, label, start_ms, end_ms, model_name FROM "
      f"read_parquet('{results}/flagged_clips/*/*.parquet', "
      "hive_partitioning=true) WHERE modality = 'visual'").fetchall()
  assert {row[4] for row in rows} == {'demo-first-person-weapon'}
  planted = demo_archive.planted_events(str(workdir))
  # Both labels, an interval across a segment boundary, clean videos.
  assert {event.label for _, event in planted} == {WEAPON, MUZZLE_FLASH}
  assert any(e.start_s < demo_archive.SEGMENT_SECONDS < e.end_s
             for _, e in planted if e.label == WEAPON)
  armed = {path for path, _ in planted}
  assert len(armed) == 4 and scanned - len(armed) == 2
  check = demo_archive.check_clips(
      planted, [FoundClip(*row[:4]) for row in rows])
  report = demo_archive.format_check(check, str(workdir))
  assert all(m.clip is not None for m in check.matches), report
  assert not check.false_clips, report
  assert len(rows) == len(planted)
  weapons = sum(e.label == WEAPON for _, e in planted)
  assert (f'demo check: found weapon {weapons}/{weapons}, muzzle_flash '
          f'{len(planted) - weapons}/{len(planted) - weapons}; 0 false clips'
          ) in out, out
  # The soundtracks: every planted gunfire interval heard by the demo
  # audio model, as audio clips in the same Parquet, and nothing else.
  assert f'--audio-model {demo_archive.AUDIO_MODEL_DIR} ' in out, out
  gunfire = demo_archive.planted_gunfire(str(workdir))
  heard = duckdb.sql(
      f"SELECT video_uri, label, start_ms, end_ms FROM "
      f"read_parquet('{results}/flagged_clips/*/*.parquet', "
      "hive_partitioning=true) WHERE modality = 'audio'").fetchall()
  audio_check = demo_archive.check_audio_clips(
      gunfire, [FoundClip(*row) for row in heard])
  assert audio_check.counts == (len(gunfire), 0, 0), audio_check
  assert (f'audio check: found gunfire {len(gunfire)}/{len(gunfire)}; '
          '0 false clips') in out, out


def test_command_exit_flushes_output_and_keeps_the_status():
  """Commands end with ``process_exit.exit_now`` (skipping native
  teardown): buffered output must still arrive, and the status survive."""
  script = ('import sys; from pipeline.runtime.process_exit import exit_now; '
            'print("to stdout", end=""); print("to stderr", file=sys.stderr, '
            'end=""); exit_now(3)')
  result = subprocess.run([sys.executable, '-c', script], cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=ROOT),
                          capture_output=True, text=True, timeout=60,
                          check=False)
  assert (result.returncode, result.stdout, result.stderr) == (
      3, 'to stdout', 'to stderr')
