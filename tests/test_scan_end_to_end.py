"""The whole scan on the DirectRunner against planted ground truth."""
from __future__ import annotations

import collections
import os

import duckdb
import pytest
import pyarrow.dataset as ds

import schemas
from tests.conftest import TOLERANCE_S
from pipeline.storage.parquet import read_partition
from tests.conftest import run_scan


def _clips_by_video_label(clips):
  grouped = collections.defaultdict(list)
  for clip in clips.to_pylist():
    grouped[(clip['video_uri'], clip['label'])].append(clip)
  return grouped


def test_every_input_appears_exactly_once_in_the_ledger(corpus, golden_scan):
  uris = golden_scan.videos.column('video_uri').to_pylist()
  assert sorted(uris) == corpus.all_paths
  assert len(set(golden_scan.videos.column('video_id').to_pylist())) == len(uris)


def test_broken_inputs_are_failed_with_their_kind(corpus, golden_scan):
  rows = {r['video_uri']: r for r in golden_scan.videos.to_pylist()}
  for path, kind in corpus.broken.items():
    assert rows[path]['status'] == 'failed', path
    assert rows[path]['error_kind'] == kind, (path, rows[path])
    assert rows[path]['error_message']
  for path in corpus.videos:
    assert rows[path]['status'] == 'scanned', rows[path]
    assert rows[path]['frames_scored'] > 0
    assert rows[path]['error_kind'] is None


def assert_clips_match_planted_truth(corpus, scan, tolerance_s: float):
  clips = _clips_by_video_label(scan.clips)
  for path, video in corpus.videos.items():
    for label in {e.label for e in video.events}:
      truth = sorted((e for e in video.events if e.label == label),
                     key=lambda e: e.start_s)
      found = sorted(clips[(path, label)], key=lambda c: c['start_ms'])
      assert len(found) == len(truth), (video.name, label, found)
      for event, clip in zip(truth, found):
        assert abs(clip['start_ms'] / 1000 - event.start_s) <= tolerance_s, (
            video.name, clip)
        assert abs(clip['end_ms'] / 1000 - event.end_s) <= tolerance_s, (
            video.name, clip)
        assert clip['start_ms'] <= clip['peak_ms'] < clip['end_ms']
        assert clip['peak_score'] >= clip['threshold']
  flagged = set(scan.clips.column('video_uri').to_pylist())
  assert not flagged & {p for p, v in corpus.videos.items() if not v.events}


def test_clips_match_planted_ground_truth(corpus, golden_scan):
  """The default ``--sampling auto`` (``fast`` on this 2-s-GOP corpus)."""
  assert_clips_match_planted_truth(corpus, golden_scan, TOLERANCE_S)


# Keyframes only: a sample shows the nearest keyframe, up to a GOP (2 s) off.
@pytest.mark.parametrize('mode,tolerance_s', [('exact', TOLERANCE_S),
                                              ('keyframes', 2.0 + 0.5)])
def test_clip_times_hold_in_every_sampling_mode(corpus, marker_model_dir,
                                                tmp_path, mode, tolerance_s):
  scan = run_scan(str(tmp_path), [os.path.join(corpus.root, '**')],
                  marker_model_dir, mode, '--sampling', mode, '--no-hashes')
  assert scan.videos.num_rows == len(corpus.all_paths)
  assert_clips_match_planted_truth(corpus, scan, tolerance_s)


def test_negative_videos_have_no_clips(corpus, golden_scan):
  flagged = set(golden_scan.clips.column('video_uri').to_pylist())
  negatives = {p for p, v in corpus.videos.items() if not v.events}
  assert negatives and not negatives & flagged
  assert flagged <= set(corpus.videos)


def test_content_across_segment_boundaries_is_one_clip(corpus, golden_scan):
  path = next(p for p, v in corpus.videos.items()
              if v.name == 'boundary_crossing.mp4')
  row = next(r for r in golden_scan.videos.to_pylist()
             if r['video_uri'] == path)
  assert row['segments'] == 4  # 18 s in 5-s segments
  clips = [c for c in golden_scan.clips.to_pylist() if c['video_uri'] == path]
  assert len(clips) == 1
  assert clips[0]['start_ms'] < 5000 and clips[0]['end_ms'] > 10000


def test_ledger_counts_agree_with_clips(golden_scan):
  per_video = collections.Counter(golden_scan.clips.column('video_id')
                                  .to_pylist())
  for row in golden_scan.videos.to_pylist():
    assert row['clips'] == per_video.get(row['video_id'], 0)
    assert row['scan_id'] == 'golden'
    assert row['model_name'] == 'marker-standin'


