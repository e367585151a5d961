"""Review at team scale (issue #15): one answer per video after a re-scan,
reviewers who are known and whose verdicts keep their history,
disagreements listed and counted apart, and errors instead of empty
answers.

The root under test is real: the golden scan's outputs, a verdict
recorded on one of its clips, then a second scan of the same inputs into
the same root.  Everything is read back from the Parquet files."""
from __future__ import annotations

import csv
import datetime
import getpass
import glob
import io
import json
import os
import shutil
from typing import List
from typing import Tuple

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.cli import review as review_cli
from pipeline.review import query as review_query
from pipeline.review import report as review_report
from tests.conftest import run_scan

FIRST, SECOND = 'golden', 'again'
UTC = datetime.timezone.utc
T0 = datetime.datetime(2026, 12, 1, 9, tzinfo=UTC)


def _webm_clips(rows: List[dict]) -> List[dict]:
  return sorted((c for c in rows if 'two_labels' in c['video_uri']),
                key=lambda c: c['start_ms'])


@pytest.fixture(scope='module')
def rescanned(golden_scan, corpus, marker_model_dir, tmp_path_factory
              ) -> Tuple[str, str]:
  """The golden root, a verdict on its first green clip by ``alice``, then
  the same inputs scanned again into it.  Returns (root, that clip id)."""
  root = str(tmp_path_factory.mktemp('rescanned') / 'results')
  shutil.copytree(golden_scan.root, root)
  clip = _webm_clips(golden_scan.clips.to_pylist())[0]
  review_query.append_verdict(root, clip['clip_id'], 'violating', 'alice',
                              note='first look', reviewed_at=T0)
  run_scan(root, [os.path.join(corpus.root, '**')], marker_model_dir,
           SECOND)
  return root, clip['clip_id']


@pytest.fixture
def team_root(rescanned, tmp_path) -> str:
  """A private copy of the re-scanned root, for tests that add verdicts."""
  root = str(tmp_path / 'results')
  shutil.copytree(rescanned[0], root)
  return root


def _cli(capsys, *argv: str) -> Tuple[int, str, str]:
  """Runs ``rescan review``; argparse's usage errors exit, like the
  command."""
  try:
    code = review_cli.main(list(argv))
  except SystemExit as exc:
    code = exc.code
  captured = capsys.readouterr()
  return code, captured.out, captured.err


def _json(capsys, *argv: str):
  code, out, err = _cli(capsys, *argv, '--format', 'json')
  assert code == 0, err
  return json.loads(out)


def _parquet_rows(root: str, dataset: str) -> List[dict]:
  """Every row of a dataset, read with DuckDB straight from the files."""
  pattern = f'{root}/{dataset}/*/*.parquet'
  return duckdb.sql(f"SELECT * FROM read_parquet('{pattern}', "
                    'union_by_name=true)').to_arrow_table().to_pylist()


# ---------------------------------------------------------------------------
# 1. One answer per video.
# ---------------------------------------------------------------------------

def test_the_root_really_holds_two_scans_of_the_same_videos(rescanned,
                                                             golden_scan):
  root, _ = rescanned
  ledger = _parquet_rows(root, 'videos')
  clips = _parquet_rows(root, 'flagged_clips')
  assert len(ledger) == 2 * golden_scan.videos.num_rows
  assert len(clips) == 2 * golden_scan.clips.num_rows
  assert {r['scan_id'] for r in ledger} == {FIRST, SECOND}


def test_clip_ids_survive_a_rescan(rescanned):
  """``clip_id`` hashes video, label, start and model version, never the
  scan: the same clips found again keep their ids."""
  root, _ = rescanned
  clips = _parquet_rows(root, 'flagged_clips')
  ids = {scan: sorted(c['clip_id'] for c in clips if c['scan_id'] == scan)
         for scan in (FIRST, SECOND)}
  assert ids[FIRST] == ids[SECOND] and len(set(ids[FIRST])) == len(
      ids[FIRST])


