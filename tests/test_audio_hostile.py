"""Hostile soundtracks and careless operators against ``--audio-model``.

Uploads: real videos written by the test (a red marker on screen, a noise
burst in the soundtrack) whose audio streams are absurd, damaged or lying:
rates of 1 Hz and 768 kHz, 8 and 16 channels, a rate and layout change
mid-stream, audio much longer than the picture, starting late, ending
early, starting before it, timestamps that jump a million seconds, a file
cut inside its audio, bit flips in audio packets only, a stream FFmpeg
has no decoder for, three streams none of them default, fifty streams.
Each is scanned with the marker (visual) and the burst (audio) stand-ins
and once with the marker alone: each must give exactly one ledger row with
its planted audio outcome, the picture's results those of the visual-only
scan, and nothing may look fully heard that was not.

Operators: every wrong ``--audio-model`` is one line and exit status 2;
``--skip-scanned`` never skips a video whose audio, or picture, this scan
needs and no earlier scan looked at.
"""
import json
import os
import shutil
import time

import av
import duckdb
import numpy as np
import pytest

from pipeline.inference.contract import METADATA_FILE
from pipeline.scan.job import run
from tests.conftest import relative_name
from tests.conftest import rescan_one_line
from tests.fixtures.broken_media import write_truncated_at
from tests.fixtures import audio_media as media
from tests.fixtures import audio_model

SECONDS = 3.0
BURST_S = 0.8
# The marker on screen (the visual model's truth).
MARKER_S = (1.5, 2.5)
P = media.Part


def _picture(t):
  image = np.full((media.SIZE[1], media.SIZE[0], 3), 60, np.uint8)
  if MARKER_S[0] <= t < MARKER_S[1]:
    image[8:40, 16:48] = (235, 20, 25)
  return image


def _sound(channels=1, burst_s=BURST_S):
  """A burst at ``burst_s`` (signal time) over a quiet tone."""
  return media.mix(media.bursts((burst_s,), 0.3, channels),
                   media.tone(330, 0.3, channels))


def _quiet(channels=1):
  return media.tone(330, 0.3, channels)


def _write(root, name, tracks, fmt='matroska'):
  return media.write_with_audio(os.path.join(root, name), SECONDS, tracks,
                                container_format=fmt, picture=_picture)


def _parts(root, name, streams, **kwargs):
  return media.write_parts(os.path.join(root, name), SECONDS, streams,
                           picture=_picture, **kwargs)


def _flip_audio_bits(path, source, from_s, to_s, per_packet=4):
  """``source`` with bits flipped inside the audio packets of ``[from_s,
  to_s)`` only: the picture and the container stay intact."""
  with av.open(source) as container:
    stream = container.streams.audio[0]
    spans = [(p.pos, p.size) for p in container.demux(stream)
             if p.size and p.pts is not None
             and from_s <= float(p.pts * p.time_base) < to_s]
  data = bytearray(open(source, 'rb').read())
  rng = np.random.default_rng(0)
  for pos, size in spans:
    for _ in range(per_packet):
      data[pos + int(rng.integers(0, size))] ^= 1 << int(rng.integers(0, 8))
  with open(path, 'wb') as out:
    out.write(bytes(data))
  return path


def _unknown_codec(path, source):
  """``source`` with its Opus track's codec id renamed: an audio stream
  FFmpeg demuxes but has no decoder for."""
  data = open(source, 'rb').read()
  assert data.count(b'A_OPUS') == 1
  with open(path, 'wb') as out:
    out.write(data.replace(b'A_OPUS', b'A_QQQQ'))
  return path


# Per file: (audio_status, burst heard at BURST_S, fully heard).
OK, PARTIAL, UNSUPPORTED = 'ok', 'partial', 'unsupported_audio'


