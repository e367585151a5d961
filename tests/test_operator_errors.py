"""Operators who mistype (issue #14): every mistake is one line on stderr,
exit status 2 for a usage error and 1 for a failed run, never a traceback;
names from the data are escaped on a terminal and neutralised in CSV;
extracts and verdicts are private.

Each test drives the real command (``pipeline.cli.main.main``, the
``rescan`` console script's dispatcher) in process, or a subprocess where
the exit status of the process itself matters.
"""
from __future__ import annotations

import datetime
import json
import os
import shlex
import stat
import subprocess
import sys
import unicodedata
from typing import Any, Dict, List, Sequence, Tuple

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import schemas
from model.synthetic_video import PlantedEvent
from model.synthetic_video import write_video
from pipeline.cli import demo
from pipeline.cli import main as cli_main
from pipeline.hashes import banks
from pipeline.hashes import match_job
from pipeline.review import extract as clip_extract
from pipeline.records import FlaggedClip
from pipeline.records import VideoLedgerRow
from pipeline.scan import options
from pipeline.scan import summary
from pipeline.storage import parquet

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCAN_ID = '20260101T000000Z-aaaaaa'
NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def rescan(capsys, *argv: str) -> Tuple[int, str, str]:
  """Runs ``rescan ARGV`` in process: exit status, stdout, stderr."""
  capsys.readouterr()
  try:
    code = cli_main.main(list(argv))
  except SystemExit as exc:  # argparse's usage errors
    code = exc.code
  out, err = capsys.readouterr()
  return code, out, err


def one_error_line(err: str) -> str:
  """The single line a mistake must print: no traceback, no usage block."""
  assert 'Traceback' not in err, err
  lines = [line for line in err.splitlines() if line.strip()]
  assert len(lines) == 1, err
  return lines[0]


def row_for(schema: pa.Schema, **values: Any) -> Dict[str, Any]:
  """A row of ``schema``: ``values``, nulls where allowed, else a plain
  value of the field's type (schemas grow; the tests name what matters)."""
  row = {}
  for field in schema:
    if field.name in values:
      row[field.name] = values[field.name]
    elif field.nullable:
      row[field.name] = None
    elif pa.types.is_string(field.type):
      row[field.name] = 'x'
    elif pa.types.is_timestamp(field.type):
      row[field.name] = NOW
    elif pa.types.is_floating(field.type):
      row[field.name] = 0.5
    else:
      row[field.name] = 0
  return row


def write_dataset(root: str, dataset: str, rows: Sequence[Dict[str, Any]],
                  scan_id: str = SCAN_ID) -> str:
  schema = schemas.DATASETS[dataset]
  folder = schemas.partition_dir(root, dataset, scan_id)
  os.makedirs(folder, exist_ok=True)
  path = os.path.join(folder, 'part-00000-of-00001.parquet')
  pq.write_table(pa.Table.from_pylist([row_for(schema, **r) for r in rows],
                                      schema=schema), path)
  return path


HOSTILE_URI = '/archive/evil\x1b[2J\x1b]0;owned\x07\u202egpj.mp4'
FORMULA_URI = '=HYPERLINK("http://x.example/?"&A1,"open")'


@pytest.fixture()
def review_root(tmp_path) -> str:
  """An output root with one scan: a video whose name holds escape
  sequences and a bidi override, one whose name is a spreadsheet formula,
  and a clip of each."""
  root = str(tmp_path / 'results')
  common = dict(scan_id=SCAN_ID, scanned_at=NOW, model_name='m',
                model_version='v1')
  write_dataset(root, 'videos', [
      dict(video_id='v1', video_uri=HOSTILE_URI, status='scanned',
           duration_ms=10_000, clips=1, **common),
      dict(video_id='v2', video_uri=FORMULA_URI, status='failed',
           error_kind='invalid_container', error_message='bad\rfile',
           clips=1, **common)])
  write_dataset(root, 'flagged_clips', [
      dict(clip_id='c1', video_id='v1', video_uri=HOSTILE_URI,
           label='red\x1b[31m', start_ms=1000, end_ms=2000, peak_ms=1500,
           peak_score=0.9, mean_score=0.8, frames=3, threshold=0.5,
           **common),
      dict(clip_id='c2', video_id='v2', video_uri=FORMULA_URI,
           label='+cmd', start_ms=0, end_ms=1000, peak_ms=500,
           peak_score=0.7, mean_score=0.6, frames=2, threshold=0.5,
           **common)])
  return root


