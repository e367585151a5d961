"""Decoding real encoded files: every codec, seeks, VFR, limits."""
import numpy as np
import pytest

from pipeline import decode
from pipeline import media_errors
from pipeline import probe
from pipeline import storage

SIZE = (64, 48)


def _red_share(image):
  return ((image[..., 0] > 170) & (image[..., 1] < 90) &
          (image[..., 2] < 90)).mean()


def _segment(uri, start_ms, end_ms, fps=2.0):
  stats = decode.DecodeStats()
  with storage.open_media(uri) as reader:
    samples = list(decode.iter_samples(reader, start_ms, end_ms, fps, SIZE,
                                       stats))
    stats.bytes_read = reader.bytes_read
  return samples, stats


def test_every_codec_decodes_with_markers_at_planted_times(corpus):
  for path, video in corpus.videos.items():
    info = probe.probe_video(path)
    assert abs(info.duration_ms - video.seconds * 1000) <= 250, (path, info)
    assert (info.width, info.height) == (160, 120)
    samples = decode.sample_frames(path, 2.0, SIZE)
    assert all(s.image.shape == (48, 64, 3) and s.image.dtype == np.uint8
               for s in samples)
    red = [s.ts_ms for s in samples if _red_share(s.image) > 0.1]
    truth = [e for e in video.events if e.label == 'red_marker']
    for event in truth:
      inside = [t for t in red if event.start_s * 1000 - 500 <= t
                <= event.end_s * 1000 + 500]
      assert inside, (video.name, event, red)
    if not truth:
      assert not red, (video.name, red)


def test_segments_decode_exactly_the_frames_of_one_pass(corpus):
  for path, video in corpus.videos.items():
    whole = decode.sample_frames(path, 2.0, SIZE)
    pieces = []
    duration = probe.probe_video(path).duration_ms
    for start in range(0, duration, 3_000):
      pieces += _segment(path, start, min(start + 3_000, duration))[0]
    assert [s.ts_ms for s in pieces] == [s.ts_ms for s in whole], video.name
    for a, b in zip(pieces, whole):
      np.testing.assert_array_equal(a.image, b.image, err_msg=video.name)


def test_context_samples_reach_before_the_segment(corpus):
  path = next(iter(corpus.videos))
  with storage.open_media(path) as reader:
    samples = list(decode.iter_samples(reader, 5000, 6000, 2.0, SIZE,
                                       context_samples=3))
  assert [s.ts_ms for s in samples] == [3500, 4000, 4500, 5000, 5500]


def test_short_segment_reads_less_than_the_file(corpus):
  path = next(p for p, v in corpus.videos.items() if v.seconds >= 18)
  _, stats = _segment(path, 16_000, 17_000)
  assert 0 < stats.bytes_read
  assert stats.frames_decoded < 40  # seeked: no decode from the start


def test_frame_size_limit_is_enforced(corpus):
  path = next(iter(corpus.videos))
  with storage.open_media(path) as reader, pytest.raises(
      media_errors.MediaError) as raised:
    list(decode.iter_samples(reader, 0, 1000, 2.0, SIZE, max_pixels=100))
  assert raised.value.kind == media_errors.TOO_LARGE


def test_broken_files_fail_probing_with_their_kind(corpus):
  for path, kind in corpus.broken.items():
    with pytest.raises(media_errors.MEDIA_EXCEPTIONS) as raised:
      probe.probe_video(path)
    assert media_errors.classify(raised.value)[0] == kind, path


def test_missing_file_is_not_found(tmp_path):
  with pytest.raises(media_errors.MediaError) as raised:
    probe.probe_video(str(tmp_path / 'gone.mp4'))
  assert raised.value.kind == media_errors.NOT_FOUND
