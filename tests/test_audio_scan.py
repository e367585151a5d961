"""``rescan scan --audio-model``: the soundtrack heard in the same decode pass.

Real media written by the test with PyAV (AAC in MP4, Opus in WebM and
MKV; mono and stereo; 8, 16, 44.1 and 48 kHz; no audio; two audio
streams) with noise bursts planted at known times, a real audio
SavedModel (``tests/fixtures/audio_model``: it hears loud broadband
bursts, not a steady tone), whole scans on the DirectRunner, and the
Parquet outputs read back with DuckDB.
"""
import os

import duckdb
import numpy as np
import pytest

from pipeline.media.audio import AudioGrid
from pipeline.scan import transforms
from pipeline.scan import rethreshold
from pipeline.scan.job import run
from tests.conftest import relative_name
from tests.conftest import rescan_one_line
from tests.fixtures import audio_media as media
from tests.fixtures import audio_model

SECONDS = 4.5
BURST_S = 0.3
# Far enough apart that their clips stay two (the merge gap is 1 s).
BURSTS = (0.8, 3.0)
HOP_S = audio_model.HOP_S
GRID = AudioGrid(audio_model.RATE, int(audio_model.RATE * audio_model.WINDOW_S),
                 int(audio_model.RATE * HOP_S))
# A steady tone under the bursts: heard as nothing.
TONE = media.tone(330, amplitude=0.3)

# name: (container, codec, rate, layout)
FORMATS = {
    'aac_44k_stereo.mp4': ('mp4', 'aac', 44100, 'stereo'),
    'aac_48k_mono.mp4': ('mp4', 'aac', 48000, 'mono'),
    'aac_16k_mono.mp4': ('mp4', 'aac', 16000, 'mono'),
    'aac_8k_stereo.mp4': ('mp4', 'aac', 8000, 'stereo'),
    'opus_48k_mono.webm': ('webm', 'libopus', 48000, 'mono'),
    'opus_16k_stereo.webm': ('webm', 'libopus', 16000, 'stereo'),
    'opus_48k_stereo.mkv': ('matroska', 'libopus', 48000, 'stereo'),
    'opus_8k_mono.mkv': ('matroska', 'libopus', 8000, 'mono'),
}
# Two audio streams: the default one is heard (bursts at 3.0 s, not the
# first stream's at 0.8 s); without a default, the first.
TWO_STREAMS = {'two_streams_default.mkv': ('matroska', (False, True), (3.0,)),
               'two_streams_first.mp4': ('mp4', (None, None), (0.8,))}
NO_AUDIO = 'no_audio.mp4'
# Parity: these are scanned once in 1 s segments and once in one.
PARITY = ('aac_44k_stereo.mp4', 'opus_16k_stereo.webm', 'opus_8k_mono.mkv')


def _channels(layout):
  return 2 if layout == 'stereo' else 1


def _signal(bursts, channels, seed=0):
  return media.mix(media.bursts(bursts, BURST_S, channels, seed),
                   media.tone(330, 0.3, channels))


@pytest.fixture(scope='module')
def archive(tmp_path_factory):
  root = tmp_path_factory.mktemp('heard') / 'archive'
  root.mkdir()
  for i, (name, (fmt, codec, rate, layout)) in enumerate(FORMATS.items()):
    media.write_with_audio(
        str(root / name), SECONDS,
        [media.Track(codec, rate, layout,
                     _signal(BURSTS, _channels(layout), seed=i))],
        container_format=fmt, gop_seconds=0.7)
  for name, (fmt, defaults, _) in TWO_STREAMS.items():
    media.write_with_audio(
        str(root / name), SECONDS,
        [media.Track('libopus' if fmt == 'matroska' else 'aac', 48000,
                     'mono', _signal((at,), 1), default=flag)
         for at, flag in zip((0.8, 3.0), defaults)],
        container_format=fmt, gop_seconds=0.7)
  media.write_with_audio(str(root / NO_AUDIO), SECONDS, [],
                         gop_seconds=0.7)
  return str(root)


@pytest.fixture(scope='module')
def audio_model_dir(tmp_path_factory):
  return audio_model.export_burst_model(
      str(tmp_path_factory.mktemp('models') / 'bursts'))


def _scan(output, inputs, scan_id, *flags):
  argv = ['--output', output, '--scan-id', scan_id, '--no-hashes',
          '--decode-isolation', 'inline', *flags]
  for spec in inputs:
    argv += ['--input', spec]
  run(argv)
  return output


