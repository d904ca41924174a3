"""The watch process against a real Airflow 3.3.2: api-server, scheduler, dag-processor and triggerer as
separate processes on 127.0.0.1, stopped and started by PID.

Airflow's heartbeats and health thresholds are shortened (tests/support/airflow_stack.FAST) and the watch
polls every second, so each fault shows within seconds; bench/watch_latency.py measures the same faults with
Airflow's defaults. The watch logs in with the simple auth manager's user and a password from the env; JWTs
expire every 5 s, so it logs in again many times and must never alert for that.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.airflow_harness import AIRFLOW_MAJOR, posted_alerts
from tests.support.airflow_stack import AirflowStack
from tests.support.fake_slack import FakeSlack
from tests.support.watch_helpers import wait_for, watch_env, watching

pytestmark = [
    pytest.mark.airflow,
    # Airflow 3's separate components (api-server, dag-processor); the watch's Airflow 2 paths (/health,
    # /api/v1/importErrors with basic auth) are covered against the stand-in in tests/test_watch.py.
    pytest.mark.skipif(AIRFLOW_MAJOR < 3, reason="starts Airflow 3's components; Airflow 2 has no api-server"),
]

USER = "watcher"
PASSWORD = "af-PASSW0RD-never-logged"
GOOD_DAG = """
from datetime import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG(dag_id="{dag_id}", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    EmptyOperator(task_id="noop")
"""
BROKEN_DAG = """
from airflow.sdk import DAG  # noqa: F401

raise RuntimeError("broken on purpose: <!channel> & <https://evil.example|click>")
"""


def headlines(slack: FakeSlack) -> list[str]:
    return [a.headline for a in posted_alerts(slack)]


def watch_alerts(slack: FakeSlack, needle: str) -> list[str]:
    return [h for h in headlines(slack) if needle in h]


@pytest.fixture(scope="module")
def stack(airflow_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowStack]:
    home = tmp_path_factory.mktemp("watch_airflow")
    dags = home / "dags"
    dags.mkdir()
    (dags / "watch_ok.py").write_text(GOOD_DAG.format(dag_id="watch_ok"))
    with AirflowStack(airflow_bin, home / "home", dags, USER, PASSWORD) as running:
        took = running.wait_healthy()
        sys.stderr.write(f"Airflow (4 processes) healthy {took:.0f} s after start\n")
        yield running


def test_watch_against_a_real_airflow(stack: AirflowStack, tmp_path: Path) -> None:
    status = tmp_path / "status"
    with FakeSlack() as slack:
        env = watch_env(
            SLACK_WEBHOOK_URL=slack.url, ALERTS_MIN_INTERVAL="0", ALERTS_ENV="ci", AIRFLOW_WATCH_PASSWORD=PASSWORD
        )
        args = ["watch", "--airflow", stack.base, "--airflow-user", USER, "--interval", "1"]
        args += ["--status-file", str(status)]
        with watching(args, env, tmp_path / "watch.log") as watch:
            try:
                run_scenario(stack, slack, status, tmp_path)
            finally:
                watch.send_signal(signal.SIGTERM)
                code = watch.wait(20)
        output = (tmp_path / "watch.log").read_text()
    assert code == 0, output
    assert PASSWORD not in output and "eyJ" not in output, "no password or JWT in the watch's output"
    assert not watch_alerts(slack, "cannot"), headlines(slack)  # every login, import-error and DAG read worked


def run_scenario(stack: AirflowStack, slack: FakeSlack, status: Path, tmp_path: Path) -> None:
    began = time.monotonic()

    def mark(step: str) -> None:
        sys.stderr.write(f"watch vs Airflow: {step} at {time.monotonic() - began:.0f} s\n")

    def show() -> str:
        return "\n".join(headlines(slack)) + "\n--- watch log:\n" + (tmp_path / "watch.log").read_text()[-3000:]

    # Healthy: only the startup alert, through several token expiries.
    assert wait_for(lambda: watch_alerts(slack, "watch started: Airflow"), 30), show()
    time.sleep(8)
    assert headlines(slack) == ["ℹ️ [Watch] watch started: Airflow · ci"], show()

    # The real API has the fields the watch reads (the stand-in in tests/support/fake_airflow.py copies them).
    dags = stack.api("/dags")["dags"]
    assert isinstance(dags, list) and {"dag_id", "is_paused", "next_dagrun_run_after", "has_import_errors"} <= set(
        dags[0]
    )

    mark("healthy phase done")
    # The scheduler dies: one alert, naming its last heartbeat's age.
    stack.kill("scheduler")
    assert wait_for(lambda: watch_alerts(slack, "scheduler unhealthy"), 40), show()
    time.sleep(3)
    (down,) = watch_alerts(slack, "scheduler unhealthy")
    assert down.startswith("🔥 [Watch] Airflow scheduler unhealthy: last heartbeat ") and down.endswith(" ago · ci")
    stack.start("scheduler")
    assert wait_for(lambda: watch_alerts(slack, "scheduler healthy again"), 120), show()
    (up,) = watch_alerts(slack, "scheduler healthy again")
    assert up.startswith("✅ [Watch] Airflow scheduler healthy again after ")

    mark("scheduler down and recovered")
    # A DAG file that raises at import, then fixed.
    broken = stack.dags / "watch_broken.py"
    broken.write_text(BROKEN_DAG)
    assert wait_for(lambda: watch_alerts(slack, "does not import"), 90), show()
    (error,) = watch_alerts(slack, "does not import")
    assert error == (
        "❌ [Watch] DAG file watch_broken.py does not import: RuntimeError: broken on purpose: "
        "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt; · ci"
    )
    broken.write_text(GOOD_DAG.format(dag_id="watch_fixed"))
    assert wait_for(lambda: watch_alerts(slack, "imports again"), 90), show()
    (fixed,) = watch_alerts(slack, "imports again")
    assert fixed.startswith("✅ [Watch] DAG file watch_broken.py imports again after ")

    mark("DAG file broken and fixed")
    # The API server dies: one alert, not one per component.
    before = len(headlines(slack))
    stack.kill("api-server")
    assert wait_for(lambda: watch_alerts(slack, "Airflow API unreachable"), 30), show()
    time.sleep(3)
    new = headlines(slack)[before:]
    assert new == ["🔥 [Watch] Airflow API unreachable: connection refused · ci"], show()
    mark("API server down")
