"""The review page: its pieces, its web app over HTTP, and a real headless
Chromium pressing verdict keys."""
from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request

import pytest
from selenium.webdriver.common.by import By

from pipeline.cli import report as report_cli
from pipeline.review import extract as clip_extract
from pipeline.review import query as review_query
from pipeline.review import report as review_report
from pipeline.review.report import parse_byte_range
from schemas import review_tables
from tests import browser as browser_driver

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARTIFACTS = os.path.join(REPO, 'test-artifacts')
CHROMIUM = browser_driver.CHROMIUM
CHROMEDRIVER = browser_driver.CHROMEDRIVER
REVIEWER = 'browser-test'


@pytest.fixture
def review_root(golden_scan, tmp_path) -> str:
  root = str(tmp_path / 'results')
  shutil.copytree(golden_scan.root, root)
  return root


def _app(root: str, scratch: str,
         extract_dir: str = None) -> review_report.ReviewApp:
  request = review_report.ReportRequest(
      root, review_query.ClipFilter(limit=200), review_report.SERVE,
      REVIEWER, extract_dir)
  return review_report.ReviewApp(request, review_query.load_review_data(root),
                                 scratch, 2.0)


def _fetch(url: str, data: bytes = None, headers: dict = None,
           token: str = None):
  """A request with the session token in its header (and JSON writes)."""
  headers = dict(headers or {})
  if token:
    headers.setdefault(review_report.TOKEN_HEADER, token)
  if data is not None:
    headers.setdefault('Content-Type', 'application/json')
  request = urllib.request.Request(url, data=data, headers=headers,
                                   method='POST' if data is not None else 'GET')
  try:
    with urllib.request.urlopen(request, timeout=60) as response:
      return response.status, dict(response.headers), response.read()
  except urllib.error.HTTPError as error:
    return error.code, dict(error.headers), error.read()


@pytest.mark.parametrize('header,size,expected', [
    (None, 100, None),
    ('bytes=0-', 100, (0, 99)),
    ('bytes=10-19', 100, (10, 19)),
    ('bytes=90-500', 100, (90, 99)),
    ('bytes=-10', 100, (90, 99)),
    ('bytes=0-1,5-9', 100, None),
])
def test_parse_byte_range(header, size, expected):
  assert parse_byte_range(header, size) == expected


@pytest.mark.parametrize('header', ['bytes=100-', 'bytes=5-1', 'bytes=-',
                                    'items=0-1'])
def test_unsatisfiable_ranges_are_refused(header):
  with pytest.raises(ValueError):
    parse_byte_range(header, 100)


def test_timeline_svg_marks_clips_and_threshold_and_escapes_labels():
  clips = [dict(clip_id='a', label='<b>x', start_ms=1000, end_ms=3000,
                peak_ms=2000, peak_score=0.9, mean_score=0.7),
           dict(clip_id='b', label='y', start_ms=6000, end_ms=7000,
                peak_ms=6000, peak_score=0.6, mean_score=0.6)]
  svg = review_report.timeline_svg(clips, 10_000, 0.5,
                                   review_report.label_colours(['<b>x', 'y']))
  assert svg.count('class="tl-clip"') == 2
  assert 'class="threshold"' in svg and 'threshold 0.50' in svg
  assert '<b>x' not in svg and '&lt;b&gt;x' in svg


def test_page_data_cannot_close_its_script_element():
  page = review_report.render_page(
      {'clips': [{'label': '</script><script>alert(1)</script>'}]}, 'a<b')
  assert '</script><script>alert(1)' not in page
  assert '<title>a&lt;b</title>' in page


def test_browser_playability_by_container_and_codec():
  assert review_report.browser_plays('gs://b/a.mp4', 'h264')
  assert review_report.browser_plays('/a/b.mp4', 'libdav1d')
  assert review_report.browser_plays('/a/b.webm', 'vp9')
  assert not review_report.browser_plays('/a/b.mkv', 'hevc')
  assert not review_report.browser_plays('/a/b.avi', 'mpeg4')


