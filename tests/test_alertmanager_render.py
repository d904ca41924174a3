"""AlertmanagerDestination without a server: labels, annotations, times, the firing table and its re-sends,
batches, verdicts, URL checks and masking. The real Alertmanager's side is in test_alertmanager.py."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

import httpx
import pytest

from alerts_lib import formatters
from alerts_lib._policy import Verdict
from alerts_lib.destinations.alertmanager import (
    MAX_BATCH_ALERTS,
    AlertmanagerDestination,
    alertmanager_url_problem,
    generator_uri,
    label_name,
)
from tests.support.fake_slack import FakeSlack

NOW = 1_790_000_000.0


def at(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


@pytest.fixture
def am() -> AlertmanagerDestination:
    return AlertmanagerDestination(
        "am", ["http://am-0:9093/", "http://am-1:9093"], resolve_period=300, resend_interval=60
    )


def only(render: dict[str, Any]) -> dict[str, Any]:
    [alert] = render["alerts"]
    return dict(alert)


def test_labels_are_name_severity_source_env_and_identity(am: AlertmanagerDestination) -> None:
    alert = only(am.render(formatters.hotswap_failed("m", "A", ValueError("x"), env="prod"), now=NOW))
    assert alert["labels"] == {
        "alertname": "ModelHotswapFailed",
        "severity": "error",
        "source": "FastAPI",
        "env": "prod",
        "model": "m",
        "alias": "@A",
    }
    assert only(am.render(formatters.alert("t"), now=NOW))["labels"] == {"alertname": "Alert", "severity": "info"}


@pytest.mark.parametrize(
    ("raw", "name"),
    [("dag_id", "dag_id"), ("dag-id", "dag_id"), ("1st", "_1st"), ("a b.c", "a_b_c"), ("ü", None), ("", None)],
)
def test_label_names_are_sanitised(raw: str, name: str | None) -> None:
    assert label_name(raw) == name


def test_identity_labels_never_override_ours_and_values_are_clipped(am: AlertmanagerDestination) -> None:
    labels = {"severity": "fake", "alertname": "X", "v": "x" * 1000, "empty": "", "ok": "1"}
    alert = only(am.render(formatters.alert("t", severity="critical", name="N", labels=labels), now=NOW))
    assert alert["labels"]["severity"] == "critical" and alert["labels"]["exported_severity"] == "fake"
    assert alert["labels"]["alertname"] == "N" and alert["labels"]["exported_alertname"] == "X"
    assert len(alert["labels"]["v"]) == 200 and alert["labels"]["v"].endswith("…(truncated)")
    assert "empty" not in alert["labels"]


def test_annotations_arrive_escaped_for_slack_mrkdwn(am: AlertmanagerDestination) -> None:
    hostile = "<!channel> <@U1> <http://evil|click> & co"
    alert = formatters.airflow_event(
        "etl", task_id="load", exception=RuntimeError(hostile + "\n" + "y" * 1_000_000), log_url="https://af/x?a=1&b=2"
    )
    notes = only(am.render(alert.with_env("prod"), now=NOW))["annotations"]
    escaped = "&lt;!channel&gt; &lt;@U1&gt; &lt;http://evil|click&gt; &amp; co"
    assert notes["summary"] == f"🔥 [Airflow] task failed: etl.load: RuntimeError: {escaped} · prod"
    assert notes["description"].startswith("*dag:* etl\n*task:* load\n*exception:* RuntimeError\n```\n" + escaped)
    assert len(notes["description"]) <= 3000 and "…(truncated)" in notes["description"]
    assert notes["link"] == "<https://af/x?a=1&amp;b=2|View log>" and notes["link_url"] == "https://af/x?a=1&b=2"
    for text in notes.values():
        assert "<!" not in text and "<@" not in text
    no_link = only(am.render(formatters.alert("t", link=("javascript:alert(1)", "x")), now=NOW))
    assert "link" not in no_link["annotations"] and "generatorURL" not in no_link


def test_an_event_ends_after_the_resolve_period(am: AlertmanagerDestination) -> None:
    alert = only(am.render(formatters.alert("disk full", link=("https://grafana/d/1", "dash")), now=NOW))
    assert alert["startsAt"] == "2026-09-21T14:13:20.000Z"
    assert at(alert["endsAt"]) - at(alert["startsAt"]) == 300
    assert alert["generatorURL"] == "https://grafana/d/1"
    assert am.resends(NOW + 3600) == [], "events are not re-sent"


def test_a_firing_alert_is_resent_until_resolved_with_its_own_label_set(am: AlertmanagerDestination) -> None:
    fired = only(am.render(formatters.health_degraded(["A"], ["B"], env="prod"), now=NOW))
    assert fired["labels"]["severity"] == "warning"
    assert at(fired["endsAt"]) == NOW + 4 * 60, "a few re-send intervals ahead"
    assert am.resends(NOW + 59) == []
    [again] = am.resends(NOW + 61)
    assert only(again)["labels"] == fired["labels"] and only(again)["startsAt"] == fired["startsAt"]
    assert at(only(again)["endsAt"]) == NOW + 61 + 240
    assert am.resends(NOW + 62) == [], "not due again until another interval passed"

    # Degraded again with another reason: the same alert, still firing since the first time.
    refired = only(am.render(formatters.health_degraded(["A"], ["B", "C"], env="prod"), now=NOW + 100))
    assert refired["startsAt"] == fired["startsAt"] and "C" in refired["annotations"]["summary"]

    resolved = only(am.render(formatters.health_recovered(["A", "B"], env="prod"), now=NOW + 200))
    assert resolved["labels"] == fired["labels"], "severity stays the firing one, not 'success'"
    assert at(resolved["endsAt"]) == NOW + 200 and resolved["startsAt"] == fired["startsAt"]
    assert resolved["annotations"]["summary"].startswith("✅ [FastAPI] recovered")
    assert am.resends(NOW + 10_000) == [], "a resolved alert leaves the table"


def test_a_resolve_without_its_firing_closes_every_severity_it_could_have_had(am: AlertmanagerDestination) -> None:
    render = am.render(formatters.health_recovered(["A"]), now=NOW)
    assert sorted(a["labels"]["severity"] for a in render["alerts"]) == ["critical", "error", "info", "warning"]
    assert all(a["startsAt"] == a["endsAt"] for a in render["alerts"])


def test_a_severity_change_while_firing_ends_the_old_label_set(am: AlertmanagerDestination) -> None:
    warn = formatters.alert("cpu", severity="warning", name="Cpu", labels={"host": "h"}, state="firing")
    crit = formatters.alert("cpu", severity="critical", name="Cpu", labels={"host": "h"}, state="firing")
    am.render(warn, now=NOW)
    old, new = am.render(crit, now=NOW + 10)["alerts"]
    assert (old["labels"]["severity"], at(old["endsAt"])) == ("warning", NOW + 10)
    assert new["labels"]["severity"] == "critical" and at(new["endsAt"]) > NOW + 10
    assert [only(r)["labels"]["severity"] for r in am.resends(NOW + 100)] == ["critical"]


def test_plain_text_is_its_own_alert(am: AlertmanagerDestination) -> None:
    one = only(am.render_text("*deploy* done\nall green", now=NOW))
    assert one["labels"]["alertname"] == "Message" and len(one["labels"]["message_id"]) == 12
    assert one["annotations"] == {"summary": "*deploy* done", "description": "all green"}
    assert only(am.render_text("*deploy* done\nall green", now=NOW + 5))["labels"] == one["labels"]
    assert only(am.render_text("other", now=NOW))["labels"] != one["labels"]


def test_annotate_adds_a_note_to_a_copy(am: AlertmanagerDestination) -> None:
    render = am.render(formatters.alert("t", fields={"a": "1"}), now=NOW)
    noted = am.annotate(render, "alerts_lib dropped 3 alert(s) <!here>")
    assert only(noted)["annotations"]["description"] == "*a:* 1\n_alerts_lib dropped 3 alert(s) &lt;!here&gt;_"
    assert only(render)["annotations"]["description"] == "*a:* 1"


def test_batches_are_one_array_bounded_in_count_and_size(am: AlertmanagerDestination) -> None:
    renders = [am.render(formatters.alert(f"a{i}", name=f"A{i}"), now=NOW) for i in range(MAX_BATCH_ALERTS + 20)]
    batch = am.batch(renders)
    assert batch.count == MAX_BATCH_ALERTS and len(batch.body) == MAX_BATCH_ALERTS
    assert [a["labels"]["alertname"] for a in batch.body[:2]] == ["A0", "A1"]
    big = [am.render(formatters.alert("b", name=f"B{i}", body="x" * 3000), now=NOW) for i in range(300)]
    sized = am.batch(big)
    assert sized.count < 300 and len(json.dumps(sized.body)) <= 512 * 1024
    assert am.batch(renders[:1]).count == 1


@pytest.mark.parametrize(
    ("status", "body", "verdict", "words"),
    [
        (200, "", Verdict.DELIVERED, "ok"),
        (400, '"invalid label set: invalid name \\"bad-name\\""', Verdict.PERMANENT, 'invalid name "bad-name"'),
        (400, '"start time must be before end time"', Verdict.PERMANENT, "kept the valid ones"),
        (422, '{"code":601,"message":"0.generatorURL in body must be of type uri"}', Verdict.PERMANENT, "type uri"),
        (404, "404 page not found", Verdict.PERMANENT, "base URL"),
        (401, "", Verdict.PERMANENT, "credentials"),
        (429, "", Verdict.RETRY, "HTTP 429"),
        (500, "", Verdict.RETRY, "HTTP 500"),
        (503, "", Verdict.RETRY, "HTTP 503"),
    ],
)
def test_answers_are_classified_in_words(
    am: AlertmanagerDestination, status: int, body: str, verdict: Verdict, words: str
) -> None:
    outcome = am.classify(status, body, {"Retry-After": "2"})
    assert outcome.verdict is verdict and words in outcome.reason, outcome.reason
    if verdict is Verdict.RETRY:
        assert outcome.retry_after == 2.0


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://alertmanager-0:9093", None),
        ("https://user:pw@am.example.com/alertmanager", None),
        ("ftp://am:9093", "http"),
        ("am:9093", "http"),
        ("http://am:9093/?x=1", "base URL"),
        ("http://am:9093/api/v1/alerts", "API v1"),
        ("http://:9093", "host"),
    ],
)
def test_url_problems(url: str, problem: str | None) -> None:
    found = alertmanager_url_problem(url)
    assert (found is None) if problem is None else (problem in (found or "")), found


def test_urls_are_base_urls(am: AlertmanagerDestination) -> None:
    assert am.urls == ("http://am-0:9093", "http://am-1:9093")
    assert [am.post_url(u) for u in am.urls] == ["http://am-0:9093/api/v2/alerts", "http://am-1:9093/api/v2/alerts"]
    assert am.post_url("http://am:9093/api/v2/alerts") == "http://am:9093/api/v2/alerts"


@pytest.mark.parametrize(
    ("url", "ok"),
    [("https://g/d?a=1&b=2", True), ("not a url", False), ("http://x/%zz", False), ("javascript:x", False)],
)
def test_generator_urls_are_uris_or_omitted(url: str, ok: bool) -> None:
    assert (generator_uri(url) == url) is ok
    dest = AlertmanagerDestination("am", ["http://am:9093"], generator_url=url)
    assert (dest.generator_url is not None) is ok


def test_a_password_in_the_url_is_masked_and_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    password = "hunter2pw"
    with FakeSlack() as server:
        dest = AlertmanagerDestination("am", [f"http://alerts:{password}@127.0.0.1:{server.port}"])
        body = dest.batch([dest.render(formatters.alert("x"), now=NOW)]).body
        httpx.post(dest.post_url(dest.urls[0]), json=body)  # httpx logs the URL, userinfo included
    assert "HTTP Request: POST http://alerts:****@127.0.0.1" in caplog.text
    assert dest.mask(dest.urls[0]) == f"http://alerts:****@127.0.0.1:{server.port}"
    for shown in (caplog.text, repr(dest)):
        assert password not in shown
    plain = AlertmanagerDestination("am", ["http://am:9093/alertmanager/prefix"])
    assert plain.mask(plain.urls[0]) == "http://am:9093/alertmanager/prefix", "a base URL is no secret"
