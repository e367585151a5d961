"""Cutting flagged clips with context into small, playable MP4s."""
from __future__ import annotations

import dataclasses
import json
import os
from fractions import Fraction

import av
import numpy as np
import pytest

from model.synthetic_video import PlantedEvent
from model.synthetic_video import render_frame
from model.synthetic_video import write_video
from pipeline.cli import extract as extract_cli
from pipeline.review import extract as clip_extract
from pipeline.review.extract import ExtractRequest

# Clip times off the 2-s keyframe grid, so copies start on an earlier key.
CLIP = (31_300, 33_700)
LONG_SECONDS = 60.0


@dataclasses.dataclass(frozen=True)
class DecodedSpan:
  first_s: float
  last_s: float
  frames: int


def decoded_span(path: str) -> DecodedSpan:
  """Decodes every frame of an extract: it plays, and this is what shows."""
  with av.open(path) as container:
    times = [frame.time for frame in container.decode(video=0)]
  return DecodedSpan(min(times), max(times), len(times))


def assert_plays_and_covers(
    extracted: clip_extract.ExtractedClip) -> DecodedSpan:
  span = decoded_span(extracted.path)
  offset = extracted.source_offset_s
  assert span.frames > 0
  # On the source's timeline, the extract starts at or before the clip and
  # ends at or after it.
  assert span.first_s + offset <= extracted.clip_start_ms / 1000 + 1e-3, (
      span, extracted)
  assert span.last_s + offset >= extracted.clip_end_ms / 1000, (span, extracted)
  assert extracted.covered_start_s <= extracted.clip_start_ms / 1000 + 1e-3
  assert extracted.covered_end_s >= extracted.clip_end_ms / 1000
  return span


@pytest.fixture(scope='module')
def long_sources(tmp_path_factory):
  """A minute of grainy H.264 (a realistic bitrate), and 40-s VP9/WebM and
  MPEG-4/AVI, each with a marker around the clip."""
  folder = tmp_path_factory.mktemp('long_sources')
  events = (PlantedEvent('red_marker', 31.0, 34.0),)
  return {
      codec: write_video(str(folder / f'long_{codec}{suffix}'), seconds,
                         codec, fps=10.0, size=(320, 240), events=events,
                         seed=5, noise=noise, gop_seconds=2.0)
      for codec, suffix, seconds, noise in (
          ('h264', '.mp4', LONG_SECONDS, 0.3),
          ('vp9', '.webm', 40.0, 0.0),
          ('mpeg4', '.avi', 40.0, 0.0))}


def test_context_window_is_clamped_to_the_video():
  assert clip_extract.context_window(5_000, 8_000, 2_000) == (3_000, 10_000)
  assert clip_extract.context_window(1_000, 8_000, 2_000, 9_000) == (0, 9_000)
  assert clip_extract.context_window(1_000, 8_000, 2_000, 7_000) == (0, 8_000)


def test_copy_from_the_earlier_keyframe_covers_the_clip_and_is_small(
    long_sources, tmp_path):
  source = long_sources['h264']
  extracted = clip_extract.extract_clip(
      ExtractRequest('long-h264', source, *CLIP), str(tmp_path))
  assert extracted.method == clip_extract.COPY
  assert extracted.output_codec == 'h264'
  # The window starts at 29.3 s; the keyframe at or before it is at 28 s.
  assert extracted.source_offset_s == pytest.approx(28.0, abs=1e-3)
  span = assert_plays_and_covers(extracted)
  assert span.last_s + extracted.source_offset_s <= 36.0
  size, source_size = os.path.getsize(extracted.path), os.path.getsize(source)
  assert size == extracted.size_bytes
  assert size < 0.2 * source_size, (size, source_size)
  sidecar = json.loads((tmp_path / 'long-h264.json').read_text())
  assert sidecar['source_offset_s'] == extracted.source_offset_s
  assert clip_extract.read_sidecar(str(tmp_path), 'long-h264') == extracted
  start, end = extracted.clip_range_in_extract_s()
  assert (start, end) == pytest.approx((3.3, 5.7), abs=1e-3)


def test_vp9_is_copied_and_mpeg4_in_avi_is_transcoded(long_sources, tmp_path):
  vp9 = clip_extract.extract_clip(
      ExtractRequest('vp9', long_sources['vp9'], *CLIP), str(tmp_path))
  assert (vp9.method, vp9.output_codec) == (clip_extract.COPY, 'vp9')
  assert_plays_and_covers(vp9)
  mpeg4 = clip_extract.extract_clip(
      ExtractRequest('mpeg4', long_sources['mpeg4'], *CLIP), str(tmp_path))
  assert (mpeg4.method, mpeg4.output_codec) == (clip_extract.TRANSCODE,
                                                 'h264')
  # A re-encode starts exactly at the window, with the frame showing then.
  assert mpeg4.source_offset_s == pytest.approx(29.3, abs=1e-3)
  span = assert_plays_and_covers(mpeg4)
  assert span.first_s == pytest.approx(0.0, abs=1e-3)
  with av.open(mpeg4.path) as container:
    assert container.streams.video[0].codec_context.name == 'h264'
  for extracted in (vp9, mpeg4):
    assert extracted.size_bytes < 0.4 * extracted.source_size_bytes


