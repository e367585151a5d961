"""Headless Chromium for the page tests, driven by Selenium through the
system chromedriver (no Selenium Manager download, no network)."""
from __future__ import annotations

import contextlib
import os
import time
from typing import Iterator, Sequence

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = '/usr/bin/chromium'
CHROMEDRIVER = '/usr/bin/chromedriver'
CHROMIUM_FLAGS = ('--headless', '--no-sandbox', '--disable-gpu',
                  '--disable-quic', '--no-first-run',
                  '--disable-background-networking',
                  '--disable-component-update', '--disable-sync',
                  '--window-size=1400,1000',
                  '--autoplay-policy=no-user-gesture-required')
# A page or a script that takes longer failed: the test fails with it
# instead of hanging the suite.
PAGE_TIMEOUT_S = 60


@contextlib.contextmanager
def headless_chromium(binary: str, profile_dir: str,
                      extra_flags: Sequence[str] = ()
                      ) -> Iterator[webdriver.Chrome]:
  os.environ['SE_OFFLINE'] = 'true'  # never let Selenium Manager download
  options = webdriver.ChromeOptions()
  options.binary_location = binary
  for flag in (*CHROMIUM_FLAGS, f'--user-data-dir={profile_dir}',
               *extra_flags):
    options.add_argument(flag)
  driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
  try:
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    driver.set_script_timeout(PAGE_TIMEOUT_S)
    yield driver
  finally:
    driver.quit()


def wait_for(driver, script: str, timeout_s: float = 30.0):
  """The first truthy value ``script`` returns, polled every 0.1 s."""
  deadline = time.monotonic() + timeout_s
  while time.monotonic() < deadline:
    value = driver.execute_script(script)
    if value:
      return value
    time.sleep(0.1)
  raise AssertionError(f'timed out waiting for: {script}')
