"""Decoding real encoded files: every codec, seeks, VFR, limits."""
import numpy as np
import pytest

from pipeline.media import decode
from pipeline.media import errors as media_errors
from pipeline.media import probe
from pipeline.media import sampling
from pipeline.storage import files as storage

SIZE = (64, 48)


def _red_share(image):
  return ((image[..., 0] > 170) & (image[..., 1] < 90) &
          (image[..., 2] < 90)).mean()


def _segment(uri, start_ms, end_ms, fps=2.0, mode=sampling.EXACT):
  stats = decode.DecodeStats()
  keyframe_interval_ms = probe.probe_video(uri).keyframe_interval_ms
  with storage.open_media(uri) as reader:
    samples = list(decode.iter_samples(
        reader, start_ms, end_ms, fps, SIZE, stats, mode=mode,
        keyframe_interval_ms=keyframe_interval_ms))
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


@pytest.mark.parametrize('mode', [sampling.EXACT, sampling.FAST,
                                  sampling.KEYFRAMES])
def test_segments_decode_exactly_the_frames_of_one_pass(corpus, mode):
  for path, video in corpus.videos.items():
    whole = decode.sample_frames(path, 2.0, SIZE, sampling_mode=mode)
    pieces = []
    duration = probe.probe_video(path).duration_ms
    for start in range(0, duration, 3_000):
      pieces += _segment(path, start, min(start + 3_000, duration),
                         mode=mode)[0]
    assert [s.ts_ms for s in pieces] == [s.ts_ms for s in whole], video.name
    assert [s.frame_ms for s in pieces] == [s.frame_ms for s in whole]
    for a, b in zip(pieces, whole):
      np.testing.assert_array_equal(a.image, b.image, err_msg=video.name)


def test_probe_measures_the_keyframe_interval(corpus):
  for path, video in corpus.videos.items():
    if video.variable_frame_rate:
      continue
    interval = probe.probe_video(path).keyframe_interval_ms
    # The corpus is encoded with a 2-s GOP (some encoders add keyframes).
    assert interval is not None and 0 < interval <= 2_000, (video.name,
                                                            interval)


@pytest.mark.parametrize('mode,max_error_s', [
    (sampling.EXACT, 0.0), (sampling.FAST, 2 / 10), (sampling.KEYFRAMES, 2.0)])
def test_skipping_modes_decode_less_and_stay_near_the_sample_time(
    corpus, mode, max_error_s):
  """The corpus is 10 fps with a 2-s GOP: FAST stays within 2 frame
  intervals of each sample time, KEYFRAMES within a GOP (half a GOP but
  after the last keyframe)."""
  for path, video in corpus.videos.items():
    if video.variable_frame_rate or video.codec == 'mpeg4':
      continue
    exact, exact_stats = _segment(path, 0, 8_000)
    samples, stats = _segment(path, 0, 8_000, mode=mode)
    assert [s.ts_ms for s in samples] == [s.ts_ms for s in exact]
    errors = [abs(s.frame_ms - s.ts_ms) for s in samples]
    assert max(errors) <= max_error_s * 1000 + 1, (video.name, errors)
    if mode == sampling.KEYFRAMES:
      assert stats.frames_decoded * 10 <= exact_stats.frames_decoded, (
          video.name, stats.frames_decoded, exact_stats.frames_decoded)
    else:
      assert stats.frames_decoded <= exact_stats.frames_decoded


def test_auto_sampling_decodes_keyframes_only_when_samples_are_sparse(corpus):
  path = next(p for p, v in corpus.videos.items()
              if v.codec == 'h264' and not v.variable_frame_rate)
  sparse, dense = decode.DecodeStats(), decode.DecodeStats()
  decode.sample_frames(path, 0.5, SIZE, stats=sparse,   # every 2 s: GOP
                       sampling_mode=sampling.AUTO)
  decode.sample_frames(path, 2.0, SIZE, stats=dense,
                       sampling_mode=sampling.AUTO)
  keyframes = decode.DecodeStats()
  decode.sample_frames(path, 0.5, SIZE, stats=keyframes,
                       sampling_mode=sampling.KEYFRAMES)
  assert sparse.frames_decoded == keyframes.frames_decoded
  assert dense.frames_decoded > 5 * sparse.frames_decoded


def test_context_samples_reach_before_the_segment(corpus):
  path = next(iter(corpus.videos))
  with storage.open_media(path) as reader:
    samples = list(decode.iter_samples(reader, 5000, 6000, 2.0, SIZE,
                                       context_samples=3))
  assert [s.ts_ms for s in samples] == [3500, 4000, 4500, 5000, 5500]
  assert [s.context for s in samples] == [True, True, True, False, False]


def test_frame_hasher_hashes_each_pick_at_full_resolution(corpus):
  path = next(iter(corpus.videos))
  hasher = decode.FrameHasher('v', path, 'scan1')
  with storage.open_media(path) as reader:
    list(decode.iter_samples(reader, 0, 3000, 2.0, SIZE,
                             on_hash_pick=hasher, seconds_per_hash=1.0))
  assert [h.ts_ms for h in hasher.hashes] == [0, 1000, 2000]
  assert {(h.video_id, h.video_uri, h.scan_id) for h in hasher.hashes} == {
      ('v', path, 'scan1')}
  assert all(len(h.pdq) == 32 for h in hasher.hashes)


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
