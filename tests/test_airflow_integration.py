"""alert_slack and the example DAGs in a real Apache Airflow 3.3.2, in its own virtualenv.

Airflow pins FastAPI < 0.137, so it lives in ``.venv-airflow`` (made or refreshed by scripts/airflow_venv.py,
~1 min the first time, under a second when up to date) with this project pip-installed into it, as users
install it. Each test runs the real ``airflow`` CLI against a fresh sqlite AIRFLOW_HOME; Slack is
tests/support/fake_slack.FakeSlack, served from this pytest process. Never skipped: CI runs it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from fastapi_app.registry import FileRegistry
from tests.support.fake_slack import PATH, TOKEN, FakeSlack
from tests.support.service_helpers import (
    ADMIN_TOKEN,
    FEATURES,
    MODEL,
    expected,
    free_port,
    running_service,
    seeded,
)
from tests.support.slack_posts import Posted, find, split_alerts

pytestmark = pytest.mark.airflow

REPO = Path(__file__).resolve().parent.parent
DAGS = REPO / "dags"
SUPPORT = Path(__file__).resolve().parent / "airflow"
BASE_URL = "http://airflow.test:8080"  # the UI's base URL: where the alerts' log links must point
SMOKE_FAILURE = "alerting_smoke fails on purpose: this is the alert you should see in Slack"
COMMAND_TIMEOUT = 600
# scripts/airflow_venv.py installs this version (3.3.2 unless AIRFLOW_VERSION_PIN says otherwise, e.g. 2.10.5).
AIRFLOW_MAJOR = int(os.environ.get("AIRFLOW_VERSION_PIN", "3").split(".")[0])


# -- the Airflow installation --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def airflow_bin() -> Path:
    """The Airflow venv's bin/, created or refreshed (project reinstalled when its sources changed)."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "airflow_venv.py")],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert result.returncode == 0, f"could not prepare the Airflow venv:\n{result.stderr[-5000:]}"
    sys.stderr.write(f"airflow venv ready in {time.monotonic() - started:.1f} s\n")
    return Path(result.stdout.strip().splitlines()[-1]) / "bin"


