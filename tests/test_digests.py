"""Cryptographic digests: the ledger's content_md5 / content_sha256 (free
from GCS metadata, or computed in one read with --digests), exact-match
lists in hash banks (rescan bank import --md5 / --sha256), and the exact
matches `rescan match` reports in hash_matches with their kind."""
from __future__ import annotations

import base64
import hashlib
import os
import shutil
from typing import Dict, Set, Tuple

import pytest

from model.synthetic_video import write_video
from pipeline.cli import bank as bank_cli
from pipeline.cli import match as match_cli
from pipeline.hashes import banks as hash_banks
from pipeline.hashes import digests
from pipeline.media import errors as media_errors
from pipeline.records import VideoRef
from pipeline.scan import options
from pipeline.scan import probing
from pipeline.storage import files as storage
from pipeline.storage.parquet import read_partition
from tests.conftest import run_scan
from tests.test_operator_errors import one_error_line
from tests.test_operator_errors import rescan

MAX_PIXELS = options.DEFAULT_MAX_PIXELS


def _file_digests(path: str) -> storage.Digests:
  with open(path, 'rb') as f:
    data = f.read()
  return storage.Digests(hashlib.md5(data).hexdigest(),
                         hashlib.sha256(data).hexdigest())


# ---------------------------------------------------------------------------
# Computing and recording the digests.

def test_one_read_gives_hashlibs_digests_of_the_real_file(tmp_path):
  video = write_video(str(tmp_path / 'v.mp4'), 2.0, 'h264', seed=1)
  # Several read chunks, and a last chunk that is not full.
  blob = tmp_path / 'blob.bin'
  blob.write_bytes(os.urandom(3 * storage.DIGEST_CHUNK_BYTES + 12345))
  for path in (video, str(blob)):
    expected = _file_digests(path)
    assert storage.content_digests(path) == expected
    assert storage.content_sha256(path) == expected.sha256
  empty = tmp_path / 'empty'
  empty.write_bytes(b'')
  assert storage.content_digests(str(empty)) == _file_digests(str(empty))


def test_probe_records_digests_only_when_asked_for_local_files(tmp_path):
  path = write_video(str(tmp_path / 'v.mp4'), 2.0, 'h264', seed=2)
  ref = VideoRef('v', path)
  plain = probing.probe_input(ref, (), MAX_PIXELS, None)
  assert (plain.version.md5, plain.version.sha256) == (None, None)
  expected = _file_digests(path)
  for flags in (dict(digests=True), dict(verify_digest=True),
                dict(digests=True, verify_digest=True)):
    probed = probing.probe_input(ref, (), MAX_PIXELS, None, **flags)
    assert (probed.version.md5, probed.version.sha256) == expected, flags


def test_the_digests_flag_has_one_default():
  config = options.parse_scan_args(['--input', 'a', '--output', 'o',
                                    '--model', 'm'])
  assert config.digests is options.DEFAULT_DIGESTS is False
  for argv, value in ((['--digests'], True), (['--digests=false'], False),
                      (['--digests', 'true'], True)):
    assert options.parse_scan_args(['--input', 'a', '--output', 'o',
                                    '--model', 'm', *argv]).digests is value


def test_gcs_md5_metadata_as_hex():
  raw = hashlib.md5(b'abc').digest()
  assert storage.md5_hex(base64.b64encode(raw).decode()) == raw.hex()
  assert storage.md5_hex(None) is None          # composite objects
  assert storage.md5_hex('') is None
  assert storage.md5_hex('not base64!') is None
  assert storage.md5_hex(base64.b64encode(b'short').decode()) is None


@pytest.mark.xdist_group('gcs')
def test_gcs_md5_is_recorded_from_metadata_without_reading(emulator,
                                                           tmp_path):
  path = write_video(str(tmp_path / 'g.mp4'), 2.0, 'h264', seed=3)
  expected = _file_digests(path)
  emulator.bucket('uploads').blob('digests/g.mp4').upload_from_filename(path)
  uri = 'gs://uploads/digests/g.mp4'
  version = storage.identify(uri).version
  assert version.md5 == expected.md5
  assert version.sha256 is None                 # GCS gives no SHA-256
  probed = probing.probe_input(VideoRef('g', uri), (), MAX_PIXELS, None)
  assert (probed.version.md5, probed.version.sha256) == (expected.md5, None)
  # --digests reads the object once for both, and agrees with GCS's MD5.
  probed = probing.probe_input(VideoRef('g', uri), (), MAX_PIXELS, None,
                               digests=True)
  assert (probed.version.md5, probed.version.sha256) == expected
  # Bytes that are not the version identified: refused, not recorded.
  with pytest.raises(media_errors.MediaError, match='changed while'):
    storage.content_digests(uri, expected=version._replace(md5='0' * 32))


