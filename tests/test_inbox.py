"""The inbox answers webhook posts exactly like Slack, keeps what it accepted, and forwards safely."""

from __future__ import annotations

import html
import json
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

import alerts_lib
from alerts_lib import formatters
from alerts_lib.destinations.slack import render_alert
from demo.procs import Child, running_inbox
from inbox import MessageStore
from inbox.slack_rules import hook_label
from tests.support.fake_slack import PATH, TOKEN, FakeSlack, refused_url


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Child]:
    """One real inbox server (``python -m inbox``) on a free 127.0.0.1 port, its output kept."""
    log = tmp_path_factory.mktemp("inbox") / "inbox.log"
    with running_inbox(log_path=log) as child:
        yield child
    assert TOKEN not in child.output(), "the webhook token leaked into the inbox's output"


def post(inbox: Child, body: Any, content_type: str = "application/json") -> requests.Response:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(inbox.base_url + PATH, data=data, headers={"Content-Type": content_type}, timeout=5)


def listed(inbox: Child, **params: Any) -> dict[str, Any]:
    response = requests.get(inbox.base_url + "/api/messages", params=params, timeout=5)
    response.raise_for_status()
    return dict(response.json())


def section(text: str, kind: str = "mrkdwn") -> dict[str, Any]:
    return {"type": "section", "text": {"type": kind, "text": text}}


def test_accepts_a_text_post_like_slack_and_lists_it(inbox: Child) -> None:
    response = post(inbox, {"text": "hello *world* :wave:"})
    assert (response.status_code, response.text) == (200, "ok")
    assert response.headers["content-type"].startswith("text/plain")
    newest = listed(inbox)["messages"][0]
    assert newest["text"] == "hello *world* :wave:"
    assert newest["payload"] == {"text": "hello *world* :wave:"}
    assert newest["hook"] == "T0TEAM/B0HOOK/•••", "the token part of the webhook path must not be shown"


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (b"not json at all", 400, "invalid_payload"),
        (b'{"text": "unterminated', 400, "invalid_payload"),
        (b"[1, 2]", 400, "invalid_payload"),
        (b'"just a string"', 400, "invalid_payload"),
        ({"text": 42}, 400, "invalid_payload"),
        ({}, 400, "no_text"),
        ({"text": ""}, 400, "no_text"),
        ({"text": "   ", "blocks": []}, 400, "no_text"),
        ({"username": "bot"}, 400, "no_text"),
        ({"text": "x", "blocks": "not a list"}, 400, "invalid_blocks"),
        ({"text": "x", "blocks": [{"type": "no_such_block"}]}, 400, "invalid_blocks"),
        ({"text": "x", "blocks": [{"type": "section"}]}, 400, "invalid_blocks"),
        ({"text": "x", "blocks": [section("")]}, 400, "invalid_blocks"),
        ({"text": "x", "blocks": [section("a" * 3001)]}, 400, "invalid_blocks"),
        (
            {"text": "x", "blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}]},
            400,
            "invalid_blocks",
        ),
        (
            {"text": "x", "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]},
            400,
            "invalid_blocks",
        ),
        (
            {"text": "x", "blocks": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}]},
            400,
            "invalid_blocks",
        ),
        ({"text": "x", "blocks": [{"type": "context", "elements": []}]}, 400, "invalid_blocks"),
        ({"text": "x", "blocks": [section("ok")] * 51}, 400, "invalid_blocks"),
        ({"text": "x", "attachments": [{"text": "a"}] * 101}, 400, "too_many_attachments"),
    ],
)
def test_refuses_what_slack_refuses_with_slacks_answer(inbox: Child, body: Any, status: int, error: str) -> None:
    before = listed(inbox)["latest_id"]
    response = post(inbox, body)
    assert (response.status_code, response.text) == (status, error)
    assert listed(inbox)["latest_id"] == before, "a refused post must not be kept"


