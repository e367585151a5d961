"""Hostile and broken uploads: each ends as exactly one ledger row, and none
stops the job."""
import os

import pytest

from model.synthetic_video import PlantedEvent
from model.synthetic_video import write_video
from pipeline.media import errors as media_errors
from pipeline.storage import files as storage
from pipeline.records import Segment
from pipeline.scan.transforms import DecodeSegmentFn
from tests.conftest import TOLERANCE_S
from tests.conftest import run_scan
from tests.fixtures import broken_media as bm

EVENT = PlantedEvent('red_marker', 2.0, 4.0)
PARTIAL = 'partial'
SCANNED = 'scanned'


def _hostile_corpus(root):
  """{path: (status, error_kind or None, has the planted clip)}."""
  os.makedirs(root, exist_ok=True)
  j = lambda name: os.path.join(root, name)  # pylint: disable=unnecessary-lambda-assignment
  mp4 = write_video(j('source.mp4'), 8.0, 'h264', events=(EVENT,))
  mkv = write_video(j('source.mkv'), 8.0, 'hevc', events=(EVENT,), seed=1)
  expect = {
      mp4: (SCANNED, None, True),
      mkv: (SCANNED, None, True),
      bm.write_empty(j('zero.mp4')): ('failed', 'empty_file', False),
      bm.write_random_bytes(j('random.mp4')): ('failed', 'invalid_container',
                                                False),
      bm.write_text(j('text.mp4')): ('failed', 'invalid_container', False),
      bm.write_image_as_mp4(j('picture.mp4')): ('failed', 'not_a_video',
                                                 False),
      bm.write_audio_only(j('audio.mp4')): ('failed', 'no_video_stream',
                                            False),
      bm.write_huge_frame(j('absurd_dimensions.mp4')): ('failed', 'too_large',
                                                         False),
      bm.write_frame_flood(j('frame_flood.mkv')): ('failed', 'too_many_frames',
                                                   False),
      # Duration in the header (8 s) far longer than the data left.
      # Half of it was never there to look at: "partial", never "scanned".
      bm.write_truncated_at(j('half_gone.mkv'), mkv, 0.5): (
          PARTIAL, 'low_coverage', True),
      # Frames the decoder lost to flipped bits are not looked at: never
      # "scanned" (issue #14, coverage).
      bm.write_bit_flips(j('bit_flips.mp4'), mp4, 0.55, 0.65): (
          PARTIAL, 'low_coverage', True),
      bm.write_bit_flips(j('bit_flips.mkv'), mkv, 0.55, 0.65): (SCANNED, None,
                                                                 True),
      bm.write_two_video_streams(j('two_streams.mkv'), 6.0, 1,
                                 [(), (EVENT,)]): (SCANNED, None, True),
      bm.write_rotated(j('portrait_phone.mp4'), 6.0, 90, (EVENT,)): (
          SCANNED, None, True),
      bm.write_encoded(j('odd size 161x121.webm'), 6.0, 'libvpx-vp9', 'webm',
                       (161, 121), 'yuv420p', (EVENT,),
                       options={'deadline': 'realtime', 'cpu-used': '8'}): (
                           SCANNED, None, True),
      bm.write_encoded(j('ten_bit.mkv'), 6.0, 'libx265', 'matroska',
                       (160, 120), 'yuv420p10le', (EVENT,),
                       options={'x265-params': 'log-level=error'}): (
                           SCANNED, None, True),
      bm.write_encoded(j('interlaced.mkv'), 6.0, 'mpeg2video', 'matroska',
                       (160, 120), 'yuv420p', (EVENT,), interlaced=True): (
                           SCANNED, None, True),
  }
  for fraction in (0.02, 0.3, 0.7):
    expect[bm.write_truncated_at(j(f'cut_at_{int(fraction * 100)}.mp4'), mp4,
                                 fraction)] = ('failed', 'invalid_container',
                                               False)
  # Cut inside the index itself: the track table is gone with the data.
  expect[bm.write_truncated_at(j('cut_at_98.mp4'), mp4, 0.98)] = (
      'failed', 'no_video_stream', False)
  for name in ('it\'s "quoted".mp4', '-leading-dash.mp4',
               'ünïcödé and spaces 視頻.mp4'):
    expect[write_video(j(name), 6.0, 'h264', events=(EVENT,), seed=5)] = (
        SCANNED, None, True)
  return expect


@pytest.fixture(scope='module')
def hostile_scan(tmp_path_factory, marker_model_dir):
  root = str(tmp_path_factory.mktemp('hostile') / 'archive')
  expect = _hostile_corpus(root)
  scan = run_scan(str(tmp_path_factory.mktemp('hostile-out')),
                  [os.path.join(root, '*')], marker_model_dir, 'hostile',
                  '--max-frames-per-segment', '2000')
  return expect, scan


def test_every_hostile_input_is_one_ledger_row_with_its_outcome(hostile_scan):
  expect, scan = hostile_scan
  rows = scan.videos.to_pylist()
  assert sorted(r['video_uri'] for r in rows) == sorted(expect)
  for row in rows:
    status, kind, _ = expect[row['video_uri']]
    assert (row['status'], row['error_kind']) == (status, kind), row
    if status == 'failed':
      assert row['error_message']


def test_damaged_and_odd_videos_are_still_scanned_and_flagged(hostile_scan):
  expect, scan = hostile_scan
  rows = {r['video_uri']: r for r in scan.videos.to_pylist()}
  clips = {}
  for clip in scan.clips.to_pylist():
    clips.setdefault(clip['video_uri'], []).append(clip)
  for path, (_, _, flagged) in expect.items():
    if not flagged:
      assert path not in clips
      continue
    found = clips.get(path, [])
    assert found, os.path.basename(path)
    first = min(found, key=lambda c: c['start_ms'])
    assert abs(first['start_ms'] / 1000 - EVENT.start_s) <= TOLERANCE_S, (
        os.path.basename(path), found)
  for name in ('bit_flips.mp4',):
    row = rows[next(p for p in expect if p.endswith(name))]
    assert row['packets_damaged'] > 0, row
  half = rows[next(p for p in expect if p.endswith('half_gone.mkv'))]
  assert half['duration_ms'] == 8000 and half['frames_scored'] < 16


def test_a_file_deleted_between_listing_and_reading_fails_its_segment(
    tmp_path, marker_model_dir):
  from pipeline.inference import contract as model_contract  # pylint: disable=import-outside-toplevel
  from pipeline.scan.options import parse_scan_args  # pylint: disable=import-outside-toplevel
  from pipeline.scan.settings import resolve_settings  # pylint: disable=import-outside-toplevel
  path = write_video(str(tmp_path / 'soon_gone.mp4'), 4.0, 'h264')
  config = parse_scan_args(['--input', path, '--output', str(tmp_path),
                            '--model', marker_model_dir])
  fn = DecodeSegmentFn(resolve_settings(config, model_contract.resolve_model(
      marker_model_dir)))
  os.remove(path)
  outputs = list(fn.process(Segment('v', path, 0, 0, 4000, 4000)))
  assert len(outputs) == 1
  outcome = outputs[0].value
  assert outcome.error_kind == media_errors.NOT_FOUND and outcome.frames_sampled == 0


def test_permission_denied_is_named(tmp_path):
  def refuse(uri):
    raise PermissionError(13, 'Permission denied', uri)
  with pytest.raises(PermissionError) as raised:
    storage.StorageReader(str(tmp_path / 'x.mp4'), opener=refuse)
  assert media_errors.classify(raised.value)[0] == 'permission_denied'
