"""No scan destroys another: every way two runs can meet in one output root.

Beam's file sink deletes, before it renames its shards into place, every
file matching its final-name glob (``FileBasedSink.pre_finalize``).  On the
landed code a second scan with the same ``--scan-id`` silently replaced the
first scan's clips, ledger and hashes, and ``--scan-id '*'`` deleted every
other scan under the root.  Covered here:

- scan ids: one rule (``pipeline.storage.scan_ids``), hostile ids refused by
  every entry (argparse type, ``check_scan_id``, ``WriteDataset``,
  ``read_partition``, ``claim_scan``), generated ids obeying it;
- claims (``pipeline.storage.claims``): a second claim of one id refused,
  a root whose partitions exist without a claim refused, threads and
  processes racing for one id (exactly one wins, 20 rounds each), roots
  that are globs refused, and the same on GCS (emulator and GCS's own
  precondition semantics);
- the sink: writing one scan leaves every other partition byte-identical,
  whatever their names;
- end to end through ``pipeline.scan.job.run`` and ``rescan match``: a
  second run of one id refused before any work, the first one's files
  byte-identical after.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from typing import Callable, Dict, List, Tuple

import apache_beam as beam
import pytest
from google.api_core import exceptions as gapi

from model.synthetic_video import PlantedEvent
from model.synthetic_video import write_video
from pipeline.hashes import match_job
from pipeline.hashes.pdq import FrameHash
from pipeline.runtime import runners
from pipeline.scan import job
from pipeline.scan.options import parse_scan_args
from pipeline.storage import claims
from pipeline.storage import scan_ids
from pipeline.storage.parquet import WriteDataset
from pipeline.storage.parquet import read_partition
import schemas

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

HOSTILE_IDS = [
    '*', '**', '?', 'x?', '[ab]', 'a[b', 'a]', '{a,b}', 'a*b',
    '.', '..', '../x', 'a..b', '...', 'a/b', '/abs', 'a\\b', 'a=b', 'scan=a',
    '', ' ', 'a b', ' a', 'a ', 'tab\tid', 'new\nline', 'nul\x00', 'esc\x1b[0m',
    'é', 'négatif', '日本', 'a\u200bb', 'ａ',  # non-ASCII, zero width, fullwidth
    '-rf', '--scan-id', '.hidden', '_x', '~', '~x', 'a:b', "a'b", 'a"b',
    'a;b', 'a$b', 'a%2e', '%2e%2e', 'a,b', 'a|b', 'a#b', 'a&b', 'a@b',
    'x' * 65, 'x' * 200,
]
VALID_IDS = ['a', 'A', '0', 'golden', 'match-1', 'A.b_c-1', 'x' * 64,
             'a.b', 'a-', 'a_', 'a.', '20261201T031500Z-3f9a1c']


def file_digests(root: str) -> Dict[str, str]:
  """Every file under ``root`` by relative path -> its SHA-256."""
  digests = {}
  for folder, _, names in os.walk(root):
    for name in names:
      path = os.path.join(folder, name)
      with open(path, 'rb') as f:
        digests[os.path.relpath(path, root)] = hashlib.sha256(
            f.read()).hexdigest()
  return digests


# Scan ids ------------------------------------------------------------------

@pytest.mark.parametrize('bad', HOSTILE_IDS)
def test_a_hostile_scan_id_is_refused_everywhere_with_the_rule(bad, tmp_path):
  with pytest.raises(scan_ids.InvalidScanId) as refused:
    scan_ids.check_scan_id(bad)
  message = str(refused.value)
  assert scan_ids.SCAN_ID_RULE in message
  assert '\n' not in message and '\x1b' not in message and '\x00' not in message
  assert isinstance(refused.value, ValueError)
  with pytest.raises(argparse.ArgumentTypeError, match='a scan id is'):
    scan_ids.scan_id_arg(bad)
  root = str(tmp_path / 'out')
  with pytest.raises(scan_ids.InvalidScanId):
    claims.claim_scan(root, bad)
  with pytest.raises(scan_ids.InvalidScanId):
    WriteDataset(root, 'videos', bad)
  with pytest.raises(scan_ids.InvalidScanId):
    read_partition(root, 'videos', bad)
  assert not os.path.exists(root), 'a refused id touched the filesystem'


@pytest.mark.parametrize('bad', ['*', '..', 'a/b', 'a=b', '', 'x' * 200,
                                 '[ab]', 'x?', ' ', 'é', '-x', '.x'])
def test_the_scan_and_match_flags_refuse_a_hostile_id_as_a_usage_error(
    bad, capsys):
  with pytest.raises(SystemExit) as scan_exit:
    parse_scan_args(['--input', 'a', '--output', 'o', '--model', 'm',
                     f'--scan-id={bad}'])
  assert scan_exit.value.code == 2
  assert 'a scan id is 1 to 64 characters' in capsys.readouterr().err
  with pytest.raises(SystemExit) as match_exit:
    match_job.build_arg_parser().parse_known_args(
        ['--hashes', 'h', '--bank', 'b', '--output', 'o', f'--scan-id={bad}'])
  assert match_exit.value.code == 2
  assert 'a scan id is 1 to 64 characters' in capsys.readouterr().err


@pytest.mark.parametrize('good', VALID_IDS)
def test_a_plain_scan_id_is_accepted(good):
  assert scan_ids.check_scan_id(good) == good
  assert scan_ids.scan_id_arg(good) == good


def test_generated_scan_ids_obey_the_rule_and_sort_by_time():
  times = [datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc),
           datetime.datetime(2026, 12, 1, 3, 15, tzinfo=datetime.timezone.utc),
           datetime.datetime(9999, 12, 31, 23, 59, 59,
                             tzinfo=datetime.timezone.utc)]
  for _ in range(50):
    ids = [scan_ids.new_scan_id(t) for t in times]
    assert all(scan_ids.is_valid_scan_id(i) for i in ids)
    assert ids == sorted(ids)


def test_a_refused_id_is_shown_short_and_escaped():
  with pytest.raises(scan_ids.InvalidScanId) as refused:
    scan_ids.check_scan_id('\x1b]0;owned\x07' + 'y' * 500)
  message = str(refused.value)
  assert '\x1b' not in message and '\x07' not in message
  assert len(message) < 300 and '(510 characters)' in message


# Claims on a local root ----------------------------------------------------

def test_a_second_claim_of_one_id_is_refused_with_one_clear_line(tmp_path):
  root = str(tmp_path / 'out')
  first = claims.claim_scan(root, 'same', tool='scan')
  with pytest.raises(claims.ScanIdTaken) as refused:
    claims.claim_scan(root, 'same', tool='match')
  message = str(refused.value)
  assert message.startswith(f'scan id same already exists under {root} ')
  assert f'claimed at {first.claimed_at} by scan' in message
  assert message.endswith('choose another --scan-id')
  assert '\n' not in message
  assert isinstance(refused.value, (claims.ClaimError, ValueError))
  assert claims.read_claim(first.path) == first
  claims.claim_scan(root, 'other')  # another id under the same root
  claims.claim_scan(str(tmp_path / 'elsewhere'), 'same')  # another root


def test_a_claim_is_private_to_its_owner(tmp_path):
  root = str(tmp_path / 'new' / 'out')
  claim = claims.claim_scan(root, 'private')
  assert claim.path == f'{root}/_claims/scan=private'
  assert os.stat(claim.path).st_mode & 0o777 == 0o600
  for folder in (str(tmp_path / 'new'), root, os.path.dirname(claim.path)):
    assert os.stat(folder).st_mode & 0o077 == 0, folder
  record = json.loads(open(claim.path, encoding='utf-8').read())
  assert record['scan_id'] == 'private' and record['pid'] == os.getpid()


@pytest.mark.parametrize('dataset', sorted(schemas.DATASETS))
def test_a_root_whose_partition_exists_without_a_claim_is_refused(
    dataset, tmp_path):
  """Roots written before claims existed (or whose claim was deleted by
  hand): any partition of the id, even an empty folder, refuses the id."""
  root = str(tmp_path / 'old')
  folder = schemas.partition_dir(root, dataset, 'legacy')
  os.makedirs(folder)
  with open(os.path.join(folder, 'part-00000-of-00001.parquet'), 'wb') as f:
    f.write(b'earlier scan')
  before = file_digests(root)
  with pytest.raises(claims.ScanIdTaken, match=(
      f'scan id legacy already exists under {re.escape(root)} '
      f'.*{dataset}/scan=legacy exists.*choose another --scan-id')):
    claims.claim_scan(root, 'legacy')
  assert file_digests(root) == before
  assert not os.path.exists(claims.claims_folder(root))
  os.remove(os.path.join(folder, 'part-00000-of-00001.parquet'))
  with pytest.raises(claims.ScanIdTaken):
    claims.claim_scan(root, 'legacy')
  claims.claim_scan(root, 'legacy2')


def test_a_partition_name_that_prefixes_another_is_not_taken(tmp_path):
  root = str(tmp_path / 'out')
  os.makedirs(schemas.partition_dir(root, 'videos', 'ab'))
  os.makedirs(schemas.partition_dir(root, 'videos', 'a.b'))
  claims.claim_scan(root, 'a')


@pytest.mark.parametrize('root', ['/data/*', '/data/out?', '/data/[ab]',
                                  'gs://b/*/out', 'gs://b/out[1]', '/d/{a,b}',
                                  '', '  '])
def test_an_output_root_that_is_a_glob_is_refused(root):
  with pytest.raises(claims.UnsafeOutputRoot):
    claims.claim_scan(root, 'x')
  with pytest.raises(claims.UnsafeOutputRoot):
    WriteDataset(root, 'videos', 'x')


def test_a_root_that_cannot_hold_a_claim_is_one_clear_error(tmp_path):
  blocker = tmp_path / 'file'
  blocker.write_bytes(b'not a folder')
  with pytest.raises(claims.OutputNotWritable,
                     match='cannot claim scan id x under .*Not a directory'):
    claims.claim_scan(str(blocker / 'out'), 'x')
  root = tmp_path / 'out'
  (root / '_claims').mkdir(parents=True)
  (root / '_claims' / 'scan=dir').mkdir()
  with pytest.raises(claims.ScanIdTaken):
    claims.claim_scan(str(root), 'dir')


@pytest.mark.skipif(os.geteuid() == 0, reason='root ignores permissions')
def test_a_read_only_root_is_one_clear_error(tmp_path):
  root = tmp_path / 'ro'
  root.mkdir()
  root.chmod(0o500)
  try:
    with pytest.raises(claims.OutputNotWritable, match='Permission denied'):
      claims.claim_scan(str(root), 'x')
  finally:
    root.chmod(0o700)


def _race(threads: int, claim: Callable[[], claims.Claim]
          ) -> Tuple[List[claims.Claim], List[Exception]]:
  """Runs ``claim`` in ``threads`` threads released at once; returns the
  claims won and the ``ScanIdTaken`` refusals."""
  barrier = threading.Barrier(threads)
  won: List[claims.Claim] = []
  refused: List[Exception] = []

  def contend():
    barrier.wait()
    try:
      won.append(claim())
    except claims.ScanIdTaken as exc:
      refused.append(exc)

  pool = [threading.Thread(target=contend) for _ in range(threads)]
  for thread in pool:
    thread.start()
  for thread in pool:
    thread.join()
  return won, refused


def test_threads_racing_for_one_id_leave_exactly_one_owner(tmp_path):
  root = str(tmp_path / 'out')
  threads = 8
  for round_ in range(20):
    scan_id = f'race-{round_}'
    won, refused = _race(threads, lambda: claims.claim_scan(root, scan_id))  # pylint: disable=cell-var-from-loop
    assert len(won) == 1, (round_, won)
    assert len(refused) == threads - 1
    assert claims.read_claim(claims.claim_path(root, scan_id)) == won[0]


# One contender process: imports, says "ready", waits for the start time,
# then claims race-0 .. race-N-1, each at its own agreed instant.
_CONTENDER = r'''
import json, sys, time
from pipeline.storage import claims
root, rounds = sys.argv[1], int(sys.argv[2])
print('ready', flush=True)
start = float(sys.stdin.readline())
won = []
for i in range(rounds):
  delay = start + i * 0.05 - time.time()
  if delay > 0:
    time.sleep(delay)
  try:
    claims.claim_scan(root, f'race-{i}')
    won.append(i)
  except claims.ScanIdTaken:
    pass
print(json.dumps(won), flush=True)
'''


def test_processes_racing_for_one_id_leave_exactly_one_owner(tmp_path):
  root = str(tmp_path / 'out')
  rounds, contenders = 20, 4
  env = dict(os.environ, PYTHONPATH=REPO)
  procs = [subprocess.Popen([sys.executable, '-c', _CONTENDER, root,
                             str(rounds)], cwd=REPO, env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
           for _ in range(contenders)]
  try:
    for proc in procs:
      assert proc.stdout.readline().strip() == 'ready'
    start = time.time() + 0.5
    for proc in procs:  # every contender gets the start time, then all run
      proc.stdin.write(f'{start}\n')
      proc.stdin.close()
    outputs = [proc.stdout.read() for proc in procs]
    for proc in procs:
      proc.wait(timeout=120)
  finally:
    for proc in procs:
      if proc.poll() is None:
        proc.kill()
  assert all(proc.returncode == 0 for proc in procs)
  wins = [json.loads(out.strip().splitlines()[-1]) for out in outputs]
  owners = {i: [n for n, won in enumerate(wins) if i in won]
            for i in range(rounds)}
  assert all(len(who) == 1 for who in owners.values()), owners
  claimants = {claims.read_claim(claims.claim_path(root, f'race-{i}')).pid
               for i in range(rounds)}
  assert claimants <= {proc.pid for proc in procs}


# Claims on GCS -------------------------------------------------------------

class _PreconditionBucket:
  """A bucket of the emulator whose uploads honour ``ifGenerationMatch=0``
  as GCS does (the emulator ignores the precondition): creating an object
  that exists fails with 412, atomically."""

  def __init__(self, real_bucket, lock, uploads):
    self._bucket = real_bucket
    self._lock = lock
    self._uploads = uploads

  def blob(self, name):
    return _PreconditionBlob(self._bucket.blob(name), self._lock,
                             self._uploads)


class _PreconditionBlob:

  def __init__(self, real_blob, lock, uploads):
    self._blob = real_blob
    self._lock = lock
    self._uploads = uploads

  def upload_from_string(self, data, if_generation_match=None, **kwargs):
    self._uploads.append(if_generation_match)
    with self._lock:
      if if_generation_match == 0 and self._blob.exists():
        raise gapi.PreconditionFailed('At least one of the pre-conditions '
                                      'you specified did not hold.')
      self._blob.upload_from_string(data, **kwargs)


class _PreconditionClient:

  def __init__(self, real_client):
    self._client = real_client
    self._lock = threading.Lock()
    self.uploads: List[object] = []

  def bucket(self, name):
    return _PreconditionBucket(self._client.bucket(name), self._lock,
                               self.uploads)


class _RetriedClient(_PreconditionClient):
  """Its upload succeeds, then reports 412: a request retried after a lost
  response, whose first attempt did create the object."""

  def bucket(self, name):
    real = self._client.bucket(name)
    client = self

    class _Bucket:
      def blob(self, blob_name):
        blob = real.blob(blob_name)

        class _Blob:
          def upload_from_string(self, data, if_generation_match=None,
                                 **kwargs):
            client.uploads.append(if_generation_match)
            blob.upload_from_string(data, **kwargs)
            raise gapi.PreconditionFailed('retried request')
        return _Blob()
    return _Bucket()


# The emulator fixture's tests share one xdist worker.
gcs_group = pytest.mark.xdist_group('gcs')


@gcs_group
def test_gcs_claims_refuse_a_second_claim_and_a_legacy_partition(emulator):
  root = 'gs://results/collisions/seq'
  first = claims.claim_scan(root, 'same')
  assert first.path == 'gs://results/collisions/seq/_claims/scan=same'
  assert claims.read_claim(first.path) == first
  with pytest.raises(claims.ScanIdTaken, match=re.escape(
      f'scan id same already exists under {root} (claimed at '
      f'{first.claimed_at} by scan')):
    claims.claim_scan(root, 'same')
  bucket = emulator.bucket('results')
  bucket.blob('collisions/seq/hash_matches/scan=old/part-00000-of-00001'
              '.parquet').upload_from_string(b'earlier')
  with pytest.raises(claims.ScanIdTaken, match='hash_matches/scan=old exists'):
    claims.claim_scan(root, 'old')
  claims.claim_scan(root, 'ol')  # a prefix of a taken name is its own id
  claims.claim_scan('gs://results/collisions/other', 'same',
                    beam_args=('--runner', 'DirectRunner'))
  with pytest.raises(claims.OutputNotWritable):
    claims.claim_scan('gs://no-such-bucket-here/out', 'x')


@gcs_group
def test_gcs_claims_send_the_precondition_and_one_of_racing_runs_wins(
    emulator):
  client = _PreconditionClient(emulator)
  root = 'gs://results/collisions/race'
  threads = 6
  for round_ in range(20):
    scan_id = f'race-{round_}'
    won, refused = _race(threads, lambda: claims.claim_scan(  # pylint: disable=cell-var-from-loop
        root, scan_id, gcs_client=client))
    assert len(won) == 1 and len(refused) == threads - 1, round_
    assert claims.read_claim(claims.claim_path(root, scan_id)) == won[0]
  assert client.uploads and set(client.uploads) == {0}


@gcs_group
def test_a_retried_gcs_claim_that_did_land_is_still_ours(emulator):
  root = 'gs://results/collisions/retried'
  client = _RetriedClient(emulator)
  claim = claims.claim_scan(root, 'mine', gcs_client=client)
  assert claims.read_claim(claim.path) == claim
  with pytest.raises(claims.ScanIdTaken):
    claims.claim_scan(root, 'mine', gcs_client=_PreconditionClient(emulator))


# The sink only ever touches its own partition ------------------------------

def _write_frame_hashes(root: str, scan_id: str, count: int) -> None:
  rows = [FrameHash('v', '/archive/v.mp4', t * 1000, bytes(32), 100, scan_id)
          for t in range(count)]
  p = beam.Pipeline(runner=runners.local_runner())
  _ = (p
       | 'Rows' >> beam.Create(rows)
       | 'Write' >> WriteDataset(root, 'frame_hashes', scan_id))
  p.run().wait_until_finish()


def test_writing_one_scan_leaves_every_other_partition_byte_identical(
    tmp_path):
  """Neighbours whose names share a prefix with the id, or would match the
  sink's final-name glob from another folder, keep every byte."""
  root = str(tmp_path / 'out')
  for neighbour in ('ab', 'a.b', 'a-1', 'A', 'a_'):
    _write_frame_hashes(root, neighbour, 3)
  before = file_digests(root)
  _write_frame_hashes(root, 'a', 5)
  after = file_digests(root)
  assert {k: v for k, v in after.items() if '/scan=a/' not in f'/{k}'} \
      == before
  written = sorted(k for k in after if k not in before)
  assert written == ['frame_hashes/scan=a/part-00000-of-00001.parquet']
  assert read_partition(root, 'frame_hashes', 'a').num_rows == 5
  assert read_partition(root, 'frame_hashes', 'ab').num_rows == 3