def test_load_review_data_keeps_each_videos_latest_scan(rescanned,
                                                        golden_scan):
  root, _ = rescanned
  data = review_query.load_review_data(root)
  assert data.videos.num_rows == golden_scan.videos.num_rows
  assert data.clips.num_rows == golden_scan.clips.num_rows
  assert set(data.videos.column('scan_id').to_pylist()) == {SECOND}
  assert set(data.clips.column('scan_id').to_pylist()) == {SECOND}
  assert len(set(data.clips.column('clip_id').to_pylist())) == \
      golden_scan.clips.num_rows
  older = review_query.load_review_data(root, scans=(FIRST,))
  assert set(older.clips.column('scan_id').to_pylist()) == {FIRST}
  assert older.videos.num_rows == golden_scan.videos.num_rows


def test_the_page_data_has_no_duplicate_cards(rescanned, golden_scan):
  root, _ = rescanned
  model = review_report.build_page_model(
      review_query.load_review_data(root), review_report.ReportRequest(
          root, review_query.ClipFilter(limit=200)))
  ids = [c['clip_id'] for c in model['clips']]
  assert len(ids) == len(set(ids)) == golden_scan.clips.num_rows
  assert len(model['videos']) == len(
      {c['video_id'] for c in golden_scan.clips.to_pylist()})


def test_top_stats_and_video_count_each_video_and_clip_once(
    rescanned, golden_scan, capsys):
  root, _ = rescanned
  n_clips = golden_scan.clips.num_rows
  n_videos = golden_scan.videos.num_rows
  top = _json(capsys, 'top', '--output', root, '--limit', '0')
  assert len(top) == len({c['clip_id'] for c in top}) == n_clips
  assert {c['scan_id'] for c in top} == {SECOND}

  stats = _json(capsys, 'stats', '--output', root)
  assert stats['totals'] == [dict(videos=n_videos, clips=n_clips, scans=1)]
  assert sum(r['videos'] for r in stats['videos_by_status']) == n_videos
  assert sum(r['clips'] for r in stats['clips_by_label']) == n_clips
  assert [(r['videos'], r['clips']) for r in stats['by_model_version']] == [
      (n_videos, n_clips)]
  assert [r['scan_id'] for r in stats['by_scan']] == [SECOND]

  webm = _webm_clips(golden_scan.clips.to_pylist())[0]
  document = _json(capsys, 'video', webm['video_id'], '--output', root)
  assert document['video']['scan_id'] == SECOND
  assert [c['start_ms'] for c in document['clips']] == [2000, 11000]


def test_scan_names_one_scan_or_both(rescanned, golden_scan, capsys):
  root, _ = rescanned
  n_clips = golden_scan.clips.num_rows
  first = _json(capsys, 'top', '--output', root, '--limit', '0', '--scan',
                FIRST)
  assert {c['scan_id'] for c in first} == {FIRST} and len(first) == n_clips
  latest = _json(capsys, 'top', '--output', root, '--limit', '0', '--scan',
                 'latest')
  assert {c['scan_id'] for c in latest} == {SECOND}
  both = _json(capsys, 'stats', '--output', root, '--scan', FIRST, '--scan',
               SECOND)
  # Two scans asked for: both listed, but videos and clips still distinct.
  assert [r['scan_id'] for r in both['by_scan']] == [FIRST, SECOND]
  assert both['totals'][0]['videos'] == golden_scan.videos.num_rows
  assert both['totals'][0]['clips'] == n_clips
  webm = _webm_clips(golden_scan.clips.to_pylist())[0]
  document = _json(capsys, 'video', webm['video_uri'], '--output', root,
                   '--scan', FIRST)
  assert document['video']['scan_id'] == FIRST