def _write_with_audio(path: str, audio_codec: str, container_format: str,
                      seconds: float = 12.0) -> str:
  """H.264 video with a sine tone in ``audio_codec``."""
  rate = 16_000
  with av.open(path, mode='w', format=container_format) as out:
    video = out.add_stream('libx264', rate=10, options={'preset': 'ultrafast'})
    video.width, video.height, video.pix_fmt = 160, 120, 'yuv420p'
    video.codec_context.gop_size = 20
    audio = out.add_stream(audio_codec, rate=rate, layout='mono')
    samples_per_frame = 1024
    for i in range(int(seconds * 10)):
      frame = av.VideoFrame.from_ndarray(render_frame(i / 10, 160, 120),
                                         format='rgb24')
      frame.pts = i
      for packet in video.encode(frame):
        out.mux(packet)
    fmt = audio.codec_context.format.name
    for start in range(0, int(seconds * rate), samples_per_frame):
      t = (np.arange(samples_per_frame) + start) / rate
      tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
      if fmt.startswith('s16'):
        tone = (tone * 32767).astype(np.int16)
      frame = av.AudioFrame.from_ndarray(tone[np.newaxis, :], format=fmt,
                                         layout='mono')
      frame.sample_rate, frame.pts = rate, start
      frame.time_base = Fraction(1, rate)
      for packet in audio.encode(frame):
        out.mux(packet)
    for stream in (video, audio):
      for packet in stream.encode(None):
        out.mux(packet)
  return path


@pytest.mark.parametrize('audio_codec,container_format,expected', [
    ('aac', 'mp4', clip_extract.AUDIO_COPIED),
    ('pcm_s16le', 'matroska', clip_extract.AUDIO_TRANSCODED),
])
def test_audio_is_copied_when_mp4_can_carry_it_else_reencoded_to_aac(
    tmp_path, audio_codec, container_format, expected):
  source = _write_with_audio(str(tmp_path / f'talk.{container_format}'),
                             audio_codec, container_format)
  extracted = clip_extract.extract_clip(
      ExtractRequest('talk', source, 5_000, 7_000), str(tmp_path / 'out'))
  assert extracted.audio == expected
  assert_plays_and_covers(extracted)
  with av.open(extracted.path) as container:
    audio_streams = [s.codec_context.name for s in container.streams.audio]
  assert audio_streams == ['aac']


def test_extract_command_cuts_every_golden_clip(golden_scan, tmp_path, capsys):
  """Every codec of the corpus: H.264, VFR H.264, HEVC, AV1, VP9 (copied)
  and MPEG-4 in AVI (transcoded)."""
  out = tmp_path / 'extracts'
  assert extract_cli.main(['--output', golden_scan.root, '--out', str(out),
                           '--scan', 'golden', '--limit', '0']) == 0
  assert f'{golden_scan.clips.num_rows} of {golden_scan.clips.num_rows}' in (
      capsys.readouterr().out)
  methods = {}
  for clip in golden_scan.clips.to_pylist():
    extracted = clip_extract.read_sidecar(str(out), clip['clip_id'])
    assert extracted is not None, clip
    assert (extracted.clip_start_ms, extracted.clip_end_ms) == (
        clip['start_ms'], clip['end_ms'])
    assert_plays_and_covers(extracted)
    methods[os.path.splitext(clip['video_uri'])[1]] = extracted.method
  assert methods == {'.mp4': 'copy', '.webm': 'copy', '.mkv': 'copy',
                     '.avi': 'transcode'}


@pytest.mark.xdist_group('gcs')
def test_extract_streams_from_gs_and_writes_to_gs(emulator, golden_scan,
                                                  corpus, tmp_path):
  clip = next(c for c in golden_scan.clips.to_pylist()
              if c['video_uri'].endswith('h264 with spaces.mp4'))
  uri = 'gs://uploads/archive/' + os.path.relpath(clip['video_uri'],
                                                  corpus.root)
  request = clip_extract.request_for(dict(clip, video_uri=uri))
  local = clip_extract.extract_clip(request, str(tmp_path))
  assert local.video_uri == uri and local.method == clip_extract.COPY
  assert_plays_and_covers(local)
  remote = clip_extract.extract_clip(request, 'gs://results/extracts')
  assert remote.path == f"gs://results/extracts/{clip['clip_id']}.mp4"
  assert clip_extract.read_sidecar('gs://results/extracts',
                                   clip['clip_id']) == remote
  blob = emulator.bucket('results').blob(f"extracts/{clip['clip_id']}.mp4")
  assert blob.download_as_bytes() == open(local.path, 'rb').read()


