"""Content that is never looked at never looks clean (issue #14, "Evasion").

Every ledger row records the samples its timeline should give and the share
scored; a video scored below ``--min-coverage`` is ``partial`` (or
``failed``), never ``scanned``.  The damage is real: MJPEG, MPEG-4 Part 2,
H.264, HEVC and VP9 videos whose packets at the start, the middle or the
end were replaced by junk, or damaged so that the decoder conceals or
silently drops the pictures, plus a segment lost to a timeout.  Each
damaged video's undamaged twin is ``scanned`` with coverage 1.0.
"""
from __future__ import annotations

import datetime
import json
import os
import re
import time
from typing import Dict, NamedTuple, Optional

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import schemas
from model.synthetic_video import PlantedEvent
from model.synthetic_video import write_video
from pipeline.cli import review as review_cli
from pipeline.media import decode
from pipeline.media import probe
from pipeline.media import sampling
from pipeline.media.segments import plan_segments
from pipeline.review import query as review_query
from pipeline.scan import decoding
from pipeline.scan import options
from pipeline.scan import summary
from pipeline.scan import transforms
from pipeline.storage import files as storage
from tests.conftest import FPS
from tests.conftest import SEGMENT_SECONDS
from tests.conftest import run_scan
from tests.fixtures import damaged_media

SECONDS = 8.0
VIDEO_FPS = 10.0
SIZE = (160, 120)
EVENT = PlantedEvent('red_marker', 3.0, 5.0)
CODECS = {'mjpeg': damaged_media.MJPEG, 'mpeg4': 'mpeg4', 'h264': 'h264',
          'hevc': 'hevc', 'vp9': 'vp9'}
PLACES = {'start': (0.0, 2.0), 'middle': (3.0, 5.0), 'end': (6.0, 8.0)}
EXTENSIONS = {'mjpeg': '.avi', 'mpeg4': '.avi', 'h264': '.mp4',
              'hevc': '.mkv', 'vp9': '.webm'}
EXPECTED = int(SECONDS * FPS)  # samples of one clean video
# A 12-s video whose second segment hangs past the timeout.
LOST_SEGMENT = 'lost_segment.mp4'
LOST_SEGMENT_SECONDS = 12.0
# The issue's example: MJPEG with ~200 undecodable packets after its first
# second, once recorded "scanned" with 5 of 65 samples scored.
ISSUE_MJPEG = 'issue_mjpeg.avi'
MESSAGE = re.compile(r'^(\d+) of (\d+) samples scored \((\d+)%\)')


class Damaged(NamedTuple):
  codec: str
  kind: Optional[str]   # None: the undamaged twin
  place: Optional[str]


def _clean_name(codec: str) -> str:
  return f'{codec}_clean{EXTENSIONS[codec]}'


def _damaged_name(codec: str, kind: str, place: str) -> str:
  return f'{codec}_{kind}_{place}{EXTENSIONS[codec]}'


def write_damage_set(folder: str) -> Dict[str, Damaged]:
  """Every codec's clean twin and its six damaged copies: file name ->
  what was done to it."""
  videos: Dict[str, Damaged] = {}
  for seed, (codec, spec) in enumerate(CODECS.items()):
    clean = write_video(os.path.join(folder, _clean_name(codec)), SECONDS,
                        spec, fps=VIDEO_FPS, size=SIZE, events=(EVENT,),
                        seed=seed)
    videos[_clean_name(codec)] = Damaged(codec, None, None)
    for kind in damaged_media.DAMAGE_KINDS:
      for place, (start_s, end_s) in PLACES.items():
        name = _damaged_name(codec, kind, place)
        damaged_media.damage_packets(clean, os.path.join(folder, name),
                                     start_s, end_s, kind, seed)
        videos[name] = Damaged(codec, kind, place)
  return videos


def write_issue_mjpeg(folder: str) -> str:
  clean = write_video(os.path.join(folder, 'issue_clean.tmp.avi'), SECONDS,
                      damaged_media.MJPEG, fps=30.0, size=SIZE,
                      events=(PlantedEvent('red_marker', 2.0, 6.0),))
  path = damaged_media.damage_packets(
      clean, os.path.join(folder, ISSUE_MJPEG), 1.0, SECONDS,
      damaged_media.JUNK)
  os.remove(clean)
  return path