# ---------------------------------------------------------------------------
# 1. Flags that neither the command nor Beam knows.
# ---------------------------------------------------------------------------

SCAN_BASE = ('scan', '--input', 'uploads/*.mp4', '--output', 'out',
             '--model', 'model')


def test_a_mistyped_scan_flag_is_a_usage_error_with_a_suggestion(
    capsys, tmp_path):
  code, _, err = rescan(capsys, 'scan', '--input', str(tmp_path / '*.mp4'),
                        '--output', str(tmp_path / 'out'), '--model',
                        str(tmp_path / 'model'), '--treshold', '0.99')
  assert code == 2
  line = one_error_line(err)
  assert 'unknown flag --treshold' in line
  assert 'did you mean --threshold?' in line
  assert not os.path.exists(tmp_path / 'out')


@pytest.mark.parametrize('flag, meant', [
    ('--segment-secs=5', '--segment-seconds'),
    ('--skip_scaned', '--skip_scanned'),
    ('--direct_num_worker=2', '--direct_num_workers'),
    ('--temp_locaton', '--temp_location'),
])
def test_mistyped_flags_of_ours_and_of_beam_get_the_nearest_spelling(
    capsys, flag, meant):
  code, _, err = rescan(capsys, *SCAN_BASE, flag, 'x')
  assert code == 2
  assert f'did you mean {meant}?' in one_error_line(err)


def test_a_beam_flag_with_a_bad_value_is_a_usage_error(capsys):
  code, _, err = rescan(capsys, *SCAN_BASE, '--direct_num_workers', 'two')
  assert code == 2
  assert "--direct_num_workers: invalid int value: 'two'" in (
      one_error_line(err))


def test_a_mistyped_match_flag_is_a_usage_error(capsys, tmp_path):
  code, _, err = rescan(capsys, 'match', '--hashes', str(tmp_path),
                        '--bank', str(tmp_path / 'bank'), '--output',
                        str(tmp_path / 'out'), '--distance-treshold', '20')
  assert code == 2
  assert 'did you mean --distance-threshold?' in one_error_line(err)


# The runner flags the README, the tests, the Terraform and the Flex
# Template use, and the usual Dataflow, portable and Prism ones.
BEAM_FLAGS = (
    '--runner', 'DataflowRunner', '--project', 'p', '--region',
    'europe-west4', '--temp_location', 'gs://b/tmp', '--staging_location',
    'gs://b/staging', '--sdk_container_image', 'europe-docker.pkg.dev/i:1',
    '--dataflow_service_options=worker_accelerator=type:nvidia-l4;count:1',
    '--experiments', 'use_runner_v2', '--experiments=no_use_multiple_sdk',
    '--direct_num_workers=2', '--direct_running_mode=multi_processing',
    '--job_endpoint', 'localhost:8099', '--job_server_timeout', '60',
    '--environment_type', 'LOOPBACK', '--environment_config', 'x',
    '--prism_location', '/opt/prism', '--setup_file', './setup.py',
    '--subnetwork', 'regions/r/subnetworks/s', '--service_account_email',
    'sa@p.iam.gserviceaccount.com', '--impersonate_service_account',
    'sa@p.iam.gserviceaccount.com', '--no_use_public_ips',
    '--max_num_workers', '4', '--machine_type', 'n1-standard-4',
    '--job_name', 'rescan', '--labels', 'team=safety',
    '--number_of_worker_harness_threads', '2', '--save_main_session',
    '--flink_master', 'localhost:8081', '--flexrs_goal', 'COST_OPTIMIZED',
)


def test_beam_and_runner_flags_still_pass_to_beam():
  config = options.parse_scan_args(list(SCAN_BASE[1:]) + list(BEAM_FLAGS))
  assert config.beam_args == BEAM_FLAGS
  match = match_job.parse_match_args(
      ['--hashes', 'r', '--bank', 'b', '--output', 'o', *BEAM_FLAGS])
  assert match.beam_args == BEAM_FLAGS


