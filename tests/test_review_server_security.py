"""The review server under attack: another origin, a rebound DNS name, no
token, malformed requests, media named across scans, and a source swapped
after the scan.  Every test starts and stops its own servers; the review
root is written here from real encoded videos (no scan needed)."""
from __future__ import annotations

import contextlib
import datetime
import glob
import http.client
import http.server
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from typing import Dict
from typing import List
from typing import Optional
from typing import Tuple

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import schemas
from model.synthetic_video import PlantedEvent
from model.synthetic_video import write_video
from pipeline.cli import report as report_cli
from pipeline.review import query as review_query
from pipeline.review import report as review_report
from pipeline.scan.clips import clip_id as make_clip_id
from schemas import review_tables
from tests import browser as browser_driver

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_VERSION = 'v1'
VIDEO_ID = 'shared-video-id'   # one id, two scans, two different files
SCANS = ('scan-a', 'scan-b')


def _write_root(root: str, uploads: str) -> Dict[str, str]:
  """Two scans under ``root``, each of a different real video that both
  call ``VIDEO_ID`` (so their clips even share a clip id).  Returns each
  scan's video path."""
  paths = {}
  os.makedirs(uploads, exist_ok=True)
  for seed, scan_id in enumerate(SCANS):
    path = write_video(os.path.join(uploads, f'{scan_id}.webm'), 4.0, 'vp9',
                       size=(96, 64), seed=seed,
                       events=(PlantedEvent('red_marker', 1.0, 2.0),))
    paths[scan_id] = path
    found = os.stat(path)
    scanned_at = datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)
    updated = datetime.datetime.fromtimestamp(found.st_mtime,
                                              datetime.timezone.utc)
    clip = dict(clip_id=make_clip_id(VIDEO_ID, 'red_marker', 1000,
                                     MODEL_VERSION),
                video_id=VIDEO_ID, video_uri=path, label='red_marker',
                start_ms=1000, end_ms=2000, peak_ms=1500, peak_score=0.9,
                mean_score=0.8, frames=3, threshold=0.5,
                model_name='marker', model_version=MODEL_VERSION,
                scan_id=scan_id, scanned_at=scanned_at)
    ledger = dict(video_id=VIDEO_ID, video_uri=path,
                  size_bytes=found.st_size, status='scanned',
                  duration_ms=4000, width=96, height=64, codec='vp9',
                  source_updated_at=updated, model_name='marker',
                  model_version=MODEL_VERSION, scan_id=scan_id,
                  scanned_at=scanned_at, clips=1)
    for dataset, row in (('flagged_clips', clip), ('videos', ledger)):
      schema = schemas.DATASETS[dataset]
      fields = [schema.field(name).with_nullable(True) for name in row]
      table = pa.Table.from_pylist([row], schema=pa.schema(fields))
      folder = os.path.join(root, dataset, f'scan={scan_id}')
      os.makedirs(folder)
      pq.write_table(table, os.path.join(folder, 'part-0.parquet'))
  return paths


class Review:
  """A review root and its server, with helpers that speak raw HTTP."""

  def __init__(self, root: str, paths: Dict[str, str],
               app: review_report.ReviewApp,
               server: review_report.ReviewServer):
    self.root, self.paths, self.app, self.server = root, paths, app, server
    self.port = server.httpd.server_address[1]
    self.token = app.token
    self.host = f'127.0.0.1:{self.port}'

  @property
  def clip_id(self) -> str:
    return make_clip_id(VIDEO_ID, 'red_marker', 1000, MODEL_VERSION)

  def raw(self, data: bytes, timeout: float = 10.0) -> Tuple[int, Dict, bytes]:
    """Sends bytes as they are and parses the one response."""
    with socket.create_connection(('127.0.0.1', self.port),
                                  timeout=timeout) as sock:
      # The server may answer (413) and close before it has read all.
      with contextlib.suppress(OSError):
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
      received = b''
      while chunk := sock.recv(65536):
        received += chunk
    head, _, body = received.partition(b'\r\n\r\n')
    lines = head.decode('latin-1').split('\r\n')
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in
               (line.partition(':') for line in lines[1:])}
    return status, headers, body

  def request(self, method: str, path: str, body: Optional[bytes] = None,
              headers: Optional[Dict[str, str]] = None,
              token: bool = True) -> Tuple[int, Dict, bytes]:
    """A well-formed request (http.client), with the token header unless
    ``token`` is False and with ``Host`` as given or the served one."""
    headers = dict(headers or {})
    if token:
      headers.setdefault(review_report.TOKEN_HEADER, self.token)
    conn = http.client.HTTPConnection('127.0.0.1', self.port, timeout=30)
    try:
      conn.putrequest(method, path, skip_host=True,
                      skip_accept_encoding=True)
      if 'Host' not in headers:
        conn.putheader('Host', self.host)
      for name, value in headers.items():
        if value is not None:
          conn.putheader(name, value)
      if body is not None and 'Content-Length' not in headers:
        conn.putheader('Content-Length', str(len(body)))
      conn.endheaders(body)
      response = conn.getresponse()
      return (response.status, {k.lower(): v for k, v in response.getheaders()},
              response.read())
    finally:
      conn.close()

  def post_json(self, path: str, value, **kwargs) -> Tuple[int, Dict, bytes]:
    return self.request('POST', path, json.dumps(value).encode(),
                        {'Content-Type': 'application/json'}, **kwargs)

  def verdict_files(self) -> List[str]:
    return glob.glob(review_tables.reviews_glob(self.root))

  def alive(self) -> bool:
    status, _, body = self.request('GET', '/api/verdicts')
    return status == 200 and isinstance(json.loads(body), dict)


