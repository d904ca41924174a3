from __future__ import annotations

import logging

import pytest

import alerts_lib
from alerts_lib._settings import load_settings
from tests.support.fake_slack import TOKEN

HOOK = f"https://hooks.slack.com/services/T0TEAM/B0HOOK/{TOKEN}"


def test_defaults_are_sane() -> None:
    s = load_settings()
    assert s.webhook is None and s.env == "dev"
    assert (s.deadline, s.give_up_after, s.queue_size, s.dedup_window, s.min_interval, s.shutdown_timeout) == (
        10.0,
        3600.0,
        1000,
        60.0,
        1.0,
        5.0,
    )


def test_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", HOOK)
    monkeypatch.setenv("ALERTS_ENV", "prod")
    monkeypatch.setenv("ALERTS_DEADLINE", "2.5")
    monkeypatch.setenv("ALERTS_QUEUE_SIZE", "10")
    s = alerts_lib.get_settings()
    assert (s.webhook, s.env, s.deadline, s.queue_size) == (HOOK, "prod", 2.5, 10)


def test_invalid_values_are_logged_and_replaced_by_defaults(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ALERTS_DEADLINE", "soon")
    monkeypatch.setenv("ALERTS_QUEUE_SIZE", "-3")
    monkeypatch.setenv("ALERTS_ENV", "staging")
    s = load_settings()
    assert (s.deadline, s.queue_size, s.env) == (10.0, 1000, "staging")
    assert "invalid setting ALERTS_DEADLINE" in caplog.text and "invalid setting ALERTS_QUEUE_SIZE" in caplog.text


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("hooks.slack.com/services/T/B/x", "must start with https://"),
        ("https://hooks.slack.com/services/" + TOKEN, "incomplete"),
        ("https://:99999/x", "not a valid URL"),
        ("http:///services/T/B/" + TOKEN, "no host"),
        ("ftp://hooks.slack.com/services/T/B/" + TOKEN, "must start with https://"),
    ],
)
def test_malformed_webhook_is_explained_without_the_secret(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, url: str, why: str
) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", url)
    assert alerts_lib.send_slack_alert("hello") is False  # never raises; logged instead
    assert why in caplog.text
    assert TOKEN not in caplog.text


def test_blank_webhook_means_unset(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "  ")
    assert load_settings().webhook is None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_repr_and_describe_mask_the_webhook(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", HOOK)
    s = load_settings()
    assert TOKEN not in repr(s) and TOKEN not in str(s.model_dump())
    assert s.describe()["webhook_url"] == "https://hooks.slack.com/services/T…/B…/****"


def test_mask_url_keeps_only_what_tells_webhooks_apart() -> None:
    assert alerts_lib.mask_url(HOOK) == "https://hooks.slack.com/services/T…/B…/****"
    assert alerts_lib.mask_url("http://127.0.0.1:9/hook") == "http://127.0.0.1:9/****"
    assert alerts_lib.mask_url(None) == "(none)"
