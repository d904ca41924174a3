"""End to end through the public API: three separate processes, each configured by an ``ALERTS_CONFIG`` file
with an Alertmanager destination, send the same alert with ``send_slack_alert`` and ``flush``; the real
Alertmanager merges them into one Slack notification showing our template's text."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import alertmanager as am
from tests.support.fake_slack import FakeSlack
from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.alertmanager

SENDER = """
import sys
import alerts_lib
from alerts_lib import formatters

alert = formatters.hotswap_failed("my_model", "A", RuntimeError("weights corrupt <!channel>"), version=9)
queued = alerts_lib.send_slack_alert(alert)
flushed = alerts_lib.flush(15)
stats = alerts_lib.stats().destinations["am"]
print(queued, flushed, stats.delivered, stats.failed)
"""


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


def test_three_processes_through_the_public_api_make_one_notification(tmp_path: Path, slack: FakeSlack) -> None:
    with am.running(tmp_path, slack.url) as (replica,):
        config = tmp_path / "alerts.toml"
        config.write_text(
            f'[destinations.am]\nkind = "alertmanager"\nurls = ["{replica.url}"]\n\n[[routes]]\nto = ["am"]\n'
        )
        env = {k: v for k, v in os.environ.items() if k != "SLACK_WEBHOOK_URL" and not k.startswith("ALERTS_")}
        env |= {"ALERTS_CONFIG": str(config), "ALERTS_ENV": "e2e"}
        procs = [
            subprocess.Popen([sys.executable, "-c", SENDER], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True)
            for _ in range(3)
        ]
        outputs = [p.communicate(timeout=60)[0].split() for p in procs]
        assert outputs == [["True", "True", "1", "0"]] * 3, "each process delivered its alert to Alertmanager"

        assert slack.wait_for(lambda s: len(s.requests) >= 1, 15), "no notification"
        time.sleep(3)  # three group intervals: no second notification follows
        [request] = slack.requests
        [attachment] = request.json["attachments"]
        assert attachment["title"] == "FIRING: ModelHotswapFailed"
        assert "*firing* ❌ [FastAPI] hot-swap of my_model@A to v9 failed" in attachment["text"]
        assert "&lt;!channel&gt;" in attachment["text"] and "<!channel>" not in attachment["text"]
        [alert] = replica.alerts()
        assert alert["labels"]["env"] == "e2e" and alert["labels"]["alertname"] == "ModelHotswapFailed"


def test_the_issue_example_config_works_as_written(tmp_path: Path, slack: FakeSlack, monkeypatch) -> None:
    """The README's TOML, verbatim but for the URLs: Slack on-call, a Teams channel (the inbox) and two Alertmanager
    replicas, routed by severity and source. One replica is down: the other still gets every alert."""
    import alerts_lib
    from alerts_lib import formatters
    from demo.procs import running_inbox

    with am.running(tmp_path, slack.url) as (replica,), FakeSlack() as oncall, running_inbox() as inbox:
        dead = "http://127.0.0.1:9"  # nothing listens: retried on its own lane, never blocks the others
        monkeypatch.setenv("SLACK_ONCALL_WEBHOOK", oncall.url)
        monkeypatch.setenv(
            "TEAMS_ML_WEBHOOK", f"{inbox.base_url}/workflows/abc/triggers/manual/paths/invoke?sig=s3cret"
        )
        config = tmp_path / "alerts.toml"
        config.write_text(
            f"""
[destinations.oncall]            # kind defaults to "slack"
url = "${{SLACK_ONCALL_WEBHOOK}}"

[destinations.ml]
kind = "teams"
url = "${{TEAMS_ML_WEBHOOK}}"

[destinations.am]
kind = "alertmanager"
urls = ["{replica.url}", "{dead}"]   # every replica (they do not share alerts)

[[routes]]
match = {{ severity = ["critical", "error"] }}   # keys: severity, source, env, name; a value or a list of values
to = ["oncall", "am"]

[[routes]]
match = {{ source = "Airflow" }}
to = ["ml"]

