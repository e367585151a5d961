"""Audio windows: one global grid, byte-identical in one pass and in segments.

Real media, written by the test with PyAV (AAC in MP4, Opus in WebM and
MKV; mono and stereo; 8, 16, 44.1 and 48 kHz), with tones and noise bursts
at planted times.
"""
import av
import numpy as np
import pytest

from pipeline.media import audio
from pipeline.media import decode
from pipeline.media.streams import select_video_stream
from pipeline.media.streams import stream_start_seconds
from pipeline.storage import files as storage
from tests.fixtures import audio_media as media

# A model at 16 kHz with 0.5 s windows every 0.25 s.
GRID = audio.AudioGrid(sample_rate=16000, window_samples=8000,
                       hop_samples=4000)
SECONDS = 9.0
BURSTS_S = (1.0, 4.2, 7.7)
BURST_S = 0.3
# Segment boundaries (ms) that fall mid-block and mid-window.
CUTS_MS = (0, 1900, 2300, 4125, 6010, 9000)


def _cut(path, start_ms, end_ms, grid=GRID):
  with av.open(path) as container:
    origin = stream_start_seconds(select_video_stream(container))
    stats = audio.AudioStats()
    track = audio.cut_audio_windows(container, origin, grid, start_ms,
                                    end_ms, stats)
  assert stats.error_kind is None and stats.packets_damaged == 0
  return track


def _in_segments(path, cuts=CUTS_MS, grid=GRID):
  windows = []
  for start, end in zip(cuts, cuts[1:]):
    windows += _cut(path, start, end, grid).windows
  return windows


def _dominant_hz(samples, rate):
  spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
  return np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)]


FORMATS = [
    ('mp4', 'aac', 44100, 'stereo'),
    ('mp4', 'aac', 48000, 'mono'),
    ('mp4', 'aac', 16000, 'mono'),
    ('mp4', 'aac', 8000, 'stereo'),
    ('webm', 'libopus', 48000, 'mono'),
    ('webm', 'libopus', 16000, 'stereo'),
    ('matroska', 'libopus', 48000, 'stereo'),
    ('matroska', 'libopus', 8000, 'mono'),
]


@pytest.mark.parametrize('container,codec,rate,layout', FORMATS)
def test_windows_are_the_same_in_one_pass_and_in_segments(
    tmp_path, container, codec, rate, layout):
  channels = 2 if layout == 'stereo' else 1
  path = media.write_with_audio(
      str(tmp_path / f'v.{container}'), SECONDS,
      [media.Track(codec, rate, layout,
                   media.bursts(BURSTS_S, BURST_S, channels))],
      container)
  whole = _cut(path, 0, int(SECONDS * 1000))
  assert whole.status == audio.OK and whole.channels == channels
  assert whole.codec in ('aac', 'opus')
  indices = [w.index for w in whole.windows]
  # Every window whose start lies in the video, none twice.
  assert indices == list(range(int(SECONDS / 0.25)))
  assert all(w.samples.dtype == np.float32
             and w.samples.shape == (GRID.window_samples,)
             for w in whole.windows)
  parts = _in_segments(path)
  assert [w.index for w in parts] == indices
  assert [w.start_ms for w in parts] == [i * 250.0 for i in indices]
  for one, cut in zip(whole.windows, parts):
    assert one.samples.tobytes() == cut.samples.tobytes(), one.index
  # The bursts are heard in the windows that hold them, and only there.
  for window in whole.windows:
    start = window.start_ms / 1000
    peak = float(np.abs(window.samples).max())
    holds = any(start <= b and b + BURST_S <= start + 0.5 for b in BURSTS_S)
    far = all(start + 0.5 < b - 0.1 or start > b + BURST_S + 0.1
              for b in BURSTS_S)
    if holds:
      assert peak > 0.3, (window.index, peak)
    if far:
      assert peak < 0.05, (window.index, peak)
    assert peak <= 1.0


@pytest.mark.parametrize('rate', [8000, 16000, 44100, 48000])
def test_every_source_rate_is_resampled_to_the_model_rate(tmp_path, rate):
  path = media.write_with_audio(
      str(tmp_path / 'tone.mp4'), 3.0,
      [media.Track('aac', rate, 'mono', media.tone(440.0))])
  track = _cut(path, 0, 3000)
  assert track.source_rate == rate
  for window in track.windows[1:-2]:
    assert abs(_dominant_hz(window.samples, GRID.sample_rate) - 440) < 4
    # The tone's level (RMS of a 0.5 sine: 0.354) survives resampling.
    assert 0.3 < np.sqrt(np.mean(window.samples ** 2)) < 0.4


