"""The review page at team scale, in real headless Chromium: a generated
output of 10,000 clips (real Parquet, ``benchmarks.review_output``), its
filters, sorts, "unreviewed only" and paging served a page at a time; two
reviewers who disagree; a re-scan that shows each clip once; the layout at
800 px; an HEVC source that plays."""
from __future__ import annotations

import json
import os
import shutil
import urllib.parse

import duckdb
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from benchmarks import review_output
from pipeline.cli import report as report_cli
from pipeline.review import extract as clip_extract
from pipeline.review import query as review_query
from pipeline.review import queue as review_queue
from pipeline.review import report as review_report
from tests import browser as browser_driver
from tests.test_review_report_browser import ARTIFACTS
from tests.test_review_report_browser import _fetch
from tests.test_review_report_browser import chromium  # noqa: F401  pylint: disable=unused-import

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README_SCREENSHOT = os.path.join(REPO, 'docs', 'review-page.png')
# Set to rewrite docs/review-page.png (the README's screenshot).
UPDATE_SCREENSHOTS = 'RESCAN_UPDATE_SCREENSHOTS'
CLIPS = 10_000
RESCANNED = 20
READY = 'return document.body.dataset.ready && !document.body.dataset.loading'
_wait = browser_driver.wait_for
# The queue's score order (pipeline.review.queue.SORTS), spelled out.
BY_SCORE = ('ORDER BY peak_score DESC, mean_score DESC, video_uri, start_ms, '
            'label, scan_id, clip_id')


@pytest.fixture(scope='module')
def generated(tmp_path_factory) -> review_output.GeneratedOutput:
  """10,000 clips, 20 videos of them scanned twice."""
  folder = tmp_path_factory.mktemp('generated')
  return review_output.write_review_output(
      str(folder / 'root'), CLIPS, str(folder / 'media'),
      rescan_videos=RESCANNED)


@pytest.fixture
def root(generated, tmp_path) -> str:
  """A copy of the generated root each test may write verdicts to."""
  copy = str(tmp_path / 'root')
  shutil.copytree(generated.root, copy)
  return copy


def _app(root: str, tmp_path, reviewer: str = 'bob',
         extract_dir: str = None) -> review_report.ReviewApp:
  request = review_report.ReportRequest(
      root, review_query.ClipFilter(limit=200), review_report.SERVE,
      reviewer, extract_dir)
  return review_report.ReviewApp(request, review_query.load_review_data(root),
                                 str(tmp_path / 'cut'), 1.0)


@pytest.fixture
def browser(chromium, tmp_path):  # noqa: F811  pylint: disable=redefined-outer-name
  with browser_driver.headless_chromium(
      chromium, str(tmp_path / 'profile')) as driver:
    yield driver


def _truth(root: str, where: str = 'true', order: str = '') -> list:
  """Ground truth straight from the Parquet files: one row per clip of
  each video's latest scan."""
  glob = os.path.join(root, 'flagged_clips', '*', '*.parquet')
  return duckdb.sql(f"""
      WITH latest AS (
        SELECT * EXCLUDE (thumbnail) FROM read_parquet('{glob}')
        QUALIFY scanned_at = max(scanned_at) OVER (PARTITION BY video_id))
      SELECT clip_id, video_uri, peak_score FROM latest
      WHERE {where} {order}""").fetchall()


def _cards(driver) -> list:
  return driver.execute_script(
      "return [...document.querySelectorAll('.clip-card')].map("
      "c => c.dataset.clipId)")


def _text(driver, element_id: str) -> str:
  return driver.find_element(By.ID, element_id).text


def _set(driver, element_id: str, value: str) -> None:
  """Types into a filter and waits for the page it asks for."""
  field = driver.find_element(By.ID, element_id)
  field.clear()
  field.send_keys(value)
  _wait(driver, READY)


def _choose(driver, element_id: str, value: str) -> None:
  Select(driver.find_element(By.ID, element_id)).select_by_value(value)
  _wait(driver, READY)


def _open(driver, server) -> None:
  driver.get(server.url)
  _wait(driver, READY)