# ---------------------------------------------------------------------------
# 2. Globs the shell expanded, folders, printed commands.
# ---------------------------------------------------------------------------

def test_a_pattern_the_shell_expanded_gets_a_hint_to_quote_it(capsys):
  code, _, err = rescan(capsys, 'scan', '--input', 'uploads/a.mp4',
                        'uploads/b.mp4', 'uploads/c.mp4', '--output', 'out',
                        '--model', 'model')
  assert code == 2
  line = one_error_line(err)
  assert "unexpected argument 'uploads/b.mp4'" in line
  assert 'quote it' in line


def test_a_stray_argument_after_match_flags_is_refused(capsys):
  code, _, err = rescan(capsys, 'match', '--hashes', 'r', '--bank', 'b1',
                        'b2', '--output', 'o')
  assert code == 2
  assert "unexpected argument 'b2'" in one_error_line(err)


def test_a_folder_input_gets_a_hint_to_add_a_glob(capsys, tmp_path,
                                                 marker_model_dir):
  folder = tmp_path / 'uploads'
  folder.mkdir()
  write_video(str(folder / 'a.mp4'), 1.0, 'h264')
  code, _, err = rescan(capsys, 'scan', '--input', str(folder), '--output',
                        str(tmp_path / 'out'), '--model', marker_model_dir)
  assert code == 2
  line = one_error_line(err)
  assert 'is a folder' in line
  assert f"--input '{folder}/**'" in line
  assert not os.path.exists(tmp_path / 'out')


def test_the_demo_prints_its_scan_command_shell_quoted():
  args = ['--input', '/tmp/demo dir/uploads/**', '--output', "/tmp/it's"]
  printed = demo.scan_command(args)
  assert printed.startswith('rescan scan ')
  assert shlex.split(printed) == ['rescan', 'scan', *args]
  assert "'/tmp/demo dir/uploads/**'" in printed


# ---------------------------------------------------------------------------
# 3. Outputs that cannot be written, found before any work.
# ---------------------------------------------------------------------------

def scan_video(tmp_path) -> str:
  path = str(tmp_path / 'uploads' / 'a.mp4')
  os.makedirs(os.path.dirname(path), exist_ok=True)
  return write_video(path, 2.0, 'h264')


def test_an_output_under_a_file_fails_before_any_work(capsys, tmp_path,
                                                      marker_model_dir):
  """Tests run as root, where a chmod does not stop a write: an output
  root under a regular file cannot be created by anyone."""
  video = scan_video(tmp_path)
  blocker = tmp_path / 'a-file'
  blocker.write_text('not a folder')
  code, _, err = rescan(capsys, 'scan', '--input', video, '--output',
                        str(blocker / 'results'), '--model',
                        marker_model_dir, '--decode-isolation', 'inline')
  assert code == 2
  line = one_error_line(err)
  assert 'cannot claim scan id' in line and 'Not a directory' in line


def test_an_output_that_is_a_file_fails_before_any_work(capsys, tmp_path,
                                                        marker_model_dir):
  video = scan_video(tmp_path)
  blocker = tmp_path / 'results'
  blocker.write_text('not a folder')
  code, _, err = rescan(capsys, 'scan', '--input', video, '--output',
                        str(blocker), '--model', marker_model_dir)
  assert code == 2
  assert 'Not a directory' in one_error_line(err)
  assert blocker.read_text() == 'not a folder'


def make_immutable(folder) -> None:
  """Nobody, root included, can write into ``folder`` (``chattr +i``)."""
  done = subprocess.run(['chattr', '+i', str(folder)], capture_output=True,
                        check=False)
  if done.returncode:
    pytest.skip(f'chattr +i not supported here: {done.stderr!r}')


@pytest.fixture()
def immutable_folder(tmp_path):
  """A folder nobody, root included, can write into (``chattr +i``)."""
  folder = tmp_path / 'read-only'
  folder.mkdir()
  done = subprocess.run(['chattr', '+i', str(folder)], capture_output=True,
                        check=False)
  if done.returncode:
    pytest.skip(f'chattr +i not supported here: {done.stderr!r}')
  try:
    yield folder
  finally:
    subprocess.run(['chattr', '-i', str(folder)], check=False)


