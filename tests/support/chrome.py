"""Whether the browser tests can run: skipped locally without Chromium, a failure in CI (where it must run)."""

from __future__ import annotations

import os

import pytest

from demo import browser


def require_chromium() -> None:
    reason = browser.missing()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser tests must run in CI: {reason}")
        pytest.skip(reason)
