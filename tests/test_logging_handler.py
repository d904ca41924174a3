"""``alerts_lib.AlertHandler``: ERROR records become alerts, grouped by template, with no loops and no raising."""

from __future__ import annotations

import json
import logging
import logging.config
from collections.abc import Iterator

import pytest

import alerts_lib
from alerts_lib import AlertHandler
from alerts_lib.testing import CapturedAlerts, capture_alerts
from tests.support.fake_slack import FakeSlack


@pytest.fixture
def app_log() -> Iterator[logging.Logger]:
    """A real application logger with the handler attached (and nothing else), removed afterwards."""
    log = logging.getLogger("app.payments")
    handler = AlertHandler()
    log.addHandler(handler)
    log.propagate = False
    try:
        yield log
    finally:
        log.removeHandler(handler)
        log.propagate = True


@pytest.fixture
def on_root() -> Iterator[AlertHandler]:
    """The handler on the root logger at DEBUG, as an application that alerts on everything would set it up."""
    root = logging.getLogger()
    handler = AlertHandler(level=logging.DEBUG)
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_an_exception_becomes_one_alert_with_a_short_escaped_traceback(app_log: logging.Logger) -> None:
    with capture_alerts() as alerts:
        try:
            raise ValueError("<!channel> card <https://evil.example|declined>")
        except ValueError:
            app_log.exception("charge %s failed", "ch_1")
        app_log.warning("below the level: not an alert")
    [sent] = alerts
    assert sent.alert is not None
    assert sent.alert.title == "charge ch_1 failed" and sent.alert.severity is alerts_lib.Severity.ERROR
    assert sent.text == "❌ [app.payments] charge ch_1 failed · dev"
    fields = dict(sent.alert.fields)
    assert fields["logger"] == "app.payments" and fields["level"] == "ERROR"
    assert fields["where"].startswith("test_logging_handler.py:") and "in test_an_exception" in fields["where"]
    body = sent.alert.body or ""
    assert body.startswith("Traceback (most recent call last):") and "raise ValueError" in body
    assert body.endswith("ValueError: <!channel> card <https://evil.example|declined>"), "raw in the Alert"
    rendered = json.dumps(sent.payload, ensure_ascii=False)
    assert "<!channel>" not in rendered and "<https://evil" not in rendered, "escaped where it is rendered"
    assert "&lt;!channel&gt;" in rendered


def test_a_long_traceback_is_clipped_keeping_the_error_line(app_log: logging.Logger) -> None:
    def deep(n: int) -> None:
        if n == 0:
            raise RuntimeError("x" * 5000 + " the end")
        deep(n - 1)

    with capture_alerts() as alerts:
        try:
            deep(50)
        except RuntimeError:
            app_log.exception("deep failure")
    body = alerts[0].alert.body if alerts[0].alert else ""
    assert body is not None and len(body) <= 2000
    assert body.startswith("…") and body.endswith(" the end")


def test_records_with_the_same_template_share_one_dedup_key(app_log: logging.Logger) -> None:
    with capture_alerts() as alerts:
        for n in range(3):
            app_log.error("order %d could not be paid", n)
        app_log.error("another template")
    assert [a.alert.title for a in alerts if a.alert] == [
        "order 0 could not be paid",
        "order 1 could not be paid",
        "order 2 could not be paid",
        "another template",
    ]
    keys = [a.alert.dedup_key for a in alerts if a.alert]
    assert keys[0] == keys[1] == keys[2] != keys[3]


def test_a_thousand_records_with_one_template_are_storm_controlled(
    app_log: logging.Logger, slack: FakeSlack, deliver_to
) -> None:
    deliver_to(slack.url, dedup_window=60)
    for n in range(1000):
        app_log.error("payment %d declined", n)
    assert alerts_lib.flush(10)
    texts = slack.delivered_texts()
    assert len(slack.requests) <= 2, texts  # the first at once, then one summary of the rest
    assert texts[0].splitlines()[0] == "❌ [app.payments] payment 0 declined · dev"
    assert "999 more" in "\n".join(texts)
    assert alerts_lib.stats().dropped == 0