def test_a_read_only_output_fails_before_any_work(capsys, tmp_path,
                                                  marker_model_dir,
                                                  immutable_folder):
  video = scan_video(tmp_path)
  code, _, err = rescan(capsys, 'scan', '--input', video, '--output',
                        str(immutable_folder), '--model', marker_model_dir)
  assert code == 2
  line = one_error_line(err)
  assert 'cannot claim scan id' in line
  assert 'Operation not permitted' in line or 'Permission denied' in line
  assert os.listdir(immutable_folder) == []


def test_a_read_only_match_output_fails_before_any_work(capsys, tmp_path,
                                                        immutable_folder):
  hashes = str(tmp_path / 'hashes')
  write_dataset(hashes, 'frame_hashes', [dict(video_id='v', pdq=b'\0' * 32)])
  bank = str(tmp_path / 'bank')
  banks.save_bank(bank, banks.Bank('b', 'known', '2026-01-01', (), ()))
  code, _, err = rescan(capsys, 'match', '--hashes', hashes, '--bank', bank,
                        '--output', str(immutable_folder))
  assert code == 2
  assert 'cannot claim scan id' in one_error_line(err)
  assert os.listdir(immutable_folder) == []


@pytest.mark.parametrize('command', ['scan', 'match'])
def test_a_read_only_dataset_folder_fails_before_any_work(
    capsys, tmp_path, marker_model_dir, command):
  """The root is writable (the claim succeeds there) but the dataset folder
  an earlier run created is not: found before any decoding, not when Beam
  renames its shards."""
  root = tmp_path / 'results'
  dataset = 'videos' if command == 'scan' else 'hash_matches'
  folder = root / dataset
  folder.mkdir(parents=True)
  make_immutable(folder)
  try:
    if command == 'scan':
      argv = ['scan', '--input', scan_video(tmp_path), '--model',
              marker_model_dir]
    else:
      hashes = str(tmp_path / 'hashes')
      write_dataset(hashes, 'frame_hashes',
                    [dict(video_id='v', pdq=b'\0' * 32)])
      bank = str(tmp_path / 'bank')
      banks.save_bank(bank, banks.Bank('b', 'known', '2026-01-01', (), ()))
      argv = ['match', '--hashes', hashes, '--bank', bank]
    code, _, err = rescan(capsys, *argv, '--output', str(root))
    assert code == 2
    line = one_error_line(err)
    assert f'cannot write into {folder}' in line
    assert os.listdir(folder) == []
    assert not os.path.exists(root / '_claims')
  finally:
    subprocess.run(['chattr', '-i', str(folder)], check=False)


# ---------------------------------------------------------------------------
# 4. Manifests and broken Parquet files.
# ---------------------------------------------------------------------------

def write_manifest(folder, kind: str) -> Tuple[str, str]:
  """A bad manifest of ``kind`` and the text its error must hold."""
  if kind == 'latin1':
    path = folder / 'm.csv'
    path.write_bytes('uri\nvidéo.mp4\n'.encode('latin-1'))
    return str(path), 'is not UTF-8 text'
  if kind == 'oversize':
    path = folder / 'm.csv'
    path.write_text('uri\n"' + 'a' * 200_000 + '"\n')
    return str(path), 'field larger than field limit'
  if kind == 'integer_uris':
    path = folder / 'm.parquet'
    pq.write_table(pa.table({'uri': [1, 2]}), str(path))
    return str(path), 'column "uri" holds int64, not text'
  if kind == 'no_uri':
    path = folder / 'm.csv'
    path.write_text('path\na.mp4\n')
    return str(path), 'has no "uri" column'
  if kind == 'empty_csv':
    path = folder / 'm.csv'
    path.write_text('uri,video_id\n')
    return str(path), 'lists no videos'
  if kind == 'empty_parquet':
    path = folder / 'm.parquet'
    pq.write_table(pa.table({'uri': pa.array([], pa.string())}), str(path))
    return str(path), 'lists no videos'
  if kind == 'garbage_parquet':
    path = folder / 'm.parquet'
    path.write_bytes(b'PAR1 this is not parquet at all')
    return str(path), 'is not a readable Parquet file'
  raise ValueError(kind)