def _frames_by_time(path: str, offset_s: float = 0.0):
  with av.open(path) as container:
    return {round(frame.time + offset_s, 3): frame.to_ndarray(format='gray')
            for frame in container.decode(video=0)}


def test_a_copy_with_b_frames_shows_exactly_the_source_frames(tmp_path):
  """B-frames make decode order differ from display order and the first
  decode time negative; the copy's frames are still the source's, at the
  times its sidecar says."""
  source = str(tmp_path / 'bframes.mp4')
  with av.open(source, mode='w', format='mp4') as out:
    stream = out.add_stream('libx264', rate=25,
                            options={'preset': 'fast', 'bf': '3'})
    stream.width, stream.height, stream.pix_fmt = 160, 120, 'yuv420p'
    stream.codec_context.gop_size = 20
    for i in range(25 * 12):
      frame = av.VideoFrame.from_ndarray(
          render_frame(i / 25, 160, 120, noise=0.2), format='rgb24')
      frame.pts = i
      for packet in stream.encode(frame):
        out.mux(packet)
    for packet in stream.encode(None):
      out.mux(packet)
  with av.open(source) as container:
    assert any(p.dts is not None and p.pts is not None and p.dts < p.pts
               for p in container.demux(video=0))
  extracted = clip_extract.extract_clip(
      ExtractRequest('bframes', source, 6_300, 8_100), str(tmp_path / 'out'))
  assert extracted.method == clip_extract.COPY
  assert_plays_and_covers(extracted)
  source_frames = _frames_by_time(source)
  copied = _frames_by_time(extracted.path, extracted.source_offset_s)
  assert copied.keys() <= source_frames.keys()
  for t, pixels in copied.items():
    assert np.array_equal(pixels, source_frames[t]), t


HOSTILE_CLIP_IDS = ('../../x', '/tmp/rescan-evil', '..', 'a\\..\\..\\x',
                    'nul\x00x', 'x' * 300, 'vidéo', 'new\nline', '')


def test_a_clip_id_is_never_a_path(tmp_path):
  for clip_id in HOSTILE_CLIP_IDS:
    assert not clip_extract.is_safe_clip_id(clip_id), clip_id
    with pytest.raises(clip_extract.media_errors.MediaError):
      clip_extract.extract_paths(str(tmp_path), clip_id)
    assert clip_extract.read_sidecar(str(tmp_path), clip_id) is None
  assert not clip_extract.is_safe_clip_id(None)
  scan_id = 'a3f9c2e8b1d04f5e6a7b8c9d'
  assert clip_extract.extract_paths('/out', scan_id) == (
      f'/out/{scan_id}.mp4', f'/out/{scan_id}.json')


def test_extract_refuses_crafted_clip_ids_from_parquet(golden_scan, tmp_path,
                                                       capsys):
  """A crafted flagged_clips row cannot make ``rescan extract`` write
  outside --out: each hostile id is one line on stderr, the others are
  cut."""
  import shutil  # pylint: disable=import-outside-toplevel
  import pyarrow as pa  # pylint: disable=import-outside-toplevel
  import pyarrow.parquet as pq  # pylint: disable=import-outside-toplevel
  import schemas  # pylint: disable=import-outside-toplevel
  root = tmp_path / 'root'
  shutil.copytree(os.path.join(golden_scan.root, 'videos'),
                  root / 'videos')
  clip = next(c for c in golden_scan.clips.to_pylist()
              if c['video_uri'].endswith('.mp4'))
  rows = [dict(clip, clip_id=clip_id)
          for clip_id in HOSTILE_CLIP_IDS + (clip['clip_id'],)]
  partition = root / 'flagged_clips' / 'scan=golden'
  partition.mkdir(parents=True)
  pq.write_table(pa.Table.from_pylist(rows, schema=schemas.FLAGGED_CLIPS),
                 str(partition / 'part-0.parquet'))
  out = tmp_path / 'a' / 'b' / 'out'
  assert extract_cli.main(['--output', str(root), '--out', str(out),
                           '--limit', '0']) == 1
  captured = capsys.readouterr()
  refused = [line for line in captured.err.splitlines()
             if line.startswith('failed')]
  assert len(refused) == len(HOSTILE_CLIP_IDS), captured.err
  assert all('forbidden_uri' in line for line in refused)
  assert sorted(os.listdir(out)) == [clip['clip_id'] + '.json',
                                     clip['clip_id'] + '.mp4']
  written = {os.path.relpath(os.path.join(folder, name), tmp_path)
             for folder, _, names in os.walk(tmp_path) for name in names}
  assert {w for w in written
          if not w.startswith(('root' + os.sep, os.path.join('a', 'b', 'out')))
          } == set()
  assert not os.path.exists('/tmp/rescan-evil.mp4')