def _rows(root, dataset, scan_id, where='true'):
  glob = os.path.join(root, dataset, f'scan={scan_id}', '*.parquet')
  cursor = duckdb.connect().execute(
      f"SELECT * FROM read_parquet('{glob}') WHERE {where}")
  names = [d[0] for d in cursor.description]
  return [dict(zip(names, row)) for row in cursor.fetchall()]


def _by_name(rows):
  found = {}
  for row in rows:
    found.setdefault(relative_name(row['video_uri']), []).append(row)
  return found


@pytest.fixture(scope='module')
def heard(archive, audio_model_dir, tmp_path_factory):
  """An audio-only scan of the archive, in 1 s segments."""
  return _scan(str(tmp_path_factory.mktemp('heard-out')),
               [os.path.join(archive, '*')], 'heard',
               '--audio-model', audio_model_dir, '--segment-seconds', '1')


def _assert_clips_cover(clips, bursts):
  clips = sorted(clips, key=lambda c: c['start_ms'])
  assert len(clips) == len(bursts), clips
  tolerance_ms = audio_model.CLIP_TOLERANCE_S * 1000
  for clip, at in zip(clips, bursts):
    start, end = at * 1000, (at + BURST_S) * 1000
    assert clip['start_ms'] <= start and clip['end_ms'] >= end, (clip, at)
    assert abs(clip['start_ms'] - start) <= tolerance_ms, (clip, at)
    assert abs(clip['end_ms'] - end) <= tolerance_ms, (clip, at)


def test_bursts_are_heard_in_every_container_rate_and_layout(heard):
  clips = _by_name(_rows(heard, 'flagged_clips', 'heard'))
  for name in FORMATS:
    assert {c['modality'] for c in clips[name]} == {'audio'}
    assert {c['label'] for c in clips[name]} == {audio_model.LABEL}
    assert {c['model_name'] for c in clips[name]} == {'burst-standin'}
    assert all(c['thumbnail'] is None for c in clips[name])
    _assert_clips_cover(clips[name], BURSTS)
  for name, (_, _, bursts) in TWO_STREAMS.items():
    _assert_clips_cover(clips[name], bursts)
  assert NO_AUDIO not in clips


def test_the_ledger_records_what_was_heard(heard):
  videos = {relative_name(v['video_uri']): v
            for v in _rows(heard, 'videos', 'heard')}
  assert len(videos) == len(FORMATS) + len(TWO_STREAMS) + 1
  for name, row in videos.items():
    assert row['audio_model_name'] == 'burst-standin', name
    assert (row['model_name'], row['model_version']) == ('burst-standin',
                                                         '1')
    assert row['frames_scored'] == 0 and row['coverage'] is None
    assert row['status'] == 'scanned', (name, row['error_message'])
    if name == NO_AUDIO:
      assert row['audio_status'] == 'no_audio'
      assert row['audio_coverage'] is None and row['audio_max_score'] is None
      continue
    expected = len(GRID.indices(0, row['duration_ms']))
    assert row['audio_status'] == 'ok', name
    assert row['audio_windows_expected'] == expected
    assert row['audio_windows_scored'] == expected
    assert row['audio_coverage'] == 1.0
    assert row['audio_max_score'] > 0.9
    assert row['clips'] == (2 if name in FORMATS else 1)


def test_audio_frame_scores_are_windows_on_the_grid(heard):
  rows = _by_name(_rows(heard, 'frame_scores', 'heard'))
  assert NO_AUDIO not in rows
  for name, scores in rows.items():
    assert {r['modality'] for r in scores} == {'audio'}
    assert {r['sample_interval_ms'] for r in scores} == {HOP_S * 1000}
    times = sorted(r['ts_ms'] for r in scores)
    assert times == [round(GRID.start_ms(i)) for i in range(len(times))]
    # A steady tone under the bursts scores low; the bursts high.
    quiet = [r['score'] for r in scores
             if all(abs(r['ts_ms'] / 1000 - at) > 0.6 for at in BURSTS)]
    assert quiet and max(quiet) < 0.1, name


