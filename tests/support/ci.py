"""What a test does when something it needs is missing: skip with the reason locally, fail in CI."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(what: str, reason: str) -> NoReturn:
    """Skip (``reason`` says what to install); under ``CI=true`` fail instead: CI runs every test."""
    if in_ci():
        pytest.fail(f"{what} must run in CI: {reason}")
    pytest.skip(reason)
