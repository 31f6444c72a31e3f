"""Headless Debian chromium driven by Selenium, for the tests that look at what a browser renders.

Importing this module skips the importing test module when chromium,
chromedriver or selenium is missing, except under CI (``make test`` installs
them: missing there is a failure).
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager

import pytest

webdriver = pytest.importorskip("selenium.webdriver", reason="the browser tests need selenium (the test extra)")

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    if os.environ.get("CI"):  # `make test` installs them (make chromium): missing in CI is a failure
        raise RuntimeError("chromium and chromedriver are missing; run `make chromium`")
    pytest.skip("needs Debian's chromium and chromium-driver (`make chromium` installs them)", allow_module_level=True)


@contextmanager
def chromium(window=(1500, 1250)):
    """A headless chromium WebDriver (console logs kept), quit on exit."""
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={window[0]},{window[1]}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