[[routes]]                                      # no match: everything else
to = ["oncall"]
"""
        )
        alerts_lib.configure(config=str(config), min_interval=0, dedup_window=0, backoff_max=0.5)
        alerts_lib.send_slack_alert(formatters.hotswap_failed("my_model", "A", ValueError("bad"), version=9))
        alerts_lib.send_slack_alert(formatters.model_registered("my_model", 9, "A"))
        alerts_lib.send_slack_alert("deploy done")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not replica.alerts():
            time.sleep(0.2)
        assert [a["labels"]["alertname"] for a in replica.alerts()] == ["ModelHotswapFailed"]
        assert oncall.wait_for(lambda s: len("\n".join(s.delivered_texts()).split("\n")) >= 2, 10)
        oncall_text = "\n".join(oncall.delivered_texts())
        assert "hot-swap of my_model@A to v9 failed" in oncall_text and "deploy done" in oncall_text
        assert "model registered" not in oncall_text
        teams = httpx.get(f"{inbox.base_url}/api/messages", timeout=5).json()["messages"]
        assert any("model registered" in str(m) for m in teams) and not any("deploy done" in str(m) for m in teams)
        per = alerts_lib.stats().destinations
        assert per["am"].delivered >= 1 and per["am"].retries >= 1  # the dead replica retries on its own lane
        alerts_lib.testing.reset_alerts()


def test_degraded_then_recovered_is_one_alert_firing_then_resolved(tmp_path: Path, slack: FakeSlack) -> None:
    import alerts_lib
    from alerts_lib import formatters

    with am.running(tmp_path, slack.url) as (replica,):
        config = tmp_path / "alerts.toml"
        config.write_text(f'[destinations.am]\nkind = "alertmanager"\nurls = ["{replica.url}"]\nresend_interval = 1\n')
        alerts_lib.configure(config=str(config), min_interval=0)
        alerts_lib.send_slack_alert(formatters.health_degraded(["A"], ["B"]))
        assert alerts_lib.flush(10)
        assert slack.wait_for(lambda s: any("FIRING" in str(r.json) for r in s.requests), 15)
        firing = [a for a in replica.alerts() if a["labels"]["alertname"] == "ServiceHealth"]
        assert firing and firing[0]["status"]["state"] == "active"
        time.sleep(2.5)  # re-sent while firing: Alertmanager forgets alerts that are not
        assert alerts_lib.stats().destinations["am"].posts >= 2
        alerts_lib.send_slack_alert(formatters.health_recovered(["A", "B"]))
        assert alerts_lib.flush(10)
        assert slack.wait_for(lambda s: any("RESOLVED" in str(r.json) for r in s.requests), 20)
        alerts_lib.testing.reset_alerts()


def test_a_resolve_reaches_alertmanager_even_when_routes_send_only_critical_alerts_there(
    tmp_path: Path, slack: FakeSlack
) -> None:
    """Routed by severity (as in compose), the ✅ recovery is not critical; it still goes where its firing alert
    went, so Alertmanager resolves the alert instead of keeping it firing (its destination re-sends it)."""
    import alerts_lib
    from alerts_lib import Alert, Severity

    with am.running(tmp_path, slack.url) as (replica,), FakeSlack() as inbox:
        config = tmp_path / "alerts.toml"
        config.write_text(
            f'[destinations.inbox]\nurl = "{inbox.url}"\n\n'
            f'[destinations.am]\nkind = "alertmanager"\nurls = ["{replica.url}"]\nresend_interval = 1\n\n'
            '[[routes]]\nmatch = { severity = "critical" }\nto = ["inbox", "am"]\n\n[[routes]]\nto = ["inbox"]\n'
        )
        alerts_lib.configure(config=str(config), min_interval=0)
        labels = (("service", "model"),)
        alerts_lib.send_slack_alert(
            Alert("service model down", "Watch", Severity.CRITICAL, name="ServiceDown", labels=labels, state="firing")
        )
        assert alerts_lib.flush(10)
        assert slack.wait_for(lambda s: any("FIRING: ServiceDown" in str(r.json) for r in s.requests), 20)
        healthy = Alert("service model healthy again", "Watch", Severity.SUCCESS, name="ServiceDown", labels=labels)
        alerts_lib.send_slack_alert(dataclasses.replace(healthy, state="resolved"))
        assert alerts_lib.flush(10)
        assert slack.wait_for(lambda s: any("RESOLVED: ServiceDown" in str(r.json) for r in s.requests), 20)
        assert not [a for a in replica.alerts() if a["status"]["state"] == "active"], "still firing"
        assert "healthy again" in "\n".join(inbox.delivered_texts())
        alerts_lib.testing.reset_alerts()