@pytest.fixture
def review(tmp_path):
  root = str(tmp_path / 'results')
  paths = _write_root(root, str(tmp_path / 'uploads'))
  request = review_report.ReportRequest(
      root, review_query.ClipFilter(limit=200), review_report.SERVE,
      'security-test')
  app = review_report.ReviewApp(request, review_query.load_review_data(root),
                                str(tmp_path / 'cut'), 0.5)
  with review_report.ReviewServer(app, port=0) as server:
    yield Review(root, paths, app, server)


# --- pure checks --------------------------------------------------------


def test_tokens_are_long_random_and_compared_whole():
  tokens = {review_report.new_token() for _ in range(50)}
  assert len(tokens) == 50 and all(len(t) >= 40 for t in tokens)
  token = tokens.pop()
  assert review_report.token_matches(token, token)
  for given in (None, '', token[:-1], token + 'x', token.upper(), 'é' * 43):
    assert not review_report.token_matches(token, given)


@pytest.mark.parametrize('host,loopback', [
    ('127.0.0.1', True), ('127.1.2.3', True), ('::1', True),
    ('[::1]', True), ('localhost', True), ('0.0.0.0', False), ('::', False),
    ('10.1.2.3', False), ('192.168.0.1', False)])
def test_loopback_addresses(host, loopback):
  assert review_report.is_loopback(host) is loopback


def test_host_policy_of_a_loopback_bind():
  policy = review_report.request_policy('127.0.0.1', 8765, 't')
  for good in ('127.0.0.1:8765', 'localhost:8765', '[::1]:8765',
               'LOCALHOST:8765'):
    assert policy.host_allowed(good), good
  for bad in (None, '', 'evil.example:8765', '127.0.0.1:8766', '127.0.0.1',
              'rebind.test:8765', '127.0.0.1:8765 x', '127.0.0.1:8765@x',
              '10.0.0.1:8765', 'localhost.evil.example:8765'):
    assert not policy.host_allowed(bad), bad
  assert policy.origin_allowed(None, '127.0.0.1:8765')
  assert policy.origin_allowed('http://127.0.0.1:8765', '127.0.0.1:8765')
  for origin in ('null', 'http://127.0.0.1:9999', 'http://localhost:8765',
                 'https://127.0.0.1:8765', 'http://evil.example'):
    assert not policy.origin_allowed(origin, '127.0.0.1:8765'), origin


def test_a_wildcard_bind_accepts_address_literals_but_no_foreign_name():
  policy = review_report.request_policy('0.0.0.0', 8765, 't')
  assert policy.host_allowed('10.1.2.3:8765')
  assert policy.host_allowed('localhost:8765')
  assert not policy.host_allowed('rebind.evil.example:8765')
  assert not policy.host_allowed('10.1.2.3:80')


@pytest.mark.parametrize('value,ok', [
    ('application/json', True), ('application/json; charset=utf-8', True),
    ('Application/JSON;charset="UTF-8"', True), ('text/plain', False),
    ('application/x-www-form-urlencoded', False),
    ('multipart/form-data; boundary=x', False), ('', False), (None, False),
    ('application/json; charset=latin-1', False),
    ('application/jsonx', False)])
def test_only_json_is_a_write(value, ok):
  assert review_report.is_json_content_type(value) is ok


@pytest.mark.parametrize('values,status', [
    ([], 411), (['abc'], 400), (['-1'], 400), (['+5'], 400), ([''], 400),
    (['1e3'], 400), (['5', '6'], 400), (['99999999999999999999'], 400),
    ([str(review_report.MAX_REQUEST_BYTES + 1)], 413)])
def test_bad_content_lengths(values, status):
  with pytest.raises(review_report.RequestError) as caught:
    review_report.content_length(values, review_report.MAX_REQUEST_BYTES)
  assert caught.value.status == status


def test_media_urls_name_scan_and_video_escaped():
  assert review_report.source_path('s', 'a/../b?c#d%') == (
      '/media/s/a%2F..%2Fb%3Fc%23d%25')
  segments, _ = review_report.split_target(
      review_report.source_path('s', 'a/../b?c#d%') + '?token=x')
  assert segments == ['media', 's', 'a/../b?c#d%']


