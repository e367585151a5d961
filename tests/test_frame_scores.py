"""Per-sample scores (issue #15, item 3): the ``frame_scores`` dataset,
``rescan rethreshold`` and near-misses.

The corpus is real encoded video whose planted markers grow and shrink,
so the marker model's scores sweep through every value and two thresholds
give different clips.  The same corpus is scanned twice into one root:
``high`` at threshold 0.6 storing its scores, then ``low`` at 0.3 with
``--no-frame-scores``.  Re-thresholding ``high`` to 0.3 must give exactly
``low``'s clips, compared in DuckDB; the review commands must count each
clip once."""
from __future__ import annotations

import json
import os
import shutil

import duckdb
import numpy as np
import pytest

import schemas
from model.synthetic_video import PlantedEvent
from model.synthetic_video import encode_frames
from model.synthetic_video import render_frame
from pipeline.cli import main as rescan
from pipeline.review import query as review_query
from pipeline.review import report as review_report
from tests import browser as browser_driver
from tests.conftest import LABELS
from tests.conftest import run_scan
from tests.test_review_report_browser import ARTIFACTS
from tests.test_review_report_browser import chromium  # noqa: F401  pylint: disable=unused-import

HIGH, LOW, AGAIN = 'high', 'low', 'again'
HIGH_T, LOW_T = 0.6, 0.3
# The clip rules both scans share; only the threshold differs.
RULES = ('--fps', '4', '--merge-gap-seconds', '0.5', '--min-clip-seconds',
         '0.5')
# The columns a clip is compared on (everything but the run and the JPEG).
CLIP_COLUMNS = ('clip_id, video_id, video_uri, label, start_ms, end_ms, '
                'peak_ms, peak_score, mean_score, frames, model_name, '
                'model_version, threshold')


def _pulsing_video(path: str, seconds: float, seed: int,
                   events: tuple) -> str:
  """Markers whose size follows a slow wave: scores sweep 0..1."""
  fps = 10.0

  def frame(i: int) -> np.ndarray:
    t = i / fps
    fraction = 0.15 * (0.5 + 0.5 * np.sin(t * 1.9 + seed))
    return render_frame(t, 160, 120, events, seed,
                        marker_fraction=max(fraction, 0.001))
  return encode_frames(path, (frame(i) for i in range(int(seconds * fps))),
                       'h264', fps)


@pytest.fixture(scope='module')
def scanned(tmp_path_factory, marker_model_dir):
  """The root: ``high`` with frame scores, then ``low`` without."""
  archive = tmp_path_factory.mktemp('pulsing')
  red, green = LABELS
  _pulsing_video(str(archive / 'both.mp4'), 14.0, 1,
                 (PlantedEvent(red, 1.0, 13.0), PlantedEvent(green, 4.0, 9.0)))
  _pulsing_video(str(archive / 'red.mp4'), 12.0, 2,
                 (PlantedEvent(red, 0.0, 12.0),))
  _pulsing_video(str(archive / 'clean.mp4'), 6.0, 3, ())
  root = str(tmp_path_factory.mktemp('scores') / 'results')
  inputs = [str(archive / '*.mp4')]
  run_scan(root, inputs, marker_model_dir, HIGH, '--threshold', str(HIGH_T),
           *RULES)
  run_scan(root, inputs, marker_model_dir, LOW, '--threshold', str(LOW_T),
           '--no-frame-scores', *RULES)
  return root


@pytest.fixture(scope='module')
def rethresholded(scanned):
  """``high`` re-thresholded to ``low``'s threshold as scan ``again``."""
  code = rescan.main(['rethreshold', '--output', scanned, '--threshold',
                      str(LOW_T), '--scan', HIGH, '--scan-id', AGAIN])
  assert code == 0
  return scanned


def _sql(root: str, sql: str):
  con = duckdb.connect()
  for dataset in ('flagged_clips', 'videos', 'frame_scores'):
    con.execute(f"CREATE VIEW {dataset} AS SELECT * FROM read_parquet("
                f"'{schemas.dataset_glob(root, dataset)}', "
                "hive_partitioning=true, union_by_name=true)")
  return con.sql(sql).fetchall()


def _cli(capsys, *argv):
  """Runs ``rescan ARGV`` in process: its exit status, stdout and stderr
  (argparse's usage errors exit through ``SystemExit``)."""
  try:
    code = rescan.main(list(argv))
  except SystemExit as exc:
    code = exc.code
  out, err = capsys.readouterr()
  return code, out, err


