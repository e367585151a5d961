"""``rescan review``: querying an output root, local and on gs://."""
from __future__ import annotations

import collections
import datetime
import json
import os
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import schemas
from pipeline.cli import review as review_cli
from pipeline.review import query as review_query
from schemas import review_tables
from schemas.hash_tables import HASH_MATCHES


@pytest.fixture
def review_root(golden_scan, tmp_path) -> str:
  """A private copy of the golden scan's outputs, for tests that write."""
  root = str(tmp_path / 'results')
  shutil.copytree(golden_scan.root, root)
  return root


def _connect(root: str):
  return review_query.connect(review_query.load_review_data(root))


def _run_cli(capsys, *argv: str):
  code = review_cli.main(list(argv))
  captured = capsys.readouterr()
  return code, captured.out, captured.err


def test_top_orders_by_score_and_filters(golden_scan):
  con = _connect(golden_scan.root)
  clips = golden_scan.clips.to_pylist()
  everything = review_query.top_clips(con, review_query.ClipFilter())
  assert len(everything) == len(clips)
  assert [c['peak_score'] for c in everything] == sorted(
      (c['peak_score'] for c in clips), reverse=True)
  assert 'thumbnail' not in everything[0]
  green = review_query.top_clips(con, review_query.ClipFilter(
      labels=('green_marker',), scans=('latest',), model_versions=('1',)))
  assert [c['clip_id'] for c in green] == [
      c['clip_id'] for c in clips if c['label'] == 'green_marker']
  uri = next(c['video_uri'] for c in clips if c['video_uri'].endswith('.webm'))
  by_uri = review_query.top_clips(con, review_query.ClipFilter(videos=(uri,)))
  by_id = review_query.top_clips(con, review_query.ClipFilter(
      videos=(by_uri[0]['video_id'],), limit=1))
  assert {c['video_uri'] for c in by_uri} == {uri} and len(by_uri) == 2
  assert len(by_id) == 1
  assert review_query.top_clips(con, review_query.ClipFilter(
      min_score=1.01)) == []
  assert review_query.top_clips(con, review_query.ClipFilter(
      scans=('no-such-scan',))) == []


def test_video_timeline_is_in_time_order_with_a_sparkline(golden_scan):
  con = _connect(golden_scan.root)
  uri = next(c['video_uri'] for c in golden_scan.clips.to_pylist()
             if 'two_labels' in c['video_uri'])
  timeline = review_query.video_timeline(con, uri)
  assert timeline.video['video_uri'] == uri
  assert [(c['label'], c['start_ms']) for c in timeline.clips] == [
      ('green_marker', 2000), ('red_marker', 11000)]
  lines = review_query.sparklines_by_label(timeline, width=16)
  # 16 s in 16 cells: green covers 2-5 s, red 11-13 s.
  assert lines['green_marker'] == '··███···········'
  assert lines['red_marker'] == '···········██···'
  assert review_query.video_timeline(con, 'nope') is None


def test_coverage_sparkline_levels_follow_peak_scores():
  clips = [dict(start_ms=0, end_ms=1000, peak_score=0.2),
           dict(start_ms=2500, end_ms=4000, peak_score=0.99)]
  assert review_query.coverage_sparkline(clips, 4000, 4) == '▂·██'
  assert review_query.coverage_sparkline([], 4000, 4) == '····'
  assert review_query.coverage_sparkline(clips, 0, 4) == ''