def test_accepts_the_limits_slack_accepts(inbox: Child) -> None:
    fields = [{"type": "mrkdwn", "text": "f" * 2000}] * 10
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 150}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "s" * 3000}, "fields": fields},
        {"type": "divider"},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}]},
        *[section("more")] * 46,
    ]
    assert len(blocks) == 50
    assert post(inbox, {"blocks": blocks}).text == "ok", "blocks without text are accepted, as by Slack"
    assert post(inbox, {"attachments": [{"text": "legacy", "color": "danger"}]}).text == "ok"


def test_cuts_text_past_slacks_limit_instead_of_refusing(inbox: Child) -> None:
    assert post(inbox, {"text": "x" * 50_000}).text == "ok"
    assert len(listed(inbox)["messages"][0]["text"]) == 40_000


def test_accepts_the_legacy_form_encoded_payload(inbox: Child) -> None:
    body = "payload=" + requests.utils.quote(json.dumps({"text": "from a form & friends"}))
    assert post(inbox, body, "application/x-www-form-urlencoded").text == "ok"
    assert listed(inbox)["messages"][0]["text"] == "from a form & friends"


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "", "application/json; charset=utf-8"]
)
def test_a_json_body_is_read_whatever_its_content_type_like_slack(inbox: Child, content_type: str) -> None:
    assert post(inbox, {"text": f"json as {content_type or 'nothing'}"}, content_type).text == "ok"
    assert listed(inbox)["messages"][0]["text"] == f"json as {content_type or 'nothing'}"


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("curl") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("curl must be installed in CI (.ci/run installs it)")
        pytest.skip("the curl command is not installed (apt-get install curl)")
    return subprocess.run(["curl", "--silent", "--show-error", *args], capture_output=True, text=True, timeout=30)


def test_the_pages_own_curl_hint_works_as_printed(inbox: Child) -> None:
    page = requests.get(inbox.base_url + "/", timeout=5).text
    hint = re.search(r"<code>(curl .*?)<span id=\"hook-example\">", page)
    assert hint, "the empty page shows a curl command"
    command = shlex.split(html.unescape(hint.group(1)))
    assert "Content-Type: application/json" in command, "the hint shows the header anyway"
    done = curl(*command[1:], inbox.base_url + PATH)
    assert (done.returncode, done.stdout) == (0, "ok"), done.stderr
    assert listed(inbox)["messages"][0]["text"] == "hello :wave:"


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["-d", '{"text":"curl -d, no header"}'], "curl -d, no header"),
        (["--data-urlencode", 'payload={"text":"a form field & friends"}'], "a form field & friends"),
    ],
)
def test_what_slack_accepts_from_curl_the_inbox_accepts(inbox: Child, args: list[str], text: str) -> None:
    done = curl(*args, inbox.base_url + PATH)
    assert (done.returncode, done.stdout) == (0, "ok"), done.stderr
    assert listed(inbox)["messages"][0]["text"] == text


def test_unknown_or_empty_webhook_paths_answer_like_slack(inbox: Child) -> None:
    response = requests.post(inbox.base_url + "/services/", json={"text": "x"}, timeout=5)
    assert (response.status_code, response.text) == (404, "no_service")


def test_refuses_huge_bodies_without_keeping_them(inbox: Child) -> None:
    before = listed(inbox)["latest_id"]
    response = post(inbox, {"text": "x" * (2 * 1024 * 1024)})
    assert response.status_code == 413
    assert listed(inbox)["latest_id"] == before


def test_lists_newest_first_and_polls_with_after(inbox: Child) -> None:
    first = listed(inbox)["latest_id"]
    for n in range(3):
        assert post(inbox, {"text": f"poll {n}"}).text == "ok"
    page = listed(inbox, after=first)
    assert [m["text"] for m in page["messages"]] == ["poll 2", "poll 1", "poll 0"]
    assert page["latest_id"] == first + 3
    assert listed(inbox, after=page["latest_id"])["messages"] == []