def test_frame_scores_hold_every_scored_sample_compactly(scanned):
  # One row per scored sample and label, for every scanned video.
  assert _sql(scanned, f"""
      SELECT v.video_uri, v.frames_scored * {len(LABELS)}, count(s.ts_ms)
      FROM videos v LEFT JOIN frame_scores s
        ON s.scan_id = v.scan_id AND s.video_id = v.video_id
      WHERE v.scan_id = '{HIGH}' GROUP BY ALL
      HAVING v.frames_scored * {len(LABELS)} <> count(s.ts_ms)
          OR count(s.ts_ms) = 0""") == []
  assert _sql(scanned, """
      SELECT DISTINCT typeof(ts_ms), typeof(score), threshold,
             sample_interval_ms, merge_gap_ms, min_clip_ms
      FROM frame_scores""") == [('INTEGER', 'FLOAT', HIGH_T, 250.0, 500.0,
                                 500.0)]
  # The scores sweep, so the two thresholds differ on real clips.
  assert _sql(scanned, f"""
      SELECT count(*) FROM frame_scores
      WHERE score > {LOW_T} AND score < {HIGH_T}""")[0][0] > 10
  # --no-frame-scores wrote none.
  assert not os.path.exists(schemas.partition_dir(scanned, 'frame_scores',
                                                  LOW))


def test_rethreshold_equals_a_fresh_scan_at_that_threshold(rethresholded):
  def except_(a: str, b: str):
    return _sql(rethresholded, f"""
        SELECT {CLIP_COLUMNS} FROM flagged_clips WHERE scan_id = '{a}'
        EXCEPT ALL
        SELECT {CLIP_COLUMNS} FROM flagged_clips WHERE scan_id = '{b}'""")
  assert except_(AGAIN, LOW) == []
  assert except_(LOW, AGAIN) == []
  counts = dict(_sql(rethresholded, """
      SELECT scan_id, count(*) FROM flagged_clips GROUP BY ALL"""))
  # Not trivially equal: the lower threshold finds other clips.
  assert counts[LOW] == counts[AGAIN] > 0
  assert except_(LOW, HIGH)
  # Tagged: the source scan and the new threshold on every clip.
  assert _sql(rethresholded, f"""
      SELECT DISTINCT source_scan_id, abs(threshold - {LOW_T}) < 1e-6
      FROM flagged_clips WHERE scan_id = '{AGAIN}'""") == [(HIGH, True)]
  with open(os.path.join(rethresholded, '_claims', f'scan={AGAIN}'),
            encoding='utf-8') as f:
    assert json.load(f)['tool'] == 'rethreshold'


def test_rethreshold_of_one_label(rethresholded, capsys):
  red = LABELS[0]
  code, out, _ = _cli(capsys, 'rethreshold', '--output', rethresholded,
                      '--threshold', str(LOW_T), '--label', red,
                      '--scan', HIGH, '--scan-id', 'red-only')
  assert code == 0 and 'written as scan red-only' in out
  assert _sql(rethresholded, f"""
      SELECT {CLIP_COLUMNS} FROM flagged_clips WHERE scan_id = 'red-only'
      EXCEPT ALL
      SELECT {CLIP_COLUMNS} FROM flagged_clips
      WHERE scan_id = '{LOW}' AND label = '{red}'""") == []
  assert _sql(rethresholded, """
      SELECT DISTINCT label FROM flagged_clips
      WHERE scan_id = 'red-only'""") == [(red,)]


def test_review_counts_a_rethreshold_once(rethresholded, capsys):
  low = {r[0] for r in _sql(rethresholded, f"""
      SELECT clip_id FROM flagged_clips WHERE scan_id = '{LOW}'""")}
  code, out, _ = _cli(capsys, 'review', 'top', '--output', rethresholded,
                      '--limit', '0', '--format', 'json')
  assert code == 0
  rows = json.loads(out)
  # The latest scan answers; neither the re-threshold of the earlier
  # scan nor the earlier scan adds a row.
  assert sorted(r['clip_id'] for r in rows) == sorted(low)
  assert {r['scan_id'] for r in rows} == {LOW}
  code, out, _ = _cli(capsys, 'review', 'top', '--output', rethresholded,
                      '--scan', AGAIN, '--limit', '0', '--format', 'json')
  assert code == 0
  assert {r['scan_id'] for r in json.loads(out)} == {AGAIN}
  code, out, _ = _cli(capsys, 'review', 'stats', '--output', rethresholded,
                      '--scan', AGAIN, '--format', 'json')
  [totals] = json.loads(out)['totals']
  # The ledger of its source scan comes along: 3 videos, not 0.
  assert code == 0 and totals['videos'] == 3 and totals['clips'] == len(low)
  # A video's timeline in the partition: its clips, its source's ledger.
  both = _sql(rethresholded, f"""
      SELECT clip_id, video_uri FROM flagged_clips
      WHERE scan_id = '{AGAIN}' AND video_uri LIKE '%/both.mp4'""")
  assert both
  code, out, _ = _cli(capsys, 'review', 'video', both[0][1], '--output',
                      rethresholded, '--scan', AGAIN, '--format', 'json')
  assert code == 0
  assert sorted(r['clip_id'] for r in json.loads(out)['clips']) == sorted(
      r[0] for r in both)