@pytest.mark.parametrize('kind', [
    'latin1', 'oversize', 'integer_uris', 'no_uri', 'empty_csv',
    'empty_parquet', 'garbage_parquet'])
def test_a_bad_manifest_is_one_line(capsys, tmp_path, marker_model_dir,
                                    kind):
  manifest, expected = write_manifest(tmp_path, kind)
  code, _, err = rescan(capsys, 'scan', '--input', manifest, '--output',
                        str(tmp_path / 'out'), '--model', marker_model_dir)
  assert code == 2
  line = one_error_line(err)
  assert expected in line and manifest in line


def garbage_ledger(root: str) -> str:
  folder = schemas.partition_dir(root, 'videos', '20250101T000000Z-bbbbbb')
  os.makedirs(folder)
  path = os.path.join(folder, 'part-00000-of-00001.parquet')
  with open(path, 'wb') as f:
    f.write(b'garbage, not parquet')
  return path


@pytest.mark.parametrize('argv', [
    ('review', 'top'), ('review', 'stats'), ('review', 'precision'),
    ('review', 'video', 'v1'), ('review', 'stats', '--format', 'json')])
def test_a_garbage_parquet_file_under_the_root_is_named_in_one_line(
    capsys, review_root, argv):
  path = garbage_ledger(review_root)
  code, _, err = rescan(capsys, *argv, '--output', review_root)
  assert code == 1
  line = one_error_line(err)
  assert path in line and 'is not a readable Parquet file' in line


def test_extract_names_a_garbage_parquet_file(capsys, review_root, tmp_path):
  path = garbage_ledger(review_root)
  code, _, err = rescan(capsys, 'extract', '--output', review_root, '--out',
                        str(tmp_path / 'extracts'))
  assert code == 1
  assert path in one_error_line(err)


def test_match_names_a_garbage_frame_hash_file(capsys, tmp_path):
  hashes = str(tmp_path / 'hashes')
  write_dataset(hashes, 'frame_hashes', [dict(video_id='v', pdq=b'\0' * 32)])
  garbage = os.path.join(schemas.partition_dir(hashes, 'frame_hashes',
                                               SCAN_ID), 'part-junk.parquet')
  with open(garbage, 'wb') as f:
    f.write(b'not parquet')
  bank = str(tmp_path / 'bank')
  banks.save_bank(bank, banks.Bank('b', 'known', '2026-01-01', (), ()))
  code, _, err = rescan(capsys, 'match', '--hashes', hashes, '--bank', bank,
                        '--output', str(tmp_path / 'out'))
  assert code == 1
  assert garbage in one_error_line(err)
  assert not os.path.exists(tmp_path / 'out')


def test_a_parquet_file_of_another_table_is_named(review_root):
  folder = schemas.partition_dir(review_root, 'videos', SCAN_ID)
  other = os.path.join(folder, 'part-other.parquet')
  pq.write_table(pa.table({'video_id': [1]}), other)
  with pytest.raises(parquet.BrokenParquetFile, match='part-other.parquet'):
    parquet.read_partition(review_root, 'videos', SCAN_ID)


def test_skip_scanned_over_a_garbage_ledger_fails_before_any_work(
    capsys, tmp_path, marker_model_dir):
  video = scan_video(tmp_path)
  root = str(tmp_path / 'out')
  path = garbage_ledger(root)
  code, _, err = rescan(capsys, 'scan', '--input', video, '--output', root,
                        '--model', marker_model_dir, '--skip-scanned',
                        '--scan-id', SCAN_ID)
  assert code == 1
  line = one_error_line(err)
  assert path in line
  assert not os.path.exists(os.path.join(root, '_claims'))
  assert not os.path.exists(schemas.partition_dir(root, 'videos', SCAN_ID))


