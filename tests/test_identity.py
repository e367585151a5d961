"""Which file is this: one canonical name and version for prefix checks,
reopening, deduplication and --skip-scanned (issue #14, paths and
identities)."""
from __future__ import annotations

import hashlib
import os
import time

import pytest

from model.synthetic_video import write_video
from pipeline.media import errors as media_errors
from pipeline.records import Skipped
from pipeline.records import VideoInfo
from pipeline.records import VideoRef
from pipeline.scan import identities
from pipeline.scan import inputs
from pipeline.scan import probing
from pipeline.storage import files as storage
from tests.conftest import run_scan

MAX_PIXELS = 8192 * 4320


@pytest.fixture(name='tree')
def tree_fixture(tmp_path):
  """uploads/ (the allowed prefix) and outside/ holding a real video."""
  uploads = tmp_path / 'uploads'
  outside = tmp_path / 'outside'
  uploads.mkdir()
  outside.mkdir()
  secret = write_video(str(outside / 'secret.mp4'), 1.0, 'h264')
  return uploads, outside, secret


# Names and schemes.


def test_only_a_registered_scheme_at_the_start_makes_a_remote_uri(
    tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  assert storage.canonical_uri('uploads/evil://l.mp4') == str(
      tmp_path / 'uploads' / 'evil:' / 'l.mp4')
  assert not storage.has_scheme('uploads/evil://l.mp4')
  assert storage.canonical_uri('GS://bucket/a.mp4') == 'gs://bucket/a.mp4'
  assert storage.has_scheme('GS://bucket/a.mp4')
  assert storage.canonical_uri('s3://b/k') == 's3://b/k'
  # A look-alike with one slash, or an unknown scheme, is a local path.
  assert storage.canonical_uri('gs:/bucket/a.mp4') == str(
      tmp_path / 'gs:' / 'bucket' / 'a.mp4')
  assert storage.canonical_uri('nope://x') == str(tmp_path / 'nope:' / 'x')
  # file:// is a URI: percent-decoded, then resolved as a local path.
  assert storage.canonical_uri('file:///a/b%20c/../d.mp4') == '/a/d.mp4'
  assert not storage.has_scheme('file:///a/d.mp4')


def test_a_local_name_resolves_dots_and_symlinks(tree):
  uploads, _, secret = tree
  link = uploads / 'link.mp4'
  link.symlink_to(secret)
  assert storage.canonical_uri(str(link)) == secret
  assert storage.canonical_uri(str(uploads / '..' / 'outside' /
                                   'secret.mp4')) == secret
  assert storage.identify(str(link)) == storage.identify(secret)


# The allow-list checks the resolved file.


def test_a_symlink_behind_a_scheme_look_alike_is_outside_the_prefix(tree):
  uploads, _, secret = tree
  (uploads / 'evil:').mkdir()
  (uploads / 'evil:' / 'l.mp4').symlink_to(secret)
  uri = f'{uploads}/evil://l.mp4'
  assert not storage.is_allowed(uri, [str(uploads)])
  failure = probing.probe_input(VideoRef('v', uri), (str(uploads),),
                                MAX_PIXELS, None)
  assert failure.error_kind == media_errors.FORBIDDEN_URI
  assert failure.uri == secret


def test_dots_percent_encoding_and_case_are_resolved_before_the_check(tree):
  uploads, _, secret = tree
  prefix = [str(uploads)]
  assert not storage.is_allowed(f'{uploads}/../outside/secret.mp4', prefix)
  assert not storage.is_allowed(f'file://{uploads}/%2e%2e/outside/secret.mp4',
                                prefix)
  # Locally a name is literal: '%2e%2e' is a folder inside the prefix.
  literal = uploads / '%2e%2e'
  literal.mkdir()
  inside = write_video(str(literal / 'a.mp4'), 1.0, 'h264')
  assert storage.is_allowed(inside, prefix)
  assert storage.is_allowed(f'file://{uploads}/%252e%252e/a.mp4', prefix)
  assert storage.identify(f'file://{uploads}/%252e%252e/a.mp4').uri == inside
  # Remote: the scheme's case does not matter; dot segments are refused.
  assert storage.is_allowed('GS://b/up/a.mp4', ['gs://b/up'])
  assert not storage.is_allowed('gs://b/up/./../x/a.mp4', ['gs://b/up'])
  assert not storage.is_allowed('gs://b/upload/a.mp4', ['gs://b/up'])
  # A local look-alike never matches a remote prefix.
  assert not storage.is_allowed('gs:/b/up/a.mp4', ['gs://b/up'])


def test_a_symlink_loop_fails_as_one_row(tree):
  uploads, _, _ = tree
  (uploads / 'a.mp4').symlink_to(uploads / 'b.mp4')
  (uploads / 'b.mp4').symlink_to(uploads / 'a.mp4')
  failure = probing.probe_input(VideoRef('v', str(uploads / 'a.mp4')),
                                (str(uploads),), MAX_PIXELS, None)
  assert failure.error_kind == media_errors.NOT_FOUND
  with pytest.raises(media_errors.MediaError):
    storage.identify(str(uploads / 'a.mp4'))


# What is opened is what was checked.


def test_a_symlink_swapped_in_after_the_check_is_not_opened(tree):
  uploads, outside, secret = tree
  video = write_video(str(uploads / 'v.mp4'), 1.0, 'h264')
  checked = storage.identify(video)
  assert storage.is_allowed(checked.uri, [str(uploads)])
  with storage.open_media(checked.uri, expected=checked.version) as reader:
    assert reader.read(4)
  os.remove(video)
  os.symlink(secret, video)
  with pytest.raises(media_errors.MediaError) as raised:
    storage.open_media(checked.uri)
  assert raised.value.kind == media_errors.FORBIDDEN_URI
  # A folder along the path swapped for a symlink is caught as well.
  sub = uploads / 'sub'
  sub.mkdir()
  inner = write_video(str(sub / 'secret.mp4'), 1.0, 'h264')
  os.rename(sub, uploads / 'gone')
  os.symlink(outside, sub)
  with pytest.raises(media_errors.MediaError) as raised:
    storage.open_media(inner)
  assert raised.value.kind == media_errors.FORBIDDEN_URI


def test_a_file_replaced_after_it_was_identified_is_not_opened(tree):
  uploads, _, _ = tree
  video = write_video(str(uploads / 'v.mp4'), 1.0, 'h264')
  checked = storage.identify(video)
  os.rename(write_video(str(uploads / 'w.mp4'), 1.0, 'vp9'), video)
  with pytest.raises(media_errors.MediaError) as raised:
    storage.open_media(video, expected=checked.version)
  assert raised.value.kind == media_errors.FORBIDDEN_URI


def test_only_regular_files_are_opened(tmp_path):
  fifo = tmp_path / 'fifo.mp4'
  os.mkfifo(fifo)
  with pytest.raises(media_errors.MediaError):
    storage.identify(str(fifo))
  with pytest.raises(media_errors.MediaError):
    storage.open_media(str(fifo))


# One reference per file, one video_id per file.


def test_a_file_named_twice_is_one_input_and_the_manifest_id_wins():
  uri = '/data/a.mp4'
  derived = VideoRef(inputs.stable_video_id(uri), uri)
  named = VideoRef('from-manifest', uri, True)
  other = VideoRef('another-manifest', uri, True)
  assert identities.one_ref_per_file(uri, [derived, named]) == named
  assert identities.one_ref_per_file(uri, [named, derived]) == named
  assert identities.one_ref_per_file(uri, [named, other, derived]) == other
  assert identities.one_ref_per_file(uri, [derived, derived]) == derived


def test_files_that_share_a_video_id_each_get_their_own():
  alone = list(identities.unique_video_ids('v1', [VideoRef('v1', '/a')]))
  assert alone == [VideoRef('v1', '/a')]
  shared = list(identities.unique_video_ids(
      'v', [VideoRef('v', '/b', True), VideoRef('v', '/a', True)]))
  assert [r.uri for r in shared] == ['/a', '/b']
  assert [r.video_id for r in shared] == [
      'v~' + inputs.stable_video_id('/a'), 'v~' + inputs.stable_video_id('/b')]
  assert {r.shared_video_id for r in shared} == {'v'}
  # No input can take the name another file is renamed to.
  claimed = shared[0].video_id
  squatter = list(identities.unique_video_ids(
      claimed, [VideoRef(claimed, '/c', True)]))
  assert squatter[0].video_id != claimed
  assert squatter[0].shared_video_id == claimed


def _statuses(scan):
  return sorted((r['video_id'], os.path.basename(r['video_uri']), r['status'],
                 r['shared_video_id']) for r in scan.videos.to_pylist())


def test_one_file_by_manifest_pattern_and_symlink_is_scanned_once(
    tmp_path, marker_model_dir):
  uploads = tmp_path / 'uploads'
  uploads.mkdir()
  video = write_video(str(uploads / 'a.mp4'), 2.0, 'h264')
  (tmp_path / 'link.mp4').symlink_to(video)
  manifest = tmp_path / 'list.csv'
  manifest.write_text(f'uri,video_id\n{video},clip-a\n'
                      f'uploads/../uploads/a.mp4,\n')
  scan = run_scan(str(tmp_path / 'out'),
                  [str(manifest), str(uploads / '*.mp4'),
                   str(tmp_path / 'link.mp4'), str(uploads / '*')],
                  marker_model_dir, 'once')
  assert _statuses(scan) == [('clip-a', 'a.mp4', 'scanned', None)]
  assert {c['video_id'] for c in scan.clips.to_pylist()} <= {'clip-a'}


def test_two_files_given_one_video_id_are_both_scanned(
    tmp_path, marker_model_dir):
  first = write_video(str(tmp_path / 'first.mp4'), 2.0, 'h264')
  second = write_video(str(tmp_path / 'second.mp4'), 2.0, 'vp9')
  manifest = tmp_path / 'list.csv'
  manifest.write_text(f'uri,video_id\n{first},same\n{second},same\n')
  scan = run_scan(str(tmp_path / 'out'), [str(manifest)], marker_model_dir,
                  'shared')
  assert _statuses(scan) == sorted([
      ('same~' + inputs.stable_video_id(first), 'first.mp4', 'scanned',
       'same'),
      ('same~' + inputs.stable_video_id(second), 'second.mp4', 'scanned',
       'same')])
  clip_ids = [c['clip_id'] for c in scan.clips.to_pylist()]
  assert len(clip_ids) == len(set(clip_ids))


# --skip-scanned goes by identity.


def _replace_same_size_and_reset_mtime(path: str) -> None:
  """Other content of the same size, written in place, the update time set
  back: only the inode change time (and the content) tell."""
  before = os.stat(path)
  data = bytearray(open(path, 'rb').read())  # pylint: disable=consider-using-with
  data[len(data) // 2] ^= 0xFF  # in the coded frames: still a video
  time.sleep(0.01)
  with open(path, 'r+b') as f:
    f.write(bytes(data))
  os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
  after = os.stat(path)
  assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
      before.st_size, before.st_mtime_ns, before.st_ino)


def _recorded(version, scan_id='scan0'):
  return probing.ScannedVersion(scan_id, version)


def test_a_replaced_file_with_its_time_reset_is_not_skipped(tmp_path):
  path = write_video(str(tmp_path / 'a.mp4'), 2.0, 'h264')
  ref = VideoRef('a', path)
  previous = _recorded(storage.identify(path).version)
  assert isinstance(probing.probe_input(ref, (), MAX_PIXELS, previous),
                    Skipped)
  _replace_same_size_and_reset_mtime(path)
  assert isinstance(probing.probe_input(ref, (), MAX_PIXELS, previous),
                    VideoInfo)
  # Replaced by a rename: a new inode.
  previous = _recorded(storage.identify(path).version)
  os.rename(write_video(str(tmp_path / 'b.mp4'), 2.0, 'h264', seed=9), path)
  stat = os.stat(path)
  os.utime(path, (stat.st_atime, previous.version.updated_s))
  assert isinstance(probing.probe_input(ref, (), MAX_PIXELS, previous),
                    VideoInfo)


def test_verify_digest_skips_only_the_same_content(tmp_path):
  path = write_video(str(tmp_path / 'a.mp4'), 2.0, 'h264')
  ref = VideoRef('a', path)
  with open(path, 'rb') as f:
    digest = hashlib.sha256(f.read()).hexdigest()
  probed = probing.probe_input(ref, (), MAX_PIXELS, None, verify_digest=True)
  assert probed.version.sha256 == digest
  version = storage.identify(path).version
  same = _recorded(version._replace(sha256=digest))
  other = _recorded(version._replace(sha256='0' * 64))
  unrecorded = _recorded(version)
  assert isinstance(probing.probe_input(ref, (), MAX_PIXELS, same,
                                        verify_digest=True), Skipped)
  assert isinstance(probing.probe_input(ref, (), MAX_PIXELS, other,
                                        verify_digest=True), VideoInfo)
  assert isinstance(probing.probe_input(ref, (), MAX_PIXELS, unrecorded,
                                        verify_digest=True), VideoInfo)
  # Without --verify-digest, the recorded digest is not consulted.
  assert isinstance(probing.probe_input(ref, (), MAX_PIXELS, other), Skipped)


def test_skip_scanned_rescans_a_replaced_file_end_to_end(
    tmp_path, marker_model_dir):
  root = str(tmp_path / 'out')
  kept = write_video(str(tmp_path / 'kept.mp4'), 2.0, 'h264')
  replaced = write_video(str(tmp_path / 'replaced.mp4'), 2.0, 'h264', seed=4)
  first = run_scan(root, [kept, replaced], marker_model_dir, 'first',
                   '--verify-digest')
  rows = {os.path.basename(r['video_uri']): r
          for r in first.videos.to_pylist()}
  with open(kept, 'rb') as f:
    assert rows['kept.mp4']['content_sha256'] == hashlib.sha256(
        f.read()).hexdigest()
  assert rows['kept.mp4']['source_inode'] == os.stat(kept).st_ino
  assert rows['kept.mp4']['source_changed_at'] is not None
  _replace_same_size_and_reset_mtime(replaced)
  for scan_id, extra in (('second', ()), ('third', ('--verify-digest',))):
    again = run_scan(root, [kept, replaced], marker_model_dir, scan_id,
                     '--skip-scanned', *extra)
    status = {os.path.basename(r['video_uri']): r['status']
              for r in again.videos.to_pylist()}
    assert status == {'kept.mp4': 'skipped', 'replaced.mp4': 'scanned'}


# GCS: generation and CRC32C.


@pytest.mark.xdist_group('gcs')
def test_a_gcs_object_is_identified_by_generation_and_crc32c(
    emulator, tmp_path):
  path = write_video(str(tmp_path / 'g.mp4'), 1.0, 'h264')
  blob = emulator.bucket('uploads').blob('identity/g.mp4')
  blob.upload_from_filename(path)
  uri = 'gs://uploads/identity/g.mp4'
  first = storage.identify('GS://uploads/identity/g.mp4')
  assert first.uri == uri
  assert first.version.generation is not None
  assert first.version.crc32c
  assert first.version.inode is None
  # The same bytes uploaded again: a new generation, so a new version.
  blob.upload_from_filename(path)
  second = storage.identify(uri).version
  assert second.generation != first.version.generation
  assert not storage.same_version(first.version, second)
  assert storage.same_version(second, second)
  assert storage.content_sha256(uri) == hashlib.sha256(
      open(path, 'rb').read()).hexdigest()  # pylint: disable=consider-using-with
