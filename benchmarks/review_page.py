"""The review page at team scale in headless Chromium (issue #15): a
generated output of 10,000 clips (``benchmarks.review_output``) served by
``rescan report --serve``'s app, timed in the browser.

    python -m benchmarks.review_page [--clips 10000] [--moves 30]

Figures (milliseconds, min / median / max over the repeats):

- first paint: navigation start to the first contentful paint;
- ready: navigation start to the first page of clips shown and the first
  clip selected (the queue usable);
- next clip (j): key press to the next frame painted with the next clip
  selected and its detail shown, within a page;
- next page (j on a page's last clip): the same, with the next page asked
  for from the server;
- verdict then next clip (2): key press to the next clip painted, the
  verdict recorded on the way (a real POST writing a Parquet file).

Also the bytes the browser receives: the page, and one page of clips;
and, side by side, the static export holding all 10,000 clips (what every
page load carried before the served page asked for a page at a time):
its size, first paint and ready.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence

from benchmarks.review_output import write_review_output
from pipeline.review import query as review_query
from pipeline.review import report as review_report
from tests import browser as browser_driver

PAGE_READY = 'return document.body.dataset.ready'


def _spread(values: Sequence[float]) -> Dict[str, float]:
  return dict(min=round(min(values), 1),
              median=round(statistics.median(values), 1),
              max=round(max(values), 1), n=len(values))


def _key_to_paint(driver, key: str) -> float:
  """Presses ``key`` and returns the page's own key-to-paint time."""
  driver.execute_script('delete document.body.dataset.keyToPaintMs')
  driver.find_element('tag name', 'body').send_keys(key)
  return float(browser_driver.wait_for(
      driver, 'return document.body.dataset.keyToPaintMs', 60))


def _load_times(driver, url: str, loads: int) -> Dict[str, Dict]:
  first_paint, ready = [], []
  for _ in range(loads):
    driver.get(url)
    browser_driver.wait_for(driver, PAGE_READY, 120)
    timing = driver.execute_script("""
        const paint = performance.getEntriesByName('first-contentful-paint')[0];
        return [paint ? paint.startTime : null,
                Number(document.body.dataset.readyMs)];""")
    first_paint.append(timing[0])
    ready.append(timing[1])
  return dict(first_paint_ms=_spread(first_paint), ready_ms=_spread(ready))


def measure(root: str, moves: int, loads: int, workdir: str) -> Dict:
  request = review_report.ReportRequest(
      root, review_query.ClipFilter(), review_report.SERVE, 'benchmark')
  started = time.perf_counter()
  app = review_report.ReviewApp(request, review_query.load_review_data(root),
                                os.path.join(workdir, 'cut'), 2.0)
  app_start_s = time.perf_counter() - started
  static_path = os.path.join(workdir, 'all.html')
  review_report.write_static_page(
      review_query.load_review_data(root), review_report.ReportRequest(
          root, review_query.ClipFilter()), static_path)
  with review_report.ReviewServer(app, port=0) as server, \
      browser_driver.headless_chromium(
          browser_driver.CHROMIUM, os.path.join(workdir, 'profile')) as driver:
    static = dict(_load_times(driver, 'file://' + static_path, loads),
                  page_bytes=os.path.getsize(static_path))
    served = _load_times(driver, server.url, loads)
    total = int(driver.execute_script('return document.body.dataset.total'))
    page_bytes = len(app.page.encode('utf-8'))
    one_page = app.queue(review_report.parse_queue_query({}))
    api_bytes = len(json.dumps(one_page).encode('utf-8'))
    page_size = one_page['limit']
    next_clip: List[float] = []
    next_page: List[float] = []
    position = 0
    while len(next_clip) < moves or len(next_page) < 3:
      position += 1
      crossing = position % page_size == 0
      elapsed = _key_to_paint(driver, 'j')
      (next_page if crossing else next_clip).append(elapsed)
      if position > moves + 3 * page_size:
        break
    verdict_next = [_key_to_paint(driver, '2') for _ in range(moves)]
  return dict(
      clips=total, app_start_s=round(app_start_s, 2),
      page_bytes=page_bytes, api_page_bytes=api_bytes, page_size=page_size,
      **served, static_export_all_clips=static,
      next_clip_ms=_spread(next_clip), next_page_ms=_spread(next_page),
      verdict_then_next_ms=_spread(verdict_next))


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m benchmarks.review_page',
                                   description=__doc__.split('\n\n')[0])
  parser.add_argument('--clips', type=int, default=10_000)
  parser.add_argument('--moves', type=int, default=30)
  parser.add_argument('--loads', type=int, default=5)
  args = parser.parse_args(argv)
  with tempfile.TemporaryDirectory(prefix='review-page-bench-') as workdir:
    root = os.path.join(workdir, 'root')
    write_review_output(root, args.clips, os.path.join(workdir, 'media'))
    result = measure(root, args.moves, args.loads, workdir)
  result['load_average'] = [round(x, 2) for x in os.getloadavg()]
  print(json.dumps(result, indent=2))
  return 0


if __name__ == '__main__':
  sys.exit(main())