@pytest.mark.slow  # real Chromium, like the other page tests
def test_filter_sort_unreviewed_and_paging_on_10000_clips(root, tmp_path,
                                                         browser):
  by_score = _truth(root, order=BY_SCORE)
  assert len(by_score) == CLIPS
  reviewed = [c[0] for c in by_score[:3]]
  for clip_id in reviewed:
    review_query.append_verdict(root, clip_id, 'violating', 'alice')
  with review_report.ReviewServer(_app(root, tmp_path), port=0) as server:
    _open(browser, server)
    assert _text(browser, 'range') == 'clips 1–50 of 10,000'
    assert _text(browser, 'counter') == 'reviewed 3 of 10,000'
    assert _cards(browser)[:3] == reviewed
    assert len(_cards(browser)) == 50

    # Paging, by the button and by the keyboard past a page's last clip.
    browser.find_element(By.ID, 'next-page').click()
    _wait(browser, READY)
    assert _text(browser, 'range') == 'clips 51–100 of 10,000'
    assert _cards(browser) == [c[0] for c in by_score[50:100]]
    body = browser.find_element(By.TAG_NAME, 'body')
    body.send_keys('k')  # before the page's first clip: the previous page
    _wait(browser, READY + " && document.body.dataset.selected.endsWith('"
          f"{by_score[49][0]}')")
    assert _text(browser, 'range') == 'clips 1–50 of 10,000'

    # Unreviewed only: the three reviewed clips leave, the rest stay.
    browser.find_element(By.ID, 'f-unreviewed').click()
    _wait(browser, READY + " && document.getElementById('range')"
          ".textContent.endsWith('of 9,997')")
    assert _cards(browser) == [c[0] for c in by_score[3:53]]
    assert _text(browser, 'counter') == 'reviewed 3 of 10,000'
    browser.find_element(By.ID, 'f-unreviewed').click()
    _wait(browser, READY)

    # Filters: a label and a score range, checked against the files.
    _choose(browser, 'f-label', 'gore')
    _set(browser, 'f-min', '0.6')
    _set(browser, 'f-max', '0.7')
    expected = _truth(root, "label = 'gore' AND peak_score >= 0.6 AND "
                      'peak_score <= 0.7',
                      BY_SCORE)
    assert 0 < len(expected) < CLIPS
    assert _text(browser, 'range') == f'clips 1–50 of {len(expected):,}'
    assert _cards(browser) == [c[0] for c in expected[:50]]

    # Sorted by video: the videos' own order, within the filter.
    _choose(browser, 'f-sort', 'video')
    uris = browser.execute_script(
        "return [...document.querySelectorAll('.clip-card .line[title]')]"
        '.map(n => n.title)')
    assert uris == sorted(c[1] for c in expected)[:50]

    # A video filter by part of its name.
    _set(browser, 'f-video', 'video-000123')
    in_video = _truth(root, "label = 'gore' AND peak_score >= 0.6 AND "
                      "peak_score <= 0.7 AND video_id = 'video-000123'")
    assert sorted(_cards(browser)) == sorted(c[0] for c in in_video)


@pytest.mark.slow  # real Chromium, like the other page tests
def test_two_reviewers_disagree_and_the_dispute_is_shown(root, tmp_path,
                                                         browser):
  top = _truth(root, order=BY_SCORE)[0][0]
  review_query.append_verdict(root, top, 'violating', 'alice', 'a rifle')
  with review_report.ReviewServer(_app(root, tmp_path, 'bob'),
                                  port=0) as server:
    _open(browser, server)
    assert 'reviewer bob' in _text(browser, 'summary')
    assert not browser.find_elements(By.CSS_SELECTOR, 'input#reviewer')
    assert 'violating' in _text(browser, 'outcome')
    browser.find_element(By.TAG_NAME, 'body').send_keys('2')
    _wait(browser, f"return document.body.dataset.lastVerdict == "
          f"'{top}:not_violating'")
    card = browser.find_element(By.CSS_SELECTOR,
                                f'.clip-card[data-clip-id="{top}"]')
    assert 'disputed' in card.get_attribute('class')
    assert '2 disagree' in card.find_element(By.CSS_SELECTOR,
                                             '.badge.dispute').text
    assert card.find_element(By.CSS_SELECTOR, '.badge.disputed').text == (
        'disputed (tie)')
    assert _text(browser, 'counter') == 'reviewed 1 of 10,000 · 1 disputed'
    browser.find_element(By.TAG_NAME, 'body').send_keys('k')
    _wait(browser, f"return document.body.dataset.selected.endsWith('{top}')")
    history = browser.execute_script(
        "return [...document.querySelectorAll('#history tr')].map("
        "r => [...r.cells].slice(1).map(c => c.textContent))")
    assert history == [['alice', 'violating', 'a rifle'],
                       ['bob', 'not violating', '']]
    assert 'disputed' in _text(browser, 'outcome')
    assert 'reviewers disagree' in _text(browser, 'outcome')
    browser.find_element(By.ID, 'f-disputed').click()
    _wait(browser, READY + " && document.getElementById('range')"
          ".textContent == 'clips 1–1 of 1'")
    assert _cards(browser) == [top]
  reviews = review_query.load_review_data(root).reviews.to_pylist()
  assert sorted((r['reviewer'], r['verdict']) for r in reviews) == [
      ('alice', 'violating'), ('bob', 'not_violating')]
  con = review_query.connect(review_query.load_review_data(root))
  assert [d['clip_id'] for d in review_query.disputes(con)] == [top]