# ---------------------------------------------------------------------------
# 5. rescan review: bounds and JSON for every subcommand.
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('argv, expected', [
    (('review', 'top', '--limit', '-1'), '--limit: must be >= 0, got -1'),
    (('review', 'top', '--min-score', '80'), 'must be in [0, 1], got 80'),
    (('review', 'top', '--min-score', 'nan'), 'must be a finite number'),
    (('extract', '--out', 'x', '--limit', '-1'), '--limit: must be >= 0'),
    (('extract', '--out', 'x', '--context-seconds', '-2'),
     '--context_seconds: must be >= 0, got -2'),
])
def test_out_of_range_review_numbers_are_usage_errors(capsys, review_root,
                                                      argv, expected):
  code, _, err = rescan(capsys, *argv, '--output', review_root)
  assert code == 2
  assert expected in one_error_line(err)


@pytest.mark.parametrize('argv', [
    ('top',), ('video', 'v1'), ('stats',), ('precision',),
    ('videos', '--status', 'failed'), ('verdict', 'c1', 'violating')])
def test_every_review_command_prints_json(capsys, review_root, argv):
  if argv[0] != 'verdict':  # verdicts first, so that precision has rows
    rescan(capsys, 'review', 'verdict', 'c1', 'violating', '--output',
           review_root)
  code, out, err = rescan(capsys, 'review', *argv, '--output', review_root,
                          '--format', 'json')
  assert code == 0, err
  document = json.loads(out)
  assert document
  if argv[0] == 'stats':
    by_scan = document['by_scan'][0]
    assert by_scan['clips'] == 2 and isinstance(by_scan['clips'], int)
    assert max(r['max_peak_score'] for r in document['clips_by_label']) == (
        pytest.approx(0.9, abs=1e-6))


# ---------------------------------------------------------------------------
# 6, 7. Names escaped on a terminal, formulas neutralised in CSV.
# ---------------------------------------------------------------------------

def assert_no_hidden_characters(text: str) -> None:
  hidden = [c for c in text
            if unicodedata.category(c) in ('Cc', 'Cf', 'Zl', 'Zp')]
  assert set(hidden) <= {'\n'}, repr(text)


def test_review_tables_escape_control_characters(capsys, review_root):
  code, out, _ = rescan(capsys, 'review', 'top', '--output', review_root)
  assert code == 0
  assert_no_hidden_characters(out)
  assert '\\x1b[2J' in out and '\\u202e' in out
  code, out, _ = rescan(capsys, 'review', 'video', 'v1', '--output',
                        review_root)
  assert code == 0
  assert_no_hidden_characters(out)
  assert 'red\\x1b[31m' in out


def test_review_json_keeps_names_but_escapes_them(capsys, review_root):
  code, out, _ = rescan(capsys, 'review', 'top', '--output', review_root,
                        '--format', 'json')
  assert code == 0
  assert_no_hidden_characters(out)
  uris = {row['video_uri'] for row in json.loads(out)}
  assert HOSTILE_URI in uris


def test_the_scan_summary_escapes_control_characters(review_root):
  records = [VideoLedgerRow(**row) for row in parquet.read_partition(
      review_root, 'videos', SCAN_ID).to_pylist()]
  records += [FlaggedClip(**row) for row in parquet.read_partition(
      review_root, 'flagged_clips', SCAN_ID).to_pylist()]
  text = summary.format_summary(summary.summarize(records), review_root,
                                SCAN_ID)
  assert_no_hidden_characters(text)
  assert '\\x1b]0;owned\\x07' in text and 'bad' not in text.split('\n')[0]


def test_printable_escapes_every_hidden_character():
  from pipeline.runtime import terminal  # pylint: disable=import-outside-toplevel
  assert terminal.printable('a\x1b[0m\r\n\t\x7f\x9b\u202e\u2028b') == (
      'a\\x1b[0m\\x0d\\x0a\\x09\\x7f\\x9b\\u202e\\u2028b')
  assert terminal.printable('négatif «clean» 日本.mp4') == (
      'négatif «clean» 日本.mp4')
  assert terminal.printable(None) == ''


def test_csv_neutralises_formula_prefixes(capsys, review_root):
  code, out, _ = rescan(capsys, 'review', 'top', '--output', review_root,
                        '--format', 'csv')
  assert code == 0
  assert_no_hidden_characters(out)
  cells = [cell for line in out.splitlines() for cell in line.split(',')]
  assert not [c for c in cells if c.lstrip('"').startswith(
      ('=', '+', '@', '\t', '\r'))], out
  assert "'=HYPERLINK(" in out and "'+cmd" in out