@pytest.fixture(scope='module')
def damage_set(tmp_path_factory) -> str:
  folder = str(tmp_path_factory.mktemp('damaged') / 'archive')
  os.makedirs(folder)
  write_damage_set(folder)
  write_issue_mjpeg(folder)
  write_video(os.path.join(folder, LOST_SEGMENT), LOST_SEGMENT_SECONDS,
              'h264', fps=VIDEO_FPS, size=SIZE, events=(EVENT,))
  return folder


def _decoded_samples(path: str, mode: str = sampling.AUTO):
  """(samples given, samples expected, samples lost) of a whole video,
  decoded segment by segment as the scan does."""
  info = probe.probe_video(path)
  given = expected = lost = 0
  for segment in plan_segments(info, int(SEGMENT_SECONDS * 1000)):
    expected += sampling.expected_samples(segment.start_ms, segment.end_ms,
                                          FPS)
    stats = decode.DecodeStats()
    with storage.open_media(path) as reader:
      given += sum(1 for _ in decode.iter_samples(
          reader, segment.start_ms, segment.end_ms, FPS, (32, 32), stats,
          mode=mode, keyframe_interval_ms=info.keyframe_interval_ms))
    lost += stats.samples_lost
  return given, expected, lost


# --- the damage is real, and decoding does not paper over it -------------


@pytest.mark.parametrize('codec', sorted(CODECS))
def test_damage_costs_frames_and_decoding_gives_fewer_samples(damage_set,
                                                              codec):
  clean = os.path.join(damage_set, _clean_name(codec))
  assert damaged_media.lost_frames(clean) == 0
  assert _decoded_samples(clean) == (EXPECTED, EXPECTED, 0)
  for kind in damaged_media.DAMAGE_KINDS:
    for place, window in PLACES.items():
      path = os.path.join(damage_set, _damaged_name(codec, kind, place))
      # Plain PyAV, none of our code: frames in the window were lost.
      assert damaged_media.lost_frames(path, window) > 0, (kind, place)
      for mode in (sampling.AUTO, sampling.EXACT):
        given, expected, _ = _decoded_samples(path, mode)
        assert expected == EXPECTED
        assert given / expected < options.DEFAULT_MIN_COVERAGE, (
            kind, place, mode, given)


def test_junk_in_the_middle_is_not_covered_by_the_last_good_frame(
    damage_set):
  """The frame on screen before the junk is not held over it (the old
  decode filled every sample of the gap with it)."""
  path = os.path.join(damage_set, _damaged_name('mjpeg', 'junk', 'middle'))
  given, expected, lost = _decoded_samples(path, sampling.EXACT)
  # Samples at 3.0, 3.5, ... 4.5 s show frames that were never decoded.
  assert (given, lost) == (expected - 4, 4)


def test_shows_lost_frame_follows_the_frame_on_screen_rule():
  lost = [300.0, 400.0]
  # Exact: the frame on screen at the sample time was lost.
  assert sampling.shows_lost_frame(350, 200.0, lost)
  assert sampling.shows_lost_frame(300, 200.0, lost)
  assert not sampling.shows_lost_frame(250, 200.0, lost)
  assert not sampling.shows_lost_frame(600, 500.0, lost)
  # An early sample given the first frame, with a lost frame before it.
  assert sampling.shows_lost_frame(350, 500.0, lost)
  assert not sampling.shows_lost_frame(450, 500.0, lost)
  # Nearest: a lost frame closer to the sample than the one shown.
  assert sampling.shows_lost_frame(320, 500.0, lost, nearest=True)
  assert not sampling.shows_lost_frame(480, 500.0, lost, nearest=True)
  assert not sampling.shows_lost_frame(480, 500.0, [], nearest=True)


# --- --skip-scanned: only a fully covered "scanned" row vouches ----------


def _ledger_file(tmp_path, rows, drop=()) -> str:
  defaults = dict(video_uri='/a/v.mp4', model_version='1', scan_id='s1',
                  size_bytes=10, samples_expected=20, coverage=1.0,
                  status='scanned',
                  source_updated_at=datetime.datetime.fromtimestamp(
                      1.5e9, datetime.timezone.utc))
  table = pa.Table.from_pylist([{**defaults, **row} for row in rows])
  table = table.drop_columns(list(drop))
  path = str(tmp_path / 'ledger.parquet')
  pq.write_table(table, path)
  return path