def test_web_app_serves_ranges_records_verdicts_and_cuts_on_demand(
    review_root, golden_scan, tmp_path):
  clips = golden_scan.clips.to_pylist()
  source_clip = next(c for c in clips if c['video_uri'].endswith('.webm'))
  hevc_clip = next(c for c in clips if c['video_uri'].endswith('.mkv'))
  app = _app(review_root, str(tmp_path / 'cut'))
  token = app.token
  with review_report.ReviewServer(app, port=0) as server:
    assert server.url == server.base_url + '?token=' + token
    status, headers, body = _fetch(server.url)
    assert status == 200 and headers['Content-Type'].startswith('text/html')
    # The served page holds no clips: it asks for them a page at a time.
    data = json.loads(body.decode('utf-8').split('id="review-data">')[1]
                      .split('</script>')[0])
    assert data['clips'] == [] and data['videos'] == {}
    status, _, body = _fetch(server.base_url + 'api/clips?limit=200',
                             token=token)
    page = json.loads(body)
    assert status == 200 and page['total'] == len(clips)
    assert sorted(c['clip_id'] for c in page['clips']) == sorted(
        c['clip_id'] for c in clips)

    media = (server.base_url + 'media/' + source_clip['scan_id'] + '/' +
             source_clip['video_id'])
    source = open(source_clip['video_uri'], 'rb').read()
    status, headers, body = _fetch(media, headers={'Range': 'bytes=100-199'},
                                   token=token)
    assert (status, body) == (206, source[100:200])
    assert headers['Content-Range'] == f'bytes 100-199/{len(source)}'
    assert headers['Accept-Ranges'] == 'bytes'
    assert headers['Content-Type'] == 'video/webm'
    status, _, body = _fetch(media + '?token=' + token)
    assert (status, body) == (200, source)
    status, headers, _ = _fetch(media, token=token,
                                headers={'Range': f'bytes={len(source)}-'})
    assert status == 416
    assert headers['Content-Range'] == f'bytes */{len(source)}'
    assert _fetch(server.base_url + 'media/golden/unknown',
                  token=token)[0] == 404
    assert _fetch(server.base_url + 'extracts/golden/whatever.mp4',
                  token=token)[0] == 404

    verdict = json.dumps({'clip_id': source_clip['clip_id'],
                          'verdict': 'not_violating', 'note': 'a cat'})
    status, _, body = _fetch(server.base_url + 'api/verdicts',
                             verdict.encode(), token=token)
    assert status == 201, body
    assert json.loads(body)['verdict']['reviewer'] == REVIEWER
    bad = json.dumps({'clip_id': source_clip['clip_id'], 'verdict': 'meh'})
    assert _fetch(server.base_url + 'api/verdicts', bad.encode(),
                  token=token)[0] == 400
    unknown = json.dumps({'clip_id': 'nope', 'verdict': 'unsure'})
    assert _fetch(server.base_url + 'api/verdicts', unknown.encode(),
                  token=token)[0] == 400
    status, _, body = _fetch(server.base_url + 'api/verdicts', token=token)
    assert json.loads(body)[source_clip['clip_id']]['note'] == 'a cat'

    status, _, body = _fetch(
        server.base_url + 'api/extract', json.dumps(
            {'scan_id': hevc_clip['scan_id'],
             'clip_id': hevc_clip['clip_id']}).encode(), token=token)
    cut = json.loads(body)
    assert status == 200 and cut['method'] == clip_extract.TRANSCODE
    assert cut['start_s'] == pytest.approx(2.0, abs=1e-3)
    assert cut['src'].endswith('?token=' + token)
    status, headers, body = _fetch(server.base_url + cut['src'].lstrip('/'),
                                   headers={'Range': 'bytes=0-'})
    assert status == 206 and headers['Content-Type'] == 'video/mp4'
    assert body[4:8] == b'ftyp'
  reviews = review_query.load_review_data(review_root).reviews.to_pylist()
  assert [(r['clip_id'], r['verdict'], r['reviewer'], r['note'])
          for r in reviews] == [(source_clip['clip_id'], 'not_violating',
                                 REVIEWER, 'a cat')]


def test_static_export_embeds_clips_thumbnails_and_extracts(review_root,
                                                            golden_scan,
                                                            tmp_path, capsys):
  extracts = tmp_path / 'extracts'
  clip = golden_scan.clips.to_pylist()[0]
  clip_extract.extract_clip(clip_extract.request_for(clip), str(extracts))
  html_path = tmp_path / 'report.html'
  assert report_cli.main(['--output', review_root, '--html',
                          str(html_path), '--extract-dir',
                          str(extracts)]) == 0
  assert f'{golden_scan.clips.num_rows} clips' in capsys.readouterr().out
  page = html_path.read_text(encoding='utf-8')
  data = json.loads(page.split('id="review-data">')[1].split('</script>')[0])
  assert data['mode'] == review_report.STATIC
  assert len(data['clips']) == golden_scan.clips.num_rows
  by_id = {c['clip_id']: c for c in data['clips']}
  assert by_id[clip['clip_id']]['player'] == dict(
      kind='extract', src=f"extracts/{clip['clip_id']}.mp4",
      start_s=pytest.approx(2.0, abs=0.5), end_s=pytest.approx(
          2.0 + (clip['end_ms'] - clip['start_ms']) / 1000, abs=0.5))
  with_thumbnails = [c for c in data['clips'] if c['thumbnail']]
  assert all(c['thumbnail'].startswith('data:image/jpeg;base64,')
             for c in with_thumbnails)
  assert report_cli.main(['--output', review_root]) == 2