def test_a_verdict_on_the_first_scan_attaches_to_the_rescanned_clip(
    rescanned, golden_scan, capsys):
  root, clip_id = rescanned
  webm = _webm_clips(golden_scan.clips.to_pylist())[0]
  document = _json(capsys, 'video', webm['video_id'], '--output', root)
  by_id = {c['clip_id']: c for c in document['clips']}
  assert by_id[clip_id]['scan_id'] == SECOND
  assert by_id[clip_id]['outcome'] == 'violating'
  assert [(v['clip_id'], v['reviewer'], v['verdict'], v['note'])
          for v in document['verdicts']] == [
              (clip_id, 'alice', 'violating', 'first look')]
  code, out, _ = _cli(capsys, 'video', webm['video_id'], '--output', root)
  assert code == 0
  assert 'verdict history (oldest first):' in out
  history = out.split('verdict history (oldest first):')[1]
  assert '2026-12-01 09:00:00Z  alice' in history and 'first look' in history
  [row] = _json(capsys, 'precision', '--output', root)
  assert (row['reviewed'], row['violating'], row['precision']) == (1, 1, 1.0)


def test_a_later_skipped_row_does_not_hide_the_answer(team_root,
                                                      golden_scan, corpus,
                                                      marker_model_dir):
  """A third run with --skip-scanned skips every unchanged video: each
  still answers from the scan that looked at it."""
  run_scan(team_root, [os.path.join(corpus.root, '**')], marker_model_dir,
           'skipping', '--skip-scanned')
  ledger = _parquet_rows(team_root, 'videos')
  assert any(r['scan_id'] == 'skipping' and r['status'] == 'skipped'
             for r in ledger)
  data = review_query.load_review_data(team_root)
  assert data.clips.num_rows == golden_scan.clips.num_rows
  assert set(data.clips.column('scan_id').to_pylist()) == {SECOND}
  answering = {(r['video_id'], r['status']): r['scan_id']
               for r in data.videos.to_pylist()}
  assert all(scan == SECOND for (_, status), scan in answering.items()
             if status in review_query.SCORED_STATUSES)


# ---------------------------------------------------------------------------
# 2. Known reviewers, history, disputes and the precision rule.
# ---------------------------------------------------------------------------

def _verdict(capsys, root: str, clip_id: str, verdict: str, *extra: str
             ) -> Tuple[int, str, str]:
  return _cli(capsys, 'verdict', clip_id, verdict, '--output', root, *extra)


def test_two_reviewers_who_disagree_are_a_dispute(team_root, rescanned,
                                                  golden_scan, capsys):
  _, green = rescanned                         # alice: violating (T0)
  red = _webm_clips(golden_scan.clips.to_pylist())[1]['clip_id']
  assert _verdict(capsys, team_root, green, 'not_violating', '--reviewer',
                  'bob', '--note', 'a toy')[0] == 0
  assert _verdict(capsys, team_root, red, 'violating', '--reviewer',
                  'bob')[0] == 0
  assert _verdict(capsys, team_root, red, 'violating', '--reviewer',
                  'alice')[0] == 0

  [dispute] = _json(capsys, 'disputes', '--output', team_root)
  assert dispute['clip_id'] == green and dispute['outcome'] == 'disputed'
  assert dispute['verdicts'] == 'alice: violating; bob: not_violating'
  assert dispute['reviewers'] == 2
  code, out, err = _cli(capsys, 'disputes', '--output', team_root)
  assert code == 0 and 'disputed' in out and green in out
  assert '1 of 1 matching disputed clips shown' in err

  [row] = _json(capsys, 'precision', '--output', team_root)
  # green is disputed: counted apart, not in the ratio; red: violating.
  assert (row['reviewed'], row['violating'], row['not_violating'],
          row['disputed'], row['precision']) == (2, 1, 0, 1, 1.0)
  stats = _json(capsys, 'stats', '--output', team_root)
  assert stats['precision_by_model_version'] == [row]

  # Bob's verdict did not replace Alice's: both are in the history.
  webm = _webm_clips(golden_scan.clips.to_pylist())[0]['video_id']
  document = _json(capsys, 'video', webm, '--output', team_root)
  history = [(v['reviewer'], v['verdict']) for v in document['verdicts']
             if v['clip_id'] == green]
  assert history == [('alice', 'violating'), ('bob', 'not_violating')]
  assert {c['clip_id']: c['outcome'] for c in document['clips']} == {
      green: 'disputed', red: 'violating'}

  # A third reviewer breaks the tie: a majority, still listed (the
  # verdicts differ) but now counted in precision.
  assert _verdict(capsys, team_root, green, 'violating', '--reviewer',
                  'carol')[0] == 0
  [dispute] = _json(capsys, 'disputes', '--output', team_root)
  assert dispute['outcome'] == 'violating' and dispute['reviewers'] == 3
  [row] = _json(capsys, 'precision', '--output', team_root)
  assert (row['violating'], row['disputed'], row['precision']) == (2, 0, 1.0)