@pytest.mark.parametrize('row,vouches', [
    (dict(), True),
    (dict(status='partial', coverage=0.6), False),
    (dict(status='failed', coverage=0.5), False),
    (dict(status='skipped', coverage=None, samples_expected=None), False),
    (dict(coverage=0.9), False),      # below this scan's --min-coverage
    (dict(coverage=None, samples_expected=0), True),   # nothing to see
    (dict(coverage=None, samples_expected=None), False),
    (dict(model_version='2'), False),
])
def test_only_a_covered_scanned_row_vouches_for_skip_scanned(tmp_path, row,
                                                             vouches):
  path = _ledger_file(tmp_path, [row])
  found = list(transforms.scanned_versions(path, '1', 0.95))
  assert bool(found) == vouches


def test_ledgers_from_before_coverage_was_recorded_cannot_vouch(tmp_path):
  """Such a ledger called the issue's MJPEG "scanned" with 5 of 65
  samples: skipping on its word would hide the video for good."""
  path = _ledger_file(tmp_path, [{}], drop=('samples_expected', 'coverage'))
  assert not list(transforms.scanned_versions(path, '1', 0.0))


def test_min_coverage_is_a_bounded_flag_with_a_documented_default():
  config = options.parse_scan_args(['--input', 'x', '--output', 'o',
                                    '--model', 'm'])
  assert config.min_coverage == options.DEFAULT_MIN_COVERAGE == 0.95
  help_text = options.build_arg_parser().format_help()
  assert '--min-coverage' in help_text and 'partial' in help_text
  for bad in ('1.5', '-0.1', 'nan', 'inf', 'most'):
    with pytest.raises(SystemExit) as raised:
      options.parse_scan_args(['--input', 'x', '--output', 'o', '--model',
                               'm', '--min-coverage', bad])
    assert raised.value.code == 2


# --- one scan of every damaged video, end to end -------------------------


def _hang_second_segment(monkeypatch: pytest.MonkeyPatch) -> None:
  """Segment 1 of ``LOST_SEGMENT`` hangs far past the timeout; its other
  segments decode (the patch is inherited by the forked decode child)."""
  decode_segment = decoding.decode_segment

  def hanging(segment, *args, **kwargs):
    if LOST_SEGMENT in segment.uri and segment.index == 1:
      time.sleep(3600)
    return decode_segment(segment, *args, **kwargs)

  monkeypatch.setattr(decoding, 'decode_segment', hanging)


@pytest.fixture(scope='module')
def damage_scan(damage_set, marker_model_dir, tmp_path_factory):
  output = str(tmp_path_factory.mktemp('coverage-results'))
  with pytest.MonkeyPatch.context() as monkeypatch:
    _hang_second_segment(monkeypatch)
    scan = run_scan(output, [os.path.join(damage_set, '*')],
                    marker_model_dir, 'damaged',
                    '--segment-timeout-seconds', '5')
  return scan


def _rows(scan):
  return {os.path.basename(r['video_uri']): r for r in scan.videos.to_pylist()}


@pytest.mark.slow
def test_every_damaged_video_is_partial_or_failed_never_scanned(damage_scan):
  rows = _rows(damage_scan)
  clips_by_video = {}
  for clip in damage_scan.clips.to_pylist():
    name = os.path.basename(clip['video_uri'])
    clips_by_video[name] = clips_by_video.get(name, 0) + 1
  for codec in CODECS:
    clean = rows[_clean_name(codec)]
    assert (clean['status'], clean['error_kind'], clean['coverage'],
            clean['samples_expected'], clean['frames_scored']) == (
                'scanned', None, 1.0, EXPECTED, EXPECTED), codec
    assert clean['clips'] >= 1
    for kind in damaged_media.DAMAGE_KINDS:
      for place in PLACES:
        name = _damaged_name(codec, kind, place)
        row = rows[name]
        assert row['status'] in ('partial', 'failed'), (name, row)
        assert row['samples_expected'] == EXPECTED, name
        assert row['coverage'] < options.DEFAULT_MIN_COVERAGE, name
        if row['status'] == 'partial':
          assert row['error_kind'] == 'low_coverage', name
          scored, expected, percent = map(int, MESSAGE.match(
              row['error_message']).groups())
          assert (scored, expected) == (row['frames_scored'], EXPECTED)
          assert percent == 100 * scored // expected
          # Its clips are still written.
          assert row['clips'] == clips_by_video.get(name, 0)


@pytest.mark.slow
def test_the_issue_mjpeg_is_not_scanned(damage_scan):
  row = _rows(damage_scan)[ISSUE_MJPEG]
  assert row['status'] in ('partial', 'failed')
  assert row['coverage'] < 0.5
  assert row['packets_damaged'] > 0


