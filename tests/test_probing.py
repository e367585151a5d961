"""Probing an input, without Beam: the allow-list before anything is read,
the skip rule of --skip-scanned, and what a probe that fails becomes."""
from __future__ import annotations

import os

from model.synthetic_video import write_video
from pipeline.media import errors as media_errors
from pipeline.records import Failure
from pipeline.records import Skipped
from pipeline.records import VideoInfo
from pipeline.records import VideoRef
from pipeline.scan import probing
from pipeline.storage import files as storage
from pipeline.storage.files import SourceVersion

MAX_PIXELS = 8192 * 4320


def test_an_input_outside_the_allowed_prefixes_is_refused_unread(tmp_path):
  ref = VideoRef('v', '/etc/passwd')
  assert probing.forbidden(ref, (str(tmp_path),)) == Failure(
      'v', '/etc/passwd', None, media_errors.FORBIDDEN_URI,
      'outside every --allowed-prefix; not read')
  assert probing.forbidden(ref, ()) is None
  # Refused before the file is even looked up: it does not exist.
  assert probing.probe_input(VideoRef('v', '/nowhere/x.mp4'),
                             (str(tmp_path),), MAX_PIXELS,
                             None).error_kind == media_errors.FORBIDDEN_URI


def test_only_the_same_version_is_skipped():
  ref = VideoRef('v', 'gs://b/v.mp4')
  previous = probing.ScannedVersion('scan0', SourceVersion(100, 1000.0001))
  assert probing.unchanged_since(ref, SourceVersion(100, 1000.0004),
                                 previous) == Skipped(
                                     'v', ref.uri, 100, 1000.0004, 'scan0',
                                     SourceVersion(100, 1000.0004))
  assert probing.unchanged_since(ref, SourceVersion(101, 1000.0),
                                 previous) is None
  assert probing.unchanged_since(ref, SourceVersion(100, 1000.002),
                                 previous) is None
  assert probing.unchanged_since(ref, SourceVersion(100, 1000.0), None) is None


def test_each_input_of_a_file_is_joined_to_its_latest_earlier_scan():
  old = probing.ScannedVersion('20250101T000000Z-a', SourceVersion(1, 1.0))
  new = probing.ScannedVersion('20260101T000000Z-b', SourceVersion(2, 2.0))
  refs = [VideoRef('v', 'gs://b/v.mp4'), VideoRef('w', 'gs://b/v.mp4')]
  assert list(probing.with_earlier_scan(refs, [new, old])) == [
      (refs[0], new), (refs[1], new)]
  assert list(probing.with_earlier_scan(refs[:1], [])) == [(refs[0], None)]
  # A file only earlier scans named is not an input: nothing comes out.
  assert not list(probing.with_earlier_scan([], [old]))


def test_a_video_is_probed_unless_skipped(tmp_path):
  path = write_video(str(tmp_path / 'a.mp4'), 2.0, 'h264')
  ref = VideoRef('a', path)
  info = probing.probe_input(ref, (), MAX_PIXELS, None)
  assert isinstance(info, VideoInfo)
  assert (info.video_id, info.duration_ms) == ('a', 2000)
  version = storage.source_version(path)
  previous = probing.ScannedVersion('scan0', version)
  assert probing.probe_input(ref, (), MAX_PIXELS, previous) == Skipped(
      'a', path, version.size_bytes, version.updated_s, 'scan0', version)
  # Size and update time alone no longer vouch for a local file.
  size_and_time = probing.ScannedVersion('scan0', SourceVersion(
      version.size_bytes, version.updated_s))
  assert isinstance(probing.probe_input(ref, (), MAX_PIXELS, size_and_time),
                    VideoInfo)


def test_a_probe_that_fails_keeps_what_is_known_of_the_file(tmp_path):
  empty = tmp_path / 'empty.mp4'
  empty.write_bytes(b'')
  failure = probing.probe_input(VideoRef('e', str(empty)), (), MAX_PIXELS, None)
  assert (failure.error_kind, failure.size_bytes) == (
      media_errors.EMPTY_FILE, 0)
  assert failure.updated_s == os.stat(empty).st_mtime
  missing = probing.probe_input(VideoRef('m', str(tmp_path / 'gone.mp4')),
                                (), MAX_PIXELS, None)
  assert (missing.error_kind, missing.size_bytes, missing.updated_s) == (
      media_errors.NOT_FOUND, None, None)


def test_an_unexpected_probe_exception_is_an_internal_error():
  failure = probing.dead_probe_failure(VideoRef('v', '/a/v.mp4'), KeyError,
                                       KeyError('codec'))
  assert (failure.error_kind, failure.size_bytes) == (
      media_errors.INTERNAL_ERROR, None)
  assert failure.error_message.startswith('KeyError: ')