def test_only_each_reviewers_latest_verdict_counts(team_root, rescanned):
  _, green = rescanned                        # alice: violating at T0
  for minutes, reviewer, verdict in ((1, 'bob', 'not_violating'),
                                     (2, 'alice', 'not_violating'),
                                     (3, 'bob', 'unsure'),
                                     (4, 'bob', 'not_violating')):
    review_query.append_verdict(team_root, green, verdict, reviewer,
                                reviewed_at=T0 + datetime.timedelta(
                                    minutes=minutes))
  con = review_query.connect(review_query.load_review_data(team_root))
  outcome = review_query.clip_outcomes(con)[green]
  assert (outcome['outcome'], outcome['reviewers'],
          outcome['distinct_verdicts']) == ('not_violating', 2, 1)
  assert review_query.disputes(con) == []
  assert len(review_query.verdict_history(con, [green])) == 5
  [row] = review_query.precision_by_model_version(con)
  assert (row['not_violating'], row['precision']) == (1, 0.0)


def test_an_unknown_clip_id_is_refused(team_root, capsys):
  before = glob.glob(f'{team_root}/reviews/*/*.parquet')
  code, out, err = _verdict(capsys, team_root, 'no-such-clip', 'violating')
  assert code == 2 and out == ''
  assert err.count('\n') == 1 and "'no-such-clip'" in err
  assert glob.glob(f'{team_root}/reviews/*/*.parquet') == before


def test_the_reviewer_defaults_to_the_os_user(team_root, rescanned, capsys):
  _, green = rescanned
  code, out, _ = _verdict(capsys, team_root, green, 'unsure', '--format',
                          'json')
  assert code == 0 and json.loads(out)[0]['reviewer'] == getpass.getuser()
  rows = _parquet_rows(team_root, 'reviews')
  assert sorted(r['reviewer'] for r in rows) == sorted(
      ['alice', getpass.getuser()])
  assert all(r['reviewed_at'] is not None for r in rows)
  code, _, err = _verdict(capsys, team_root, green, 'unsure', '--reviewer',
                          'eve\x1b[2J')
  assert code == 2 and 'printable name' in err and err.count('\n') == 1
  code, _, err = _verdict(capsys, team_root, green, 'unsure', '--reviewer',
                          '  ')
  assert code == 2
  assert len(_parquet_rows(team_root, 'reviews')) == 2


# ---------------------------------------------------------------------------
# 3. Errors instead of empty answers; "N of M"; every format.
# ---------------------------------------------------------------------------

COMMANDS = (('top',), ('stats',), ('videos',), ('precision',),
            ('disputes',))


def _assert_usage_error(capsys, argv, expected: str) -> None:
  code, out, err = _cli(capsys, *argv)
  assert code == 2, (argv, out, err)
  assert out == ''
  assert err.count('\n') == 1 and expected in err, err
  assert 'Traceback' not in err and '(no rows)' not in err


@pytest.mark.parametrize('argv', COMMANDS + (('video', 'v'),
                                             ('verdict', 'c', 'unsure')))
