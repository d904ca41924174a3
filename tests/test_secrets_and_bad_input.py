"""The webhook token never leaks, and no input makes alerts_lib raise."""

from __future__ import annotations

import logging

import pytest

import alerts_lib
from alerts_lib import formatters
from tests.support.fake_slack import NETWORK_MODES, PERMANENT_MODES, TOKEN, FakeSlack, refused_url


@pytest.mark.usefixtures("no_secret_in_logs")
@pytest.mark.parametrize("mode", ["ok", "500", "429", *NETWORK_MODES, *PERMANENT_MODES, "refused"])
def test_token_never_appears_in_any_log_at_debug(slack: FakeSlack, deliver_to, mode: str) -> None:
    slack.mode = "ok" if mode == "refused" else mode
    deliver_to(refused_url() if mode == "refused" else slack.url, deadline=0.6, max_retries=1)
    alerts_lib.send_slack_alert("secret test")
    alerts_lib.send_slack_alert(formatters.alert("with blocks"), webhook_url=slack.url)
    alerts_lib.flush(3)
    stats = alerts_lib.stats()
    assert TOKEN not in repr(stats) and TOKEN not in repr(alerts_lib.get_settings())
    if mode not in ("ok", "slow"):
        assert stats.last_error  # something was said about the failure, with no secret in it


@pytest.mark.usefixtures("no_secret_in_logs")
def test_httpx_request_log_line_is_masked(slack: FakeSlack, deliver_to, caplog: pytest.LogCaptureFixture) -> None:
    deliver_to(slack.url)
    alerts_lib.send_slack_alert("x")
    assert alerts_lib.flush(3)
    lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert lines and all("/services/T…/B…/****" in line for line in lines)


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no")


BAD_MESSAGES = [
    None,
    42,
    3.14,
    b"bytes \xff\xfe",
    "lone surrogate \ud800 here",
    "x" * 1_000_000,
    Unprintable(),
    ["a", "list"],
    {"text": "a dict"},
]


@pytest.mark.parametrize("message", BAD_MESSAGES, ids=lambda m: type(m).__name__)
def test_bad_messages_never_raise_and_what_can_be_sent_is(slack: FakeSlack, deliver_to, message: object) -> None:
    deliver_to(slack.url)
    accepted = alerts_lib.send_slack_alert(message)  # type: ignore[arg-type]
    assert alerts_lib.flush(5)
    if message is None:
        assert accepted is False and not slack.requests
        return
    assert accepted is True
    (post,) = slack.delivered
    assert len(post.text) <= 40_000


@pytest.mark.parametrize(
    "blocks",
    [
        "not a list",
        [1, 2, 3],
        [{"no": "type"}],
        [{"type": "section", "text": {"type": "mrkdwn", "text": "ok"}}] * 80,
        [{"type": "section", "obj": object()}],
    ],
    ids=["str", "ints", "untyped", "too-many", "unserialisable"],
)
def test_odd_blocks_never_raise(slack: FakeSlack, deliver_to, blocks: object) -> None:
    deliver_to(slack.url)
    assert alerts_lib.send_slack_alert("with odd blocks", blocks=blocks) is True  # type: ignore[arg-type]
    assert alerts_lib.flush(5)
    (post,) = slack.delivered
    assert post.text == "with odd blocks" and len(post.json.get("blocks", [])) <= 50


def test_odd_call_shapes_never_raise(caplog: pytest.LogCaptureFixture) -> None:
    assert alerts_lib.send_slack_alert() is False
    assert alerts_lib.send_slack_alert("x", colour="red") is False  # unknown option: warned, still no webhook
    assert "unknown options ['colour']" in caplog.text
    assert alerts_lib.send_slack_alert("x", webhook_url=12) is False  # type: ignore[arg-type]
    assert alerts_lib.send_slack_alert("x", webhook_url="not a url") is False
    alerts_lib.send_slack_alert("x", webhook_url=refused_url())  # now a worker exists
    assert alerts_lib.flush("soon") is False  # type: ignore[arg-type]


def test_bad_per_call_webhook_is_masked_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    assert alerts_lib.send_slack_alert("x", webhook_url=f"ftp://hooks.slack.com/services/T/B/{TOKEN}") is False
    assert "must start with https://" in caplog.text and TOKEN not in caplog.text