# --- the served app -----------------------------------------------------


def test_every_request_needs_the_token(review):
  media = review_report.source_path(SCANS[0], VIDEO_ID)
  for method, path in (('GET', '/'), ('GET', '/index.html'),
                       ('GET', '/api/verdicts'), ('GET', '/api/clips'),
                       ('GET', media), ('HEAD', '/'), ('HEAD', media)):
    for query in ('', '?token=', '?token=wrong', f'?token={review.token}x'):
      status, headers, body = review.request(method, path + query,
                                             token=False)
      assert status == 403, (method, path, query, status)
      if method == 'GET':
        assert 'error' in json.loads(body)
      assert headers['content-type'] == 'application/json'
  assert review.request('GET', media, headers={
      review_report.TOKEN_HEADER: 'wrong'}, token=False)[0] == 403
  status, headers, body = review.request('GET', f'/?token={review.token}',
                                         token=False)
  assert status == 200 and b'review-data' in body
  assert "frame-ancestors 'none'" in headers['content-security-policy']
  assert headers['x-frame-options'] == 'DENY'
  assert headers['referrer-policy'] == 'no-referrer'
  assert 'set-cookie' not in headers
  assert review.request('GET', f'{media}?token={review.token}',
                        token=False)[0] == 200
  status, _, body = review.request('HEAD', f'{media}?token={review.token}',
                                   token=False)
  assert status == 200 and body == b''
  # Writes need the header: a token in the query is not enough.
  verdict = {'clip_id': review.clip_id, 'verdict': 'violating'}
  assert review.post_json(f'/api/verdicts?token={review.token}', verdict,
                          token=False)[0] == 403
  assert review.post_json('/api/verdicts', verdict, token=False)[0] == 403
  assert review.verdict_files() == []
  assert review.post_json('/api/verdicts', verdict)[0] == 201
  assert len(review.verdict_files()) == 1


def test_host_must_name_this_server(review):
  for host in ('rebind.evil.example:%d' % review.port, 'evil.example',
               '127.0.0.1:1', f'127.0.0.1:{review.port}.evil', ''):
    status, _, body = review.request('GET', '/api/verdicts',
                                     headers={'Host': host})
    assert status == 421, host
    assert 'Host' in json.loads(body)['error']
  for host in (f'localhost:{review.port}', f'[::1]:{review.port}'):
    assert review.request('GET', '/api/verdicts',
                          headers={'Host': host})[0] == 200
  # No Host at all (HTTP/1.0), and two of them.
  assert review.raw(b'GET /api/verdicts HTTP/1.0\r\n' +
                    f'{review_report.TOKEN_HEADER}: {review.token}\r\n\r\n'
                    .encode())[0] == 421
  assert review.raw(
      f'GET /api/verdicts HTTP/1.1\r\nHost: {review.host}\r\n'
      f'Host: evil.example\r\n{review_report.TOKEN_HEADER}: {review.token}'
      '\r\n\r\n'.encode())[0] == 421
  # A rebound name cannot write either, even with the token.
  verdict = {'clip_id': review.clip_id, 'verdict': 'violating'}
  assert review.post_json('/api/verdicts', verdict)[0] == 201
  status, _, _ = review.request(
      'POST', '/api/verdicts', json.dumps(verdict).encode(),
      {'Content-Type': 'application/json',
       'Host': f'rebind.evil.example:{review.port}',
       'Origin': f'http://rebind.evil.example:{review.port}'})
  assert status == 421
  assert len(review.verdict_files()) == 1


def test_origin_and_fetch_site_must_be_this_server(review):
  verdict = json.dumps({'clip_id': review.clip_id,
                        'verdict': 'violating'}).encode()
  for headers in ({'Origin': 'http://evil.example'}, {'Origin': 'null'},
                  {'Origin': f'http://127.0.0.1:{review.port + 1}'},
                  {'Origin': f'http://localhost:{review.port}'},
                  {'Sec-Fetch-Site': 'cross-site'},
                  {'Sec-Fetch-Site': 'same-site'}):
    for method, body in (('GET', None), ('POST', verdict)):
      headers = dict(headers, **{'Content-Type': 'application/json'})
      status, _, _ = review.request(method, '/api/verdicts', body, headers)
      assert status == 403, (headers, method)
  assert review.verdict_files() == []
  status, _, _ = review.request(
      'POST', '/api/verdicts', verdict,
      {'Content-Type': 'application/json', 'Sec-Fetch-Site': 'same-origin',
       'Origin': f'http://127.0.0.1:{review.port}'})
  assert status == 201


@pytest.mark.parametrize('content_type', [
    'text/plain', 'text/plain;charset=UTF-8',
    'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x',
    None])
def test_writes_must_be_json(review, content_type):
  body = json.dumps({'clip_id': review.clip_id,
                     'verdict': 'violating'}).encode()
  status, _, _ = review.request('POST', '/api/verdicts', body,
                                {'Content-Type': content_type})
  assert status == 415
  assert review.verdict_files() == [] and review.app.verdicts == {}


