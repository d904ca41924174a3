"""Whether the browser tests can run: skipped locally without Chromium, a failure in CI (where it must run)."""

from __future__ import annotations

from demo import browser
from tests.support.ci import unavailable


def require_chromium() -> None:
    reason = browser.missing()
    if reason:
        unavailable("browser tests", reason)
