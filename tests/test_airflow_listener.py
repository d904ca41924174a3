"""The plugin, its listener and AlertNotifier in a real Airflow (3.3.2, or AIRFLOW_VERSION_PIN=2.10.5):
``airflow dags test`` runs a DAG in one process (task runner, listener hooks and DAG callbacks included).

The running-Airflow counterparts (a killed task, a heartbeat timeout, dagrun_timeout, a run marked failed by
hand) are in test_airflow_standalone.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.airflow_harness import (
    AIRFLOW_MAJOR,
    BASE_URL,
    DAGS,
    SUPPORT,
    TEST_DAGS,
    airflow_environment,
    assert_no_secret,
    dags_folder,
    dags_test,
    find,
    migrated,
    posted_alerts,
    run,
)
from tests.support.fake_slack import TOKEN, FakeSlack

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def listener_env(airflow_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A migrated AIRFLOW_HOME whose DAG folder holds the test DAGs, with the listener switched on."""
    home = tmp_path_factory.mktemp("airflow_listener")
    dags = dags_folder(home / "dags", TEST_DAGS, DAGS / "alerting_smoke.py")
    env = migrated(airflow_bin, airflow_environment(home, airflow_bin, BASE_URL, dags))
    env["ALERTS_AIRFLOW_LISTENER"] = "true"
    return env


def test_plugin_is_found_and_inert_unless_switched_on(airflow_bin: Path, listener_env: dict[str, str], tmp_path):
    reports = {}
    for switch in ("", "true"):
        out = tmp_path / f"plugin{switch}.json"
        result = run(
            airflow_bin / "python",
            [str(SUPPORT / "check_plugin.py"), str(out)],
            listener_env,
            ALERTS_AIRFLOW_LISTENER=switch,
        )
        assert result.returncode == 0, result.output[-5000:]
        reports[switch] = json.loads(out.read_text())
    off, on = reports[""], reports["true"]
    # Found through the package's entry point (nothing in plugins/), in both cases; the listener only when on.
    assert "alerts_lib" in off["plugins"] and "alerts_lib" in on["plugins"]
    assert "AlertsListener" not in off["listeners"]
    assert "AlertsListener" in on["listeners"]
    # alerts_lib, alerts_lib.airflow and from alerts_lib import alert_slack do not import Airflow.
    assert off["lazy"] and off["reexported"]
    base = "airflow.sdk.bases.notifier" if AIRFLOW_MAJOR >= 3 else "airflow.notifications.basenotifier"
    assert off["notifier_base"][0] == base


def slackwebhook_connection(slack: FakeSlack, *, full_url: bool) -> str:
    """The Slack provider's connection (conn_type slackwebhook): the whole URL in the password, or the
    endpoint in host (schema = scheme) and the token path in the password."""
    if full_url:
        return json.dumps({"conn_type": "slackwebhook", "password": slack.url})
    host, _, token_path = slack.url.removeprefix("http://").partition("/services/")
    return json.dumps(
        {"conn_type": "slackwebhook", "host": f"{host}/services", "schema": "http", "password": token_path}
    )


