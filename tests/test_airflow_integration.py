"""alert_slack and the example DAGs in a real Apache Airflow 3.3.2, in its own virtualenv.

Airflow pins FastAPI < 0.137, so it lives in ``.venv-airflow`` (made or refreshed by scripts/airflow_venv.py,
~1 min the first time, under a second when up to date) with this project pip-installed into it, as users
install it. Each test runs the real ``airflow`` CLI against a fresh sqlite AIRFLOW_HOME; Slack is
tests/support/fake_slack.FakeSlack, served from this pytest process. Never skipped: CI runs it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from fastapi_app.registry import FileRegistry
from tests.support.airflow_harness import (
    AIRFLOW_MAJOR,
    BASE_URL,
    DAGS,
    SUPPORT,
    Result,
    airflow_environment,
    assert_no_secret,
    dags_test,
    find,
    migrated,
    posted_alerts,
    run,
)
from tests.support.fake_slack import PATH, TOKEN, FakeSlack
from tests.support.service_helpers import (
    ADMIN_TOKEN,
    FEATURES,
    MODEL,
    expected,
    running_service,
    seeded,
)

pytestmark = pytest.mark.airflow

SMOKE_FAILURE = "alerting_smoke fails on purpose: this is the alert you should see in Slack"


@pytest.fixture(scope="module")
def airflow_env(airflow_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for the airflow CLI: a fresh AIRFLOW_HOME (migrated sqlite DB), dags/ as DAG folder."""
    return migrated(airflow_bin, airflow_environment(tmp_path_factory.mktemp("airflow_home"), airflow_bin, BASE_URL))


def assert_log_link(link: str | None, dag_id: str, run_id: str, task_id: str) -> None:
    """The link Airflow's UI serves a task's log at: Airflow 3's task page, or Airflow 2's grid view."""
    assert link is not None
    run = quote(run_id, safe="")
    if AIRFLOW_MAJOR >= 3:
        assert link == f"{BASE_URL}/dags/{dag_id}/runs/{run}/tasks/{task_id}?try_number=1"
    else:
        assert link.startswith(f"{BASE_URL}/dags/{dag_id}/grid?dag_run_id={run}&task_id={task_id}&"), link
        assert link.endswith("&tab=logs")


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
    """Wired at task and DAG level, with the plugin's listener on too: the listener leaves both to the callbacks,
    which send what they send with the listener off (one alert per failure)."""
    with FakeSlack() as slack:
        result = dags_test(
            airflow_bin, airflow_env, "alerting_smoke", SLACK_WEBHOOK_URL=slack.url, ALERTS_AIRFLOW_LISTENER="true"
        )
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
    assert dag.fields["try"] == "1"
    assert dag.link == task.link
    assert result.output.count("alerts_lib: listener leaves") == 2, result.output[-5000:]
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