def test_a_root_without_scan_output_is_a_usage_error(rescanned, tmp_path,
                                                     capsys, argv):
  missing = str(tmp_path / 'no-such-root')
  _assert_usage_error(capsys, argv + ('--output', missing),
                      'does not exist')
  empty = tmp_path / 'empty'
  empty.mkdir()
  _assert_usage_error(capsys, argv + ('--output', str(empty)),
                      'holds no scan output')
  root, _ = rescanned
  parent = os.path.dirname(root)
  _assert_usage_error(capsys, argv + ('--output', parent),
                      f'these folders in it do: {root!r}')


@pytest.mark.parametrize('argv', COMMANDS + (('video', 'x'),))
def test_an_unknown_scan_is_a_usage_error(rescanned, golden_scan, capsys,
                                          argv):
  root, _ = rescanned
  if argv[0] == 'video':
    argv = ('video', golden_scan.videos.column('video_id')[0].as_py())
  _assert_usage_error(capsys, argv + ('--output', root, '--scan', 'gloden'),
                      f"no scan 'gloden' under this root (scans: "
                      f"'{FIRST}', '{SECOND}')")


@pytest.mark.parametrize('argv, expected', [
    (('top', '--label', 'red_markr'),
     "has label 'red_markr' (labels: 'green_marker', 'red_marker')"),
    (('top', '--model-version', '2'), "has model version '2'"),
    (('top', '--video', 'nope.mp4'), "has video 'nope.mp4'"),
    (('video', 'nope.mp4'), "has video 'nope.mp4'"),
    (('top', '--min-score', '80'), 'must be in [0, 1], got 80'),
    (('top', '--limit', '-1'), 'must be >= 0, got -1'),
    (('videos', '--limit', '-1'), 'must be >= 0, got -1'),
    (('disputes', '--limit', '-3'), 'must be >= 0, got -3'),
    (('videos', '--status', 'done'), "invalid choice: 'done'"),
])
def test_unknown_names_and_out_of_range_numbers_are_usage_errors(
    rescanned, capsys, argv, expected):
  root, _ = rescanned
  _assert_usage_error(capsys, argv + ('--output', root), expected)


def test_every_limit_says_n_of_m(rescanned, golden_scan, capsys):
  root, _ = rescanned
  n_clips = golden_scan.clips.num_rows
  code, out, err = _cli(capsys, 'top', '--output', root, '--limit', '3')
  assert code == 0 and len(out.strip().splitlines()) == 1 + 3
  assert err == f'3 of {n_clips} matching clips shown\n'
  code, out, err = _cli(capsys, 'top', '--output', root, '--label',
                        'green_marker', '--format', 'json')
  green = sum(c['label'] == 'green_marker'
              for c in golden_scan.clips.to_pylist())
  assert len(json.loads(out)) == green
  assert err == f'{green} of {green} matching clips shown\n'
  unseen = sum(v['status'] in ('partial', 'failed')
               for v in golden_scan.videos.to_pylist())
  code, out, err = _cli(capsys, 'videos', '--output', root, '--limit', '2',
                        '--format', 'csv')
  assert len(out.strip().splitlines()) == 1 + 2
  assert err == f'2 of {unseen} matching videos shown\n'
  # A filter that matches nothing is an answer, and says so.
  code, out, err = _cli(capsys, 'top', '--output', root, '--label',
                        'green_marker', '--video', unseen_uri(golden_scan))
  assert (code, out, err) == (0, '(no rows)\n',
                              '0 of 0 matching clips shown\n')


def unseen_uri(golden_scan) -> str:
  """A video the scans saw that has no clip (a clean one)."""
  flagged = {c['video_uri'] for c in golden_scan.clips.to_pylist()}
  return next(v['video_uri'] for v in golden_scan.videos.to_pylist()
              if v['status'] == 'scanned' and v['video_uri'] not in flagged)