def test_our_own_and_the_http_stacks_records_are_never_alerted(on_root: AlertHandler) -> None:
    with capture_alerts() as alerts:
        for name in ("alerts_lib", "alerts_lib.worker", "httpx", "httpcore.connection", "hpack.hpack"):
            logging.getLogger(name).error("from %s", name)
        logging.getLogger("alerts_libby").error("a different library that merely shares the prefix")
    assert [a.alert.title for a in alerts if a.alert] == ["a different library that merely shares the prefix"]


def test_real_delivery_with_the_handler_on_root_at_debug_does_not_loop(
    on_root: AlertHandler, slack: FakeSlack, deliver_to
) -> None:
    # httpx logs "HTTP Request: POST …" at INFO for each post, alerts_lib logs its own retries: none may alert.
    slack.script.extend(["503"])
    deliver_to(slack.url)
    logging.getLogger("app").error("the only alert")
    assert alerts_lib.flush(10)
    assert slack.wait_for(lambda s: len(s.delivered) >= 1)
    assert alerts_lib.flush(2)
    assert slack.delivered_texts() == ["❌ [app] the only alert · dev"]
    assert len(slack.requests) == 2, "one 503, one retry, and nothing more"


def record(msg: str, *args: object) -> logging.LogRecord:
    """A record as ``app.payments`` would make it, for the handler to handle directly (pytest's own log
    capture handlers would format it too, which is not what these tests are about)."""
    return logging.getLogger("app.payments").makeRecord("app.payments", logging.ERROR, __file__, 1, msg, args, None)


class Loud:
    """An argument whose formatting logs an error on a child logger: building the alert re-enters the handler."""

    def __str__(self) -> str:
        logging.getLogger("app.payments.inner").error("logged while formatting")
        return "loud"


def test_records_logged_while_building_an_alert_are_not_alerted(app_log: logging.Logger) -> None:
    [handler] = [h for h in app_log.handlers if isinstance(h, AlertHandler)]
    with capture_alerts() as alerts:
        handler.handle(record("outer %s", Loud()))
    assert [a.alert.title for a in alerts if a.alert] == ["outer loud"]


def test_the_handler_never_raises(
    app_log: logging.Logger, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    [handler] = [h for h in app_log.handlers if isinstance(h, AlertHandler)]
    with capture_alerts() as alerts:
        handler.handle(record("%d items", "not a number"))  # msg % args fails: still an alert, with the template
    assert alerts.texts == ["❌ [app.payments] %d items (arguments not formatted: str) · dev"]

    def broken(*args: object, **kwargs: object) -> bool:
        raise RuntimeError("send failed")

    monkeypatch.setattr("alerts_lib.integrations.logging.send_slack_alert", broken)
    monkeypatch.setattr(logging, "raiseExceptions", True)
    app_log.error("still fine")  # handleError: a report on stderr, no exception in the caller
    assert "RuntimeError: send failed" in capsys.readouterr().err


def test_dictconfig_sets_it_up_with_its_options(captured_alerts: CapturedAlerts) -> None:
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {"alerts": {"class": "alerts_lib.AlertHandler", "level": "WARNING", "source": "Billing"}},
            "loggers": {"billing": {"handlers": ["alerts"], "level": "INFO", "propagate": False}},
        }
    )
    billing = logging.getLogger("billing")
    try:
        billing.info("not alerted")
        billing.warning("quota at %d%%", 93)
        billing.critical("ledger out of balance")
    finally:
        for handler in list(billing.handlers):
            billing.removeHandler(handler)
        billing.propagate = True
    assert captured_alerts.texts == ["⚠️ [Billing] quota at 93% · dev", "🔥 [Billing] ledger out of balance · dev"]