def test_stereo_is_mixed_down_to_mono(tmp_path):
  path = media.write_with_audio(
      str(tmp_path / 'lr.mkv'), 2.0,
      [media.Track('libopus', 48000, 'stereo',
                   media.stereo(media.tone(440.0), media.tone(1500.0)))],
      'matroska')
  window = _cut(path, 0, 2000).windows[2]
  spectrum = np.abs(np.fft.rfft(window.samples))
  freqs = np.fft.rfftfreq(GRID.window_samples, 1 / GRID.sample_rate)
  for hz in (440, 1500):
    near = np.abs(freqs - hz) < 10
    assert spectrum[near].max() > 0.2 * spectrum.max(), hz


def test_a_video_without_audio_is_an_explicit_no_audio(tmp_path):
  path = media.write_with_audio(str(tmp_path / 'silent.mp4'), 2.0, [])
  track = _cut(path, 0, 2000)
  assert track == audio.AudioTrack(audio.NO_AUDIO, [])


@pytest.mark.parametrize('default_second', [True, False])
def test_the_default_audio_stream_is_heard_else_the_first(tmp_path,
                                                          default_second):
  path = media.write_with_audio(
      str(tmp_path / 'two.mkv'), 2.0,
      [media.Track('libopus', 48000, 'mono', media.tone(440.0),
                   default=not default_second),
       media.Track('libopus', 48000, 'mono', media.tone(1500.0),
                   default=default_second)],
      'matroska')
  track = _cut(path, 0, 2000)
  with av.open(path) as container:
    assert len(container.streams.audio) == 2
    first_audio = container.streams.audio[0].index
  assert track.stream_index == first_audio + default_second
  hz = _dominant_hz(track.windows[2].samples, GRID.sample_rate)
  assert abs(hz - (1500 if default_second else 440)) < 4


def test_audio_that_ends_early_gives_no_windows_after_it(tmp_path):
  def early(t):
    return media.tone(440.0)(t) * (t < 2.0)
  path = media.write_with_audio(
      str(tmp_path / 'early.mp4'), 4.0,
      [media.Track('aac', 16000, 'mono', early)])
  whole = _cut(path, 0, 4000)
  # Windows only where the stream has packets; the tail is silent but
  # still decoded audio, so every window of the 4 s stream exists.
  assert [w.index for w in whole.windows] == list(range(16))
  assert all(np.abs(w.samples).max() < 0.01 for w in whole.windows
             if w.start_ms >= 2100)
  # A range past the end of the audio has no windows.
  assert _cut(path, 5000, 8000).windows == []


def test_the_grid_assigns_each_window_to_one_range():
  grid = audio.AudioGrid(16000, 8000, 4000)
  assert grid.indices(0, 1000) == range(0, 4)
  assert grid.indices(1000, 1001) == range(4, 5)
  assert grid.indices(1001, 1250) == range(5, 5)
  covered = [i for a, b in zip(CUTS_MS, CUTS_MS[1:])
             for i in grid.indices(a, b)]
  assert covered == list(range(36))
  odd = audio.AudioGrid(44100, 42336, 21168)  # 0.96 s and 0.48 s
  assert odd.indices(0, 960) == range(0, 2)
  assert odd.start_ms(3) == pytest.approx(1440.0)


def test_the_segment_decode_cuts_audio_in_its_own_container(tmp_path):
  """``decode.iter_samples`` with an ``AudioRequest``: the frames are those
  of a decode without it, the windows those of ``cut_audio_windows``, in
  one pass and in segments (also one too short for a frame sample)."""
  path = media.write_with_audio(
      str(tmp_path / 'both.webm'), SECONDS,
      [media.Track('libopus', 48000, 'stereo',
                   media.bursts(BURSTS_S, BURST_S, 2))], 'webm')
  cuts = CUTS_MS[:3] + (2310,) + CUTS_MS[3:]
  alone = _in_segments(path, cuts)

  def decode_range(start, end, request):
    with storage.open_media(path) as reader:
      return list(decode.iter_samples(reader, start, end, 2.0, (32, 24),
                                      audio=request))

  frames, windows = [], []
  for start, end in zip(cuts, cuts[1:]):
    request = audio.AudioRequest(GRID)
    samples = decode_range(start, end, request)
    plain = decode_range(start, end, None)
    assert [s.index for s in samples] == [s.index for s in plain]
    assert all(np.array_equal(a.image, b.image)
               for a, b in zip(samples, plain))
    assert request.track.status == audio.OK
    assert request.stats.error_kind is None
    frames += samples
    windows += request.track.windows
  assert [s.index for s in frames] == list(range(int(SECONDS * 2)))
  assert [w.index for w in windows] == [w.index for w in alone]
  assert all(a.samples.tobytes() == b.samples.tobytes()
             for a, b in zip(windows, alone))
  silent = media.write_with_audio(str(tmp_path / 'silent.mp4'), 1.0, [])
  with storage.open_media(silent) as reader:
    request = audio.AudioRequest(GRID)
    assert len(list(decode.iter_samples(reader, 0, 1000, 2.0, (32, 24),
                                        audio=request))) == 2
  assert request.track == audio.AudioTrack(audio.NO_AUDIO, [])