@pytest.fixture(scope="module")
def airflow_env(airflow_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for the airflow CLI: a fresh AIRFLOW_HOME (migrated sqlite DB), dags/ as DAG folder."""
    env = airflow_environment(tmp_path_factory.mktemp("airflow_home"), airflow_bin, BASE_URL)
    result = run(airflow_bin / "airflow", ["db", "migrate"], env)
    assert result.returncode == 0, result.output[-5000:]
    return env


def airflow_environment(home: Path, airflow_bin: Path, base_url: str) -> dict[str, str]:
    inherited = ("AIRFLOW", "SLACK_WEBHOOK_URL", "ALERTS_", "FASTAPI_", "MODEL_", "DEFAULT_ALIAS")
    env = {k: v for k, v in os.environ.items() if not k.startswith(inherited)}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__API__BASE_URL=base_url,  # Airflow 3
        AIRFLOW__WEBSERVER__BASE_URL=base_url,  # Airflow 2 (AIRFLOW_VERSION_PIN=2.10.5 runs this file on it)
        ALERTS_ENV="ci",
        PATH=os.pathsep.join([str(airflow_bin), env.get("PATH", "")]),  # standalone starts `airflow …`
        PYTHONDONTWRITEBYTECODE="1",  # keep dags/ free of __pycache__
    )
    return env


@dataclass
class Result:
    returncode: int
    output: str
    seconds: float


def run(program: Path, args: list[str], env: dict[str, str], **extra_env: str) -> Result:
    started = time.monotonic()
    proc = subprocess.run(
        [str(program), *args],
        env={**env, **extra_env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    return Result(proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started)


def dags_test(airflow_bin: Path, env: dict[str, str], dag_id: str, **extra_env: str) -> Result:
    result = run(airflow_bin / "airflow", ["dags", "test", dag_id], env, **extra_env)
    sys.stderr.write(f"airflow dags test {dag_id}: exit {result.returncode} in {result.seconds:.1f} s\n")
    return result


# -- what the fake Slack received, one alert at a time -------------------------------------------------------


def posted_alerts(slack: FakeSlack) -> list[Posted]:
    """Every alert delivered, split out of combined posts."""
    return split_alerts(request.json for request in slack.delivered)


def assert_log_link(link: str | None, dag_id: str, run_id: str, task_id: str) -> None:
    """The link Airflow's UI serves a task's log at: Airflow 3's task page, or Airflow 2's grid view."""
    assert link is not None
    run = quote(run_id, safe="")
    if AIRFLOW_MAJOR >= 3:
        assert link == f"{BASE_URL}/dags/{dag_id}/runs/{run}/tasks/{task_id}?try_number=1"
    else:
        assert link.startswith(f"{BASE_URL}/dags/{dag_id}/grid?dag_run_id={run}&task_id={task_id}&"), link
        assert link.endswith("&tab=logs")


def assert_no_secret(output: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in output, "a secret appeared in Airflow's output"


# -- the tests -----------------------------------------------------------------------------------------------


def test_every_dag_file_imports_without_errors(airflow_bin: Path, airflow_env: dict[str, str], tmp_path) -> None:
    report_path = tmp_path / "dags.json"
    result = run(airflow_bin / "python", [str(SUPPORT / "check_dags.py"), str(DAGS), str(report_path)], airflow_env)
    assert result.returncode == 0, result.output[-5000:]
    report = json.loads(report_path.read_text())
    assert report["import_errors"] == {}
    files = {Path(p).name for p in report["dags"].values()}
    assert files == {p.name for p in DAGS.glob("*.py")}, "every file in dags/ defines a DAG"
    assert report["tasks"] == {
        "alerting_smoke": ["fail", "succeed"],
        "model_pipeline": ["hotswap", "register", "train", "wait_ready"],
    }
    assert all(report["every_task_has_failure_callback"].values())
    assert all(report["dag_failure_callbacks"].values())
    assert report["alerts_lib_airflow_is_lazy"], "importing alerts_lib.airflow imported Airflow"
    if AIRFLOW_MAJOR < 3:
        return  # Airflow 2's list-import-errors only reads the DB (no --local)
    # The CLI agrees (it parses dags/ the same way the DAG processor does).
    listed = run(airflow_bin / "airflow", ["dags", "list-import-errors", "--local", "-o", "json"], airflow_env)
    assert listed.returncode == 0, listed.output[-3000:]
    assert "dags/" not in listed.output.split("[", 1)[-1]


def test_webhook_is_masked_and_pipeline_helpers_work(airflow_bin: Path, airflow_env: dict[str, str], tmp_path) -> None:
    report_path = tmp_path / "callbacks.json"
    webhook = f"http://127.0.0.1:9{PATH}"  # nothing listens: only the masking matters here
    args = [str(SUPPORT / "check_callbacks.py"), str(DAGS), webhook, str(report_path)]
    result = run(airflow_bin / "python", args, airflow_env, ALERTS_SHUTDOWN_TIMEOUT="0")
    assert result.returncode == 0, result.output[-5000:]
    report = json.loads(report_path.read_text())
    # Airflow's own masker now hides the URL in every log line it handles.
    assert TOKEN not in report["redacted"] and "***" in report["redacted"]
    assert TOKEN not in result.output
    # model_pipeline trains a real model: least squares recovers the true coefficients.
    weights = report["weights"]
    assert weights["r2"] > 0.99
    for got, want in zip(weights["coef"], report["true_coef"], strict=True):
        assert abs(got - want) < 0.05
    assert abs(weights["intercept"] - report["true_intercept"]) < 0.1
    # Its sensor's failure callback says which version never became READY, and why.
    first, degraded = report["readiness_alerts"]
    assert first["text"] == "❌ [Airflow] READY check failed: my_model v12 · ci"
    assert "Sensor has timed out" in json.dumps(first["payload"])
    assert degraded["text"].startswith("❌ [Airflow] READY check failed: my_model")


def test_alerting_smoke_sends_task_and_dag_failure_alerts(airflow_bin: Path, airflow_env: dict[str, str]) -> None:
    with FakeSlack() as slack:
        result = dags_test(airflow_bin, airflow_env, "alerting_smoke", SLACK_WEBHOOK_URL=slack.url)
        alerts = posted_alerts(slack)
    # The DAG fails on purpose, so the command exits 1: what matters is what Slack received.
    assert "RuntimeError" in result.output, result.output[-5000:]
    task_alerts = find(alerts, "task failed")
    dag_alerts = find(alerts, "DAG failed")
    assert len(task_alerts) == 1 and len(dag_alerts) == 1, [a.headline for a in alerts]
    assert len(alerts) == 2, "nothing for the task that succeeded"

    task = task_alerts[0]
    assert task.headline == f"🔥 [Airflow] task failed: alerting_smoke.fail: RuntimeError: {SMOKE_FAILURE} · ci"
    assert task.fields["dag"] == "alerting_smoke"
    assert task.fields["task"] == "fail"
    assert task.fields["exception"] == "RuntimeError"
    assert task.fields["try"] == "1"
    run_id = task.fields["run_id"]
    assert run_id.startswith("manual__")
    assert_log_link(task.link, "alerting_smoke", run_id, "fail")

    dag = dag_alerts[0]
    assert dag.headline == "🔥 [Airflow] DAG failed: alerting_smoke · ci"
    assert dag.fields["reason"] == "task_failure"
    assert dag.fields["failed task"] == "fail"
    assert dag.fields["run_id"] == run_id
    assert dag.link == task.link
    # Each callback waited for delivery before returning (a task process exits right after its callback).
    assert result.output.count("alerts_lib: Slack alert delivered") == 2, result.output[-5000:]
    assert_no_secret(result.output, TOKEN)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[Any, FileRegistry, FakeSlack]]:
    """The real model service (this venv) on a seeded registry (A → v1, B → v2), alerting a fake Slack."""
    registry = seeded(tmp_path / "registry")
    with FakeSlack() as slack:
        env = {
            "MODEL_REGISTRY_DIR": str(registry.root),
            "MODEL_NAME": MODEL,
            "FASTAPI_TOKEN": ADMIN_TOKEN,
            "SLACK_WEBHOOK_URL": slack.url,
            "ALERTS_ENV": "ci",
        }
        with running_service(env, tmp_path) as running:
            yield running, registry, slack


def slack_connection(slack: FakeSlack) -> str:
    """An HTTP Connection as Airflow users set up Slack webhooks: host = base URL, password = token path."""
    base, _, token_path = slack.url.partition("/services/")
    return json.dumps({"conn_type": "http", "host": f"{base}/services", "password": token_path})


def run_pipeline(
    airflow_bin: Path, airflow_env: dict[str, str], service: tuple[Any, FileRegistry, FakeSlack], **env: str
) -> Result:
    """``airflow dags test model_pipeline`` against the running service and its registry."""
    running, registry, _ = service
    return dags_test(
        airflow_bin,
        airflow_env,
        "model_pipeline",
        MODEL_REGISTRY_DIR=str(registry.root),
        FASTAPI_RELOAD_URL=running.base,
        **env,
    )


def test_model_pipeline_trains_registers_and_hot_swaps(
    airflow_bin: Path, airflow_env: dict[str, str], service: tuple[Any, FileRegistry, FakeSlack]
) -> None:
    running, registry, slack = service
    result = run_pipeline(
        airflow_bin,
        airflow_env,
        service,
        FASTAPI_TOKEN=ADMIN_TOKEN,
        AIRFLOW_CONN_SLACK_CONN=slack_connection(slack),  # no SLACK_WEBHOOK_URL: the Connection is used
    )
    assert result.returncode == 0, result.output[-8000:]

    # A new READY version, and the service serves it on @A: its predictions come from the new weights.
    new = registry.latest_version(MODEL)
    assert new is not None and new.version == 3 and new.status == "READY"
    assert new.run_id and new.run_id.startswith("manual__")
    assert registry.get_alias(MODEL, "A") == 3
    answer = httpx.post(f"{running.base}/predict", json={"features": FEATURES, "variant": "A"}, timeout=10).json()
    assert answer["version"] == 3
    assert answer["prediction"] == pytest.approx(expected(registry, 3))

    assert slack.wait_for(lambda s: find(posted_alerts(s), "hot-swapped to v3"), timeout=15)
    alerts = posted_alerts(slack)
    registered = find(alerts, "model registered")
    assert [a.headline for a in registered] == ["✅ [Airflow] model registered: my_model v3 → my_model@A · ci"]
    assert registered[0].fields["run_id"] == new.run_id
    assert find(alerts, "🔁 [FastAPI] my_model@A hot-swapped to v3")
    assert not find(alerts, "failed"), [a.headline for a in alerts]
    assert_no_secret(result.output, TOKEN, ADMIN_TOKEN)


def test_model_pipeline_hot_swap_refused(
    airflow_bin: Path, airflow_env: dict[str, str], service: tuple[Any, FileRegistry, FakeSlack]
) -> None:
    _, registry, slack = service
    wrong_token = "wr0ng-t0ken-NOT-IN-LOGS"
    result = run_pipeline(
        airflow_bin,
        airflow_env,
        service,
        FASTAPI_TOKEN=wrong_token,
        ALERTS_AIRFLOW_CONN_ID="slack_ops",  # another Connection id, for every callback and notify()
        AIRFLOW_CONN_SLACK_OPS=slack_connection(slack),
    )
    assert result.returncode != 0
    alerts = posted_alerts(slack)
    assert find(alerts, "model registered: my_model v3 → my_model@A")
    hotswap = find(
        alerts, "task failed: model_pipeline.hotswap: RuntimeError: reload of my_model@A to v3 failed: HTTP 401"
    )
    assert len(hotswap) == 1, [a.headline for a in alerts]
    assert_log_link(hotswap[0].link, "model_pipeline", hotswap[0].fields["run_id"], "hotswap")
    assert find(alerts, "DAG failed: model_pipeline")[0].fields["failed task"] == "hotswap"
    assert registry.get_alias(MODEL, "A") == 1, "the registry alias only moves once the service took the version"
    assert_no_secret(result.output, TOKEN, ADMIN_TOKEN, wrong_token)
    assert_no_secret(json.dumps([r.json for r in slack.requests]), wrong_token)


# -- the production path: scheduler, forked task process, DAG processor ------------------------------------


@contextlib.contextmanager
def running_airflow(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``airflow standalone`` (api-server, scheduler, dag-processor, triggerer) in its own process group."""
    with open(log_path, "wb") as sink:
        proc = subprocess.Popen(
            ["airflow", "standalone"], env=env, cwd=REPO, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # its scheduler's executor workers outlive it otherwise
        proc.wait()


def test_alerting_smoke_in_a_running_airflow(airflow_bin: Path, tmp_path: Path) -> None:
    """Triggered like an operator would: the task-level callback runs in the forked task process (which
    exits with os._exit), the DAG-level one in the DAG processor; the run has no logical date."""
    if AIRFLOW_MAJOR < 3:
        pytest.skip("runs Airflow 3's standalone (CI always uses Airflow 3)")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    home = tmp_path / "home"
    env = airflow_environment(home, airflow_bin, base)
    with FakeSlack() as slack:
        env.update(
            SLACK_WEBHOOK_URL=slack.url,
            AIRFLOW__API__PORT=str(port),
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{base}/execution/",
            AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
            AIRFLOW__CORE__PARALLELISM="2",  # LocalExecutor starts this many workers
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",  # so this test can read the log over HTTP
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
        )
        with running_airflow(env, tmp_path / "standalone.log"):
            deadline = time.monotonic() + 300
            while True:  # the trigger works once the DAG processor has parsed dags/
                triggered = run(airflow_bin / "airflow", ["dags", "trigger", "alerting_smoke"], env)
                if triggered.returncode == 0 or time.monotonic() > deadline:
                    break
                time.sleep(2)
            assert triggered.returncode == 0, (tmp_path / "standalone.log").read_text(errors="replace")[-5000:]
            assert slack.wait_for(lambda s: len(posted_alerts(s)) >= 2, timeout=240), [r.text for r in slack.requests]
            alerts = posted_alerts(slack)
            task, dag = find(alerts, "task failed")[0], find(alerts, "DAG failed")[0]
            # The links work: the UI page, and the log behind it, which shows the callback delivered first.
            assert httpx.get(task.link or "", timeout=30).status_code == 200
            run_id = task.fields["run_id"]
            log_api = f"{base}/api/v2/dags/alerting_smoke/dagRuns/{quote(run_id, safe='')}/taskInstances/fail/logs/1"
            task_log = httpx.get(log_api, headers={"Accept": "application/json"}, timeout=30).text
    assert task.headline == f"🔥 [Airflow] task failed: alerting_smoke.fail: RuntimeError: {SMOKE_FAILURE} · ci"
    assert task.fields["when"].endswith("(run_after)"), "a triggered run has no logical date in Airflow 3"
    assert task.link == f"{base}/dags/alerting_smoke/runs/{quote(run_id, safe='')}/tasks/fail?try_number=1"
    assert (dag.headline, dag.fields["failed task"], dag.fields["run_id"]) == (
        "🔥 [Airflow] DAG failed: alerting_smoke · ci",
        "fail",
        run_id,
    )
    assert SMOKE_FAILURE in task_log and "alerts_lib: Slack alert delivered" in task_log
    assert_no_secret((tmp_path / "standalone.log").read_text(errors="replace"), TOKEN)
    for path in (home / "logs").rglob("*"):
        if path.is_file():
            assert_no_secret(path.read_text(errors="replace"), TOKEN)