def _corpus(root):
  os.makedirs(root)
  scratch = os.path.join(os.path.dirname(root), 'scratch')
  os.makedirs(scratch)
  opus = _write(scratch, 'opus.mkv', [media.Track('libopus', 48000, 'mono',
                                                  _sound())])
  pcm = _write(scratch, 'pcm.mkv', [media.Track('pcm_s16le', 48000,
                                                'stereo', _sound(2))])
  j = lambda name: os.path.join(root, name)  # pylint: disable=unnecessary-lambda-assignment
  pcm_track = lambda rate, layout, channels: [  # pylint: disable=unnecessary-lambda-assignment
      media.Track('pcm_s16le', rate, layout, _sound(channels))]
  expect = {
      # Below 4 kHz nothing a model could hear: not upsampled into windows
      # that look heard.
      _write(root, 'rate_1hz.mkv', pcm_track(1, 'mono', 1)): (
          UNSUPPORTED, False, False),
      _write(root, 'rate_384k.mkv', pcm_track(384000, 'mono', 1)): (
          OK, True, True),
      _write(root, 'rate_768k.mkv', pcm_track(768000, 'mono', 1)): (
          UNSUPPORTED, False, False),
      # Planar 7.1 Opus segfaulted PyAV's sample reader (fixed).
      _write(root, 'opus_7.1.mkv', [media.Track('libopus', 48000, '7.1',
                                                _sound(8))]): (OK, True, True),
      _write(root, 'pcm_16ch.mkv', pcm_track(16000, 'hexadecagonal', 16)): (
          OK, True, True),
      # The stream's header says 48 kHz mono; its second half is 32 kHz
      # stereo: not heard, and said so.
      _parts(root, 'rate_change.mkv', [[
          P('mp2', 48000, 'mono', 0, 1.5, _sound()),
          P('mp2', 32000, 'stereo', 1.5, 1.5, _quiet(2))]]): (
              PARTIAL, True, False),
      _parts(root, 'audio_10x_longer.mkv', [[
          P('libopus', 48000, 'mono', 0, 10 * SECONDS, _sound())]]): (
              OK, True, True),
      _parts(root, 'audio_starts_late.mkv', [[
          P('libopus', 48000, 'mono', 2.0, 1.0, _quiet())]]): (
              PARTIAL, False, False),
      _parts(root, 'audio_ends_early.mkv', [[
          P('libopus', 48000, 'mono', 0, 1.2, _sound())]]): (
              PARTIAL, True, False),
      # Starts 1 s before the picture: what precedes it is dropped.
      _parts(root, 'audio_negative_pts.mkv', [[
          P('libopus', 48000, 'mono', -1.0, 4.0,
            _sound(burst_s=BURST_S + 1.0))]]): (OK, True, True),
      # After 1 s every timestamp jumps a million seconds ahead.
      _parts(root, 'audio_pts_jump.mkv', [[
          P('libopus', 48000, 'mono', 0, SECONDS, _sound())]],
             pts_of=lambda t: t if t < 1.0 else t + 1e6): (
                 PARTIAL, True, False),
      # Cut at 60 %, inside the (PCM, most of the bytes) audio data.
      write_truncated_at(j('cut_in_audio.mkv'), pcm, 0.6): (PARTIAL, True, False),
      _flip_audio_bits(j('audio_bit_flips.mkv'), opus, 1.2, 2.5): (
          PARTIAL, True, False),
      _unknown_codec(j('audio_no_decoder.mkv'), opus): (
          UNSUPPORTED, False, False),
      # None default: the first is heard (its burst at 0.8 s, the others'
      # at 2.0 and 2.4 s).
      _write(root, 'three_streams_none_default.mkv', [
          media.Track('libopus', 48000, 'mono', _sound(burst_s=at),
                      default=False) for at in (BURST_S, 2.0, 2.4)]): (
                          OK, True, True),
      _write(root, 'fifty_streams.mkv', [
          media.Track('pcm_s16le', 8000, 'mono',
                      _sound() if i == 0 else _quiet(), default=False)
          for i in range(50)]): (OK, True, True),
  }
  shutil.rmtree(scratch)
  return expect


def _scan(output, inputs, scan_id, *flags):
  argv = ['--output', output, '--scan-id', scan_id, '--no-hashes',
          '--segment-seconds', '1', *flags]
  for spec in inputs:
    argv += ['--input', spec]
  run(argv)