def test_stats_count_statuses_labels_models_scans_and_failures(golden_scan):
  stats = review_query.scan_stats(_connect(golden_scan.root))
  ledger = golden_scan.videos.to_pylist()
  by_status = collections.Counter(v['status'] for v in ledger)
  assert {r['status']: r['videos'] for r in stats['videos_by_status']} == \
      by_status
  failures = collections.Counter(v['error_kind'] for v in ledger
                                 if v['status'] == 'failed')
  assert {r['error_kind']: r['videos']
          for r in stats['failures_by_error_kind']} == failures
  labels = collections.Counter(
      c['label'] for c in golden_scan.clips.to_pylist())
  assert {r['label']: r['clips'] for r in stats['clips_by_label']} == labels
  assert [(r['scan_id'], r['videos'], r['clips']) for r in stats['by_scan']] \
      == [('golden', len(ledger), golden_scan.clips.num_rows)]
  assert [r['model_version'] for r in stats['by_model_version']] == ['1']


def test_verdicts_are_appended_and_give_precision_per_model_version(
    review_root):
  clip_ids = [c['clip_id'] for c in review_query.top_clips(
      _connect(review_root), review_query.ClipFilter())]
  t0 = datetime.datetime(2026, 12, 1, 10, tzinfo=datetime.timezone.utc)
  submissions = [
      (clip_ids[0], 'not_violating'),   # changed below: the latest counts
      (clip_ids[1], 'violating'),
      (clip_ids[2], 'violating'),
      (clip_ids[3], 'not_violating'),
      (clip_ids[4], 'unsure'),
      (clip_ids[0], 'violating'),
  ]
  paths = [review_query.append_verdict(
      review_root, clip_id, verdict, 'ana', note=None,
      reviewed_at=t0 + datetime.timedelta(seconds=i))
           for i, (clip_id, verdict) in enumerate(submissions)]
  assert len(set(paths)) == len(submissions)
  assert all(p.startswith(f'{review_root}/reviews/day=2026-12-01/')
             for p in paths)
  con = _connect(review_root)
  assert review_query.latest_verdicts(con)[clip_ids[0]]['verdict'] == \
      'violating'
  [row] = review_query.precision_by_model_version(con)
  assert (row['model_version'], row['reviewed'], row['violating'],
          row['not_violating'], row['unsure']) == ('1', 5, 3, 1, 1)
  assert row['precision'] == pytest.approx(0.75)
  with pytest.raises(review_query.VerdictError):
    review_query.append_verdict(review_root, clip_ids[0], 'maybe', 'ana')
  written = pq.read_table(paths[0])
  assert written.schema.equals(review_tables.REVIEWS)


def test_files_from_before_new_columns_read_as_nulls(review_root,
                                                     golden_scan):
  """An older scan's clips have no thumbnail: they still load and query."""
  old = golden_scan.clips.drop_columns(['thumbnail']).to_pylist()
  for row in old:
    row['scan_id'] = 'older'
  folder = schemas.partition_dir(review_root, 'flagged_clips', 'older')
  os.makedirs(folder)
  old_schema = pa.schema([f for f in schemas.FLAGGED_CLIPS
                          if f.name != 'thumbnail'])
  pq.write_table(pa.Table.from_pylist(old, schema=old_schema),
                 f'{folder}/part-00000-of-00001.parquet')
  data = review_query.load_all_review_data(review_root)
  assert data.clips.num_rows == 2 * golden_scan.clips.num_rows
  older = review_query.top_clips(
      review_query.connect(review_query.load_review_data(
          review_root, scans=('older',))),
      review_query.ClipFilter(), with_thumbnails=True)
  assert len(older) == len(old)
  assert all(c['thumbnail'] is None for c in older)


def _write_hash_match(root: str, video_id: str, video_uri: str) -> None:
  folder = f'{root}/hash_matches/scan_id=match-1'
  os.makedirs(folder, exist_ok=True)
  pq.write_table(pa.Table.from_pylist([dict(
      video_id=video_id, video_uri=video_uri, bank='bank-a',
      entry_id='entry-7', label='known', query_match_pct=91.0,
      compared_match_pct=64.0, matched_frames=9, first_match_ms=1000,
      last_match_ms=5000, scan_id='match-1', kind='vpdq')],
                                      schema=HASH_MATCHES),
                 f'{folder}/part-00000-of-00001.parquet')