@pytest.mark.parametrize('container,codec', [('mp4', 'aac'),
                                             ('matroska', 'libopus')])
def test_the_grid_starts_at_the_video_streams_origin(tmp_path, container,
                                                     codec):
  # The picture starts 0.5 s into the file, the sound at 0: a burst 2.0 s
  # into the file is 1.5 s into the video, the time frames are sampled by.
  path = media.write_with_audio(
      str(tmp_path / f'late.{container}'), 4.0,
      [media.Track(codec, 48000, 'mono', media.bursts([2.0], BURST_S))],
      container, video_start_s=0.5)
  whole = _cut(path, 0, 4000)
  loud = [w.start_ms for w in whole.windows
          if np.abs(w.samples).max() > 0.3]
  assert loud == [1250.0, 1500.0, 1750.0]
  parts = _in_segments(path, (0, 1400, 4000))
  assert [w.samples.tobytes() for w in parts] == [
      w.samples.tobytes() for w in whole.windows]


def test_damaged_and_truncated_audio_is_survived(tmp_path):
  # Matroska: a cut file still opens (an MP4 with its index at the end
  # does not, and fails at probe before any decode).
  path = media.write_with_audio(
      str(tmp_path / 'v.mkv'), SECONDS,
      [media.Track('libopus', 48000, 'stereo',
                   media.bursts(BURSTS_S, BURST_S, 2))], 'matroska')
  data = bytearray(open(path, 'rb').read())
  truncated = tmp_path / 'truncated.mkv'
  truncated.write_bytes(bytes(data[:len(data) * 6 // 10]))
  damaged = tmp_path / 'damaged.mkv'
  rng = np.random.default_rng(3)
  for at in rng.integers(len(data) // 4, len(data) * 3 // 4, 300):
    data[at] ^= 0xFF
  damaged.write_bytes(bytes(data))
  clean = {w.index: w.samples.tobytes() for w in _cut(path, 0, 9000).windows}
  counts = {}
  for broken in (truncated, damaged):
    with av.open(str(broken)) as container:
      origin = stream_start_seconds(select_video_stream(container))
      stats = audio.AudioStats()
      track = audio.cut_audio_windows(container, origin, GRID, 0,
                                      int(SECONDS * 1000), stats)
    assert track.status == audio.OK, broken
    # Whatever could be decoded is cut, on the grid, at full length.
    assert track.windows and [w.index for w in track.windows] == sorted(
        {w.index for w in track.windows})
    assert all(w.samples.shape == (GRID.window_samples,)
               and np.all(np.abs(w.samples) <= 1) for w in track.windows)
    counts[broken.name] = len(track.windows)
    if broken == damaged:  # the damage reached the sound
      assert any(clean.get(w.index) != w.samples.tobytes()
                 for w in track.windows) or len(track.windows) < 36
  # The cut file's windows end about where its bytes do.
  assert 0.4 * 36 < counts['truncated.mkv'] < 0.8 * 36, counts


def test_pcm_is_heard_and_a_hostile_rate_is_unsupported_not_a_crash(tmp_path):
  pcm = media.write_with_audio(
      str(tmp_path / 'pcm.mkv'), 2.0,
      [media.Track('pcm_s16le', 22050, 'stereo', media.tone(440.0,
                                                           channels=2))],
      'matroska')
  track = _cut(pcm, 0, 2000)
  assert (track.status, track.codec, track.channels) == (
      audio.OK, 'pcm_s16le', 2)
  assert abs(_dominant_hz(track.windows[3].samples, GRID.sample_rate)
             - 440) < 4
  # Beyond streams.MAX_AUDIO_SOURCE_RATE: not heard, and said so.
  fast = media.write_with_audio(
      str(tmp_path / 'fast.mkv'), 1.0,
      [media.Track('pcm_s16le', 500_000, 'mono', media.tone(440.0))],
      'matroska')
  assert _cut(fast, 0, 1000) == audio.AudioTrack(audio.UNSUPPORTED_AUDIO,
                                                 [])