def test_min_score_reaches_below_the_threshold(rethresholded, capsys):
  low = sorted(r[0] for r in _sql(rethresholded, f"""
      SELECT clip_id FROM flagged_clips WHERE scan_id = '{LOW}'"""))
  code, out, err = _cli(capsys, 'review', 'top', '--output', rethresholded,
                        '--scan', HIGH, '--min-score', str(LOW_T),
                        '--limit', '0', '--format', 'json')
  assert code == 0, err
  assert sorted(r['clip_id'] for r in json.loads(out)) == low
  assert f'near-misses: clips of scan {HIGH} (threshold {HIGH_T:g})' in err
  # The latest scan stored no scores: a clear refusal, not a short list.
  code, out, err = _cli(capsys, 'review', 'top', '--output', rethresholded,
                        '--min-score', '0.1')
  assert code == 2 and out == ''
  assert '--no-frame-scores' in err and f'scan {LOW}' in err
  assert len(err.strip().splitlines()) == 1


def test_the_page_timeline_draws_the_stored_curve(rethresholded):
  data = review_query.load_review_data(rethresholded, [HIGH])
  model = review_report.build_page_model(data, review_report.ReportRequest(
      root=rethresholded, clip_filter=review_query.ClipFilter()))
  samples = dict(_sql(rethresholded, f"""
      SELECT video_uri, count(DISTINCT ts_ms) FROM frame_scores
      WHERE scan_id = '{HIGH}' GROUP BY ALL"""))
  assert model['videos']
  for video in model['videos'].values():
    svg = video['timeline_svg']
    for label in LABELS:
      assert (f'class="tl-curve" data-label="{label}" data-samples="'
              f'{samples[video["video_uri"]]}"') in svg
  # A rethreshold partition draws its source's curve, with its ledger.
  data = review_query.load_review_data(rethresholded, [AGAIN])
  model = review_report.build_page_model(data, review_report.ReportRequest(
      root=rethresholded, clip_filter=review_query.ClipFilter()))
  assert all('tl-curve' in v['timeline_svg'] and v['codec'] == 'h264'
             for v in model['videos'].values())
  # Without stored scores (scan low) the timeline keeps its clip boxes.
  data = review_query.load_review_data(rethresholded, [LOW])
  model = review_report.build_page_model(data, review_report.ReportRequest(
      root=rethresholded, clip_filter=review_query.ClipFilter()))
  assert all('tl-curve' not in v['timeline_svg'] and 'tl-clip' in
             v['timeline_svg'] for v in model['videos'].values())


def test_chromium_draws_the_curve_of_the_selected_clips_video(
    rethresholded, chromium, tmp_path, capsys):  # pylint: disable=redefined-outer-name
  html_path = tmp_path / 'report.html'
  assert rescan.main(['report', '--output', rethresholded, '--scan', HIGH,
                      '--html', str(html_path)]) == 0
  capsys.readouterr()
  with browser_driver.headless_chromium(
      chromium, str(tmp_path / 'profile')) as driver:
    driver.get(html_path.as_uri())
    drawn = browser_driver.wait_for(driver, """
        const lines = document.querySelectorAll('#timeline polyline.tl-curve');
        return lines.length && [...lines].map(l => [
            l.dataset.label, l.points.numberOfItems,
            l.getBoundingClientRect().width]);""")
    os.makedirs(ARTIFACTS, exist_ok=True)
    driver.save_screenshot(os.path.join(ARTIFACTS, 'score-timeline.png'))
  assert sorted(label for label, _, _ in drawn) == sorted(LABELS)
  # Every sample is a point (short videos: fewer samples than columns),
  # and the curve spans the plot.
  assert all(points >= 20 and width > 300 for _, points, width in drawn)


