"""Nothing lost: an outage longer than any fixed retry count is ridden out, and delivered once after."""

from __future__ import annotations

import time

import alerts_lib
from alerts_lib import formatters
from tests.support.fake_slack import FakeSlack


def test_a_503_outage_longer_than_the_old_retry_budget_is_delivered_once_after_recovery(deliver_to) -> None:
    # The old budget was 5 retries; with these settings that is ~1 s of backoff. The outage lasts 4 s.
    with FakeSlack(mode="503") as slack:
        deliver_to(slack.url, backoff_base=0.1, backoff_max=0.4, give_up_after=60)
        alerts_lib.send_slack_alert(formatters.hotswap_failed("m", "A", ValueError("boom"), version=3))
        assert slack.wait_for(lambda s: len(s.requests) >= 8, 10)  # far more tries than 5 retries
        time.sleep(max(0.0, 4 - (time.monotonic() - slack.requests[0].at)))
        slack.mode = "ok"
        assert alerts_lib.flush(5)
        delivered = slack.delivered_texts()
        assert len(delivered) == 1 and "hot-swap of m@A to v3 failed" in delivered[0]
        stats = alerts_lib.stats()
        assert (stats.delivered, stats.failed) == (1, 0) and stats.retries >= 8


def test_an_alert_that_waited_says_so(deliver_to, monkeypatch) -> None:
    monkeypatch.setattr("alerts_lib._worker.DELAY_NOTE_AFTER", 1.0)
    with FakeSlack(mode="503") as slack:
        deliver_to(slack.url, backoff_base=0.2, backoff_max=0.3)
        alerts_lib.send_slack_alert("raised during the outage")
        time.sleep(1.5)
        slack.mode = "ok"
        assert alerts_lib.flush(5)
        (text,) = slack.delivered_texts()
        assert text.startswith("raised during the outage\n_⏱ delayed: raised ") and " s ago on " in text
