"""The inbox page in a real headless Chromium: alerts appear live, rendered like Slack, and untrusted
text stays text (no markup, no script) whatever an alert carries."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from alerts_lib import formatters
from demo import browser
from demo.procs import Child, running_inbox
from tests.support.ci import unavailable
from tests.support.fake_slack import PATH

pytestmark = pytest.mark.browser
WAIT = 20  # seconds; generous for a shared, noisy machine


@pytest.fixture(scope="module")
def chrome() -> Iterator[Any]:
    reason = browser.missing()
    if reason:
        unavailable("browser tests", reason)
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
    post(inbox, alert.payload())
    [message] = wait_messages(driver, 1)

    headline = message.find_element(By.CSS_SELECTOR, ".section-text b")  # *bold* mrkdwn
    assert headline.text == "🔁 [FastAPI] model @A hot-swapped to v9 (run_id=abc) · demo"
    fields = [f.text for f in message.find_elements(By.CSS_SELECTOR, ".fields .field")]
    assert "model\nmy_model" in fields and "version\nv9" in fields
    assert message.find_element(By.CSS_SELECTOR, ".fields .field b").text == "model"
    context = message.find_element(By.CSS_SELECTOR, ".context").text
    assert "source: FastAPI" in context and "env: demo" in context
    assert not driver.find_element(By.ID, "empty").is_displayed()

    # Newest first, and the summary follows.
    post(inbox, formatters.health_degraded(["A"], ["B"], env="demo").payload())
    first, second = wait_messages(driver, 2)
    assert "degraded (loaded=['A'], missing=['B'])" in first.text
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
    escaped = formatters.prediction_error(RuntimeError(raw), model="m", alias="<b>A</b>", request_id=raw).payload()
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