@pytest.fixture(scope='session')
def chromium() -> str:
  """Debian's Chromium and its WebDriver, installed when missing."""
  if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    for argv in (['apt-get', 'update', '-qq'],
                 ['apt-get', 'install', '-y', '-qq', '-o',
                  'DPkg::Lock::Timeout=600', 'chromium', 'chromium-driver']):
      subprocess.run(argv, check=True, env=env, capture_output=True,
                     timeout=900)
  return CHROMIUM


@pytest.fixture
def browser(chromium, tmp_path):
  """Headless Chromium driven by Selenium (``tests.browser``)."""
  with browser_driver.headless_chromium(
      chromium, str(tmp_path / 'profile')) as driver:
    yield driver


_wait_for = browser_driver.wait_for


@pytest.mark.slow
def test_reviewer_sees_clips_plays_one_and_records_verdicts_by_key(
    browser, review_root, golden_scan, tmp_path):
  clips = golden_scan.clips.to_pylist()
  with review_report.ReviewServer(_app(review_root, str(tmp_path / 'cut')),
                                  port=0) as server:
    browser.get(server.url)
    _wait_for(browser, 'return document.body.dataset.ready')
    cards = browser.find_elements(By.CSS_SELECTOR, '.clip-card')
    assert len(cards) == len(clips)
    widths = browser.execute_script(
        "return [...document.querySelectorAll('img.thumb')]"
        '.map(img => img.complete ? img.naturalWidth : 0)')
    assert len(widths) == sum(c['thumbnail'] is not None for c in clips) > 0
    assert all(w > 0 for w in widths), widths

    first = cards[0].get_attribute('data-clip-id')
    ordered = review_query.top_clips(
        review_query.connect(review_query.load_review_data(review_root)),
        review_query.ClipFilter())
    assert first == ordered[0]['clip_id']
    # The player opens at the clip's start (a media fragment on the source).
    state = _wait_for(browser, """
        const v = document.getElementById('player');
        return (v.readyState >= 1 || v.error) &&
               [v.readyState, v.error && v.error.code, v.currentTime];""")
    assert state[1] is None and state[0] >= 1, state
    assert state[2] == pytest.approx(ordered[0]['start_ms'] / 1000, abs=0.6)

    body = browser.find_element(By.TAG_NAME, 'body')
    body.send_keys('1')
    _wait_for(browser, 'return document.body.dataset.lastVerdict == '
              f"'{first}:violating'")
    selected = browser.find_element(By.CSS_SELECTOR, '.clip-card.selected')
    assert selected.get_attribute('data-clip-id') == ordered[1]['clip_id']
    body.send_keys('k')
    body.send_keys('3')
    _wait_for(browser, f"return document.body.dataset.lastVerdict == "
              f"'{first}:unsure'")
    os.makedirs(ARTIFACTS, exist_ok=True)
    browser.save_screenshot(os.path.join(ARTIFACTS, 'review-page.png'))

  reviews = review_query.load_review_data(review_root).reviews.to_pylist()
  assert sorted((r['clip_id'], r['verdict'], r['reviewer']) for r in reviews) \
      == sorted([(first, 'violating', REVIEWER), (first, 'unsure', REVIEWER)])
  assert len(glob.glob(review_tables.reviews_glob(review_root))) == 2

  html_path = tmp_path / 'export' / 'report.html'
  html_path.parent.mkdir()
  assert report_cli.main(['--output', review_root, '--html',
                          str(html_path)]) == 0
  browser.get(html_path.as_uri())
  _wait_for(browser, 'return document.body.dataset.ready')
  assert len(browser.find_elements(By.CSS_SELECTOR,
                                   '.clip-card')) == len(clips)
  assert browser.execute_script(
      "return [...document.querySelectorAll('#verdict-buttons button')]"
      '.every(b => b.disabled)')
  badges = browser.find_elements(By.CSS_SELECTOR, '.badge.unsure')
  assert len(badges) == 1
