from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest

import alerts_lib
from alerts_lib.testing import reset_alerts
from tests.support.fake_slack import TOKEN, FakeSlack

# The service tests' fixtures (registry, client, make_client, alerts) and the real-Airflow ones (airflow_bin),
# shared without per-file imports.
pytest_plugins = ["tests.support.service_fixtures", "tests.support.airflow_fixtures"]

# Fast, deterministic-enough delivery for tests: no pacing, tiny backoff, short deadline.
FAST: dict[str, Any] = {
    "min_interval": 0.0,
    "dedup_window": 0.0,
    "backoff_base": 0.05,
    "backoff_max": 0.2,
    "deadline": 1.0,
    "read_timeout": 0.5,
    "connect_timeout": 0.5,
    "shutdown_timeout": 1.0,
}


@pytest.fixture(autouse=True)
def _pristine_alerts(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with no webhook and no worker, whatever the developer's shell exports."""
    for name in list(os.environ):
        if name == "SLACK_WEBHOOK_URL" or name.startswith("ALERTS_"):
            monkeypatch.delenv(name)
    reset_alerts()
    yield
    reset_alerts()


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


@pytest.fixture
def deliver_to() -> Any:
    """``deliver_to(url, **overrides)``: point alerts_lib at ``url`` with test-speed settings."""

    def configure(url: str, **overrides: Any) -> alerts_lib.Settings:
        return alerts_lib.configure(webhook_url=url, **{**FAST, **overrides})

    return configure


@pytest.fixture
def no_secret_in_logs(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    """Root logging at DEBUG for the test; afterwards, the webhook token must appear nowhere."""
    caplog.set_level(logging.DEBUG)
    yield
    out = capsys.readouterr()
    for where, text in (("log", caplog.text), ("stdout", out.out), ("stderr", out.err)):
        assert TOKEN not in text, f"the webhook token leaked into {where}"
