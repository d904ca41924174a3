"""alerts_lib.metrics: Prometheus metrics and the health summary over stats(), per destination."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

import alerts_lib
from alerts_lib import Stats, metrics
from tests.support.fake_slack import TOKEN, FakeSlack


def scrape(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in registry.collect()
        for sample in family.samples
    }


def test_per_destination_counters_and_the_queue_gauge() -> None:
    oncall = Stats(delivered=5, posts=4, retries=2, failed=1, suppressed=3, queued=7)
    team = Stats(delivered=1, posts=1, dropped=9)
    totals = Stats(delivered=6, posts=5, destinations={"oncall": oncall, "team": team})
    registry = CollectorRegistry()
    registry.register(metrics.AlertsCollector(stats=lambda: totals))  # these stats, not the worker's
    samples = scrape(registry)
    assert samples[("alerts_lib_alerts_total", (("destination", "oncall"), ("outcome", "delivered")))] == 5
    assert samples[("alerts_lib_alerts_total", (("destination", "oncall"), ("outcome", "suppressed")))] == 3
    assert samples[("alerts_lib_alerts_total", (("destination", "team"), ("outcome", "dropped")))] == 9
    assert samples[("alerts_lib_posts_total", (("destination", "oncall"),))] == 4
    assert samples[("alerts_lib_retries_total", (("destination", "oncall"),))] == 2
    assert samples[("alerts_lib_queue_depth", (("destination", "oncall"),))] == 7
    assert not any(labels and dict(labels).get("destination") == "default" for _, labels in samples)


def test_without_destinations_the_totals_are_default() -> None:
    registry = CollectorRegistry()
    registry.register(metrics.AlertsCollector(stats=lambda: Stats(delivered=2, failed=1, last_error="HTTP 403 x")))
    text = generate_latest(registry).decode()
    assert 'alerts_lib_alerts_total{destination="default",outcome="delivered"} 2.0' in text
    assert 'alerts_lib_alerts_total{destination="default",outcome="failed"} 1.0' in text
    assert "# TYPE alerts_lib_queue_depth gauge" in text and "# TYPE alerts_lib_alerts_total counter" in text
    assert "HTTP 403" not in text  # text is never a label value


def test_registering_twice_is_one_collector() -> None:
    registry = CollectorRegistry()
    assert metrics.register_metrics(registry) is metrics.register_metrics(registry)
    body, content_type = metrics.exposition(registry)
    assert content_type.startswith("text/plain") and body.count(b"# TYPE alerts_lib_posts_total counter") == 1


def test_real_delivery_is_counted(slack: FakeSlack, deliver_to: Any) -> None:
    deliver_to(slack.url)
    alerts_lib.send_slack_alert("one")
    alerts_lib.send_slack_alert("two")
    assert alerts_lib.flush(5)
    registry = CollectorRegistry()
    metrics.register_metrics(registry)
    samples = scrape(registry)
    assert samples[("alerts_lib_alerts_total", (("destination", "default"), ("outcome", "delivered")))] == 2
    assert metrics.summary()["default"]["delivered"] == 2


def test_the_summary_says_why_slack_refuses_without_any_url(deliver_to: Any) -> None:
    with FakeSlack(mode="invalid_token") as slack:
        deliver_to(slack.url)
        alerts_lib.send_slack_alert("refused")
        assert alerts_lib.flush(5)
    short = metrics.summary()
    assert set(short) == {"default"}
    assert (short["default"]["delivered"], short["default"]["failed"]) == (0, 1)
    assert "invalid_token" in short["default"]["last_error"]
    assert set(short["default"]) == {"delivered", "failed", "dropped", "queued", "last_error"}
    assert "://" not in str(short) and TOKEN not in str(short)
    assert set(metrics.summary(full=True)["default"]) >= {"posts", "retries", "suppressed"}


def test_clean_error_keeps_hosts_and_drops_urls() -> None:
    dirty = f"could not reach https://hooks.slack.com/services/T0/B0/{TOKEN}?x=1 (timeout)\nsecond line " + "x" * 500
    clean = metrics.clean_error(dirty)
    assert clean is not None and clean.startswith("could not reach <hooks.slack.com> (timeout) second line")
    assert TOKEN not in clean and "://" not in clean and "\n" not in clean
    assert len(clean) == metrics.LAST_ERROR_MAX and clean.endswith("…")
    assert metrics.clean_error(None) is None
