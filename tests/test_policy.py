"""The decision core, table-driven, and HTTP-level classification through respx."""

from __future__ import annotations

import random

import httpx
import pytest
import respx

import alerts_lib
from alerts_lib._policy import Outcome, RetryPolicy, Verdict, parse_retry_after
from alerts_lib.destinations.slack import classify_response
from tests.support.fake_slack import PATH, SLACK_ANSWERS

URL = f"https://hooks.slack.com{PATH}"


@pytest.mark.parametrize(("mode", "answer"), SLACK_ANSWERS.items())
def test_slack_answers_are_classified(mode: str, answer: tuple[int, str]) -> None:
    status, body = answer
    verdict = classify_response(status, body).verdict
    if status == 200:
        assert verdict is Verdict.DELIVERED
    elif status == 429 or status >= 500:
        assert verdict is Verdict.RETRY
    else:
        assert verdict is Verdict.PERMANENT


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("7", 7.0), ("0.5", 0.5), ("-3", 0.0), ("", None), (None, None), ("soon", None)],
)
def test_retry_after_seconds(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value) == seconds


def test_retry_after_http_date() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == pytest.approx(10.0)


def test_backoff_grows_with_jitter_within_bounds_and_is_capped() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_max=5.0)
    failure = Outcome(Verdict.RETRY, "500")
    rng = random.Random(1)
    for n, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (500, 5.0)]:
        delays = [policy.delay(n, failure, rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)  # type: ignore[operator]
    assert policy.delay(1, Outcome(Verdict.PERMANENT, "404")) is None


def test_defaults_deliver_within_a_minute_after_a_30_minute_outage() -> None:
    """The arithmetic of the defaults: retries never stop before ALERTS_GIVE_UP_AFTER (1 h), and no wait is
    longer than ALERTS_BACKOFF_MAX (30 s), so an alert raised when a 30-minute outage starts is retried at
    most 30 s after the destination is back, plus one deadline-bound attempt."""
    settings = alerts_lib.Settings()
    policy = RetryPolicy(settings.give_up_after, settings.backoff_base, settings.backoff_max, settings.max_retry_after)
    failure = Outcome(Verdict.RETRY, "503")
    rng = random.Random(7)
    elapsed, failures, outage = 0.0, 0, 30 * 60
    while elapsed < outage:
        assert not policy.expired(elapsed), "given up during the outage"
        failures += 1
        wait = policy.delay(failures, failure, rng)
        assert wait is not None and wait <= settings.backoff_max
        elapsed += wait + settings.deadline * 0  # a 503 answers at once
    assert elapsed - outage <= settings.backoff_max < 60
    assert policy.expired(settings.give_up_after) and not policy.expired(settings.give_up_after - 1)


def test_retry_after_wins_over_backoff_and_is_capped() -> None:
    policy = RetryPolicy(backoff_base=0.1, max_retry_after=60)
    assert 30 <= policy.delay(1, Outcome(Verdict.RETRY, "429", retry_after=30)) <= 33  # type: ignore[operator]
    assert 60 <= policy.delay(1, Outcome(Verdict.RETRY, "429", retry_after=3600)) <= 66  # type: ignore[operator]


def _deliver(**overrides: object) -> alerts_lib.Stats:
    alerts_lib.configure(
        webhook_url=URL, min_interval=0, dedup_window=0, backoff_base=0.01, backoff_max=0.02, **overrides
    )
    alerts_lib.send_slack_alert("hi")
    assert alerts_lib.flush(5)
    return alerts_lib.stats()


@respx.mock
def test_respx_retries_5xx_then_delivers() -> None:
    route = respx.post(URL).mock(
        side_effect=[
            httpx.Response(500, text="rollup_error"),
            httpx.Response(502),
            httpx.Response(200, text="ok"),
        ]
    )
    stats = _deliver()
    assert route.call_count == 3 and stats.delivered == 1 and stats.retries == 2


@respx.mock
@pytest.mark.parametrize(
    "error", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("reset")]
)
def test_respx_network_errors_are_retried(error: Exception) -> None:
    route = respx.post(URL).mock(side_effect=[error, httpx.Response(200, text="ok")])
    stats = _deliver()
    assert route.call_count == 2 and stats.delivered == 1


@respx.mock
def test_respx_404_is_permanent_and_reported_in_words() -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(404, text="channel_not_found"))
    stats = _deliver()
    assert route.call_count == 1 and stats.failed == 1
    assert stats.last_error == (
        "HTTP 404 channel_not_found: the webhook's channel was deleted or the app lost access to it"
    )


@respx.mock
def test_respx_give_up_age_is_respected() -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(503))
    stats = _deliver(give_up_after=0.3)
    assert route.call_count >= 3 and stats.failed == 1 and stats.retries == route.call_count - 1


@respx.mock
def test_respx_posts_json_with_unfurling_off() -> None:
    route = respx.post(URL).mock(return_value=httpx.Response(200, text="ok"))
    _deliver()
    sent = route.calls[0].request
    assert sent.headers["content-type"].startswith("application/json")
    assert b'"unfurl_links": false' in sent.content and b'"unfurl_media": false' in sent.content
