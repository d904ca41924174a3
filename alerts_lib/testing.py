"""Assert the alerts your application sends, with no network.

    from alerts_lib.testing import capture_alerts

    with capture_alerts() as alerts:
        reload_model("A")
    assert alerts.find("hot-swapped")

Installed as a pytest plugin, it also provides the ``captured_alerts`` fixture.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from . import _client
from ._alert import Alert
from ._settings import Settings
from ._worker import Item
from .destinations import slack
from .destinations.base import render_message

__all__ = ["CapturedAlert", "CapturedAlerts", "capture_alerts", "captured_alerts", "reset_alerts"]


@dataclass(frozen=True)
class CapturedAlert:
    message: object  # what the application passed: a str or an Alert
    payload: dict[str, Any]  # what would have been posted to Slack
    webhook_url: str | None  # a per-call webhook, if one was given
    dedup_key: str | None
    destination: tuple[str, ...] | None = None  # the destination(s) named by the call, if any

    @property
    def text(self) -> str:
        return str(self.payload.get("text", ""))

    @property
    def alert(self) -> Alert | None:
        return self.message if isinstance(self.message, Alert) else None


class CapturedAlerts(list[CapturedAlert]):
    """The alerts sent while capturing, in order."""

    @property
    def texts(self) -> list[str]:
        return [a.text for a in self]

    def find(self, needle: str) -> list[CapturedAlert]:
        """Alerts whose text contains ``needle``."""
        return [a for a in self if needle in a.text]


def reset_alerts(timeout: float = 0.0) -> None:
    """Stop the worker (flushing for ``timeout`` s) and forget settings, so the next test re-reads the
    environment. Call it between tests that change ``SLACK_WEBHOOK_URL`` or ``ALERTS_*``."""
    _client.reset(timeout)


@contextmanager
def capture_alerts() -> Iterator[CapturedAlerts]:
    """Record every alert sent inside the block instead of delivering it (nests; thread-safe)."""
    captured = CapturedAlerts()
    lock = threading.Lock()

    def record(message: object, item: Item, settings: Settings) -> bool:
        payload = _render(message, settings.env, item.blocks)
        if payload is None:
            return False
        with lock:
            captured.append(CapturedAlert(message, payload, item.webhook_url, item.dedup_key, item.destination))
        return True

    previous = _client._capture
    _client._capture = record
    try:
        yield captured
    finally:
        _client._capture = previous


@functools.cache
def _as_slack() -> slack.SlackDestination:
    """Captured alerts are rendered as a plain Slack webhook would show them (no destination's mention); made on
    first use, not at import (a destination registers its URL with the log scrubber)."""
    return slack.SlackDestination("capture", "http://127.0.0.1/capture")


def _render(message: object, env: str | None, blocks: object) -> dict[str, Any] | None:
    return render_message(_as_slack(), message, blocks, env=env, now=time.time())


try:
    import pytest
except ImportError:  # pragma: no cover - pytest is optional
    pass
else:

    @pytest.fixture
    def captured_alerts() -> Iterator[CapturedAlerts]:
        """The alerts the code under test sent (nothing reaches the network)."""
        with capture_alerts() as alerts:
            yield alerts