@pytest.mark.slow  # real Chromium, like the other page tests
def test_a_rescan_shows_each_clip_once(root, generated, tmp_path, browser):
  all_rows = duckdb.sql(
      "SELECT count(*), count(DISTINCT clip_id) FROM read_parquet('"
      f"{os.path.join(root, 'flagged_clips', '*', '*.parquet')}')").fetchall()[0]
  assert all_rows[0] > all_rows[1] == CLIPS
  app = _app(root, tmp_path)
  with review_report.ReviewServer(app, port=0) as server:
    status, _, body = _fetch(server.base_url + 'api/clips?' +
                             urllib.parse.urlencode(dict(sort='video')),
                             token=app.token)
    assert status == 200 and json.loads(body)['total'] == CLIPS
    # Every page of the queue, as the API pages it: each clip once.
    con = review_query.connect(review_query.load_review_data(root))
    seen = []
    for offset in range(0, CLIPS + 1, review_queue.MAX_PAGE_SIZE):
      page = review_queue.queue_page(con, review_query.ClipFilter(),
                                     review_queue.QueueQuery(
                                         sort='video', offset=offset,
                                         limit=review_queue.MAX_PAGE_SIZE))
      seen += [(c['scan_id'], c['clip_id']) for c in page.clips]
    assert len(seen) == len({clip for _, clip in seen}) == CLIPS
    # The last 20 generated videos were scanned again (the very last has
    # fewer clips: 9,998 do not divide by 5).
    rescanned = 'video-%06d' % (generated.videos - 4)
    _open(browser, server)
    assert _text(browser, 'range') == 'clips 1–50 of 10,000'
    _set(browser, 'f-video', rescanned)
    cards = browser.execute_script(
        "return [...document.querySelectorAll('.clip-card')].map("
        'c => [c.dataset.scanId, c.dataset.clipId])')
    assert len(cards) == review_output.CLIPS_PER_VIDEO
    assert len({clip for _, clip in cards}) == len(cards)
    assert {scan for scan, _ in cards} == {review_output.SCAN_IDS[1]}


def _overflow(driver) -> list:
  return driver.execute_script(
      'return [document.documentElement.scrollWidth, window.innerWidth]')