@pytest.mark.xdist_group('gcs')
def test_a_gcs_scan_ledger_holds_the_free_md5(emulator, marker_model_dir,
                                              tmp_path):
  path = write_video(str(tmp_path / 'scan.mp4'), 2.0, 'h264', seed=4)
  emulator.bucket('uploads').blob('digests-scan/scan.mp4') \
      .upload_from_filename(path)
  scan = run_scan(str(tmp_path / 'out'), ['gs://uploads/digests-scan/*'],
                  marker_model_dir, 'gcsfree')
  (row,) = scan.videos.to_pylist()
  assert row['status'] == 'scanned'
  assert row['content_md5'] == _file_digests(path).md5
  assert row['content_sha256'] is None


# ---------------------------------------------------------------------------
# A generated archive: a known video, its exact copy under another name,
# an unrelated video, and one banked by its frame hashes.

@pytest.fixture(scope='module')
def archive(tmp_path_factory, marker_model_dir):
  folder = tmp_path_factory.mktemp('digest-archive')
  inputs = folder / 'uploads'
  inputs.mkdir()
  known = write_video(str(inputs / 'known.mp4'), 4.0, 'h264', seed=11,
                      noise=1.0)
  shutil.copyfile(known, str(inputs / 'renamed copy.mp4'))
  write_video(str(inputs / 'unrelated.mp4'), 4.0, 'h264', seed=12, noise=1.0)
  write_video(str(inputs / 'perceptual.webm'), 4.0, 'vp9', seed=13,
              noise=1.0)
  root = str(folder / 'results')
  pattern = str(inputs / '*')
  # Scan ids sort by time: the scan with --digests is the latest.
  plain = run_scan(root, [pattern], marker_model_dir, 's1-plain')
  hashed = run_scan(root, [pattern], marker_model_dir, 's2-digests',
                    '--digests')
  return folder, plain, hashed


def _by_name(table) -> Dict[str, dict]:
  return {os.path.basename(r['video_uri']): r for r in table.to_pylist()}


def test_the_digests_flag_fills_the_ledger_and_its_absence_leaves_nulls(
    archive):
  _, plain, hashed = archive
  for name, row in _by_name(plain.videos).items():
    assert (row['content_md5'], row['content_sha256']) == (None, None), name
  rows = _by_name(hashed.videos)
  assert len(rows) == 4
  for name, row in rows.items():
    assert row['status'] == 'scanned', name
    assert (row['content_md5'], row['content_sha256']) == _file_digests(
        row['video_uri']), name
  assert rows['known.mp4']['content_md5'] == \
      rows['renamed copy.mp4']['content_md5']


def _matches(root: str, scan_id: str) -> Set[Tuple[str, str, str, str]]:
  table = read_partition(root, 'hash_matches', scan_id)
  return {(os.path.basename(r['video_uri']), r['kind'], r['bank'],
           r['entry_id']) for r in table.to_pylist()}