@pytest.mark.parametrize('argv, message', [
    (['--threshold', '0.3', '--scan', 'nope'], "no scan 'nope'"),
    (['--threshold', '0.3', '--scan', LOW], 'stored no frame_scores'),
    (['--threshold', '0.3', '--label', 'blue'], "no label 'blue'"),
    (['--threshold', '1.5'], 'must be in [0, 1]'),
    (['--threshold', 'nan'], 'finite'),
    (['--threshold', '0.3', '--scan-id', HIGH], 'already exists'),
])
def test_rethreshold_usage_errors_are_one_line(rethresholded, capsys, argv,
                                               message):
  code, out, err = _cli(capsys, 'rethreshold', '--output', rethresholded,
                        *argv)
  assert code == 2 and out == ''
  assert message in err and len(err.strip().splitlines()) == 1


def test_rethreshold_refuses_roots_without_scans(tmp_path, capsys):
  code, _, err = _cli(capsys, 'rethreshold', '--output',
                      str(tmp_path / 'missing'), '--threshold', '0.3')
  assert code == 2 and 'does not exist' in err
  code, _, err = _cli(capsys, 'rethreshold', '--output', str(tmp_path),
                      '--threshold', '0.3')
  assert code == 2 and 'holds no scan output' in err


def test_a_broken_scores_file_fails_the_run(rethresholded, tmp_path, capsys):
  root = str(tmp_path / 'results')
  shutil.copytree(rethresholded, root)
  # A committed file (readers skip names no wave committed) overwritten.
  folder = schemas.partition_dir(root, 'frame_scores', HIGH)
  name = sorted(os.listdir(folder))[0]
  with open(os.path.join(folder, name), 'wb') as f:
    f.write(b'not parquet at all')
  code, out, err = _cli(capsys, 'rethreshold', '--output', root,
                        '--threshold', '0.3', '--scan', HIGH)
  assert code == 1 and out == ''
  assert name in err
  assert len(err.strip().splitlines()) == 1


def test_the_latest_scored_scan_is_found_from_the_ledger_footers(
    tmp_path, monkeypatch):
  """``latest_scored_scan`` compares the ledgers' ``scanned_at`` from the
  row groups' statistics, without reading their rows; a file written
  without statistics has that one column read."""
  import datetime  # pylint: disable=import-outside-toplevel
  import pyarrow as pa  # pylint: disable=import-outside-toplevel
  import pyarrow.parquet as pq  # pylint: disable=import-outside-toplevel
  from pipeline.scan import rethreshold  # pylint: disable=import-outside-toplevel
  from pipeline.storage import parquet  # pylint: disable=import-outside-toplevel
  utc = datetime.timezone.utc
  times = {'old': [datetime.datetime(2026, 1, d, tzinfo=utc) for d in (3, 1)],
           'new': [datetime.datetime(2026, 2, 1, tzinfo=utc),
                   datetime.datetime(2026, 1, 2, tzinfo=utc)],
           'plain': [datetime.datetime(2026, 1, 20, tzinfo=utc)]}
  for scan, when in times.items():
    folder = tmp_path / 'videos' / f'scan={scan}'
    folder.mkdir(parents=True)
    table = pa.table({'video_id': [f'v{i}' for i in range(len(when))],
                      'scanned_at': pa.array(when, pa.timestamp('us', 'UTC'))})
    pq.write_table(table, str(folder / 'part-00000-of-00001.parquet'),
                   write_statistics=scan != 'plain', row_group_size=1)
  root = str(tmp_path)
  read_columns = []
  read_row_group = pq.ParquetFile.read_row_group

  def counted(self, group, columns=None, **kwargs):
    read_columns.append(tuple(columns or ()))
    return read_row_group(self, group, columns=columns, **kwargs)

  def refuse(*args, **kwargs):
    raise AssertionError('a whole ledger was read')

  monkeypatch.setattr(pq.ParquetFile, 'read_row_group', counted)
  monkeypatch.setattr(pq.ParquetFile, 'read', refuse)
  monkeypatch.setattr(pq.ParquetFile, 'iter_batches', refuse)
  monkeypatch.setattr(parquet, 'read_parquet_file', refuse)
  assert rethreshold.latest_scored_scan(root, ['old', 'new', 'plain']) == 'new'
  assert rethreshold.latest_scored_scan(root, ['old', 'plain']) == 'plain'
  # Only the file without statistics had a column read, and only that one.
  assert read_columns and set(read_columns) == {('scanned_at',)}
  assert parquet.column_max(
      parquet.parquet_paths(f'{root}/videos/scan=old/*.parquet'),
      'scanned_at') == times['old'][0]
