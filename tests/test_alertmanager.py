"""AlertmanagerDestination against the real Alertmanager binary (Debian's 0.25), with the shipped config
and Slack template, and a recording Slack server: what Alertmanager merges, resolves, refuses and shows.

Bodies are built by the renderer and posted with httpx directly (the worker is tested elsewhere)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from alerts_lib import formatters
from alerts_lib._policy import Verdict
from alerts_lib.destinations.alertmanager import AlertmanagerDestination
from tests.support import alertmanager as am
from tests.support.fake_slack import FakeSlack, Request
from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.alertmanager
QUIET = 3.0  # seconds with no further notification: three group intervals


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


@pytest.fixture
def one_am(tmp_path: Path, slack: FakeSlack) -> Iterator[am.Alertmanager]:
    with am.running(tmp_path, slack.url) as (replica,):
        yield replica


def post(destination: AlertmanagerDestination, renders: list[dict[str, Any]]) -> list[tuple[int, str, Verdict]]:
    body = destination.batch(renders).body
    out = []
    for url in destination.urls:
        answer = httpx.post(destination.post_url(url), json=body, timeout=5)
        outcome = destination.classify(answer.status_code, answer.text, answer.headers)
        out.append((answer.status_code, outcome.reason, outcome.verdict))
    return out


def notifications(slack: FakeSlack, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
    """The attachments of Slack posts, once ``count`` arrived, after a quiet spell proving no more follow."""
    assert slack.wait_for(lambda s: len(s.requests) >= count, timeout), f"fewer than {count} notifications"
    time.sleep(QUIET)
    return [attachment(r) for r in slack.requests]


def attachment(request: Request) -> dict[str, Any]:
    [att] = request.json["attachments"]
    return dict(att)


def test_the_same_alert_from_three_processes_is_one_notification(one_am: am.Alertmanager, slack: FakeSlack) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.support.alertmanager", one_am.url],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    assert [p.communicate(timeout=30)[0].split() for p in procs] == [["delivered"]] * 3

    [note] = notifications(slack, 1)
    assert note["title"] == "FIRING: ModelHotswapFailed"
    text = note["text"]
    assert "*firing* ❌ [FastAPI] hot-swap of my_model@A to v9 failed: RuntimeError: weights corrupt" in text
    assert "*model:* my_model" in text and "*alias:* @A" in text, "the description (fields) is shown"
    # Alertmanager does not escape: ours arrived escaped, so nothing pings or links.
    assert "&lt;!channel&gt; &lt;@U123&gt;" in text and "<!channel>" not in text and "<@U123>" not in text
    [alert] = one_am.alerts()
    assert alert["labels"] == {
        "alertname": "ModelHotswapFailed",
        "severity": "error",
        "source": "FastAPI",
        "env": "test",
        "model": "my_model",
        "alias": "@A",
    }


def test_two_peered_replicas_both_sent_the_alert_notify_once(tmp_path: Path, slack: FakeSlack) -> None:
    with am.running(tmp_path, slack.url, replicas=2) as replicas:
        destination = AlertmanagerDestination("am", [r.url for r in replicas])
        link = ("http://airflow:8080/dags/etl/runs/r1/tasks/load?try_number=1", "View log")
        alert = formatters.alert("export late", severity="critical", source="Airflow", name="ExportLate", link=link)
        assert [v for *_, v in post(destination, [destination.render(alert, now=time.time())])] == [
            Verdict.DELIVERED
        ] * 2
        [note] = notifications(slack, 1, timeout=20)
        assert all(len(r.alerts()) == 1 for r in replicas), "each replica holds the alert"
    assert note["title"] == "FIRING: ExportLate"
    assert "<http://airflow:8080/dags/etl/runs/r1/tasks/load?try_number=1|View log>" in note["text"]


def test_firing_then_resolved_sends_the_resolved_notification(one_am: am.Alertmanager, slack: FakeSlack) -> None:
    destination = AlertmanagerDestination("am", [one_am.url], resend_interval=5)
    start = time.time()
    degraded = formatters.health_degraded(["A"], ["B"], env="test")
    post(destination, [destination.render(degraded, now=start)])
    assert slack.wait_for(lambda s: len(s.requests) == 1, 15)
    [alert] = one_am.alerts()
    first_end = alert["endsAt"]

    # While firing, the re-sends keep it alive (Alertmanager would resolve it at endsAt otherwise).
    [resend] = destination.resends(start + 5.5)
    assert post(destination, [resend])[0][2] is Verdict.DELIVERED
    [alert] = one_am.alerts()
    assert alert["endsAt"] > first_end and alert["labels"]["severity"] == "warning"

    recovered = formatters.health_recovered(["A", "B"], env="test")
    post(destination, [destination.render(recovered, now=time.time())])
    firing, resolved = notifications(slack, 2)
    assert firing["title"] == "FIRING: ServiceHealth" and "degraded: @B missing (loaded: @A)" in firing["text"]
    assert resolved["title"] == "RESOLVED: ServiceHealth"
    assert resolved["text"].startswith("*resolved* ✅ [FastAPI] recovered: @A, @B loaded · test")
    assert resolved["color"] == "good"
    assert one_am.alerts() == [], "the resolve matched the firing label set: nothing is left active"
    assert destination.resends(time.time() + 100) == []


def test_a_batch_with_one_bad_label_set_is_refused_in_words_and_the_good_alerts_kept(
    one_am: am.Alertmanager, slack: FakeSlack
) -> None:
    destination = AlertmanagerDestination("am", [one_am.url])
    now = time.time()
    renders = [destination.render(formatters.alert(f"disk {i}", name=f"Disk{i}"), now=now) for i in range(3)]
    renders[1]["alerts"][0]["labels"]["bad-name"] = "x"  # what our sanitiser never lets through
    [(status, reason, verdict)] = post(destination, renders)
    assert (status, verdict) == (400, Verdict.PERMANENT)
    assert 'invalid label set: invalid name "bad-name"' in reason and "kept the valid ones" in reason
    assert sorted(a["labels"]["alertname"] for a in one_am.alerts()) == ["Disk0", "Disk2"]

    render = destination.render(formatters.alert("x", name="Gen"), now=now)
    render["alerts"][0]["generatorURL"] = "not a url"  # what generator_uri never lets through
    [(status, reason, verdict)] = post(destination, [render])
    assert (status, verdict) == (422, Verdict.PERMANENT) and "generatorURL" in reason


def test_sanitised_labels_and_odd_values_are_accepted(one_am: am.Alertmanager) -> None:
    destination = AlertmanagerDestination("am", [one_am.url], generator_url="http://grafana:3000/d/x?a=1&b=2")
    labels = {"dag-id": "etl", "1st": "y", "ünï cödé": "z", "severity": "fake", "empty": "", "v": "x" * 5000}
    alert = formatters.alert(
        "<!channel> " + "boom " * 200_000,  # a 1 MB title
        name="Odd Name/with spaces",
        labels=labels,
        body="é" * 100_000,
        link=("javascript:alert(1)", "click"),
    )
    [(status, reason, verdict)] = post(destination, [destination.render(alert, now=time.time())])
    assert (status, verdict) == (200, Verdict.DELIVERED), reason
    [stored] = one_am.alerts()
    assert stored["labels"]["alertname"] == "Odd Name/with spaces", "a label value may hold anything"
    assert stored["labels"]["dag_id"] == "etl" and stored["labels"]["_1st"] == "y"
    assert stored["labels"]["_n__c_d_"] == "z"
    assert stored["labels"]["severity"] == "info" and stored["labels"]["exported_severity"] == "fake"
    assert "empty" not in stored["labels"] and len(stored["labels"]["v"]) <= 200
    assert stored["generatorURL"] == "http://grafana:3000/d/x?a=1&b=2", "not the javascript: link"
    assert "link" not in stored["annotations"]
    assert len(stored["annotations"]["description"]) <= 3000