def _csv_rows(text: str) -> List[dict]:
  return list(csv.DictReader(io.StringIO(text)))


def test_every_command_prints_json_and_csv(team_root, rescanned,
                                           golden_scan, capsys):
  _, green = rescanned
  _verdict(capsys, team_root, green, 'not_violating', '--reviewer', 'bob')
  webm = _webm_clips(golden_scan.clips.to_pylist())[0]['video_id']
  n_clips = golden_scan.clips.num_rows
  expected_rows = {
      ('top', '--limit', '0'): n_clips,
      ('video', webm): 2,
      ('videos', '--status', 'scanned'): sum(
          v['status'] == 'scanned' for v in golden_scan.videos.to_pylist()),
      ('precision',): 1,
      ('disputes',): 1,
  }
  for argv, rows in expected_rows.items():
    document = _json(capsys, *argv, '--output', team_root)
    listed = document['clips'] if argv[0] == 'video' else document
    assert len(listed) == rows, argv
    code, out, err = _cli(capsys, *argv, '--output', team_root, '--format',
                          'csv')
    assert code == 0, err
    table = _csv_rows(out)
    assert len(table) == rows, argv
    assert 'clip_id' in table[0] or argv[0] in ('videos', 'precision')
  stats = _json(capsys, 'stats', '--output', team_root)
  assert set(stats) >= {'totals', 'videos_by_status', 'clips_by_label',
                        'by_model_version', 'by_scan',
                        'precision_by_model_version'}
  code, out, _ = _cli(capsys, 'stats', '--output', team_root, '--format',
                      'csv')
  sections = {row['section'] for row in _csv_rows(out)}
  assert sections == {name for name, rows in stats.items() if rows}
  code, out, _ = _verdict(capsys, team_root, green, 'unsure', '--reviewer',
                          '=cmd', '--format', 'csv')
  [row] = _csv_rows(out)
  assert row['reviewer'] == "'=cmd" and row['verdict'] == 'unsure'
  # The history of the video, as CSV, is its clip rows with their outcome.
  code, out, _ = _cli(capsys, 'video', webm, '--output', team_root,
                      '--format', 'csv')
  outcomes = {r['clip_id']: r['outcome'] for r in _csv_rows(out)}
  assert outcomes[green] == 'disputed'


def test_two_files_that_two_scans_called_by_one_id_stay_two_videos(
    golden_scan, tmp_path):
  """A video is its id and its file: a later scan that gave the id to
  another file does not hide the first file's answer."""
  root = str(tmp_path / 'results')
  shutil.copytree(golden_scan.root, root)
  later = golden_scan.scan_id + '-moved'
  for dataset, table in (('flagged_clips', golden_scan.clips),
                         ('videos', golden_scan.videos)):
    rows = table.to_pylist()
    for row in rows:
      row['video_uri'] += '.elsewhere'
      row['scan_id'] = later
      row['scanned_at'] += datetime.timedelta(hours=1)
    folder = os.path.join(root, dataset, f'scan={later}')
    os.makedirs(folder)
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema),
                   os.path.join(folder, 'part-0.parquet'))
  data = review_query.load_review_data(root)
  assert data.clips.num_rows == 2 * golden_scan.clips.num_rows
  assert data.videos.num_rows == 2 * golden_scan.videos.num_rows


def test_a_video_may_be_named_by_a_relative_path(rescanned, golden_scan,
                                                 capsys):
  """Scans record canonical URIs; a reviewer types the path they see."""
  root, _ = rescanned
  webm = _webm_clips(golden_scan.clips.to_pylist())[0]['video_uri']
  relative = os.path.relpath(webm)
  assert relative != webm
  document = _json(capsys, 'video', relative, '--output', root)
  assert document['video']['video_uri'] == webm
  top = _json(capsys, 'top', '--output', root, '--video', relative)
  assert {c['video_uri'] for c in top} == {webm} and len(top) == 2
