"""Issue #16 item 1: a scan in waves keeps its committed waves when it is
killed; readers see committed waves only, never a temporary or an
uncommitted file, and every input exactly once; ``--skip-scanned`` re-decodes
only what was not committed; later scans clean what killed ones left.

Real parts: videos encoded here, the marker model, scans run by the real
``rescan scan`` process (killed with SIGKILL, the whole process group), and
the outputs read back by the readers (DuckDB over Arrow).
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from typing import Callable, Dict, List

import pytest

from model.synthetic_video import PlantedEvent
from model.synthetic_video import write_video
from pipeline.cli import main as cli
from pipeline.cli import review
from pipeline.hashes import banks
from pipeline.review import query
from pipeline.scan import identities
from pipeline.scan import transforms
from pipeline.storage import claims
from pipeline.storage import files as storage
from pipeline.storage import scan_state
from pipeline.storage.parquet import read_partition
from tests import faults
from tests.conftest import dead_pid
from tests.conftest import run_scan

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WAVES = 3
PER_WAVE = 2
KILL_TIMEOUT_S = 180
DATASETS = ('videos', 'flagged_clips', 'frame_hashes', 'frame_scores')


@pytest.fixture(scope='module')
def archive(tmp_path_factory) -> Dict[str, int]:
  """``PER_WAVE`` short videos per wave (path -> wave); every other one
  has a planted red marker."""
  folder = str(tmp_path_factory.mktemp('waves') / 'archive')
  os.makedirs(folder)
  chosen: Dict[str, int] = {}
  index = 0
  while len(chosen) < WAVES * PER_WAVE:
    path = os.path.join(folder, f'v{index:03d}.mp4')
    wave = identities.wave_of(storage.canonical_uri(path), WAVES)
    if sum(w == wave for w in chosen.values()) < PER_WAVE:
      events = (PlantedEvent('red_marker', 1.0, 2.0),) if index % 2 else ()
      write_video(path, 4.0, 'h264', fps=10.0, size=(160, 120),
                  events=events, seed=index)
      chosen[storage.canonical_uri(path)] = wave
    index += 1
  return chosen


def _folder(archive: Dict[str, int]) -> str:
  return os.path.dirname(next(iter(archive)))


def _scan_argv(root, archive, model, scan_id, *extra) -> List[str]:
  return ['scan', '--input', os.path.join(_folder(archive), '*'),
          '--output', root, '--model', model, '--scan-id', scan_id,
          '--segment-seconds', '5', '--waves', str(WAVES), *extra]


def _partition(root: str, dataset: str, scan_id: str = 'killed') -> str:
  return os.path.join(root, dataset, f'scan={scan_id}')


def _files(root: str, scan_id: str) -> List[str]:
  found = []
  for dataset in DATASETS:
    folder = os.path.join(root, dataset, f'scan={scan_id}')
    for dirpath, _, names in os.walk(folder):
      found += [os.path.join(dirpath, n) for n in names]
  return found


def _state(root: str, scan_id: str):
  try:
    return scan_state.read_state(root, scan_id)
  except claims.ClaimError:
    return None  # caught between a write and its rename: never, but poll on


def _kill_when(root: str, argv: List[str], ready: Callable[[], bool],
               fault: str = '') -> None:
  """Starts ``rescan scan`` as its own process group and kills the whole
  group with SIGKILL as soon as ``ready()`` holds."""
  env = dict(os.environ, PYTHONPATH=ROOT)
  env[faults.ENV] = fault
  process = subprocess.Popen(  # pylint: disable=consider-using-with
      [sys.executable, '-m', 'tests.fault_scan', *argv], env=env, cwd=ROOT,
      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
      start_new_session=True)
  deadline = time.monotonic() + KILL_TIMEOUT_S
  try:
    while not ready():
      if process.poll() is not None:
        raise AssertionError('the scan ended before it could be killed: '
                             + process.stderr.read().decode()[-2000:])
      if time.monotonic() > deadline:
        raise AssertionError('the kill point never came')
      time.sleep(0.005)
  finally:
    if process.poll() is None:
      os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    process.stderr.close()
  del root


def _committed(root: str, scan_id: str, waves: List[int]) -> Callable[[],
                                                                       bool]:
  def ready() -> bool:
    state = _state(root, scan_id)
    return state is not None and list(state.committed) == waves
  return ready


KILL_POINTS = {
    # The claim and its state exist, no job has written anything.
    'before_any_output': lambda root, archive: (
        lambda: _state(root, 'killed') is not None
        and not _files(root, 'killed'), ''),
    # The first file of the first wave (a temporary shard, or the first
    # renamed one) has just appeared.
    'first_files': lambda root, archive: (
        lambda: bool(_files(root, 'killed')), ''),
    # Wave 0 committed; wave 1 hangs on one of its videos.
    'middle_wave': lambda root, archive: (
        _committed(root, 'killed', [0]),
        'hang:' + os.path.basename(
            sorted(u for u, w in archive.items() if w == 1)[0])),
    # Waves 0 and 1 committed a moment ago.
    'just_after_commit': lambda root, archive: (
        _committed(root, 'killed', [0, 1]), ''),
}


@pytest.mark.slow
@pytest.mark.parametrize('point', sorted(KILL_POINTS))
def test_a_killed_scan_keeps_its_committed_waves_and_resumes_exactly_once(
    point, archive, marker_model_dir, tmp_path):
  root = str(tmp_path / 'out')
  ready, fault = KILL_POINTS[point](root, archive)
  if point == 'middle_wave':
    ready_committed = ready
    ready = lambda: ready_committed() and time.sleep(2) is None  # pylint: disable=unnecessary-lambda-assignment
  _kill_when(root, _scan_argv(root, archive, marker_model_dir, 'killed'),
             ready, fault)

  state = scan_state.read_state(root, 'killed')
  assert state.state == scan_state.RUNNING  # a kill -9 leaves "running"
  assert state.describe().startswith('running or killed, ')
  committed = {u for u, w in archive.items() if w in state.committed}
  if point == 'before_any_output':
    assert not committed and not _files(root, 'killed')
  if point in ('middle_wave',):
    assert state.committed == (0,)
  # Readers see exactly the committed waves' videos of the killed scan.
  kept = read_partition(root, 'videos', 'killed').to_pylist()
  assert sorted(r['video_uri'] for r in kept) == sorted(committed)
  assert all(r['status'] == 'scanned' for r in kept)

  resumed = run_scan(root, [os.path.join(_folder(archive), '*')],
                     marker_model_dir, 'resumed', '--skip-scanned',
                     '--waves', str(WAVES))
  status = {r['video_uri']: r['status'] for r in resumed.videos.to_pylist()}
  assert sorted(status) == sorted(archive)  # every input, once
  assert {u for u, s in status.items() if s == 'skipped'} == committed
  assert {u for u, s in status.items() if s == 'scanned'} == (
      set(archive) - committed)
  assert scan_state.read_state(root, 'resumed').state == scan_state.COMPLETE
  # The resumed run cleaned what the killed one left: no temporary
  # folder, no file of an uncommitted wave; the committed files stay.
  left = _files(root, 'killed')
  assert not [p for p in left if scan_state.TEMP_FOLDER_PREFIX in p]
  assert not [n for d in DATASETS if os.path.isdir(_partition(root, d))
              for n in os.listdir(_partition(root, d))
              if n.startswith(scan_state.TEMP_FOLDER_PREFIX)]
  assert all(scan_state.is_committed_file(os.path.basename(p), state)
             for p in left)
  _assert_readers_see_each_input_once(root, archive, committed)


def _assert_readers_see_each_input_once(root, archive, committed) -> None:
  data = query.load_review_data(root)
  con = query.connect(data)
  rows = con.sql('SELECT video_uri, scan_id, status, count(*) OVER '
                 '(PARTITION BY video_uri) AS n FROM videos').fetchall()
  assert sorted(r[0] for r in rows) == sorted(archive)
  assert {r[3] for r in rows} == {1}
  assert all(r[2] == 'scanned' for r in rows)
  answer = {r[0]: r[1] for r in rows}
  assert {u for u, s in answer.items() if s == 'killed'} == committed
  # Flagged clips: one per planted event, each from its answering scan.
  clips = con.sql('SELECT video_uri, count(*) FROM flagged_clips '
                  'GROUP BY video_uri').fetchall()
  assert all(n == 1 for _, n in clips)
  # Frame hashes: each video's hashes from one scan only.
  hashes = banks.read_frame_hashes(root)
  scans_per_video = con.sql(
      'SELECT video_uri, count(DISTINCT scan_id) FROM hashes GROUP BY 1'
  ).fetchall()
  del hashes
  assert sorted(u for u, _ in scans_per_video) == sorted(archive)
  assert all(n == 1 for _, n in scans_per_video)


@pytest.fixture(scope='module')
def waved_root(archive, marker_model_dir, tmp_path_factory) -> str:
  """One whole scan in three waves, run in this process."""
  root = str(tmp_path_factory.mktemp('waved') / 'out')
  run_scan(root, [os.path.join(_folder(archive), '*')], marker_model_dir,
           'w', '--waves', str(WAVES))
  return root


def _copy(waved_root: str, tmp_path) -> str:
  root = str(tmp_path / 'out')
  shutil.copytree(waved_root, root)
  return root


def _plant_leftovers(root: str) -> None:
  """What a killed run of wave 1 leaves: a temporary folder holding a
  shard, and a final file of that wave renamed before the kill (copies of
  committed files, so read they would double rows)."""
  for dataset in DATASETS:
    folder = os.path.join(root, dataset, 'scan=w')
    wave1 = sorted(n for n in os.listdir(folder) if n.startswith('wave-00001'))
    temp = os.path.join(folder, 'beam-temp-wave-00001-of-00003-part-0123abc')
    os.makedirs(temp)
    shutil.copy(os.path.join(folder, wave1[0]),
                os.path.join(temp, 'e1f2.parquet'))
    shutil.copy(os.path.join(folder, wave1[0]), os.path.join(
        folder, 'wave-00001-of-00003-part-00001-of-00002.parquet'))
    os.remove(os.path.join(folder, wave1[0]))


def _set_state(root: str, state: str, committed) -> None:
  old = scan_state.read_state(root, 'w')
  scan_state.write_state(root, old._replace(state=state,
                                            committed=tuple(committed)))


def _seen(root: str) -> List[str]:
  data = query.load_review_data(root)
  return sorted(r['video_uri'] for r in data.videos.to_pylist())


def test_a_complete_wave_scan_reads_back_every_input_once(archive,
                                                          waved_root):
  state = scan_state.read_state(waved_root, 'w')
  assert (state.state, state.committed, state.waves) == (
      scan_state.COMPLETE, (0, 1, 2), WAVES)
  assert _seen(waved_root) == sorted(archive)
  names = os.listdir(os.path.join(waved_root, 'videos', 'scan=w'))
  assert sorted(n[:19] for n in names) == [
      f'wave-{w:05d}-of-{WAVES:05d}' for w in range(WAVES)]


def test_readers_skip_temporary_folders_and_uncommitted_waves(
    archive, waved_root, tmp_path, capsys):
  root = _copy(waved_root, tmp_path)
  _plant_leftovers(root)
  _set_state(root, scan_state.RUNNING, (0, 2))
  expected = sorted(u for u, w in archive.items() if w != 1)
  assert _seen(root) == expected
  assert review.main(['stats', '--output', root, '--format', 'json']) == 0
  stats = json.loads(capsys.readouterr().out)
  assert stats['scan_states'] == [
      {'scan_id': 'w', 'state': 'running or killed, 2 of 3 waves committed'}]
  assert stats['totals'][0]['videos'] == len(expected)
  assert sorted(r['video_uri'] for r in read_partition(
      root, 'videos', 'w').to_pylist()) == expected
  assert sorted(set(banks.read_frame_hashes(root).column(
      'video_uri').to_pylist())) == expected
  ledgers = transforms.check_ledgers(root)
  assert len(ledgers) == 2 and all('wave-00001' not in p for p in ledgers)
  # Committed at last (as if its job had finished): the renamed file of
  # wave 1 is read, the temporary one never.
  _set_state(root, scan_state.COMPLETE, (0, 1, 2))
  assert _seen(root) == sorted(archive)


def test_a_partition_without_state_reads_as_a_complete_legacy_scan(
    archive, waved_root, tmp_path):
  root = _copy(waved_root, tmp_path)
  os.remove(scan_state.state_path(root, 'w'))
  folder = os.path.join(root, 'videos', 'scan=w')
  first = sorted(os.listdir(folder))[0]
  os.makedirs(os.path.join(folder, 'beam-temp-part-0123'))
  shutil.copy(os.path.join(folder, first),
              os.path.join(folder, 'beam-temp-part-0123', 'x.parquet'))
  assert scan_state.read_state(root, 'w') is None
  assert scan_state.describe(None) == scan_state.LEGACY
  assert _seen(root) == sorted(archive)


def _set_claim_pid(root: str, pid: int) -> None:
  path = claims.claim_path(root, 'w')
  record = json.loads(open(path, encoding='utf-8').read())  # pylint: disable=consider-using-with
  record['pid'] = pid
  os.chmod(path, 0o600)
  with open(path, 'w', encoding='utf-8') as f:
    f.write(json.dumps(record))


def test_clean_up_removes_only_what_a_dead_scan_left_uncommitted(
    archive, waved_root, tmp_path):
  root = _copy(waved_root, tmp_path)
  _plant_leftovers(root)
  _set_state(root, scan_state.RUNNING, (0, 2))
  committed = sorted(p for p in _files(root, 'w')
                     if scan_state.TEMP_FOLDER_PREFIX not in p
                     and 'part-00001-of-00002' not in p)
  # The claim's process runs (this one): the scan may be alive, nothing
  # is touched.
  _set_claim_pid(root, os.getpid())
  assert not scan_state.clean_orphans(root)
  assert len(_files(root, 'w')) == len(committed) + 2 * len(DATASETS)
  # Its launcher is gone: the temporary folders and wave 1's renamed
  # files go, every committed file stays.
  _set_claim_pid(root, dead_pid())
  removed = scan_state.clean_orphans(root)
  assert len(removed) == 2 * len(DATASETS)
  assert sorted(_files(root, 'w')) == committed
  assert not any(n.startswith(scan_state.TEMP_FOLDER_PREFIX)
                 for d in DATASETS
                 for n in os.listdir(os.path.join(root, d, 'scan=w')))
  assert _seen(root) == sorted(u for u, w in archive.items() if w != 1)


def test_scan_states_go_running_then_wave_by_wave_then_complete_or_failed(
    tmp_path):
  root = str(tmp_path / 'out')
  claims.claim_scan(root, 's1')
  state = scan_state.begin(root, 's1', 4)
  assert scan_state.read_state(root, 's1') == state
  assert state.describe() == 'running or killed, 0 of 4 waves committed'
  state = scan_state.commit_wave(root, state, 2)
  state = scan_state.commit_wave(root, state, 0)
  assert scan_state.read_state(root, 's1').committed == (0, 2)
  failed = scan_state.finish(root, state, scan_state.FAILED)
  assert scan_state.read_state(root, 's1').describe() == (
      'failed, 2 of 4 waves committed')
  done = scan_state.finish(root, failed, scan_state.COMPLETE)
  assert scan_state.read_state(root, 's1').describe() == 'complete'
  assert done.committed == (0, 2)
  with open(scan_state.state_path(root, 's1'), 'w', encoding='utf-8') as f:
    f.write('{"state": "done"}')
  with pytest.raises(claims.ClaimError, match='not a scan state record'):
    scan_state.read_state(root, 's1')


def test_file_names_of_waves():
  assert scan_state.wave_file_prefix(0, 1) == 'part'
  assert scan_state.wave_file_prefix(2, 4) == 'wave-00002-of-00004-part'
  state = scan_state.ScanState('s', scan_state.RUNNING, 4, (2,), '')
  assert scan_state.is_committed_file(
      'wave-00002-of-00004-part-00000-of-00003.parquet', state)
  for name in ('wave-00001-of-00004-part-00000-of-00003.parquet',
               'wave-00002-of-00005-part-00000-of-00003.parquet',
               'part-00000-of-00001.parquet', 'wave-00002-of-00004-part.x'):
    assert not scan_state.is_committed_file(name, state)
  one = scan_state.ScanState('s', scan_state.COMPLETE, 1, (0,), '')
  assert scan_state.is_committed_file('part-00000-of-00001.parquet', one)
  assert not scan_state.is_committed_file(
      'part-00000-of-00001.parquet', one._replace(committed=()))


def test_waves_split_by_a_stable_hash_of_the_file():
  uris = [f'gs://b/archive/{i}.mp4' for i in range(3000)]
  waves = [identities.wave_of(u, 3) for u in uris]
  assert waves == [identities.wave_of(u, 3) for u in uris]
  assert all(900 < waves.count(w) < 1100 for w in range(3))
  assert {identities.wave_of(u, 1) for u in uris} == {0}


@pytest.mark.parametrize('value', ['0', '-1', '1001', 'x', '2.5', 'inf'])
def test_bad_wave_counts_are_one_line_usage_errors(value, capsys, tmp_path):
  with pytest.raises(SystemExit) as exited:
    cli.main(['scan', '--input', 'x', '--output', str(tmp_path),
              '--model', 'm', '--waves', value])
  err = capsys.readouterr().err.strip()
  assert exited.value.code == 2 and '\n' not in err, err
  assert 'argument --waves' in err, err


def test_a_test_pipeline_runs_one_wave_only(tmp_path):
  """``run`` with a test pipeline cannot run K jobs: it refuses before
  any work (a caller builds one pipeline per wave itself)."""
  from apache_beam.testing.test_pipeline import TestPipeline  # pylint: disable=import-outside-toplevel
  from pipeline.scan import job  # pylint: disable=import-outside-toplevel
  with pytest.raises(ValueError, match='a test pipeline runs one wave'):
    job.run(['--input', 'x', '--output', str(tmp_path / 'out'), '--model',
             'm', '--waves', '2'], test_pipeline=TestPipeline())
  assert not os.path.exists(tmp_path / 'out')


def _bank_of_one_video(root: str, folder: str) -> str:
  """A bank made of the stored hashes of one video of scan ``w``."""
  video_id = sorted(set(banks.read_frame_hashes(root).column(
      'video_id').to_pylist()))[0]
  bank = os.path.join(folder, 'bank')
  assert cli.main(['bank', 'import', '--bank', bank, '--id', 'known',
                   '--label', 'known', '--frame-hashes', root,
                   '--video-id', video_id]) == 0
  return bank


# What each command writes, and its argv (the run's id appended).
RECORDED_RUNS = {
    'match': ('hash_matches', lambda root, bank: [
        'match', '--hashes', root, '--bank', bank, '--output', root,
        '--quality-threshold', '0']),  # the synthetic frames' PDQ quality is low
    'rethreshold': ('flagged_clips', lambda root, bank: [
        'rethreshold', '--output', root, '--scan', 'w', '--threshold',
        '0.3']),
}


@pytest.mark.slow
@pytest.mark.parametrize('point', ['first_files', 'written_not_committed'])
@pytest.mark.parametrize('command', sorted(RECORDED_RUNS))
def test_a_killed_match_or_rethreshold_run_is_read_by_no_reader(
    command, point, waved_root, tmp_path):
  """``rescan match`` and ``rescan rethreshold`` record a state like a
  scan's: killed with SIGKILL as their first file appears, or with every
  file written but the run not yet recorded as committed, they stay
  ``running`` and no reader reads their partition; a run to the end is
  ``complete`` and read; the next scan cleans what the killed one left."""
  root = _copy(waved_root, tmp_path)
  dataset, argv = RECORDED_RUNS[command]
  bank = _bank_of_one_video(root, str(tmp_path))
  argv = argv(root, bank)
  killed = _partition(root, dataset)

  def written() -> List[str]:
    return [n for n in (os.listdir(killed) if os.path.isdir(killed) else ())
            if n.endswith('.parquet')]

  ready = ((lambda: os.path.isdir(killed) and bool(os.listdir(killed)))
           if point == 'first_files' else
           lambda: bool(written()) and not [
               n for n in os.listdir(killed)
               if n.startswith(scan_state.TEMP_FOLDER_PREFIX)])
  _kill_when(root, argv + ['--scan-id', 'killed'], ready,
             'hang_commit:killed')
  assert scan_state.read_state(root, 'killed').state == scan_state.RUNNING
  if point == 'written_not_committed':
    assert written()  # its final files are there, unread
  assert scan_state.committed_paths(root, dataset, 'killed') == []
  # Every committed row (not only each video's answer).
  data = query.load_all_review_data(root)
  table = data.hash_matches if command == 'match' else data.clips
  assert 'killed' not in set(table.column('scan_id').to_pylist())

  assert cli.main(argv + ['--scan-id', 'again']) == 0
  assert scan_state.read_state(root, 'again').state == scan_state.COMPLETE
  data = query.load_all_review_data(root)
  table = data.hash_matches if command == 'match' else data.clips
  scan_ids = set(table.column('scan_id').to_pylist())
  assert 'again' in scan_ids and 'killed' not in scan_ids
  # Its files are orphans now (its claim's process is dead): cleaned.
  left = [os.path.join(killed, n) for n in os.listdir(killed)]
  assert left and set(left) <= set(scan_state.orphans(root))