def test_md5_and_sha256_lists_match_exact_copies_end_to_end(
    archive, capsys):
  folder, plain, hashed = archive
  rows = _by_name(hashed.videos)
  known = rows['known.mp4']
  bank = str(folder / 'bank')
  md5_list = folder / 'known.md5'
  # md5sum output, upper case, a comment, a repeat, CRLF line ends.
  md5_list.write_bytes(
      (f'# shared list\r\n{known["content_md5"].upper()}  *case-17.mp4\r\n'
       f'{known["content_md5"]}\r\n{"0" * 32}\r\n').encode())
  sha_list = folder / 'known.sha256'
  sha_list.write_text(f'{known["content_sha256"]},case-17\n')
  common = ['import', '--bank', bank, '--id', 'shared', '--label']
  assert bank_cli.main(common + ['known', '--md5', str(md5_list)]) == 0
  assert 'imported 2 digests' in capsys.readouterr().out
  assert bank_cli.main(common + ['known', '--sha256', str(sha_list)]) == 0
  perceptual = rows['perceptual.webm']['video_id']
  assert bank_cli.main(common + ['lookalike', '--frame-hashes',
                                 hashed.root, '--video-id', perceptual]) == 0
  loaded = hash_banks.load_bank(bank)
  assert sorted((d.kind, d.digest, d.entry_id) for d in loaded.digests) == [
      ('md5', '0' * 32, f'md5:{"0" * 32}'),
      ('md5', known['content_md5'], 'case-17.mp4'),
      ('sha256', known['content_sha256'], 'case-17')]
  assert [e.entry_id for e in loaded.entries] == [perceptual]

  assert match_cli.main(['--hashes', hashed.root, '--bank', bank,
                         '--output', hashed.root, '--scan-id', 'sweep']) == 0
  assert _matches(hashed.root, 'sweep') == {
      ('known.mp4', 'md5', 'shared', 'case-17.mp4'),
      ('renamed copy.mp4', 'md5', 'shared', 'case-17.mp4'),
      ('known.mp4', 'sha256', 'shared', 'case-17'),
      ('renamed copy.mp4', 'sha256', 'shared', 'case-17'),
      ('perceptual.webm', 'vpdq', 'shared', perceptual),
  }
  exact = [r for r in read_partition(hashed.root, 'hash_matches',
                                     'sweep').to_pylist()
           if r['kind'] == 'md5']
  assert all(r['query_match_pct'] == r['compared_match_pct'] == 100.0
             and r['matched_frames'] == 0 and r['first_match_ms'] == 0
             and r['last_match_ms'] == known['duration_ms']
             and r['label'] == 'known' and r['scan_id'] == 'sweep'
             for r in exact)
  # The ledger of the scan without --digests records none: nothing exact.
  assert match_cli.main(['--hashes', hashed.root, '--bank', bank,
                         '--output', hashed.root, '--scan-id', 'plainsweep',
                         '--hash-scan-id', plain.scan_id]) == 0
  assert _matches(hashed.root, 'plainsweep') == {
      ('perceptual.webm', 'vpdq', 'shared', perceptual)}


def test_a_digest_only_bank_sweeps_a_root_without_frame_hashes(
    tmp_path, marker_model_dir, capsys):
  video = write_video(str(tmp_path / 'only.mp4'), 2.0, 'h264', seed=21)
  root = str(tmp_path / 'results')
  scan = run_scan(root, [video], marker_model_dir, 'nohash', '--digests',
                  '--no-hashes')
  (row,) = scan.videos.to_pylist()
  assert not os.path.exists(os.path.join(root, 'frame_hashes'))
  bank = str(tmp_path / 'bank')
  listing = tmp_path / 'list.txt'
  listing.write_text(row['content_md5'] + '\n')
  assert bank_cli.main(['import', '--bank', bank, '--id', 'b', '--label',
                        'x', '--md5', str(listing)]) == 0
  assert match_cli.main(['--hashes', root, '--bank', bank, '--output', root,
                         '--scan-id', 'm']) == 0
  assert _matches(root, 'm') == {('only.mp4', 'md5', 'b',
                                  f'md5:{row["content_md5"]}')}
  capsys.readouterr()


# ---------------------------------------------------------------------------
# Banks: old ones stay loadable; digests ride along with PDQ entries.