def test_segment_boundaries_change_no_audio_score(archive, heard,
                                                  audio_model_dir, tmp_path):
  whole = _scan(str(tmp_path), [os.path.join(archive, n) for n in PARITY],
                'whole', '--audio-model', audio_model_dir,
                '--segment-seconds', '60')
  columns = ['video_uri', 'label', 'ts_ms', 'score', 'modality']
  def rows(root, scan_id):
    return sorted(tuple(r[c] for c in columns) for r in _rows(
        root, 'frame_scores', scan_id) if relative_name(r['video_uri'])
                  in PARITY)
  segmented = {v['video_uri']: v['segments']
               for v in _rows(heard, 'videos', 'heard')}
  assert all(segmented[v['video_uri']] >= 4 and v['segments'] == 1
             for v in _rows(whole, 'videos', 'whole'))
  whole_rows, heard_rows = rows(whole, 'whole'), rows(heard, 'heard')
  # The windows are byte for byte those of one pass (test_audio_windows);
  # their scores may differ in the last float32 bit with how RunInference
  # happened to batch them.
  assert [r[:3] + r[4:] for r in whole_rows] == [r[:3] + r[4:]
                                                 for r in heard_rows]
  assert np.allclose([r[3] for r in whole_rows], [r[3] for r in heard_rows],
                     rtol=1e-5, atol=1e-9)
  assert len(whole_rows) > 40


# A red square on screen from 1.5 s to 2.5 s: the marker model sees it.
MARKER_S = (1.5, 2.5)


def _picture(t):
  image = np.full((media.SIZE[1], media.SIZE[0], 3), 60, np.uint8)
  if MARKER_S[0] <= t < MARKER_S[1]:
    image[8:40, 16:48] = (235, 20, 25)
  return image


def test_seen_and_heard_in_one_scan(tmp_path, marker_model_dir,
                                    audio_model_dir):
  video = media.write_with_audio(
      str(tmp_path / 'both.mp4'), SECONDS,
      [media.Track('aac', 48000, 'stereo', _signal(BURSTS, 2))],
      picture=_picture)
  out = str(tmp_path / 'out')
  _scan(out, [video], 'seen', '--model', marker_model_dir)
  _scan(out, [video], 'both', '--model', marker_model_dir,
        '--audio-model', audio_model_dir)
  clips = _rows(out, 'flagged_clips', 'both')
  visual = [c for c in clips if c['modality'] == 'visual']
  _assert_clips_cover([c for c in clips if c['modality'] == 'audio'], BURSTS)
  assert [(c['label'], c['model_name']) for c in visual] == [
      ('red_marker', 'marker-standin')]
  assert visual[0]['start_ms'] <= MARKER_S[0] * 1000 < visual[0]['end_ms']
  def key(rows, *columns):
    return sorted(tuple(r[c] for c in columns) for r in rows)
  clip_columns = ('clip_id', 'label', 'start_ms', 'end_ms', 'peak_ms',
                  'peak_score', 'frames', 'thumbnail')
  assert key(visual, *clip_columns) == key(
      _rows(out, 'flagged_clips', 'seen'), *clip_columns)
  score_columns = ('label', 'ts_ms', 'score', 'threshold')
  assert key(_rows(out, 'frame_scores', 'both', "modality = 'visual'"),
             *score_columns) == key(_rows(out, 'frame_scores', 'seen'),
                                    *score_columns)
  (row,) = _rows(out, 'videos', 'both')
  (seen_row,) = _rows(out, 'videos', 'seen')
  assert (row['status'], row['audio_status']) == ('scanned', 'ok')
  assert row['model_name'] == 'marker-standin'
  assert row['audio_model_name'] == 'burst-standin'
  assert row['clips'] == len(clips) == 3
  assert {k: row[k] for k in ('frames_scored', 'samples_expected',
                              'coverage', 'max_score')} == {
      k: seen_row[k] for k in ('frames_scored', 'samples_expected',
                               'coverage', 'max_score')}
  assert seen_row['audio_status'] is None
  # rethreshold re-assembles the visual scores only, with their rules.
  result = rethreshold.run(out, 0.5, source_scan_id='both',
                           scan_id='again')
  again = _rows(out, 'flagged_clips', 'again')
  assert result.clips == len(again) == 1
  # ... and says the audio clips were left out; a visual-only scan's
  # rethreshold does not.
  assert result.audio_left_out
  assert not rethreshold.run(out, 0.5, source_scan_id='seen',
                             scan_id='again-seen').audio_left_out
  assert key(again, 'label', 'start_ms', 'end_ms', 'peak_ms', 'modality') \
      == key(visual, 'label', 'start_ms', 'end_ms', 'peak_ms', 'modality')