# End to end: the scan and match jobs claim their ids -----------------------

SCAN_WIRED = hasattr(job, 'claims')
MATCH_WIRED = hasattr(match_job, 'claims')
needs_scan_claims = pytest.mark.skipif(
    not SCAN_WIRED, reason='pipeline.scan.job does not claim its scan id yet '
    '(no `claims` module imported in it)')
needs_match_claims = pytest.mark.skipif(
    not MATCH_WIRED, reason='pipeline.hashes.match_job does not claim its '
    'scan id yet (no `claims` module imported in it)')


@pytest.fixture(scope='module')
def scanned_root(tmp_path_factory, marker_model_dir):
  """One small real scan, id 'first', with frame hashes."""
  from tests.conftest import run_scan  # pylint: disable=import-outside-toplevel
  archive = tmp_path_factory.mktemp('collide-archive')
  video = write_video(str(archive / 'v.mp4'), 4.0, 'h264', fps=10.0,
                      size=(64, 48),
                      events=(PlantedEvent('red_marker', 1.0, 2.5),))
  root = str(tmp_path_factory.mktemp('collide') / 'out')
  scan = run_scan(root, [video], marker_model_dir, 'first')
  assert scan.videos.num_rows == 1 and scan.clips.num_rows == 1
  return root, video


