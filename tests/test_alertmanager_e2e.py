"""End to end through the public API: three separate processes, each configured by an ``ALERTS_CONFIG`` file
with an Alertmanager destination, send the same alert with ``send_slack_alert`` and ``flush``; the real
Alertmanager merges them into one Slack notification showing our template's text."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.procs import REPO_ROOT
from tests.support import alertmanager as am
from tests.support.fake_slack import FakeSlack

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
        assert "*firing* ❌ [FastAPI] hot-swap of model @A to v9 failed" in attachment["text"]
        assert "&lt;!channel&gt;" in attachment["text"] and "<!channel>" not in attachment["text"]
        [alert] = replica.alerts()
        assert alert["labels"]["env"] == "e2e" and alert["labels"]["alertname"] == "ModelHotswapFailed"