def test_cli_prints_tables_json_and_csv(review_root, golden_scan, capsys):
  clips = golden_scan.clips.to_pylist()
  webm = next(c for c in clips if 'two_labels' in c['video_uri'])
  _write_hash_match(review_root, webm['video_id'], webm['video_uri'])

  code, out, _ = _run_cli(capsys, 'top', '--output', review_root,
                          '--limit', '3')
  assert code == 0
  header, *rows = out.strip().splitlines()
  assert header.split()[:3] == ['peak', 'mean', 'label'] and len(rows) == 3

  code, out, _ = _run_cli(capsys, 'top', '--output', review_root,
                          '--format', 'json', '--label', 'red_marker')
  parsed = json.loads(out)
  assert code == 0 and {c['label'] for c in parsed} == {'red_marker'}
  assert len(parsed) == sum(c['label'] == 'red_marker' for c in clips)

  code, out, _ = _run_cli(capsys, 'top', '--output', review_root,
                          '--format', 'csv')
  lines = out.strip().splitlines()
  assert lines[0].startswith('clip_id,') and len(lines) == len(clips) + 1

  code, out, _ = _run_cli(capsys, 'video', webm['video_id'], '--output',
                          review_root)
  assert code == 0
  assert 'green_marker  |' in out and 'red_marker    |' in out
  assert 'hash matches:' in out and 'entry-7' in out

  code, out, _ = _run_cli(capsys, 'video', webm['video_uri'], '--output',
                          review_root, '--format', 'json')
  document = json.loads(out)
  assert [c['start_ms'] for c in document['clips']] == [2000, 11000]
  assert document['hash_matches'][0]['entry_id'] == 'entry-7'

  code, out, _ = _run_cli(capsys, 'verdict', webm['clip_id'], 'violating',
                          '--output', review_root, '--reviewer', 'bo')
  assert code == 0 and '/reviews/day=' in out
  code, out, _ = _run_cli(capsys, 'stats', '--output', review_root)
  assert code == 0
  for title in ('videos by status', 'failures by error kind',
                'clips by label', 'by model version', 'by scan',
                'precision by model version'):
    assert title + ':' in out
  code, out, _ = _run_cli(capsys, 'stats', '--output', review_root,
                          '--format', 'csv', '--scan', 'latest')
  assert out.splitlines()[0].startswith('section,')
  code, out, _ = _run_cli(capsys, 'precision', '--output', review_root,
                          '--format', 'json')
  assert json.loads(out)[0]['precision'] == 1.0

  code, _, err = _run_cli(capsys, 'video', 'no-such-video', '--output',
                          review_root)
  assert code == 2 and err.count('\n') == 1
  assert "has video 'no-such-video'" in err


@pytest.mark.xdist_group('gcs')
def test_a_gs_root_is_read_through_filesystems(emulator, golden_scan):
  bucket = emulator.bucket('results')
  for folder, _, files in os.walk(golden_scan.root):
    for name in files:
      if name.endswith('.parquet'):
        path = os.path.join(folder, name)
        relative = os.path.relpath(path, golden_scan.root)
        bucket.blob(f'review-root/{relative}').upload_from_filename(path)
  root = 'gs://results/review-root'
  local = review_query.top_clips(_connect(golden_scan.root),
                                 review_query.ClipFilter())
  remote_con = _connect(root)
  assert review_query.top_clips(remote_con, review_query.ClipFilter()) == local
  assert review_query.scan_stats(remote_con)['videos_by_status'] == \
      review_query.scan_stats(_connect(golden_scan.root))['videos_by_status']
  path = review_query.append_verdict(root, local[0]['clip_id'], 'unsure',
                                     'cy')
  assert path.startswith('gs://results/review-root/reviews/day=')
  assert review_query.latest_verdicts(_connect(root))[
      local[0]['clip_id']]['verdict'] == 'unsure'