def _malformed_cases(token: str, host: str, clip_id: str):
  """(name, raw request bytes) that must each get a 4xx."""
  auth = f'Host: {host}\r\n{review_report.TOKEN_HEADER}: {token}\r\n'

  def post(body: bytes, extra: str = '', length: Optional[str] = None,
           path: str = '/api/verdicts') -> bytes:
    length = str(len(body)) if length is None else length
    length_line = f'Content-Length: {length}\r\n' if length != '-' else ''
    return (f'POST {path} HTTP/1.1\r\n{auth}Content-Type: application/json'
            f'\r\n{length_line}{extra}\r\n').encode() + body

  def verdict(**fields) -> bytes:
    return json.dumps(dict(dict(clip_id=clip_id, verdict='unsure'),
                           **fields)).encode()

  def get(path: str, method: str = 'GET') -> bytes:
    return f'{method} {path} HTTP/1.1\r\n{auth}\r\n'.encode()

  return [
      ('note object', post(verdict(note={'a': 1}))),
      ('note list', post(verdict(note=['a']))),
      ('note number', post(verdict(note=5))),
      ('note true', post(verdict(note=True))),
      ('huge note', post(verdict(note='x' * 20000))),
      ('body list', post(b'[1, 2]')),
      ('body string', post(b'"violating"')),
      ('body null', post(b'null')),
      ('invalid JSON', post(b'{"clip_id": ')),
      ('NaN', post(b'{"clip_id": NaN, "verdict": "unsure"}')),
      ('deep nesting', post(b'[' * 30000 + b']' * 30000)),
      ('not UTF-8', post(b'{"clip_id": "\xff\xfe", "verdict": "unsure"}')),
      ('Content-Length abc', post(verdict(), length='abc')),
      ('negative Content-Length', post(verdict(), length='-1')),
      ('missing Content-Length', post(verdict(), length='-')),
      ('huge Content-Length', post(verdict(), length='99999999999')),
      ('body over the limit', post(b'{"note": "' + b'x' * 70000 + b'"}')),
      ('two Content-Lengths', post(verdict(), extra='Content-Length: 3\r\n')),
      ('chunked', post(b'', extra='Transfer-Encoding: chunked\r\n',
                       length='-')),
      ('unknown verdict', post(verdict(verdict='meh'))),
      ('verdict not a string', post(verdict(verdict=1))),
      ('unknown clip id', post(verdict(clip_id='nope'))),
      ('clip id of no scan', post(verdict(scan_id='no-such-scan'))),
      ('empty clip id', post(verdict(clip_id=''))),
      ('unknown field', post(verdict(reviewer='mallory'))),
      ('extract body list', post(b'[]', path='/api/extract')),
      ('extract unknown clip', post(json.dumps(
          {'scan_id': SCANS[0], 'clip_id': 'nope'}).encode(),
                                    path='/api/extract')),
      ('old extract route', post(b'{}', path=f'/api/extract/{clip_id}')),
      ('unknown POST path', post(b'{}', path='/api/other')),
      ('unknown path', get('/nothing')),
      ('video by id alone', get(f'/media/{VIDEO_ID}')),
      ('unknown scan', get(f'/media/nope/{VIDEO_ID}')),
      ('traversal', get('/media/../../../etc/passwd')),
      ('encoded traversal', get('/media/..%2F..%2F..%2Fetc/passwd')),
      ('traversal in extract', get('/extracts/x/..%2F..%2Fetc%2Fpasswd.mp4')),
      ('traversal in transcoded', get('/transcoded/..%2F..%2Fx.mp4')),
      ('absolute path', get('/media//etc/passwd')),
      ('bad percent-encoding', get('/media/%ff%fe/x')),
      ('absolute-form target', get(f'http://{host}/api/verdicts')),
      ('PUT', get('/api/verdicts', 'PUT')),
      ('DELETE', get('/api/verdicts', 'DELETE')),
      ('PATCH', get('/api/verdicts', 'PATCH')),
      ('OPTIONS', get('/api/verdicts', 'OPTIONS')),
      ('TRACE', get('/', 'TRACE')),
      ('unknown method', get('/', 'BREW')),
      ('bad request line', b'GARBAGE\r\n\r\n'),
      ('bad HTTP version', b'GET / HTTP/9.9\r\n\r\n'),
      ('too many query fields', get('/api/verdicts?' + '&'.join(
          f'a{i}=1' for i in range(50)))),
      ('queue: unknown parameter', get('/api/clips?drop=1')),
      ('queue: score above 1', get('/api/clips?min_score=80')),
      ('queue: score NaN', get('/api/clips?max_score=nan')),
      ('queue: negative offset', get('/api/clips?offset=-1')),
      ('queue: page too large', get('/api/clips?limit=100000')),
      ('queue: unknown sort', get('/api/clips?sort=peak_score;DROP')),
      ('queue: unknown outcome', get('/api/clips?outcome=maybe')),
      ('queue: flag not a flag', get('/api/clips?unreviewed=perhaps')),
      ('queue: parameter twice', get('/api/clips?label=a&label=b')),
  ]