@pytest.mark.slow  # real Chromium, like the other page tests
def test_layout_at_800_px_has_no_horizontal_overflow(root, tmp_path,
                                                     browser):
  top = _truth(root, order=BY_SCORE)[0][0]
  review_query.append_verdict(root, top, 'violating', 'alice', 'a rifle')
  review_query.append_verdict(root, top, 'not_violating', 'carol', 'a toy')
  with review_report.ReviewServer(_app(root, tmp_path), port=0) as server:
    browser.set_window_size(800, 1000)
    _open(browser, server)
    width, inner = _overflow(browser)
    assert inner <= 800
    os.makedirs(ARTIFACTS, exist_ok=True)
    browser.save_screenshot(os.path.join(ARTIFACTS, 'review-page-800.png'))
    assert width <= inner, (width, inner)
    # Wide enough for the README's screenshot: the same page, a dispute
    # on the first clip and its history in the detail panel.
    browser.set_window_size(1280, 900)
    _wait(browser, 'return window.innerWidth > 1000')
    assert _overflow(browser)[0] <= _overflow(browser)[1]
    path = os.path.join(ARTIFACTS, 'review-page.png')
    browser.save_screenshot(path)
    if os.environ.get(UPDATE_SCREENSHOTS):
      browser.save_screenshot(README_SCREENSHOT)
  with open(README_SCREENSHOT, 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'


@pytest.mark.slow  # real Chromium, like the other page tests
def test_an_hevc_source_and_its_copied_extract_play_as_h264(
    root, generated, tmp_path, browser):
  hevc = generated.real_videos['hevc_source.mp4']
  clip = next(c for c in review_query.load_review_data(root).clips
              .drop_columns(['thumbnail']).to_pylist()
              if c['video_uri'] == hevc)
  extracts = str(tmp_path / 'extracts')
  copied = clip_extract.extract_clip(clip_extract.request_for(clip), extracts)
  assert (copied.method, copied.output_codec) == (clip_extract.COPY, 'hevc')
  app = _app(root, tmp_path, extract_dir=extracts)
  with review_report.ReviewServer(app, port=0) as server:
    _open(browser, server)
    _set(browser, 'f-video', 'hevc_source')
    assert _cards(browser) == [clip['clip_id']]
    state = _wait(browser, """
        const v = document.getElementById('player');
        return (v.error || (v.currentSrc.includes('/transcoded/') &&
                            v.readyState >= 1 && v.duration > 0)) &&
               [v.readyState, v.error && v.error.code, v.duration,
                document.getElementById('player-note').textContent,
                v.currentSrc];""", 120)
    assert state[1] is None and state[0] >= 1 and state[2] > 0, state
    assert state[3] == f'extract ({clip_extract.TRANSCODE})'
    assert '/transcoded/' in state[4]


def test_queue_outcomes_disputes_counts_and_orders(root):
  """``queue_page`` against verdicts planted on three clips: a lone
  violating, a tie (disputed) and a majority with a dissent."""
  top = [c[0] for c in _truth(root, order=BY_SCORE)[:3]]
  planted = ((top[0], 'alice', 'violating'), (top[1], 'alice', 'violating'),
             (top[1], 'bob', 'not_violating'), (top[2], 'alice', 'unsure'),
             (top[2], 'bob', 'unsure'), (top[2], 'carol', 'violating'))
  for clip_id, reviewer, verdict in planted:
    review_query.append_verdict(root, clip_id, verdict, reviewer)
  con = review_query.connect(review_query.load_review_data(root))

  def page(**fields):
    return review_queue.queue_page(con, review_query.ClipFilter(),
                                   review_queue.QueueQuery(**fields))

  assert [c['clip_id'] for c in page(outcome='violating').clips] == [top[0]]
  assert [c['clip_id'] for c in page(outcome='disputed').clips] == [top[1]]
  assert [c['clip_id'] for c in page(outcome='unsure').clips] == [top[2]]
  disagree = page(disputed=True)
  assert [c['clip_id'] for c in disagree.clips] == top[1:]
  assert [len(c['history']) for c in disagree.clips] == [2, 3]
  unreviewed = page(unreviewed=True, limit=200)
  assert (unreviewed.total, unreviewed.matching, unreviewed.reviewed,
          unreviewed.disputes) == (CLIPS - 3, CLIPS, 3, 2)
  assert not set(top) & {c['clip_id'] for c in unreviewed.clips}
  capped = page(max_score=0.6, min_score=0.55, label='weapon', limit=200)
  expected = _truth(root, "label = 'weapon' AND peak_score BETWEEN 0.55 "
                    'AND 0.6', BY_SCORE)
  assert capped.total == len(expected)
  assert [c['clip_id'] for c in capped.clips] == [c[0] for c in
                                                  expected[:200]]
  newest = page(sort='time').clips[0]
  assert newest['scan_id'] == review_output.SCAN_IDS[1]
  by_video = page(sort='video', offset=100).clips
  assert [c['video_uri'] for c in by_video] == sorted(
      c[1] for c in _truth(root))[100:150]
  with pytest.raises(review_queue.QueueError):
    page(limit=review_queue.MAX_PAGE_SIZE + 1)
  assert review_queue.sort_keys('score')[:2] == [('peak_score', -1),
                                                 ('mean_score', -1)]


@pytest.mark.slow  # real Chromium, like the other page tests
def test_the_static_export_filters_sorts_and_pages_its_clips(root, tmp_path,
                                                             browser):
  """The read-only export pages the clips it holds by the served page's
  rules (``localPage``) and says how many of how many it holds."""
  html_path = tmp_path / 'report.html'
  assert report_cli.main(['--output', root, '--html', str(html_path),
                          '--limit', '300']) == 0
  browser.get(html_path.as_uri())
  _wait(browser, READY)
  assert 'top 300 of 10,000 clips' in _text(browser, 'summary')
  assert _text(browser, 'range') == 'clips 1–50 of 300'
  top = _truth(root, order=BY_SCORE)[:300]
  assert _cards(browser) == [c[0] for c in top[:50]]
  browser.find_element(By.ID, 'next-page').click()
  _wait(browser, READY)
  assert _cards(browser) == [c[0] for c in top[50:100]]
  _choose(browser, 'f-label', 'nudity')
  _set(browser, 'f-min', '0.975')
  nudity = [c for c in _truth(root, "label = 'nudity' AND "
                              'peak_score >= 0.975', BY_SCORE)
            if c[0] in {t[0] for t in top}]
  assert 0 < len(nudity) < 300
  assert _text(browser, 'range') == f'clips 1–{min(len(nudity), 50)} of ' \
      f'{len(nudity)}'
  assert _cards(browser) == [c[0] for c in nudity[:50]]