@pytest.mark.slow
def test_a_segment_lost_to_a_timeout_lowers_coverage_and_is_never_scanned(
    damage_scan):
  row = _rows(damage_scan)[LOST_SEGMENT]
  expected = int(LOST_SEGMENT_SECONDS * FPS)
  assert (row['status'], row['error_kind'], row['samples_expected']) == (
      'failed', 'timeout', expected)
  # Segments 0 and 2 were scored; segment 1 was not: [4, 10) s, as the
  # boundary planned at 5 s moved back to the keyframe at 4 s (2-s GOP).
  assert row['frames_scored'] == expected - int(6.0 * FPS)
  assert row['coverage'] == pytest.approx(
      row['frames_scored'] / expected)


@pytest.mark.slow
def test_the_summary_counts_and_lists_partial_videos(damage_scan):
  rows = damage_scan.videos.to_pylist()
  partial = [r for r in rows if r['status'] == 'partial']
  assert partial
  text = summary.format_summary(
      summary.read_summary(damage_scan.root, damage_scan.scan_id),
      damage_scan.root, damage_scan.scan_id)
  first = text.splitlines()[0]
  assert f'{len(partial)} partial (not fully looked at)' in first
  scanned = sum(r['status'] == 'scanned' for r in rows)
  assert f'{scanned} scanned' in first
  assert len([line for line in text.splitlines()
              if line.startswith('  partial ')]) == min(len(partial),
                                                         summary.MAX_LISTED)


@pytest.mark.slow
def test_review_lists_partial_and_failed_videos_least_covered_first(
    damage_scan, capsys):
  rows = damage_scan.videos.to_pylist()
  con = review_query.connect(review_query.load_review_data(damage_scan.root))
  listed = review_query.list_videos(con, review_query.VideoFilter())
  assert sorted(r['video_uri'] for r in listed) == sorted(
      r['video_uri'] for r in rows if r['status'] in ('partial', 'failed'))
  coverages = [r['coverage'] for r in listed]
  assert coverages == sorted(coverages, key=lambda c: (c is not None, c))

  assert review_cli.main(['videos', '--output', damage_scan.root,
                          '--status', 'partial', '--format', 'json']) == 0
  document = json.loads(capsys.readouterr().out)
  assert {r['status'] for r in document} == {'partial'}
  assert len(document) == sum(r['status'] == 'partial' for r in rows)
  assert all(r['error_kind'] == 'low_coverage' for r in document)

  assert review_cli.main(['videos', '--output', damage_scan.root,
                          '--status', 'scanned', '--format', 'csv']) == 0
  lines = capsys.readouterr().out.strip().splitlines()
  assert lines[0].startswith('status,coverage,frames_scored,')
  assert len(lines) == 1 + sum(r['status'] == 'scanned' for r in rows)

  assert review_cli.main(['videos', '--output', damage_scan.root,
                          '--limit', '3']) == 0
  table = capsys.readouterr().out.strip().splitlines()
  assert table[0].split()[:4] == ['status', 'coverage', 'scored', 'error']
  assert len(table) == 4
  assert re.search(r'\d+/16', table[1]) or 'timeout' in table[1]


@pytest.mark.slow
def test_review_videos_reads_roots_from_before_coverage(damage_scan,
                                                        tmp_path, capsys):
  """An older scan's ledger lacks the new columns: its rows read with a
  null coverage and are listed first (nothing vouches for them)."""
  root = str(tmp_path / 'root')
  old = damage_scan.videos.drop_columns(['samples_expected', 'coverage'])
  folder = os.path.join(root, 'videos', 'scan=old')
  os.makedirs(folder)
  pq.write_table(old, os.path.join(folder, 'part-0.parquet'))
  assert review_cli.main(['videos', '--output', root, '--format',
                          'json']) == 0
  document = json.loads(capsys.readouterr().out)
  assert document and all(r['coverage'] is None for r in document)
  assert {r['status'] for r in document} <= {'partial', 'failed'}


@pytest.mark.slow
def test_skip_scanned_rescans_partial_videos(damage_scan, damage_set,
                                             marker_model_dir):
  clean = os.path.join(damage_set, _clean_name('h264'))
  damaged = os.path.join(damage_set, _damaged_name('h264', 'junk', 'middle'))
  again = run_scan(damage_scan.root, [clean, damaged], marker_model_dir,
                   'again', '--skip-scanned')
  rows = _rows(again)
  assert rows[os.path.basename(clean)]['status'] == 'skipped'
  assert rows[os.path.basename(damaged)]['status'] == 'partial'