def test_receives_alerts_lib_alerts_unchanged(inbox: Child, deliver_to: Any) -> None:
    """The real library, through its real worker, to the real inbox: what Slack would get is what we show."""
    deliver_to(inbox.base_url + PATH)
    hotswap = formatters.hotswap_succeeded("my_model", "A", 9, run_id="abc", env="demo")
    assert alerts_lib.send_slack_alert(hotswap)
    assert alerts_lib.flush(10)
    newest = listed(inbox)["messages"][0]
    assert "hot-swapped to v9" in newest["text"]
    assert newest["payload"]["blocks"] == render_alert(hotswap)["blocks"]
    assert alerts_lib.stats().delivered >= 1


def test_store_is_bounded_and_ids_never_repeat() -> None:
    store = MessageStore(max_messages=3)
    for n in range(5):
        store.add("h", {"text": str(n)})
    assert [m.payload["text"] for m in store.newest_first()] == ["4", "3", "2"]
    assert store.clear() == 3
    assert store.add("h", {"text": "after clear"}).id == 6, "a poller's `after` must still see it"


@pytest.mark.parametrize(
    ("path", "label"),
    [("T1/B2/secret", "T1/B2/•••"), ("secret", "•••"), ("a/b/c/d/secret", "c/d/•••"), ("", "•••")],
)
def test_hook_label_never_contains_the_token(path: str, label: str) -> None:
    assert hook_label(path) == label


# -- forwarding to a real Slack webhook ------------------------------------------------------------


def wait_forwarded(inbox: Child, timeout: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        newest = listed(inbox)["messages"][0]
        if newest["forwarded"] != "pending":
            return newest
        time.sleep(0.05)
    raise AssertionError("forwarding never finished")


def test_forwards_accepted_posts_to_slack_forward_url(tmp_path: Path) -> None:
    with FakeSlack() as slack, running_inbox({"SLACK_FORWARD_URL": slack.url}, tmp_path / "log") as inbox:
        assert requests.get(inbox.base_url + "/healthz", timeout=5).json()["forwarding"] is True
        assert post(inbox, {"text": "invalid", "blocks": "x"}).text == "invalid_blocks"
        payload = render_alert(formatters.health_degraded(["A"], ["B"], env="demo"))
        assert post(inbox, payload).text == "ok"
        assert wait_forwarded(inbox)["forwarded"] == "ok"
        assert [r.json for r in slack.delivered] == [payload], "only the accepted post, unchanged"
        api = requests.get(inbox.base_url + "/api/messages", timeout=5).text
    assert TOKEN not in inbox.output() + api


@pytest.mark.parametrize(
    ("mode", "expected"), [("429", "failed: HTTP 429 rate_limited"), ("refused", "failed: ConnectError")]
)
def test_forwarding_failures_are_shown_without_the_url(tmp_path: Path, mode: str, expected: str) -> None:
    with FakeSlack(mode=mode if mode != "refused" else "ok") as slack:
        url = slack.url if mode != "refused" else refused_url()
        with running_inbox({"SLACK_FORWARD_URL": url}, tmp_path / "log") as inbox:
            assert post(inbox, {"text": "to a broken Slack"}).text == "ok", "the inbox's own answer is unaffected"
            assert wait_forwarded(inbox)["forwarded"] == expected
    assert TOKEN not in inbox.output()
    assert "forwarding to Slack failed" in inbox.output()


def test_a_hanging_slack_never_delays_the_inbox(tmp_path: Path) -> None:
    with (
        FakeSlack(mode="hang") as slack,
        running_inbox({"SLACK_FORWARD_URL": slack.url}, tmp_path / "log") as inbox,
    ):
        started = time.monotonic()
        for n in range(3):
            assert post(inbox, {"text": f"while Slack hangs {n}"}).text == "ok"
        assert time.monotonic() - started < 3.0, "posts must be answered without waiting for Slack"
        assert listed(inbox)["messages"][0]["forwarded"] == "pending"