def test_listener_alerts_a_dag_without_callbacks(airflow_bin: Path, listener_env: dict[str, str]) -> None:
    """No SLACK_WEBHOOK_URL: the listener finds the Slack provider's default connection, slack_default."""
    with FakeSlack() as slack:
        result = dags_test(
            airflow_bin,
            listener_env,
            "listener_unwired",
            AIRFLOW_CONN_SLACK_DEFAULT=slackwebhook_connection(slack, full_url=True),
        )
        alerts = posted_alerts(slack)
    assert "listener_unwired.boom fails on purpose" in result.output, result.output[-5000:]
    headlines = sorted(a.headline for a in alerts)
    assert headlines == [
        "🔥 [Airflow] DAG failed: listener_unwired · ci",
        "🔥 [Airflow] task failed: listener_unwired.boom: RuntimeError: listener_unwired.boom fails on purpose · ci",
        "🔥 [Airflow] task failed: listener_unwired.flaky: ValueError: listener_unwired.flaky fails on every try · ci",
    ], "one alert per final failure: none for flaky's first try (up for retry), none for ok"
    flaky = find(alerts, "listener_unwired.flaky")[0]
    assert flaky.fields["try"] == "2"
    # The same alerts as a DAG wired with alert_slack at task and DAG level (see test_airflow.py for that shape).
    boom = find(alerts, "listener_unwired.boom")[0]
    assert boom.fields["task"] == "boom" and boom.fields["exception"] == "RuntimeError"
    assert boom.link is not None and boom.link.startswith(f"{BASE_URL}/dags/listener_unwired")
    dag = find(alerts, "DAG failed")[0]
    assert dag.fields["reason"] == "task_failure"
    assert dag.fields["failed task"] in ("boom", "flaky") and dag.fields["try"] in ("1", "2")
    assert dag.fields["run_id"] == boom.fields["run_id"] and dag.link is not None
    assert "alerts_lib: listener" not in result.output, "a listener hook or job failed"
    assert_no_secret(result.output, TOKEN)


def test_notifier_as_task_and_dag_callback_beside_others(
    airflow_bin: Path, listener_env: dict[str, str], tmp_path: Path
) -> None:
    """AlertNotifier in on_failure_callback lists at both levels, the listener on: one alert per failure.
    On 3.3.2 the DAG-level call gets a SerializedDAG (Airflow #64649), where BaseNotifier itself crashes.
    The webhook comes from the connection slack_webhook_default (endpoint and token in separate fields)."""
    marker = tmp_path / "other-callbacks"
    with FakeSlack() as slack:
        result = dags_test(
            airflow_bin,
            listener_env,
            "notifier_smoke",
            AIRFLOW_CONN_SLACK_WEBHOOK_DEFAULT=slackwebhook_connection(slack, full_url=False),
            NOTIFIER_MARKER=str(marker),
        )
        alerts = posted_alerts(slack)
    assert len(alerts) == 2, [a.headline for a in alerts]
    task = find(alerts, "first broke in notifier_smoke")
    assert [a.headline for a in task] == ["<!subteam^S0TEST> 🔥 [Airflow] first broke in notifier_smoke · ci"]
    assert task[0].fields["owner"] == "team-first"  # a templated extra field
    assert task[0].fields["exception"] == "RuntimeError"
    dag = find(alerts, "DAG failed: notifier_smoke")
    assert len(dag) == 1 and dag[0].fields["run"] == task[0].fields["run_id"]  # {{ run_id }} rendered
    assert dag[0].fields["failed task"] == "first"
    # The callable after it in each list ran too.
    assert sorted(marker.read_text().split()) == ["dag", "task"]
    assert "get_template_env" not in result.output
    assert_no_secret(result.output, TOKEN)


def test_notifier_templates_against_real_airflow_objects(airflow_bin: Path, listener_env: dict[str, str], tmp_path):
    out = tmp_path / "notifier.json"
    result = run(airflow_bin / "python", [str(SUPPORT / "check_notifier.py"), str(out)], listener_env)
    assert result.returncode == 0, result.output[-5000:]
    report = json.loads(out.read_text())
    # A notifier shared by tasks renders each context from its templates, not from the last rendering.
    assert report["shared"][:2] == [
        "🔥 [Airflow] first failed in notify_me · ci",
        "🔥 [Airflow] second failed in notify_me · ci",
    ]
    assert [f.get("who") for f in report["fields"][:2]] == ["first", "second"]
    # A template that raises: sent as written; a broken context: still an alert, never an exception.
    assert report["shared"][2:] == ["🔥 [Airflow] {{ 1 / 0 }} never renders · ci"] * 2
    if AIRFLOW_MAJOR >= 3:
        assert "get_template_env" in report["airflow_base_on_serialized"], "Airflow #64649 fixed? update README"
        assert report["serialized"] == ["🔥 [Airflow] serialized in manual__1 · ci"]