def test_duckdb_and_pyarrow_read_the_outputs_directly(golden_scan):
  root = golden_scan.root
  con = duckdb.connect()
  clip_rows = con.execute(
      f"SELECT count(*), count(DISTINCT clip_id) FROM read_parquet("
      f"'{root}/flagged_clips/**/*.parquet', hive_partitioning=true) "
      "WHERE scan_id = 'golden'").fetchone()
  assert clip_rows == (golden_scan.clips.num_rows, golden_scan.clips.num_rows)
  by_status = dict(con.execute(
      f"SELECT status, count(*) FROM read_parquet('"
      f"{schemas.dataset_glob(root, 'videos')}', hive_partitioning=true) "
      "GROUP BY status").fetchall())
  assert by_status == {'scanned': 9, 'failed': 5}
  table = ds.dataset(os.path.join(root, 'videos'), format='parquet',
                     partitioning='hive').to_table()
  assert table.num_rows == 14
  assert table.schema.field('scanned_at').type == schemas.VIDEOS.field(
      'scanned_at').type


def test_scans_into_one_root_do_not_overwrite(corpus, marker_model_dir,
                                              golden_scan, tmp_path):
  manifest = tmp_path / 'one.csv'
  first = sorted(corpus.videos)[0]
  manifest.write_text(f'uri\n{first}\n', encoding='utf-8')
  second = run_scan(golden_scan.root, [str(manifest)], marker_model_dir,
                    'second')
  assert second.videos.num_rows == 1
  scans = duckdb.sql(
      f"SELECT scan_id, count(*) FROM read_parquet('{golden_scan.root}/"
      "videos/*/*.parquet', hive_partitioning=true) GROUP BY 1 ORDER BY 1"
  ).fetchall()
  assert scans == [('golden', 14), ('second', 1)]


def test_every_clip_carries_a_small_jpeg_of_its_peak_frame(golden_scan):
  import io  # pylint: disable=import-outside-toplevel
  from PIL import Image  # pylint: disable=import-outside-toplevel
  for clip in golden_scan.clips.to_pylist():
    thumbnail = clip['thumbnail']
    assert thumbnail and len(thumbnail) <= 20_000, clip['clip_id']
    image = Image.open(io.BytesIO(thumbnail))
    assert image.format == 'JPEG'
    pixels = image.convert('RGB').getdata()
    marker = (235, 20, 25) if clip['label'] == 'red_marker' else (20, 225, 30)
    close = sum(1 for p in pixels
                if max(abs(a - b) for a, b in zip(p, marker)) < 70)
    assert close / len(pixels) > 0.1  # the peak frame shows the marker


def test_the_same_decode_pass_stores_vpdq_rate_frame_hashes(corpus,
                                                            golden_scan):
  hashes = read_partition(golden_scan.root, 'frame_hashes', 'golden')
  per_video = collections.Counter(hashes.column('video_uri').to_pylist())
  for path, video in corpus.videos.items():
    if not video.variable_frame_rate:
      # vPDQ hashes one frame per second of a constant-frame-rate video.
      assert per_video[path] == int(video.seconds), (video.name, per_video[path])
  assert set(per_video) == set(corpus.videos)
  assert all(len(p) == 32 for p in hashes.column('pdq').to_pylist())


def test_a_scan_with_a_bank_matches_the_banked_video_and_nothing_else(
    corpus, marker_model_dir, tmp_path):
  from pipeline.cli import bank as bank_cli  # pylint: disable=import-outside-toplevel
  from model.synthetic_video import write_video  # pylint: disable=import-outside-toplevel
  # Textured footage: PDQ drops flat frames (quality < 50) from matching.
  archive = tmp_path / 'archive'
  archive.mkdir()
  known, other = (write_video(str(archive / name), 8.0, 'h264', seed=seed,
                              noise=0.5)
                  for seed, name in ((11, 'known_attack.mp4'),
                                     (12, 'unrelated.mp4')))
  first = run_scan(str(tmp_path / 'first'), [known], marker_model_dir, 'first')
  known_id = first.videos.column('video_id')[0].as_py()
  bank = str(tmp_path / 'bank')
  assert bank_cli.main(['import', '--bank', bank, '--id', 'known-attack',
                        '--label', 'attack_video', '--frame-hashes',
                        first.root, '--video-id', known_id]) == 0
  scan = run_scan(str(tmp_path / 'out'),
                  [str(archive / '*.mp4'), os.path.join(corpus.root, '*')],
                  marker_model_dir, 'banked', '--bank', bank)
  hashes = read_partition(scan.root, 'frame_hashes', 'banked')
  assert other in hashes.column('video_uri').to_pylist()
  matches = read_partition(scan.root, 'hash_matches', 'banked').to_pylist()
  assert [m['video_uri'] for m in matches] == [known]
  assert matches[0]['query_match_pct'] == 100.0
  assert matches[0]['label'] == 'attack_video'
  assert matches[0]['kind'] == 'vpdq'
