"""The inbox as a Teams Workflows endpoint: it takes what TeamsDestination posts (202, like Power Automate),
refuses the shapes Teams would not show, keeps the card, and never sees or shows the sig."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from alerts_lib import formatters
from alerts_lib._policy import Verdict
from alerts_lib.destinations.teams import TeamsDestination
from demo.procs import Child, running_inbox

SIG = "inboxSIGsecret123"
FLOW = "workflows/0123456789abcdef0123456789abcdef/triggers/manual/paths/invoke"


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Child]:
    log: Path = tmp_path_factory.mktemp("inbox") / "inbox.log"
    with running_inbox(log_path=log) as child:
        yield child
    assert SIG not in child.output(), "the sig leaked into the inbox's output"


def teams_url(inbox: Child, prefix: str = "") -> str:
    return f"{inbox.base_url}/{prefix}{FLOW}?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={SIG}"


def newest(inbox: Child) -> dict[str, Any]:
    answer = httpx.get(inbox.base_url + "/api/messages", timeout=5)
    message: dict[str, Any] = answer.json()["messages"][0]
    return message


@pytest.mark.parametrize("prefix", ["", "powerautomate/automations/direct/"])
def test_accepts_what_teams_destination_posts_with_202(inbox: Child, prefix: str) -> None:
    teams = TeamsDestination("ml", teams_url(inbox, prefix))
    render = teams.render(formatters.hotswap_failed("m", "A", ValueError("bad"), env="demo"), now=time.time())
    answer = httpx.post(teams.post_url(teams.urls[0]), json=render, timeout=5)
    assert (answer.status_code, answer.text) == (202, "")
    assert teams.classify(answer.status_code, answer.text, answer.headers).verdict is Verdict.DELIVERED
    message = newest(inbox)
    assert message["kind"] == "teams" and message["payload"] == render
    assert message["hook"].endswith("/012345…/triggers/manual/paths/invoke") and SIG not in json.dumps(message)


def card(version: str = "1.4", **extra: Any) -> dict[str, Any]:
    content = {"type": "AdaptiveCard", "version": version, "body": [{"type": "TextBlock", "text": "hi"}], **extra}
    return {
        "type": "message",
        "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": content}],
    }


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"not json", 400, "InvalidRequestContent"),
        ({"text": "a Slack payload"}, 400, "InvalidRequestContent"),
        ({"type": "message", "attachments": []}, 400, "InvalidRequestContent"),
        (
            {"type": "message", "attachments": [{"contentType": "text/plain", "content": {}}]},
            400,
            "InvalidRequestContent",
        ),
        (card(version="1.5"), 400, "CardVersionUnsupported"),
        (card(version="x"), 400, "CardVersionUnsupported"),
        (card(body="not a list"), 400, "InvalidRequestContent"),
        (card(fallbackText="x" * 30_000), 413, "MessageTooLarge"),
        (b"x" * 2_000_000, 413, "MessageTooLarge"),
    ],
)
def test_refuses_what_teams_would_not_show(inbox: Child, body: Any, status: int, code: str) -> None:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = httpx.post(teams_url(inbox), content=data, headers={"content-type": "application/json"}, timeout=10)
    assert answer.status_code == status and answer.json()["error"]["code"] == code


def test_older_card_versions_are_accepted(inbox: Child) -> None:
    answer = httpx.post(teams_url(inbox), json=card(version="1.2"), timeout=5)
    assert answer.status_code == 202 and newest(inbox)["kind"] == "teams"


def test_slack_posts_still_land_as_slack(inbox: Child) -> None:
    answer = httpx.post(inbox.base_url + "/services/T0/B0/x", json={"text": "slack"}, timeout=5)
    assert answer.text == "ok" and newest(inbox)["kind"] == "slack"