def _scan_argv(root: str, video: str, model: str, scan_id: str) -> List[str]:
  return ['--input', video, '--output', root, '--model', model,
          '--scan-id', scan_id, '--segment-seconds', '5']


@needs_scan_claims
def test_a_second_scan_with_one_id_is_refused_before_any_work(
    scanned_root, marker_model_dir):
  root, video = scanned_root
  before = file_digests(root)
  with pytest.raises(claims.ScanIdTaken, match='scan id first already exists'):
    job.run(_scan_argv(root, video, marker_model_dir, 'first'))
  assert file_digests(root) == before


@needs_scan_claims
def test_a_root_scanned_before_claims_refuses_its_ids(
    scanned_root, marker_model_dir, tmp_path):
  root, video = scanned_root
  legacy = str(tmp_path / 'legacy')
  for relative in file_digests(root):
    if not relative.startswith('_claims'):
      os.makedirs(os.path.dirname(os.path.join(legacy, relative)),
                  exist_ok=True)
      with open(os.path.join(root, relative), 'rb') as src, \
          open(os.path.join(legacy, relative), 'wb') as dst:
        dst.write(src.read())
  before = file_digests(legacy)
  with pytest.raises(claims.ScanIdTaken, match='scan=first exists'):
    job.run(_scan_argv(legacy, video, marker_model_dir, 'first'))
  assert file_digests(legacy) == before


