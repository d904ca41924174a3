"""The inbox page in a real headless Chromium: alerts appear live, rendered like Slack, and untrusted
text stays text (no markup, no script) whatever an alert carries."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from alerts_lib import formatters
from alerts_lib.destinations.slack import render_alert
from alerts_lib.destinations.teams import TeamsDestination
from demo import browser
from demo.procs import Child, running_inbox
from tests.support.chrome import require_chromium
from tests.support.fake_slack import PATH

pytestmark = pytest.mark.browser
WAIT = 20  # seconds; generous for a shared, noisy machine


@pytest.fixture(scope="module")
def chrome() -> Iterator[Any]:
    require_chromium()
    with browser.headless_chrome() as driver:
        yield driver


@pytest.fixture
def page(chrome: Any) -> Iterator[tuple[Any, Child]]:
    """A fresh inbox, opened in the browser before anything is posted (so updates must arrive live)."""
    with running_inbox() as inbox:
        chrome.get(inbox.base_url + "/")
        WebDriverWait(chrome, WAIT).until(lambda d: d.find_element(By.ID, "status").text == "live")
        yield chrome, inbox


def post(inbox: Child, payload: dict[str, Any]) -> None:
    response = requests.post(inbox.base_url + PATH, json=payload, timeout=5)
    assert response.text == "ok"


def wait_messages(driver: Any, count: int) -> list[Any]:
    WebDriverWait(driver, WAIT).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "article.msg")) >= count)
    return list(driver.find_elements(By.CSS_SELECTOR, "article.msg"))


def test_a_posted_alert_appears_live_rendered_like_slack(page: tuple[Any, Child]) -> None:
    driver, inbox = page
    assert driver.find_element(By.ID, "empty").is_displayed()
    alert = formatters.hotswap_succeeded("my_model", "A", 9, run_id="abc", previous_version=8, env="demo")
    post(inbox, render_alert(alert))
    [message] = wait_messages(driver, 1)

    headline = message.find_element(By.CSS_SELECTOR, ".section-text b")  # *bold* mrkdwn
    assert headline.text == "🔁 [FastAPI] my_model@A hot-swapped to v9 (run_id=abc) · demo"
    fields = [f.text for f in message.find_elements(By.CSS_SELECTOR, ".fields .field")]
    assert "model\nmy_model" in fields and "version\nv9" in fields
    assert message.find_element(By.CSS_SELECTOR, ".fields .field b").text == "model"
    context = message.find_element(By.CSS_SELECTOR, ".context").text
    assert "source: FastAPI" in context and "env: demo" in context
    assert not driver.find_element(By.ID, "empty").is_displayed()

    # Newest first, and the summary follows.
    post(inbox, render_alert(formatters.health_degraded(["A"], ["B"], model="my_model", env="demo")))
    first, second = wait_messages(driver, 2)
    assert "degraded: my_model@B missing (loaded: my_model@A)" in first.text
    assert "hot-swapped" in second.text
    assert driver.find_element(By.ID, "summary").text == "2 messages"


def test_mrkdwn_formatting_links_emoji_and_entities(page: tuple[Any, Child]) -> None:
    driver, inbox = page
    text = (
        "*bold* _italic_ ~struck~ `code` <https://example.com/runs?a=1&amp;b=2|the run> :rocket: "
        "&lt;not a tag&gt; &amp;lt; <!here> <@U123>\n```\nx = a &lt; b\n```\nafter"
    )
    post(inbox, {"text": text})
    [message] = wait_messages(driver, 1)
    content = message.find_element(By.CSS_SELECTOR, ".content")
    assert content.find_element(By.TAG_NAME, "b").text == "bold"
    assert content.find_element(By.TAG_NAME, "i").text == "italic"
    assert content.find_element(By.TAG_NAME, "s").text == "struck"
    assert content.find_element(By.TAG_NAME, "code").text == "code"
    link = content.find_element(By.TAG_NAME, "a")
    assert (link.text, link.get_attribute("href")) == ("the run", "https://example.com/runs?a=1&b=2")
    assert link.get_attribute("rel") == "noopener noreferrer nofollow"
    assert "🚀" in content.text
    assert "<not a tag>" in content.text, "&lt; and &gt; show as < and >"
    assert "&lt;" in content.text, "&amp;lt; shows as the literal &lt; the sender escaped"
    assert [m.text for m in content.find_elements(By.CSS_SELECTOR, ".mention")] == ["@here", "@U123"]
    assert content.find_element(By.CSS_SELECTOR, "pre.code-block").text == "x = a < b"


def test_header_divider_context_and_attachment_blocks(page: tuple[Any, Child]) -> None:
    driver, inbox = page
    post(
        inbox,
        {
            "text": "fallback only",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "Deploy :tada:"}},
                {"type": "divider"},
                {"type": "context", "elements": [{"type": "plain_text", "text": "plain *not bold*"}]},
            ],
            "attachments": [{"color": "danger", "title": "Legacy", "text": "attached _text_"}],
        },
    )
    [message] = wait_messages(driver, 1)
    assert message.find_element(By.CSS_SELECTOR, ".header").text == "Deploy 🎉"
    assert message.find_elements(By.CSS_SELECTOR, "hr.divider")
    context = message.find_element(By.CSS_SELECTOR, ".context")
    assert context.text == "plain *not bold*" and not context.find_elements(By.TAG_NAME, "b")
    assert "fallback only" not in message.find_element(By.CSS_SELECTOR, ".content").text, (
        "with blocks, Slack shows the blocks; text is only the notification"
    )
    attachment = message.find_element(By.CSS_SELECTOR, ".attachment")
    assert attachment.find_element(By.TAG_NAME, "i").text == "text"


HOSTILE = [
    '<img src=x onerror="window.__pwned=1">',
    "<script>window.__pwned=2</script>",
    "<javascript:window.__pwned=3|click me>",
    '<svg onload="window.__pwned=4">',
    "</div><iframe src=javascript:window.__pwned=5>",
]


def test_untrusted_text_is_shown_as_text_and_runs_nothing(page: tuple[Any, Child]) -> None:
    driver, inbox = page
    raw = " ".join(HOSTILE)
    post(inbox, {"text": raw})  # unescaped, as a careless sender would post it
    escaped = render_alert(formatters.prediction_error(RuntimeError(raw), model="m", alias="<b>A</b>", request_id=raw))
    post(inbox, escaped)  # escaped by alerts_lib, as our services post it
    post(inbox, {"blocks": [{"type": "header", "text": {"type": "plain_text", "text": HOSTILE[0]}}]})
    messages = wait_messages(driver, 3)

    for message in messages:
        content = message.find_element(By.CSS_SELECTOR, ".content")
        for tag in ("img", "script", "svg", "iframe"):
            assert not content.find_elements(By.TAG_NAME, tag), f"an alert injected a <{tag}> element"
        for anchor in content.find_elements(By.TAG_NAME, "a"):
            assert anchor.get_attribute("href").startswith(("http://", "https://")), "non-http link rendered"
    header, escaped_msg, raw_msg = messages
    assert header.find_element(By.CSS_SELECTOR, ".header").text == HOSTILE[0]
    assert "<script>window.__pwned=2</script>" in raw_msg.text
    assert "<img src=x onerror=" in escaped_msg.text and "<b>A</b>" in escaped_msg.text
    assert driver.execute_script("return window.__pwned === undefined")
    with pytest.raises(NoAlertPresentException):
        _ = driver.switch_to.alert.text


TEAMS_PATH = "/workflows/0123456789abcdef/triggers/manual/paths/invoke?api-version=1&sig=BROWSERsig"


def post_teams(inbox: Child, message: dict[str, Any]) -> None:
    response = requests.post(inbox.base_url + TEAMS_PATH, json=message, timeout=5)
    assert response.status_code == 202, response.text


def test_a_teams_card_appears_rendered_like_teams(page: tuple[Any, Child]) -> None:
    driver, inbox = page
    teams = TeamsDestination("ml", inbox.base_url + TEAMS_PATH, mention="On call <oncall@contoso.com>")
    alert = formatters.airflow_event(
        "etl",
        task_id="load",
        run_id="r1",
        exception=RuntimeError("boom\nline 2"),
        log_url="http://af:8080/x",
        env="demo",
    )
    post_teams(inbox, teams.render(alert, now=time.time()))
    [message] = wait_messages(driver, 1)
    assert message.find_element(By.CSS_SELECTOR, ".badge.teams").text == "TEAMS"
    assert message.find_element(By.CSS_SELECTOR, ".ac-container.ac-style-attention")
    title = message.find_element(By.CSS_SELECTOR, ".ac-rich .ac-bold")
    assert title.text == "🔥 [Airflow] task failed: etl.load: RuntimeError: boom · demo"
    rows = [r.text for r in message.find_elements(By.CSS_SELECTOR, ".ac-columns")]
    assert "dag\netl" in rows or "dag etl" in rows, rows
    assert message.find_element(By.CSS_SELECTOR, ".ac-mono").text == "boom\nline 2"
    link = message.find_element(By.CSS_SELECTOR, "a.ac-action")
    assert (link.text, link.get_attribute("href")) == ("View log", "http://af:8080/x")
    assert [m.text for m in message.find_elements(By.CSS_SELECTOR, ".mention")] == ["@On call"]
    assert "BROWSERsig" not in message.text


def test_untrusted_teams_card_text_stays_text_and_runs_nothing(page: tuple[Any, Child]) -> None:
    driver, inbox = page
    raw = " ".join(HOSTILE)
    careless = {  # a sender that puts untrusted text anywhere, as a careless one would
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "content": {
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {"type": "TextBlock", "text": raw + " <at>Boss</at> <at>On call</at>"},
                        {"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": "<at>On call</at> " + raw}]},
                        {"type": "FactSet", "facts": [{"title": HOSTILE[1], "value": "[link](javascript:alert(1))"}]},
                        {"type": "Container", "style": "x onload=alert(1)", "items": [{"type": "Image", "url": "x"}]},
                    ],
                    "actions": [{"type": "Action.OpenUrl", "title": "open", "url": "javascript:window.__pwned=9"}],
                    "msteams": {
                        "entities": [{"type": "mention", "text": "<at>On call</at>", "mentioned": {"id": "x"}}]
                    },
                },
            }
        ],
    }
    post_teams(inbox, careless)
    ours = TeamsDestination("ml", inbox.base_url + TEAMS_PATH, mention="On call <oncall@contoso.com>")
    post_teams(
        inbox, ours.render(formatters.prediction_error(RuntimeError("<at>On call</at> " + raw)), now=time.time())
    )
    ours_msg, careless_msg = wait_messages(driver, 2)

    for message in (ours_msg, careless_msg):
        content = message.find_element(By.CSS_SELECTOR, ".content")
        for tag in ("img", "script", "svg", "iframe"):
            assert not content.find_elements(By.TAG_NAME, tag), f"a card injected a <{tag}> element"
        for anchor in content.find_elements(By.TAG_NAME, "a"):
            assert anchor.get_attribute("href").startswith(("http://", "https://")), "non-http link rendered"
    # A mention needs an entity, and only markdown text (a TextBlock) can carry one: never a TextRun.
    assert [m.text for m in careless_msg.find_elements(By.CSS_SELECTOR, ".mention")] == ["@On call"]
    assert "<at>Boss</at>" in careless_msg.text and "<at>On call</at> <img" in careless_msg.text, careless_msg.text
    assert (
        "[link](javascript:alert(1))" in careless_msg.text and "<script>window.__pwned=2</script>" in careless_msg.text
    )
    assert [m.text for m in ours_msg.find_elements(By.CSS_SELECTOR, ".mention")] == ["@On call"], "the configured one"
    assert "On call" in ours_msg.find_element(By.CSS_SELECTOR, ".ac-rich .ac-bold").text
    assert driver.execute_script("return window.__pwned === undefined")
    with pytest.raises(NoAlertPresentException):
        _ = driver.switch_to.alert.text


def test_the_readme_teams_screenshot_can_be_regenerated(chrome: Any, tmp_path: Path) -> None:
    from demo import teams_screenshot

    out = tmp_path / "inbox-teams.png"
    teams_screenshot.take(out, height=600)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