def test_malformed_requests_get_a_json_4xx_and_the_server_goes_on(
    review, capfd):
  cases = _malformed_cases(review.token, review.host, review.clip_id)
  for name, data in cases:
    status, headers, body = review.raw(data)
    assert 400 <= status < 500, (name, status, body[:200])
    if body:
      assert 'error' in json.loads(body), name
      assert headers.get('content-type') == 'application/json', name
    assert b'root:' not in body, name
    assert review.alive(), name
  assert review.verdict_files() == []
  assert review.app.verdicts == {}
  assert sum(review.server.httpd.refusals.values()) >= len(cases)
  captured = capfd.readouterr()
  assert 'Traceback' not in captured.err, captured.err[-2000:]
  assert 'review server:' not in captured.err, captured.err[-2000:]


def test_a_valid_note_and_verdict_round_trip(review):
  status, _, body = review.post_json('/api/verdicts', {
      'scan_id': SCANS[1], 'clip_id': review.clip_id, 'verdict': 'unsure',
      'note': 'ünïcode\nnote'})
  assert status == 201, body
  rows = review_query.load_review_data(review.root).reviews.to_pylist()
  assert [(r['clip_id'], r['verdict'], r['note']) for r in rows] == [
      (review.clip_id, 'unsure', 'ünïcode\nnote')]


def test_media_is_resolved_by_scan_and_video_never_by_video_id_alone(review):
  data = json.loads(review.request('GET', '/api/clips')[2])
  assert {c['scan_id'] for c in data['clips']} == set(SCANS)
  for clip in data['clips']:
    src = clip['player']['src']
    assert src == (review_report.source_path(clip['scan_id'], VIDEO_ID) +
                   f'?token={review.token}')
    status, _, body = review.request('GET', src, token=False)
    with open(review.paths[clip['scan_id']], 'rb') as f:
      assert (status, body) == (200, f.read()), clip['scan_id']
  with open(review.paths[SCANS[0]], 'rb') as a, \
      open(review.paths[SCANS[1]], 'rb') as b:
    assert a.read() != b.read()


def test_extracts_are_cut_from_the_clips_own_scan(review):
  sizes = set()
  for scan_id in SCANS:
    status, _, body = review.post_json('/api/extract', {
        'scan_id': scan_id, 'clip_id': review.clip_id})
    assert status == 200, body
    cut = json.loads(body)
    assert cut['src'].startswith('/transcoded/')
    status, headers, media = review.request('GET', cut['src'], token=False)
    assert status == 200 and media[4:8] == b'ftyp'
    sizes.add(len(media))
  # Two different videos, two different extracts (not one cut twice).
  assert len(sizes) == 2
  assert review.request('GET', '/transcoded/' + 'a' * 32 + '.mp4')[0] == 404


def _assert_refused(review, expected_status: int, *texts: str) -> None:
  media = review_report.source_path(SCANS[0], VIDEO_ID)
  status, _, body = review.request('GET', media)
  assert status == expected_status, body
  assert any(text in json.loads(body)['error'] for text in texts), body
  assert b'root:' not in body
  status, _, body = review.post_json('/api/extract', {
      'scan_id': SCANS[0], 'clip_id': review.clip_id})
  assert status == expected_status, body
  # The other scan's file is untouched and still served.
  assert review.request(
      'GET', review_report.source_path(SCANS[1], VIDEO_ID))[0] == 200


def test_a_source_swapped_for_a_symlink_is_not_served(review):
  path = review.paths[SCANS[0]]
  assert review.request(
      'GET', review_report.source_path(SCANS[0], VIDEO_ID))[0] == 200
  os.remove(path)
  os.symlink('/etc/passwd', path)
  _assert_refused(review, 409, 'symlink')


def test_a_source_rewritten_in_place_with_its_time_reset_is_not_served(
    review):
  path = review.paths[SCANS[0]]
  before = os.stat(path)
  with open(path, 'r+b') as f:
    f.seek(200)
    f.write(b'\0' * 64)
  os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
  assert os.stat(path).st_size == before.st_size
  _assert_refused(review, 409, 'changed since the review server started')


def test_a_source_replaced_by_a_same_sized_copy_is_not_served(review):
  path = review.paths[SCANS[0]]
  before = os.stat(path)
  with open(path, 'rb') as f:
    data = f.read()
  os.remove(path)
  with open(path, 'wb') as f:
    f.write(data[:-1] + b'\0')
  os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
  # (tmpfs may give the new file the old inode number: its ctime differs)
  _assert_refused(review, 409, 'another file',
                  'changed since the review server started')