def test_a_glob_scan_id_is_refused_and_no_other_scan_is_touched(
    scanned_root, marker_model_dir, capsys):
  root, video = scanned_root
  before = file_digests(root)
  for bad in ('*', '[f]irst', 'firs?', '../out'):
    with pytest.raises(SystemExit) as refused:
      job.run(_scan_argv(root, video, marker_model_dir, bad))
    assert refused.value.code == 2
    assert 'a scan id is 1 to 64 characters' in capsys.readouterr().err
  assert file_digests(root) == before


@needs_scan_claims
def test_the_scan_command_refuses_a_taken_id_in_one_line_with_status_2(
    scanned_root, marker_model_dir):
  root, video = scanned_root
  before = file_digests(root)
  done = subprocess.run(
      [sys.executable, '-m', 'pipeline.run',
       *_scan_argv(root, video, marker_model_dir, 'first')],
      cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO), capture_output=True,
      text=True, timeout=600, check=False)
  lines = [l for l in done.stderr.splitlines() if 'scan id first' in l]
  assert done.returncode == 2, done.stderr[-2000:]
  assert len(lines) == 1 and 'choose another --scan-id' in lines[0]
  assert 'Traceback' not in done.stderr
  assert file_digests(root) == before


@needs_match_claims
def test_a_match_run_cannot_take_a_scan_id_of_its_output_root(
    scanned_root, tmp_path):
  from pipeline.cli import bank as bank_cli  # pylint: disable=import-outside-toplevel
  root, _ = scanned_root
  bank = str(tmp_path / 'bank')
  video_id = read_partition(root, 'frame_hashes', 'first').column(
      'video_id')[0].as_py()
  assert bank_cli.main(['import', '--bank', bank, '--id', 'b',
                       '--label', 'known', '--frame-hashes', root,
                       '--video-id', video_id]) == 0
  before = file_digests(root)
  argv = ['--hashes', root, '--bank', bank, '--output', root]
  with pytest.raises(claims.ScanIdTaken, match='scan id first already exists'):
    match_job.run(argv + ['--scan-id', 'first'])
  assert file_digests(root) == before
  config = match_job.run(argv + ['--scan-id', 'match-1'])
  assert (config.output, config.scan_id) == (root, 'match-1')
  after = file_digests(root)
  assert {k: v for k, v in after.items() if k in before} == before
  # The run's claim, its state (complete) and its one part file.
  assert sorted(k for k in after if k not in before) == [
      '_claims/scan=match-1', '_claims/state/scan=match-1.json',
      'hash_matches/scan=match-1/part-00000-of-00001.parquet']
  with pytest.raises(claims.ScanIdTaken, match='scan id match-1 already'):
    match_job.run(argv + ['--scan-id', 'match-1'])