def test_an_earlier_scan_vouches_only_for_the_same_two_models():
  row = {'status': 'scanned', 'model_version': 'v1', 'coverage': 1.0,
         'samples_expected': 10, 'source_updated_at': object(),
         'audio_model_version': None}
  assert transforms.vouches(row, 'v1', 0.95)
  assert not transforms.vouches(row, 'v1', 0.95, audio_model_version='a1')
  heard_too = dict(row, audio_model_version='a1')
  assert transforms.vouches(heard_too, 'v1', 0.95, 'a1')
  assert not transforms.vouches(heard_too, 'v1', 0.95)
  assert not transforms.vouches(heard_too, 'v1', 0.95, 'a2')
  # An audio-only row: no samples expected, the audio model's versions.
  only_heard = dict(row, model_version='a1', audio_model_version='a1',
                    coverage=None, samples_expected=None)
  assert transforms.vouches(only_heard, 'a1', 0.95, 'a1', sees=False)
  # ... and never for a scan that also sees, even when the visual model's
  # version string is the audio model's.
  assert not transforms.vouches(only_heard, 'a1', 0.95, 'a1')


def test_a_scan_needs_a_model_of_either_kind(capsys, tmp_path):
  code, line = rescan_one_line(capsys, 'scan', '--input', str(tmp_path / '*.mp4'),
                       '--output', str(tmp_path / 'out'))
  assert code == 2
  assert '--model' in line and '--audio-model' in line


def test_a_hostile_audio_model_is_one_usage_error(capsys, tmp_path,
                                                  audio_model_dir):
  bad = tmp_path / 'bad'
  bad.mkdir()
  (bad / 'rescan_model.json').write_text(
      '{"name": "x", "version": "1", "modality": "audio", "labels": ["a"],'
      ' "sample_rate": 99999999, "window_seconds": 0.5, "hop_seconds": 0.25,'
      ' "threshold": 0.5}')
  code, line = rescan_one_line(capsys, 'scan', '--input', str(tmp_path / '*.mp4'),
                       '--output', str(tmp_path / 'out'),
                       '--audio-model', str(bad))
  assert code == 2 and '"sample_rate" must be in' in line
  code, line = rescan_one_line(capsys, 'scan', '--input', str(tmp_path / '*.mp4'),
                       '--output', str(tmp_path / 'out'),
                       '--model', audio_model_dir)
  assert code == 2 and 'is an audio model' in line


def test_audio_threshold_is_the_audio_models_alone(archive, audio_model_dir,
                                                   tmp_path):
  """``--audio-threshold`` sets the audio model's threshold (here 0: every
  window flags, so one clip spans the soundtrack) and nothing else; the
  visual model keeps its own."""
  name = 'aac_16k_mono.mp4'
  out = _scan(str(tmp_path / 'out'), [os.path.join(archive, name)], 'all',
              '--audio-model', audio_model_dir, '--audio-threshold', '0')
  clips = _rows(out, 'flagged_clips', 'all')
  assert [(c['modality'], c['start_ms'], c['threshold']) for c in clips] == [
      ('audio', 0, 0.0)]
  assert clips[0]['end_ms'] >= (SECONDS - HOP_S) * 1000
  scores = _rows(out, 'frame_scores', 'all')
  assert scores and {s['threshold'] for s in scores} == {0.0}


@pytest.mark.parametrize('flags, words', [
    (('--audio-threshold', '0.5', '--model', 'm'), '--audio-threshold'),
    (('--threshold', '0.5', '--audio-model', 'a'), '--threshold'),
    (('--audio-threshold', '1.5', '--audio-model', 'a'), '--audio-threshold'),
])
def test_a_threshold_for_a_model_not_given_is_a_usage_error(capsys, tmp_path,
                                                             flags, words):
  code, line = rescan_one_line(capsys, 'scan', '--input',
                               str(tmp_path / '*.mp4'), '--output',
                               str(tmp_path / 'out'), *flags)
  assert code == 2 and words in line, line


def test_the_soundtrack_is_heard_when_the_frames_fail(archive, audio_model_dir,
                                                      marker_model_dir,
                                                      tmp_path):
  """A frame flood (here: more than 3 frames per segment) fails the
  picture, not the soundtrack: the audio is heard by a decode of its own,
  every window of it, and the ledger says the picture failed."""
  name = 'aac_44k_stereo.mp4'
  out = _scan(str(tmp_path / 'out'), [os.path.join(archive, name)],
              'flood', '--model', marker_model_dir, '--audio-model',
              audio_model_dir, '--max-frames-per-segment', '3')
  [row] = _rows(out, 'videos', 'flood')
  assert row['error_kind'] == 'too_many_frames', row
  assert row['status'] != 'scanned'
  assert row['audio_status'] == 'ok' and row['audio_coverage'] == 1.0, row
  clips = _rows(out, 'flagged_clips', 'flood', "modality = 'audio'")
  _assert_clips_cover(clips, BURSTS)