def test_a_bank_without_digests_loads_and_takes_a_list(tmp_path):
  bank = str(tmp_path / 'bank')
  hex_list = tmp_path / 'pdq.txt'
  hex_list.write_text('f' * 64 + '\n')
  request = hash_banks.ImportRequest(bank, 'old', 'x',
                                     pdq_hex=(str(hex_list),))
  hash_banks.import_bank(request)
  assert sorted(os.listdir(bank)) == ['bank.json', 'entries.parquet']
  assert hash_banks.load_bank(bank).digests == ()
  assert not hash_banks.has_digests(bank)
  md5_list = tmp_path / 'l.md5'
  md5_list.write_text('a' * 32 + ' one\n' + 'b' * 32 + ' two\n')
  _, added = hash_banks.import_bank(hash_banks.ImportRequest(
      bank, 'old', 'y', md5=(str(md5_list),)))
  assert added == 2
  # Importing a listed digest again replaces its entry.
  md5_list.write_text('A' * 32 + ' renamed\n')
  hash_banks.import_bank(hash_banks.ImportRequest(bank, 'old', 'z',
                                                  md5=(str(md5_list),)))
  loaded = hash_banks.load_bank(bank)
  assert len(loaded.entries) == 1
  assert sorted((d.digest, d.entry_id, d.label) for d in loaded.digests) == [
      ('a' * 32, 'renamed', 'z'), ('b' * 32, 'two', 'y')]
  assert [s['kind'] for s in loaded.sources] == ['pdq_hex', 'md5', 'md5']


def test_digest_lists_parse_names_comments_and_repeats():
  data = ('\ufeff# header\n\n' + 'AB' * 16 + '\t some name \n' +
          'ab' * 16 + ',other\n' + 'cd' * 16 + '  # no name\n').encode()
  assert digests.parse_digest_list(data, 'md5', 'l') == [
      ('ab' * 16, 'some name'), ('cd' * 16, None)]
  assert digests.parse_digest_list(('e' * 64).encode(), 'sha256') == [
      ('e' * 64, None)]


# ---------------------------------------------------------------------------
# Hostile lists: one clear line, exit status 2, no bank written.

HOSTILE = {
    'bad hex': (b'zz' * 16 + b'\n', 'l.md5:1: ', 'is not hexadecimal'),
    'wrong length': (b'a' * 31 + b'\n', 'l.md5:1: ', 'has 31 hex digits'),
    'a sha256 in an md5 list': (b'a' * 32 + b'\n' + b'b' * 64 + b'\n',
                                'l.md5:2: ', 'has 64 hex digits; md5 has 32'),
    'not utf-8': (b'a' * 32 + b'\n\xff\xfe\x00garbage\n', 'l.md5: ',
                  'not UTF-8 text'),
    'empty': (b'# nothing\n\n', 'l.md5: ', 'no md5 digests'),
    'a control character in a name': (b'a' * 32 + b' x\x1b[31m\n',
                                      'l.md5:1: ', 'control character'),
    'a giant line': (b'a' * 32 + b' ' + b'n' * 10_000 + b'\n', 'l.md5:1: ',
                     'line longer than'),
    'a NUL': (b'\x00' * 32 + b'\n', 'l.md5:1: ', 'is not hexadecimal'),
}


@pytest.mark.parametrize('case', sorted(HOSTILE))
def test_a_hostile_md5_list_is_one_line_and_exit_2(case, tmp_path, capsys):
  data, where, what = HOSTILE[case]
  listing = tmp_path / 'l.md5'
  listing.write_bytes(data)
  bank = tmp_path / 'bank'
  code, _, err = rescan(capsys, 'bank', 'import', '--bank', str(bank),
                        '--id', 'b', '--label', 'x', '--md5', str(listing))
  assert code == 2, err
  line = one_error_line(err)
  assert f'{listing}'.rsplit('/', 1)[0] in line
  assert where in line and what in line, line
  assert not bank.exists()


def test_a_huge_md5_list_is_refused_before_it_is_read(tmp_path, capsys):
  listing = tmp_path / 'huge.md5'
  with open(listing, 'wb') as f:   # sparse: nothing is written or read
    f.truncate(digests.MAX_DIGEST_LIST_BYTES + 1)
  bank = tmp_path / 'bank'
  code, _, err = rescan(capsys, 'bank', 'import', '--bank', str(bank),
                        '--id', 'b', '--label', 'x', '--md5', str(listing))
  assert code == 2
  line = one_error_line(err)
  assert 'at most 256 MiB' in line and str(listing) in line
  assert not bank.exists()


def test_a_missing_md5_list_is_a_failed_run(tmp_path, capsys):
  code, _, err = rescan(capsys, 'bank', 'import', '--bank',
                        str(tmp_path / 'bank'), '--id', 'b', '--label', 'x',
                        '--md5', str(tmp_path / 'nope.md5'))
  assert code == 1
  assert 'no file matches' in one_error_line(err)
