"""The failures Airflow's callbacks miss, in a running Airflow 3.3.2 (``airflow standalone``: LocalExecutor,
forked task processes, the DAG processor, the API server) with the plugin's listener on.

One instance serves the whole module: every DAG is triggered at once when it is up, the heartbeat and the
"marked failed by hand" runs are acted on by a helper thread, and each test waits for its own run. "Exactly
one" is asserted only after every path that could send a second alert has been seen standing down (its
``already alerted`` or ``listener leaves`` line in Airflow's logs) or the run has settled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.support.airflow_harness import (
    AIRFLOW_MAJOR,
    DAGS,
    TEST_DAGS,
    Posted,
    RestClient,
    assert_no_secret,
    dags_folder,
    find,
    posted_alerts,
    running_airflow,
    standalone_env,
    wait_for,
)
from tests.support.fake_slack import TOKEN, FakeSlack
from tests.support.service_helpers import free_port

pytestmark = [
    pytest.mark.airflow,
    pytest.mark.skipif(AIRFLOW_MAJOR < 3, reason="runs Airflow 3's standalone; Airflow 2 runs the dags-test tests"),
]

SMOKE_FAILURE = "alerting_smoke fails on purpose: this is the alert you should see in Slack"
DAG_IDS = [
    "listener_heartbeat",  # first: it waits the longest (heartbeat timeout)
    "listener_manual",
    "listener_sigkill",
    "listener_unwired",
    "alerting_smoke",
    "listener_timeout",
    "notifier_smoke",
]
HEARTBEAT_TIMEOUT = 20  # seconds without a heartbeat before the scheduler fails a task (default 300)
RUN_TIMEOUT = 300  # seconds a run may take to fail on a loaded 2-core machine
SETTLE = 5  # seconds to wait for a duplicate that should not come, where no stand-down line proves it


@dataclass
class Airflow:
    rest: RestClient
    slack: FakeSlack
    home: Path
    log: Path
    runs: dict[str, str] = field(default_factory=dict)
    actions: dict[str, str] = field(default_factory=dict)  # what the helper thread did, for failure messages

    def alerts(self, dag_id: str) -> list[Posted]:
        return posted_alerts(self.slack, dag_id)

    def logs(self) -> str:
        """Every log Airflow wrote (task logs, DAG-processor logs) and the standalone console."""
        parts = [self.log.read_text(errors="replace")]
        parts += [p.read_text(errors="replace") for p in (self.home / "logs").rglob("*.log") if p.is_file()]
        return "\n".join(parts)

    def stood_down(self, headline_part: str) -> int:
        """How many paths (callbacks, listener hooks) found this failure already alerted."""
        return self._count("alerts_lib: already alerted by another callback or process", headline_part)

    def left_to_callback(self, what: str) -> int:
        """How many times the listener left a failure to the task's or DAG's own callback."""
        return self._count("alerts_lib: listener leaves", what)

    def _count(self, marker: str, part: str) -> int:
        return sum(1 for line in self.logs().splitlines() if marker in line and part in line)

    def wait_failed(self, dag_id: str) -> None:
        run_id = self.runs[dag_id]
        assert wait_for(lambda: self.rest.run_state(dag_id, run_id) == "failed", RUN_TIMEOUT, 2), (
            f"{dag_id} never failed ({self.actions}): " + self.log.read_text(errors="replace")[-4000:]
        )

    def wait_alerts(self, dag_id: str, count: int) -> list[Posted]:
        assert self.slack.wait_for(lambda s: len(posted_alerts(s, dag_id)) >= count, timeout=RUN_TIMEOUT), [
            a.headline for a in self.alerts(dag_id)
        ]
        return self.alerts(dag_id)


@pytest.fixture(scope="module")
def airflow(airflow_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Airflow]:
    home = tmp_path_factory.mktemp("standalone")
    dags = dags_folder(home / "dags", TEST_DAGS, DAGS / "alerting_smoke.py")
    port = free_port()
    with FakeSlack() as slack:
        env = standalone_env(
            home,
            airflow_bin,
            port,
            dags,
            SLACK_WEBHOOK_URL=slack.url,
            ALERTS_AIRFLOW_LISTENER="true",
            HEARTBEAT_PIDS=str(home / "heartbeat.pids"),
            AIRFLOW__CORE__PARALLELISM="4",
            AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT=str(HEARTBEAT_TIMEOUT),
            AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL="5",
        )
        log = home / "standalone.log"
        started = time.monotonic()
        with running_airflow(env, log) as proc:
            rest = RestClient(f"http://127.0.0.1:{port}")
            rest.wait_until_parsed(DAG_IDS, timeout=600, proc=proc)
            up = time.monotonic()
            state = Airflow(rest, slack, home, log)
            state.runs = {dag_id: rest.trigger(dag_id) for dag_id in DAG_IDS}
            helper = threading.Thread(target=_act_on_runs, args=(state,), daemon=True)
            helper.start()
            yield state
            helper.join(1)
        sys.stderr.write(
            f"airflow standalone: up in {up - started:.0f} s, module done in {time.monotonic() - up:.0f} s\n"
        )


def _act_on_runs(state: Airflow) -> None:
    """Kill the heartbeat task and its supervisor once it runs; mark the manual run failed once its task runs."""
    pids = state.home / "heartbeat.pids"
    if wait_for(pids.exists, RUN_TIMEOUT, 0.5):
        time.sleep(1)  # the file is complete
        task_pid, supervisor_pid = (int(p) for p in pids.read_text().split())
        for pid in (supervisor_pid, task_pid):  # the supervisor first: it must not report the task's death
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        state.actions["heartbeat"] = f"killed supervisor {supervisor_pid} and task {task_pid}"
    run_id = state.runs["listener_manual"]
    if wait_for(lambda: state.rest.task_state("listener_manual", run_id, "waits") == "running", RUN_TIMEOUT, 1):
        answer = state.rest.patch(f"/api/v2/dags/listener_manual/dagRuns/{quote(run_id, safe='')}", {"state": "failed"})
        state.actions["manual"] = f"PATCH state=failed: {answer.status_code}"


# -- the tests ----------------------------------------------------------------------------------------------


def test_dag_without_callbacks_alerts_task_and_run(airflow: Airflow) -> None:
    airflow.wait_failed("listener_unwired")
    alerts = airflow.wait_alerts("listener_unwired", 3)
    time.sleep(SETTLE)
    alerts = airflow.alerts("listener_unwired")
    assert sorted(a.headline for a in alerts) == [
        "🔥 [Airflow] DAG failed: listener_unwired · ci",
        "🔥 [Airflow] task failed: listener_unwired.boom: RuntimeError: listener_unwired.boom fails on purpose · ci",
        "🔥 [Airflow] task failed: listener_unwired.flaky: ValueError: listener_unwired.flaky fails on every try · ci",
    ]
    assert find(alerts, "flaky")[0].fields["try"] == "2"


def test_sigkilled_task_gets_one_alert_naming_it(airflow: Airflow) -> None:
    """Airflow calls no task callback and no task hook for it (#60858): the run's alert says what happened."""
    airflow.wait_failed("listener_sigkill")
    (alert,) = airflow.wait_alerts("listener_sigkill", 1)
    time.sleep(SETTLE)
    assert [a.headline for a in airflow.alerts("listener_sigkill")] == [
        "🔥 [Airflow] DAG failed: listener_sigkill · ci"
    ]
    run = quote(airflow.runs["listener_sigkill"], safe="")
    assert alert.fields["failed task"] == "killed"
    assert alert.fields["try"] == "1"
    assert alert.fields["cause"].startswith("killed by a signal (SIGKILL"), alert.fields
    assert alert.link == f"{airflow.rest.base}/dags/listener_sigkill/runs/{run}/tasks/killed?try_number=1"
    assert "unknown" not in repr(alert)


def test_wired_dag_with_listener_alerts_once_per_failure(airflow: Airflow) -> None:
    """alert_slack at task and DAG level plus the listener: the hooks (task process, scheduler) leave both
    failures to the callbacks (task process, DAG processor), which each send one alert."""
    airflow.wait_failed("alerting_smoke")
    assert wait_for(lambda: airflow.left_to_callback("alerting_smoke") >= 2, RUN_TIMEOUT, 2)
    airflow.wait_alerts("alerting_smoke", 2)
    time.sleep(SETTLE)
    alerts = airflow.alerts("alerting_smoke")
    task, dag = find(alerts, "task failed"), find(alerts, "DAG failed")
    assert len(alerts) == 2 and len(task) == 1 and len(dag) == 1, [a.headline for a in alerts]
    assert task[0].headline == f"🔥 [Airflow] task failed: alerting_smoke.fail: RuntimeError: {SMOKE_FAILURE} · ci"
    run_id = task[0].fields["run_id"]
    assert run_id == airflow.runs["alerting_smoke"]
    assert task[0].fields["when"].endswith("(run_after)"), "a triggered run has no logical date in Airflow 3"
    assert (
        task[0].link == f"{airflow.rest.base}/dags/alerting_smoke/runs/{quote(run_id, safe='')}/tasks/fail?try_number=1"
    )
    assert (dag[0].fields["failed task"], dag[0].fields["run_id"]) == ("fail", run_id)
    # The links work: the UI page, and the log behind it, which shows the callback delivered first.
    assert httpx.get(task[0].link or "", timeout=30).status_code == 200
    log_api = f"/api/v2/dags/alerting_smoke/dagRuns/{quote(run_id, safe='')}/taskInstances/fail/logs/1"
    task_log = airflow.rest.get(log_api).text
    assert SMOKE_FAILURE in task_log and "alerts_lib: Slack alert delivered" in task_log


def test_notifier_with_listener_alerts_once_per_failure(airflow: Airflow) -> None:
    """The notifiers' own messages (the mention, the templated fields), not the listener's."""
    airflow.wait_failed("notifier_smoke")
    assert wait_for(lambda: airflow.left_to_callback("notifier_smoke") >= 2, RUN_TIMEOUT, 2)
    airflow.wait_alerts("notifier_smoke", 2)
    time.sleep(SETTLE)
    alerts = airflow.alerts("notifier_smoke")
    assert sorted(a.headline for a in alerts) == [
        "<!subteam^S0TEST> 🔥 [Airflow] first broke in notifier_smoke · ci",
        "🔥 [Airflow] DAG failed: notifier_smoke · ci",
    ]
    dag = find(alerts, "DAG failed")[0]
    assert dag.fields["run"] == airflow.runs["notifier_smoke"]  # rendered by the DAG processor's notifier


def test_dagrun_timeout_gets_one_alert(airflow: Airflow) -> None:
    airflow.wait_failed("listener_timeout")
    (alert,) = airflow.wait_alerts("listener_timeout", 1)
    time.sleep(SETTLE)
    assert len(airflow.alerts("listener_timeout")) == 1
    assert alert.headline == "🔥 [Airflow] DAG failed: listener_timeout · ci"
    assert alert.fields["reason"] == "timed_out"
    if "running task" in alert.fields:  # it had started before the timeout (not guaranteed on a loaded machine)
        assert alert.fields["running task"] == "slow"


def test_dag_run_marked_failed_by_hand(airflow: Airflow) -> None:
    """No callback runs for it at all; the API server's hook does."""
    airflow.wait_failed("listener_manual")
    (alert,) = airflow.wait_alerts("listener_manual", 1)
    time.sleep(SETTLE)
    alerts = airflow.alerts("listener_manual")
    assert [a.headline for a in alerts] == ["🔥 [Airflow] DAG failed: listener_manual · ci"], airflow.actions
    assert alert.fields["reason"] == "marked failed by hand"


def test_heartbeat_timeout_gets_one_task_alert(airflow: Airflow) -> None:
    """The supervisor died with its task: the scheduler fails the task after the heartbeat timeout, calls its
    hook (which leaves it to the task's own callback), and has the DAG processor run that callback twice, from
    two processes: one alert."""
    airflow.wait_failed("listener_heartbeat")
    assert "heartbeat" in airflow.actions, airflow.actions
    second_run = lambda: airflow.stood_down("task failed: listener_heartbeat.sleepy") >= 1  # noqa: E731
    assert wait_for(second_run, 120, 2), airflow.alerts("listener_heartbeat")
    assert airflow.left_to_callback("listener_heartbeat") >= 2  # the task's failure and the run's
    airflow.wait_alerts("listener_heartbeat", 2)  # the run's alert comes from the DAG processor, later
    time.sleep(SETTLE)
    alerts = airflow.alerts("listener_heartbeat")
    task, dag = find(alerts, "task failed"), find(alerts, "DAG failed")
    assert len(task) == 1 and len(dag) == 1, [a.headline for a in alerts]
    assert task[0].headline == "🔥 [Airflow] task failed: listener_heartbeat.sleepy · ci"
    assert "lost its heartbeat" in task[0].fields["cause"], task[0].fields
    assert dag[0].fields["failed task"] == "sleepy"


def test_no_secret_in_any_airflow_log(airflow: Airflow) -> None:
    assert_no_secret(airflow.logs(), TOKEN)