def _rows(root, dataset, scan_id):
  glob = os.path.join(root, dataset, f'scan={scan_id}', '*.parquet')
  cursor = duckdb.connect().execute(f"SELECT * FROM read_parquet('{glob}')")
  names = [d[0] for d in cursor.description]
  return [dict(zip(names, row)) for row in cursor.fetchall()]


@pytest.fixture(scope='module')
def audio_model_dir(tmp_path_factory):
  return audio_model.export_burst_model(
      str(tmp_path_factory.mktemp('models') / 'bursts'))


@pytest.fixture(scope='module')
def hostile(tmp_path_factory, marker_model_dir, audio_model_dir):
  root = str(tmp_path_factory.mktemp('hostile-audio') / 'archive')
  expect = _corpus(root)
  out = str(tmp_path_factory.mktemp('hostile-audio-out'))
  started = time.monotonic()
  _scan(out, [os.path.join(root, '*')], 'both', '--model', marker_model_dir,
        '--audio-model', audio_model_dir)
  seconds = time.monotonic() - started
  _scan(out, [os.path.join(root, '*')], 'seen', '--model', marker_model_dir,
        '--decode-isolation', 'inline')
  return expect, out, seconds


def test_every_hostile_soundtrack_is_one_row_with_its_audio_outcome(hostile):
  expect, out, seconds = hostile
  rows = _rows(out, 'videos', 'both')
  assert sorted(r['video_uri'] for r in rows) == sorted(expect)
  # Bounded: 16 three-second videos, one with fifty streams, one with
  # ten times its length of audio, one 768 kHz.
  assert seconds < 60
  heard_bursts = {}
  for clip in _rows(out, 'flagged_clips', 'both'):
    if clip['modality'] == 'audio':
      heard_bursts.setdefault(clip['video_uri'], []).append(clip)
  for row in rows:
    name = relative_name(row['video_uri'])
    status, burst, full = expect[row['video_uri']]
    assert row['audio_status'] == status, (name, row)
    assert row['error_message'] is None or '\n' not in row['error_message']
    if status == UNSUPPORTED:
      assert row['audio_windows_scored'] == 0, name
      assert row['audio_coverage'] is None, name
    # Nothing looks fully heard that was not.
    fully = row['audio_status'] == OK and row['audio_coverage'] == 1.0
    assert fully == full, (name, row)
    if not full:
      assert row['status'] != 'scanned', (name, row)
    clips = heard_bursts.get(row['video_uri'], [])
    if burst:
      assert len(clips) == 1, (name, clips)
      assert clips[0]['start_ms'] <= BURST_S * 1000 < clips[0]['end_ms'], (
          name, clips)
    else:
      assert not clips, (name, clips)


def test_a_hostile_soundtrack_changes_nothing_the_picture_gave(hostile):
  expect, out, _ = hostile
  both = {r['video_uri']: r for r in _rows(out, 'videos', 'both')}
  seen = {r['video_uri']: r for r in _rows(out, 'videos', 'seen')}
  assert sorted(seen) == sorted(both) == sorted(expect)
  columns = ('frames_scored', 'samples_expected', 'coverage', 'max_score',
             'duration_ms')
  for uri, row in both.items():
    name = relative_name(uri)
    assert {c: row[c] for c in columns} == {c: seen[uri][c]
                                            for c in columns}, name
    # A soundtrack longer than the picture (by ms of codec padding or by
    # 27 s) never stretches the picture's timeline into lost frames.
    if not name.startswith('cut_in_audio'):
      assert (row['duration_ms'], row['coverage']) == (SECONDS * 1000,
                                                       1.0), name
    if expect[uri][0] == OK:
      assert (row['status'], row['error_kind']) == (
          seen[uri]['status'], seen[uri]['error_kind']), name
    elif seen[uri]['status'] != 'failed':
      assert row['status'] == 'partial', name
  def visual(scan_id):
    return sorted((c['video_uri'], c['label'], c['start_ms'], c['end_ms'])
                  for c in _rows(out, 'flagged_clips', scan_id)
                  if c['modality'] == 'visual')
  assert visual('both') == visual('seen')
  # The marker is seen in every one that was not cut short.
  assert {uri for uri, *_ in visual('both')} >= {
      uri for uri in expect if not uri.endswith('cut_in_audio.mkv')}