def test_a_source_that_grew_or_vanished_is_refused(review):
  path = review.paths[SCANS[0]]
  with open(path, 'ab') as f:
    f.write(b'more')
  _assert_refused(review, 409, 'bytes')
  os.remove(path)
  _assert_refused(review, 410, 'no longer exists')


def test_a_path_swapped_for_a_symlink_is_refused_even_to_the_same_inode(
    review, tmp_path):
  """The pin is the canonical file ``storage.identify`` resolved at start,
  reopened by that path with ``storage.open_local``: a symlink put in its
  place is refused, even one leading to the very same inode."""
  path = review.paths[SCANS[0]]
  moved = str(tmp_path / 'moved.webm')
  os.link(path, moved)  # the same inode under another name
  os.remove(path)
  os.symlink(moved, path)
  _assert_refused(review, 409, 'symlink', 'another file')
  pin = review.app._pins[path]  # pylint: disable=protected-access
  assert pin.uri == path and pin.version.inode == os.stat(moved).st_ino


def _assert_first_scan_refused_at_start(root: str, scratch: str) -> None:
  """A server started on ``root`` refuses the first scan's source (409,
  not the file the scan read) and serves the second's."""
  request = review_report.ReportRequest(
      root, review_query.ClipFilter(), review_report.SERVE, 'r')
  app = review_report.ReviewApp(request, review_query.load_review_data(root),
                                scratch, 0.5)
  with pytest.raises(review_report.RequestError) as caught:
    app.open_source(SCANS[0], VIDEO_ID)
  assert caught.value.status == 409
  assert 'not the file the scan read' in caught.value.message
  app.open_source(SCANS[1], VIDEO_ID).close()


def test_a_source_already_changed_at_start_is_never_served(tmp_path):
  root = str(tmp_path / 'results')
  paths = _write_root(root, str(tmp_path / 'uploads'))
  with open(paths[SCANS[0]], 'ab') as f:
    f.write(b'x')
  _assert_first_scan_refused_at_start(root, str(tmp_path / 'cut'))


def test_a_source_replaced_before_the_server_started_is_never_served(
    tmp_path):
  """The ledger records the identity the scan read (inode and its change
  time): a file rewritten in place with its size and modification time
  reset before the server starts is refused, not pinned."""
  root = str(tmp_path / 'results')
  paths = _write_root(root, str(tmp_path / 'uploads'))
  for scan_id in SCANS:
    found = os.stat(paths[scan_id])
    folder = os.path.join(root, 'videos', f'scan={scan_id}')
    table = pq.read_table(os.path.join(folder, 'part-0.parquet'))
    changed = datetime.datetime.fromtimestamp(found.st_ctime,
                                              datetime.timezone.utc)
    table = table.append_column(
        schemas.DATASETS['videos'].field('source_inode').with_nullable(True),
        pa.array([found.st_ino], pa.int64())).append_column(
            schemas.DATASETS['videos'].field('source_changed_at')
            .with_nullable(True),
            pa.array([changed], schemas.DATASETS['videos'].field(
                'source_changed_at').type))
    pq.write_table(table, os.path.join(folder, 'part-0.parquet'))
  path = paths[SCANS[0]]
  before = os.stat(path)
  time.sleep(0.01)
  with open(path, 'r+b') as f:
    f.seek(200)
    f.write(b'\0' * 64)
  os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
  _assert_first_scan_refused_at_start(root, str(tmp_path / 'cut'))


def test_verdict_files_the_server_writes_are_private(review):
  assert review.post_json('/api/verdicts', {
      'clip_id': review.clip_id, 'verdict': 'violating'})[0] == 201
  (path,) = review.verdict_files()
  assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
  for folder in (os.path.dirname(path),
                 os.path.join(review.root, review_tables.REVIEWS_DATASET)):
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700, folder


# --- the command --------------------------------------------------------


def _tiny_root(tmp_path) -> str:
  root = str(tmp_path / 'results')
  _write_root(root, str(tmp_path / 'uploads'))
  return root


@pytest.mark.parametrize('host', ['0.0.0.0', '::', '10.0.0.1'])
def test_a_non_loopback_host_is_refused_without_allow_remote(
    tmp_path, capsys, host):
  root = _tiny_root(tmp_path)
  assert report_cli.main(['--output', root, '--serve', '--host', host,
                          '--port', '0']) == 2
  err = capsys.readouterr().err
  assert err.count('\n') == 1 and '--allow-remote' in err
  request = review_report.ReportRequest(
      root, review_query.ClipFilter(), review_report.SERVE, 'r')
  app = review_report.ReviewApp(request, review_query.load_review_data(root),
                                str(tmp_path / 'cut'), 0.5)
  with pytest.raises(review_report.RemoteRefused):
    review_report.ReviewServer(app, host, 0)


