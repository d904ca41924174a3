"""Headless Chromium for the inbox's browser tests and the docs screenshot (Debian ``chromium``).

Browsers cannot be downloaded here, so this drives the system's ``chromium`` with its matching
``chromium-driver``; :func:`missing` says what is absent so callers can report it clearly.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def _binary() -> str | None:
    return next((path for name in CHROMIUM_CANDIDATES if (path := shutil.which(name))), None)


def _driver() -> str | None:
    return shutil.which("chromedriver") or (CHROMEDRIVER if os.path.exists(CHROMEDRIVER) else None)


def missing() -> str | None:
    """None when a headless Chromium can run, else what to install."""
    absent = [name for name, found in (("chromium", _binary()), ("chromium-driver", _driver())) if not found]
    try:
        import selenium  # noqa: F401
    except ImportError:
        absent.append("selenium (pip)")
    return f"missing {', '.join(absent)} (apt-get install -y chromium chromium-driver)" if absent else None


@contextlib.contextmanager
def headless_chrome(width: int = 1200, height: int = 900, *, offline: bool = False) -> Iterator[Any]:
    """``with headless_chrome() as driver:`` a fresh Chromium with its own throw-away profile.

    ``offline=True``: no host name resolves except 127.0.0.1, so a page that needs a CDN shows it.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = _binary() or ""
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    if offline:
        options.add_argument("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
    with tempfile.TemporaryDirectory(prefix="inbox-chrome-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service(_driver()), options=options)
        try:
            yield driver
        finally:
            driver.quit()


def screenshot(url: str, out: Path, width: int, height: int, settle: float = 3.0) -> None:
    """``url`` as a PNG at ``out``, once the page has had ``settle`` seconds (a poll, then the fade-in).

    Callers check :func:`missing` first, before they start the servers the page needs."""
    with headless_chrome(width, height) as driver:
        driver.get(url)
        time.sleep(settle)
        out.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(out))