# --- operators ---------------------------------------------------------


def _model_copy(source, path, **changes):
  shutil.copytree(source, path)
  meta_path = os.path.join(path, METADATA_FILE)
  with open(meta_path, encoding='utf-8') as f:
    metadata = json.load(f)
  metadata.update(changes)
  with open(meta_path, 'w', encoding='utf-8') as f:
    f.write(json.dumps(metadata))
  return str(path)


def test_a_wrong_audio_model_is_one_usage_line(capsys, tmp_path,
                                               marker_model_dir,
                                               audio_model_dir):
  huge = tmp_path / 'huge'
  huge.mkdir()
  (huge / METADATA_FILE).write_text('{"name": "' + 'x' * 3_000_000 + '"}')
  audio_spec = dict(modality='audio', sample_rate=16000, window_seconds=0.5,
                    hop_seconds=0.25)
  cases = [
      (marker_model_dir, 'is a visual model, not an audio one'),
      # Says it hears, but its signature takes frames.
      (_model_copy(marker_model_dir, tmp_path / 'frames', **audio_spec),
       'must take exactly one input "waveform"'),
      (os.path.join(audio_model_dir, METADATA_FILE), 'is not a rescan model'),
      (str(tmp_path / 'missing'), 'is not a rescan model'),
      (str(huge), 'is larger than'),
      (_model_copy(audio_model_dir, tmp_path / 'w0', window_seconds=0),
       '"window_seconds" must be in'),
      (_model_copy(audio_model_dir, tmp_path / 'wbig', window_seconds=1e9),
       '"window_seconds" must be in'),
      (_model_copy(audio_model_dir, tmp_path / 'hop', hop_seconds=1e-9),
       '"hop_seconds" must be in'),
      (_model_copy(audio_model_dir, tmp_path / 'hopbig', hop_seconds=1e6),
       '"hop_seconds" must be in'),
      # A window the exported signature does not take.
      (_model_copy(audio_model_dir, tmp_path / 'w1', window_seconds=1.0,
                   hop_seconds=0.5), 'waveform'),
  ]
  for model, words in cases:
    code, line = rescan_one_line(capsys, 'scan', '--input', str(tmp_path / '*.mp4'),
                         '--output', str(tmp_path / 'out'),
                         '--audio-model', model)
    assert code == 2 and words in line, (model, line)
  code, line = rescan_one_line(capsys, 'scan', '--input', str(tmp_path / '*.mp4'),
                       '--output', str(tmp_path / 'out'),
                       '--model', audio_model_dir,
                       '--audio-model', audio_model_dir)
  assert code == 2 and 'is an audio model' in line


def test_skip_scanned_never_skips_what_this_scan_has_not_looked_at(
    tmp_path, marker_model_dir, audio_model_dir):
  video = _write(str(tmp_path), 'both.mkv', [media.Track(
      'libopus', 48000, 'mono', _sound())])
  out = str(tmp_path / 'out')
  models = ('--model', marker_model_dir, '--audio-model', audio_model_dir)
  def status(scan_id, *flags):
    _scan(out, [video], scan_id, '--decode-isolation', 'inline', *flags)
    (row,) = _rows(out, 'videos', scan_id)
    return row['status'], row['audio_status']
  assert status('seen', '--model', marker_model_dir)[1] is None
  # The picture was seen, the sound never heard: not skipped.
  assert status('both', *models, '--skip-scanned') == ('scanned', OK)
  assert status('again', *models, '--skip-scanned')[0] == 'skipped'
  # An audio-only scan's row names the audio model's version "1", the
  # visual model's is "1" too: it never vouches for the picture.
  other = str(tmp_path / 'other')
  _scan(other, [video], 'heard', '--decode-isolation', 'inline',
        '--audio-model', audio_model_dir)
  out = other
  assert status('heard-again', '--audio-model', audio_model_dir,
                '--skip-scanned')[0] == 'skipped'
  assert status('then-seen', *models, '--skip-scanned') == ('scanned', OK)