def test_html_into_a_missing_folder_is_one_line(tmp_path, capsys):
  root = _tiny_root(tmp_path)
  for target, text in ((tmp_path / 'missing' / 'r.html', 'does not exist'),
                       (tmp_path, 'is a folder')):
    assert report_cli.main(['--output', root, '--html', str(target)]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and text in err, err


def test_the_html_export_is_private(tmp_path):
  root = _tiny_root(tmp_path)
  target = tmp_path / 'r.html'
  target.write_text('old')
  os.chmod(target, 0o644)
  assert report_cli.main(['--output', root, '--html', str(target)]) == 0
  assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
  page = target.read_text(encoding='utf-8')
  assert '"token"' not in page  # no session token in a static export


def test_a_port_in_use_is_one_line(tmp_path, capsys):
  root = _tiny_root(tmp_path)
  with socket.socket() as busy:
    busy.bind(('127.0.0.1', 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    assert report_cli.main(['--output', root, '--serve',
                            '--port', str(port)]) == 1
  err = capsys.readouterr().err
  assert err.count('\n') == 1 and 'cannot listen' in err, err
  assert "Traceback" not in err, err


@pytest.mark.parametrize('port', ['70000', '-1', 'abc'])
def test_a_bad_port_is_a_usage_error(tmp_path, capsys, port):
  with pytest.raises(SystemExit) as exit_:
    report_cli.main(['--output', str(tmp_path), '--serve', '--port', port])
  assert exit_.value.code == 2
  assert 'Traceback' not in capsys.readouterr().err


def _serve(args: List[str], cwd: str) -> Tuple[subprocess.Popen, str]:
  """``rescan report --serve`` in its own process, and the URL it
  printed."""
  process = subprocess.Popen(
      [sys.executable, '-m', 'pipeline.cli.main', 'report', '--serve',
       '--port', '0', '--reviewer', 'cli-test'] + args,
      cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
      env=dict(os.environ, PYTHONPATH=REPO))
  line = process.stdout.readline()
  assert line.startswith('review page: '), (line, process.stderr.read()
                                            if process.poll() else '')
  return process, line.split()[2]


def _stop(process: subprocess.Popen) -> str:
  process.send_signal(signal.SIGINT)
  try:
    _, err = process.communicate(timeout=30)
  except subprocess.TimeoutExpired:
    process.kill()
    _, err = process.communicate()
  return err


@pytest.mark.slow
def test_the_command_prints_a_token_url_and_writes_private_verdicts(tmp_path):
  root = _tiny_root(tmp_path)
  process, url = _serve(['--output', root], REPO)
  try:
    base, _, token = url.partition('?token=')
    assert base.startswith('http://127.0.0.1:') and len(token) >= 40
    port = int(base.rstrip('/').rsplit(':', 1)[1])
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
    conn.request('GET', '/api/verdicts')
    assert conn.getresponse().status == 403
    conn.close()
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
    conn.request('POST', '/api/verdicts', json.dumps({
        'clip_id': make_clip_id(VIDEO_ID, 'red_marker', 1000, MODEL_VERSION),
        'verdict': 'violating'}), {'Content-Type': 'application/json',
                                   review_report.TOKEN_HEADER: token})
    assert conn.getresponse().status == 201
    conn.close()
  finally:
    err = _stop(process)
  assert "Traceback" not in err, err
  (path,) = glob.glob(review_tables.reviews_glob(root))
  assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
  assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700


@pytest.mark.slow
def test_allow_remote_warns_and_still_needs_the_token(tmp_path):
  root = _tiny_root(tmp_path)
  process, url = _serve(['--output', root, '--host', '0.0.0.0',
                            '--allow-remote'], REPO)
  try:
    base, _, token = url.partition('?token=')
    port = int(base.rstrip('/').rsplit(':', 1)[1])
    for headers, expected in (({}, 403),
                              ({review_report.TOKEN_HEADER: token}, 200)):
      conn = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
      conn.request('GET', '/api/verdicts', headers=headers)
      assert conn.getresponse().status == expected
      conn.close()
  finally:
    err = _stop(process)
  assert 'warning' in err and 'other machines' in err
  assert "Traceback" not in err, err


# --- a real cross-origin attack in Chromium -------------------------------

ATTACK_PAGE = """<!doctype html><html><body>
<iframe name="sink" style="display:none"></iframe>
<form id="form" method="POST" target="sink" enctype="text/plain"
      action="__TARGET__/api/verdicts">
  <input name='{"clip_id": "__CLIP__", "verdict": "violating", "x": "'
         value='"}'>
</form>
<form id="form2" method="POST" target="sink"
      action="__TARGET__/api/verdicts?token=__TOKEN__">
  <input name="clip_id" value="__CLIP__"><input name="verdict" value="violating">
</form>
<script>
const TARGET = '__TARGET__';
const BODY = JSON.stringify({clip_id: '__CLIP__', verdict: 'violating'});
const results = {};
async function attempt(name, url, init) {
  try { const r = await fetch(url, init);
        results[name] = r.type + ':' + r.status; }
  catch (e) { results[name] = 'error:' + e.message; }
}
async function attack() {
  await attempt('no-cors text/plain', TARGET + '/api/verdicts',
    {method: 'POST', mode: 'no-cors', body: BODY,
     headers: {'Content-Type': 'text/plain'}});
  await attempt('no-cors with token in query',
    TARGET + '/api/verdicts?token=__TOKEN__',
    {method: 'POST', mode: 'no-cors', body: BODY,
     headers: {'Content-Type': 'text/plain'}});
  await attempt('cors json with token header', TARGET + '/api/verdicts',
    {method: 'POST', mode: 'cors', body: BODY,
     headers: {'Content-Type': 'application/json',
               'X-Review-Token': '__TOKEN__'}});
  await attempt('read verdicts', TARGET + '/api/verdicts?token=__TOKEN__',
    {mode: 'cors'});
  await attempt('beacon-like no-cors', TARGET + '/api/extract',
    {method: 'POST', mode: 'no-cors', body: '{}'});
  document.getElementById('form').submit();
  await new Promise((r) => setTimeout(r, 500));
  document.getElementById('form2').submit();
  await new Promise((r) => setTimeout(r, 500));
  document.body.dataset.done = JSON.stringify(results);
}
attack();
</script></body></html>"""


class _AttackerServer:
  """A second local web server, on another port: the attacker's site."""

  def __init__(self, page: str):
    body = page.encode('utf-8')

    class Handler(http.server.BaseHTTPRequestHandler):
      def do_GET(self):  # pylint: disable=invalid-name
        self.send_response(200)
        self.send_header('Content-Type', 'text/html; charset=utf-8')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

      def log_message(self, *args):
        del args

    self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    self.port = self.httpd.server_address[1]
    self._thread = threading.Thread(target=self.httpd.serve_forever,
                                    daemon=True)

  def __enter__(self):
    self._thread.start()
    return self

  def __exit__(self, *exc_info):
    self.httpd.shutdown()
    self.httpd.server_close()
    self._thread.join(timeout=10)


@pytest.fixture
def attack_browser(tmp_path):
  """Headless Chromium (system chromedriver) that resolves ``rebind.test``
  to 127.0.0.1, as a DNS-rebinding attacker's name would."""
  if not os.path.exists(browser_driver.CHROMIUM):
    pytest.skip('chromium is not installed')
  with browser_driver.headless_chromium(
      browser_driver.CHROMIUM, str(tmp_path / 'profile'),
      ('--host-resolver-rules=MAP rebind.test 127.0.0.1',)) as driver:
    yield driver


_wait_for = browser_driver.wait_for


@pytest.mark.slow
@pytest.mark.parametrize('attacker_host', ['127.0.0.1', 'localhost'])
def test_a_cross_origin_page_in_chromium_cannot_record_a_verdict(
    review, attack_browser, attacker_host):
  """The attacker even knows the token (a leaked URL): Origin, JSON-only
  writes and the header requirement still refuse every attempt."""
  page = (ATTACK_PAGE.replace('__TARGET__', f'http://127.0.0.1:{review.port}')
          .replace('__CLIP__', review.clip_id)
          .replace('__TOKEN__', review.token))
  refusals = review.server.httpd.refusals
  with _AttackerServer(page) as attacker:
    attack_browser.get(f'http://{attacker_host}:{attacker.port}/')
    results = json.loads(_wait_for(attack_browser,
                                   'return document.body.dataset.done'))
    deadline = time.monotonic() + 10
    while sum(refusals.values()) < 6 and time.monotonic() < deadline:
      time.sleep(0.1)
  # Every attempt reached the server and was refused; none was recorded.
  assert sum(refusals.values()) >= 6, (dict(refusals), results)
  assert results['cors json with token header'].startswith('error:')
  assert results['read verdicts'].startswith('error:')
  assert review.verdict_files() == [] and review.app.verdicts == {}

  # The DNS-rebinding variant: the attacker's name now points at the
  # review server, so its page is "same-origin" with it.
  attack_browser.get(f'http://rebind.test:{review.port}/?token='
                     f'{review.token}')
  status = attack_browser.execute_async_script("""
      const done = arguments[arguments.length - 1];
      fetch('/api/verdicts', {method: 'POST',
        headers: {'Content-Type': 'application/json',
                  'X-Review-Token': '""" + review.token + """'},
        body: JSON.stringify({clip_id: '""" + review.clip_id + """',
                              verdict: 'violating'})})
        .then((r) => done(r.status), (e) => done('error:' + e.message));
  """)
  assert status == 421
  assert review.verdict_files() == [] and review.app.verdicts == {}

  # The real page, in the same browser, still records a verdict.
  from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel
  attack_browser.get(review.server.url)
  _wait_for(attack_browser, 'return document.body.dataset.ready')
  attack_browser.find_element(By.TAG_NAME, 'body').send_keys('1')
  _wait_for(attack_browser, 'return document.body.dataset.lastVerdict')
  assert len(review.verdict_files()) == 1