@pytest.mark.parametrize('value', [
    '=1+1', '+1', '-1+cmd', '@SUM(A1)', '\tx', '\rx'])
def test_every_formula_prefix_is_neutralised(value):
  from pipeline.review import formats  # pylint: disable=import-outside-toplevel
  text = formats.format_csv([{'name': value, 'score': -0.5}])
  row = text.splitlines()[1]
  assert row.lstrip('"').startswith("'"), row
  assert row.endswith(',-0.5')


# ---------------------------------------------------------------------------
# 8. Extracts and verdicts are private.
# ---------------------------------------------------------------------------

def modes(root: str) -> List[Tuple[str, int]]:
  found = []
  for folder, dirs, files in os.walk(root):
    for name in dirs + files:
      path = os.path.join(folder, name)
      found.append((path, stat.S_IMODE(os.lstat(path).st_mode)))
  return found


def test_verdict_files_are_private(capsys, review_root):
  os.umask(0o022)
  code, _, err = rescan(capsys, 'review', 'verdict', 'c1', 'violating',
                        '--output', review_root)
  assert code == 0, err
  reviews = os.path.join(review_root, 'reviews')
  for path, mode in modes(reviews):
    assert mode == (0o700 if os.path.isdir(path) else 0o600), (path, oct(mode))
  assert stat.S_IMODE(os.stat(reviews).st_mode) == 0o700
  assert os.umask(0o022) == 0o022  # restored afterwards


def test_extracts_and_sidecars_are_private(tmp_path):
  os.umask(0o022)
  video = write_video(str(tmp_path / 'v.mp4'), 4.0, 'h264',
                      events=(PlantedEvent('red_marker', 1.0, 2.0),))
  out = str(tmp_path / 'extracts' / 'deep')
  done = clip_extract.extract_clip(
      clip_extract.ExtractRequest('c1', video, 1000, 2000, 4000), out, 0.5)
  assert os.path.exists(done.path)
  found = modes(str(tmp_path / 'extracts'))
  assert len(found) == 3
  for path, mode in found:
    assert mode == (0o700 if os.path.isdir(path) else 0o600), (path, oct(mode))
  assert os.umask(0o022) == 0o022


# ---------------------------------------------------------------------------
# The console script itself: the exit status of the process.
# ---------------------------------------------------------------------------

def test_the_console_script_exits_2_with_one_line():
  done = subprocess.run(
      [sys.executable, '-m', 'pipeline.cli', 'scan', '--input', 'a/*.mp4',
       '--output', 'o', '--model', 'm', '--treshold', '0.99'],
      cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
  assert done.returncode == 2
  assert 'did you mean --threshold?' in one_error_line(done.stderr)


@pytest.mark.parametrize('extra, message', [
    (['--pdq-hex', 'LIST', '--verdict', 'unsure'],
     '--verdict needs --from-verdicts'),
    (['--pdq-hex', 'LIST', '--video-id', 'v1'],
     '--video-id needs --frame-hashes'),
    (['--vpdq', 'LIST', '--hash-scan-id', 's1'],
     '--hash-scan-id needs --frame-hashes'),
    (['--vpdq', 'LIST', '--entry-per-hash'],
     '--entry-per-hash needs --pdq-hex'),
])
def test_bank_flags_that_need_another_source_are_refused(
    capsys, tmp_path, extra, message):
  """A flag that only one source reads, given with another, would be
  ignored: one line and exit 2, and no bank is written."""
  listed = tmp_path / 'list.txt'
  listed.write_text('f' * 64 + '\n', encoding='utf-8')
  bank = tmp_path / 'bank'
  argv = [str(listed) if a == 'LIST' else a for a in extra]
  code, out, err = rescan(capsys, 'bank', 'import', '--bank', str(bank),
                          '--id', 'b', '--label', 'x', *argv)
  assert code == 2 and out == ''
  assert message in one_error_line(err)
  assert not bank.exists()
