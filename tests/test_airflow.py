"""alert_slack and friends with callback contexts shaped like Airflow 3 and 2 hand them (no Airflow needed).

The shapes follow what Airflow 3.3.2 and 2.10.5 pass (see REFERENCE.md): task-level contexts with ``ti``,
DAG-level ones with ``reason`` (and, depending on the version, a ``ti`` or none), manual Airflow 3 runs
without ``logical_date``/``ts``/``ds``, ``exception`` as an exception or a str. The real-Airflow test in
test_airflow_integration.py checks the same against a real ``airflow dags test``.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
import time
from collections.abc import Iterator, Mapping
from types import SimpleNamespace
from typing import Any

import pytest

from alerts_lib.airflow import (
    DEFAULT_TIMEOUT,
    alert_slack,
    alert_slack_retry,
    alert_slack_success,
    connection_webhook,
    context_alert,
    make_slack_callback,
    slack_webhook,
)
from alerts_lib.integrations.airflow import _once
from alerts_lib.testing import CapturedAlert, capture_alerts
from tests.support.fake_slack import TOKEN, FakeSlack

RUN_ID = "manual__2026-11-21T08:21:40.457211+00:00"
RUN_ID_QUOTED = "manual__2026-11-21T08%3A21%3A40.457211%2B00%3A00"
LOGICAL = dt.datetime(2026, 11, 21, 8, 21, 40, 264833, tzinfo=dt.timezone.utc)
RUN_AFTER = dt.datetime(2026, 11, 21, 8, 21, 40, 457211, tzinfo=dt.timezone.utc)
AF3_LOG = f"http://localhost:8080/dags/etl/runs/{RUN_ID_QUOTED}/tasks/load?try_number=2"
AF2_LOG = f"http://localhost:8080/dags/etl/grid?dag_run_id={RUN_ID_QUOTED}&task_id=load&map_index=-1&tab=logs"
BASE_URL_VARS = (
    "AIRFLOW__API__BASE_URL",
    "AIRFLOW__WEBSERVER__BASE_URL",
    "AIRFLOW__WEBSERVER__WEB_SERVER_BASE_URL",
)


# -- contexts as Airflow builds them ----------------------------------------------------------------------


def af3_ti(task_id: str = "load", *, log_url: str | None = AF3_LOG, state: Any = "failed", **more: Any) -> Any:
    return SimpleNamespace(
        dag_id="etl",
        task_id=task_id,
        run_id=RUN_ID,
        try_number=2,
        map_index=-1,
        log_url=log_url,
        state=state,
        **more,
    )


def af3_dag_run(*, logical_date: dt.datetime | None = LOGICAL) -> Any:
    return SimpleNamespace(dag_id="etl", run_id=RUN_ID, logical_date=logical_date, run_after=RUN_AFTER)


def af3_task_context(exception: Any = None, *, manual: bool = False, **ti: Any) -> dict[str, Any]:
    """Airflow 3 task-level: ``ti``, no ``execution_date``; manual runs lack the date keys."""
    context: dict[str, Any] = {
        "dag": SimpleNamespace(dag_id="etl"),
        "task": SimpleNamespace(task_id="load"),
        "ti": af3_ti(**ti),
        "dag_run": af3_dag_run(logical_date=None if manual else LOGICAL),
        "run_id": RUN_ID,
        "exception": ValueError("bad weights") if exception is None else exception,
    }
    context["task_instance"] = context["ti"]
    if not manual:
        context.update(logical_date=LOGICAL, ts=LOGICAL.isoformat(), ds="2026-11-21")
    return context


def af3_dag_context(*, with_ti: bool = True, reason: str = "task_failure") -> dict[str, Any]:
    """Airflow 3 DAG-level: ``reason``; 3.1+ adds the task that caused the failure, 3.0.x only the run."""
    if not with_ti:
        return {"dag": SimpleNamespace(dag_id="etl"), "run_id": RUN_ID, "reason": reason}
    context = af3_task_context()
    del context["exception"]
    context["ti"] = context["task_instance"] = af3_ti(state=None)  # as the DAG processor builds it
    context["reason"] = reason
    return context


def af2_task_context(*, log_url: str | None = AF2_LOG, state: str = "failed") -> dict[str, Any]:
    """Airflow 2.10 task-level: still has ``execution_date`` (and ``logical_date``)."""
    ti = SimpleNamespace(dag_id="etl", task_id="load", run_id=RUN_ID, try_number=1, map_index=-1, state=state)
    if log_url is not None:
        ti.log_url = log_url
    return {
        "dag": SimpleNamespace(dag_id="etl"),
        "task": SimpleNamespace(task_id="load"),
        "ti": ti,
        "task_instance": ti,
        "dag_run": SimpleNamespace(dag_id="etl", run_id=RUN_ID, logical_date=LOGICAL, execution_date=LOGICAL),
        "run_id": RUN_ID,
        "logical_date": LOGICAL,
        "execution_date": LOGICAL,
        "ts": LOGICAL.isoformat(),
        "exception": KeyError("missing column"),
    }


def af2_dag_context(last_ti_state: str) -> dict[str, Any]:
    """Airflow 2 DAG-level: ``reason`` plus the run's *last* task instance, whatever its state."""
    context = af2_task_context(state=last_ti_state)
    del context["exception"]
    context["reason"] = "task_failure"
    return context


# -- helpers ------------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in BASE_URL_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def once_dir(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Any:
    """A fresh once-record per test: it lives under the temp dir (ALERTS_SPOOL_DIR is unset here)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return _once.directory()


@pytest.fixture
def captured() -> Iterator[list[CapturedAlert]]:
    with capture_alerts() as alerts:
        yield alerts


def fields(alert: CapturedAlert) -> dict[str, str]:
    """The Block Kit fields of a rendered alert, as {label: value}."""
    out: dict[str, str] = {}
    for block in alert.payload["blocks"]:
        for item in block.get("fields", ()):
            label, _, value = item["text"].partition("\n")
            out[label.strip("*")] = value
    return out


def link(alert: CapturedAlert) -> str | None:
    """The ``<url|View log>`` link of a rendered alert, unescaped."""
    for block in alert.payload["blocks"]:
        text = block.get("text", {}).get("text", "")
        if text.startswith("<http") and text.endswith("|View log>"):
            return text[1 : -len("|View log>")].replace("&amp;", "&")
    return None


def only(alerts: list[CapturedAlert]) -> CapturedAlert:
    assert len(alerts) == 1, [a.text for a in alerts]
    return alerts[0]


# -- task level ---------------------------------------------------------------------------------------------


def test_airflow3_task_failure(captured: list[CapturedAlert]) -> None:
    alert_slack(af3_task_context())
    alert = only(captured)
    assert alert.text == "🔥 [Airflow] task failed: etl.load: ValueError: bad weights · dev"
    assert fields(alert) == {
        "dag": "etl",
        "task": "load",
        "run_id": RUN_ID,
        "try": "2",
        "when": "2026-11-21T08:21:40+00:00",
        "exception": "ValueError",
    }
    assert link(alert) == AF3_LOG


def test_airflow3_manual_run_without_logical_date_uses_run_after(captured: list[CapturedAlert]) -> None:
    context = af3_task_context(manual=True)
    assert not {"logical_date", "ts", "ds", "execution_date"} & context.keys()
    alert_slack(context)
    assert fields(only(captured))["when"] == "2026-11-21T08:21:40+00:00 (run_after)"


def test_no_date_at_all_still_alerts(captured: list[CapturedAlert]) -> None:
    context = af3_task_context(manual=True)
    context["dag_run"] = None
    alert_slack(context)
    alert = only(captured)
    assert "when" not in fields(alert)
    assert fields(alert)["run_id"] == RUN_ID


def test_exception_as_str(captured: list[CapturedAlert]) -> None:
    alert_slack(af3_task_context("Task was killed externally: <!channel> & co"))
    alert = only(captured)
    # The str is the message; Slack control characters are escaped so nobody is pinged.
    assert (
        alert.text == "🔥 [Airflow] task failed: etl.load: Task was killed externally: &lt;!channel&gt; &amp; co · dev"
    )
    assert "<!channel>" not in str(alert.payload)


def test_long_exception_is_truncated_and_shown_in_full_block(captured: list[CapturedAlert]) -> None:
    message = "x" * 10_000
    alert_slack(af3_task_context(RuntimeError(message)))
    alert = only(captured)
    assert "…(truncated)" in alert.text and len(alert.text) < 300
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in alert.payload["blocks"])


def test_airflow2_task_failure(captured: list[CapturedAlert]) -> None:
    alert_slack(af2_task_context())
    alert = only(captured)
    assert alert.text == "🔥 [Airflow] task failed: etl.load: KeyError: 'missing column' · dev"
    assert fields(alert)["when"] == "2026-11-21T08:21:40+00:00"
    assert link(alert) == AF2_LOG


def test_task_id_from_task_when_ti_is_missing(captured: list[CapturedAlert]) -> None:
    context = af3_task_context()
    del context["ti"], context["task_instance"]
    alert_slack(context)
    assert only(captured).text.startswith("🔥 [Airflow] task failed: etl.load: ValueError")


# -- log links ----------------------------------------------------------------------------------------------


def test_log_link_built_from_airflow3_base_url(captured: list[CapturedAlert], monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.com/prod/")
    alert_slack(af3_task_context(log_url=None))
    assert link(only(captured)) == (
        f"https://airflow.example.com/prod/dags/etl/runs/{RUN_ID_QUOTED}/tasks/load?try_number=2"
    )


@pytest.mark.parametrize("variable", ["AIRFLOW__WEBSERVER__BASE_URL", "AIRFLOW__WEBSERVER__WEB_SERVER_BASE_URL"])
def test_log_link_built_from_airflow2_base_url(captured: list[CapturedAlert], monkeypatch, variable: str) -> None:
    monkeypatch.setenv(variable, "http://airflow2:8080")
    alert_slack(af2_task_context(log_url=None))
    assert link(only(captured)) == (
        f"http://airflow2:8080/dags/etl/grid?dag_run_id={RUN_ID_QUOTED}&task_id=load&tab=logs"
    )


def test_ti_log_url_wins_over_base_url(captured: list[CapturedAlert], monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://elsewhere.example.com")
    alert_slack(af3_task_context())
    assert link(only(captured)) == AF3_LOG


def test_no_link_without_log_url_or_base_url(captured: list[CapturedAlert]) -> None:
    alert_slack(af3_task_context(log_url=None))
    assert link(only(captured)) is None


def test_a_log_url_property_that_raises_falls_back(captured: list[CapturedAlert], monkeypatch) -> None:
    class BrokenTI:
        dag_id, task_id, run_id, try_number, map_index, state = "etl", "load", RUN_ID, 1, 3, "failed"

        @property
        def log_url(self) -> str:
            raise RuntimeError("config not loaded")

    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://af:8080")
    context = af3_task_context()
    context["ti"] = BrokenTI()
    alert_slack(context)
    alert = only(captured)
    assert link(alert) == f"http://af:8080/dags/etl/runs/{RUN_ID_QUOTED}/tasks/load/mapped/3?try_number=1"
    assert fields(alert)["map index"] == "3"


def test_javascript_or_forged_log_urls_are_not_linked(captured: list[CapturedAlert]) -> None:
    alert_slack(af3_task_context(log_url="javascript:alert(1)"))
    alert_slack(af3_task_context(log_url="http://x|<!channel>"))
    assert [link(a) for a in captured] == [None, None]
    assert all("<!channel>" not in str(a.payload) for a in captured)


# -- DAG level ----------------------------------------------------------------------------------------------


def test_airflow3_dag_failure_names_the_failed_task(captured: list[CapturedAlert]) -> None:
    alert_slack(af3_dag_context())
    alert = only(captured)
    assert alert.text == "🔥 [Airflow] DAG failed: etl · dev"
    assert fields(alert) == {
        "dag": "etl",
        "run_id": RUN_ID,
        "when": "2026-11-21T08:21:40+00:00",
        "reason": "task_failure",
        "failed task": "load",
    }
    assert link(alert) == AF3_LOG  # the failed task's log: where the operator goes next


def test_airflow30_dag_failure_without_ti(captured: list[CapturedAlert], monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://af:8080")
    alert_slack(af3_dag_context(with_ti=False))
    alert = only(captured)
    assert alert.text == "🔥 [Airflow] DAG failed: etl · dev"
    assert fields(alert) == {"dag": "etl", "run_id": RUN_ID, "reason": "task_failure"}
    assert link(alert) == f"http://af:8080/dags/etl/runs/{RUN_ID_QUOTED}"


def test_airflow2_dag_failure_ignores_a_last_task_that_succeeded(captured: list[CapturedAlert]) -> None:
    alert_slack(af2_dag_context("success"))
    alert_slack(af2_dag_context("failed"))
    ignored, named = captured
    assert "failed task" not in fields(ignored)
    assert link(ignored) == f"http://localhost:8080/dags/etl/grid?dag_run_id={RUN_ID_QUOTED}"  # the run, not a task
    assert fields(named)["failed task"] == "load"
    assert link(named) == AF2_LOG


def test_dag_success_links_the_run(captured: list[CapturedAlert]) -> None:
    context = af3_dag_context(reason="success")
    context["ti"] = context["task_instance"] = af3_ti(state="success")
    alert_slack_success(context)
    alert = only(captured)
    assert alert.text == "✅ [Airflow] DAG succeeded: etl · dev"
    assert "failed task" not in fields(alert)
    assert link(alert) == f"http://localhost:8080/dags/etl/runs/{RUN_ID_QUOTED}"


# -- other events and the factory ---------------------------------------------------------------------------


def test_retry_and_success_variants(captured: list[CapturedAlert]) -> None:
    alert_slack_retry(af3_task_context())
    context = af3_task_context()
    del context["exception"]
    alert_slack_success(context)
    retry, success = captured
    assert retry.text == "⚠️ [Airflow] task up for retry: etl.load: ValueError: bad weights · dev"
    assert success.text == "✅ [Airflow] task succeeded: etl.load · dev"


def test_factory_mention_fields_env(captured: list[CapturedAlert]) -> None:
    callback = make_slack_callback(
        mention="<!subteam^S123>",
        extra_fields=lambda ctx: {"owner": "ml-team", "conf": ctx["dag_run"].run_id},
        env="prod",
    )
    assert callback.__name__ == "alert_slack_failed"  # what Airflow logs as the callback's name
    callback(af3_task_context())
    alert = only(captured)
    assert alert.text == "<!subteam^S123> 🔥 [Airflow] task failed: etl.load: ValueError: bad weights · prod"
    assert fields(alert)["owner"] == "ml-team"
    assert fields(alert)["conf"] == RUN_ID


def test_factory_extra_fields_that_raise_do_not_lose_the_alert(captured: list[CapturedAlert], caplog) -> None:
    make_slack_callback("retry", extra_fields=lambda ctx: 1 / 0)(af3_task_context())
    make_slack_callback(extra_fields={"team": "<!here>"})(af3_task_context())
    broken, static = captured
    assert broken.text.startswith("⚠️ [Airflow] task up for retry")
    assert "ZeroDivisionError" in caplog.text
    assert fields(static)["team"] == "&lt;!here&gt;"


@pytest.mark.parametrize("timeout", [-1, float("nan"), 600, "soon", None])
def test_factory_rejects_unbounded_timeouts(timeout: Any, caplog) -> None:
    callback = make_slack_callback(timeout=timeout)
    assert callable(callback)
    assert "timeout" in caplog.text


def test_unknown_event_is_treated_as_failure(captured: list[CapturedAlert]) -> None:
    make_slack_callback("exploded")(af3_task_context())  # type: ignore[arg-type]
    assert only(captured).text.startswith("🔥 [Airflow] task failed")


# -- malformed contexts: never raise, still say something -------------------------------------------------


class ExplodingMapping(Mapping[str, Any]):
    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("boom")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("boom")

    def __len__(self) -> int:
        return 1

    def __contains__(self, key: object) -> bool:
        raise RuntimeError("boom")


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no eq")

    __hash__ = object.__hash__


MALFORMED: list[Any] = [
    None,
    {},
    [],
    "a string",
    42,
    {"ti": None, "dag": None, "dag_run": None, "run_id": None, "exception": None, "reason": None},
    {"ti": "not a ti", "dag": 3.5, "dag_run": [], "exception": 12, "logical_date": "yesterday"},
    {
        "ti": {"dag_id": "dictdag", "task_id": "t", "try_number": "x", "map_index": "7"},
        "exception": b"\xff bytes",
    },
    {"ti": SimpleNamespace(dag_id=Unprintable(), task_id=Unprintable()), "exception": Unprintable()},
    {"reason": "task_failure", "ti": SimpleNamespace(state=object()), "run_id": Unprintable()},
    {"logical_date": dt.datetime.max, "exception": ValueError("\ud800 lone surrogate")},
    ExplodingMapping(),
]


@pytest.mark.parametrize("context", MALFORMED, ids=lambda c: type(c).__name__)
@pytest.mark.parametrize("callback", [alert_slack, alert_slack_retry, alert_slack_success])
def test_malformed_contexts_never_raise_and_still_alert(context: Any, callback: Any) -> None:
    with capture_alerts() as captured:
        assert callback(context) is None
    assert len(captured) == 1
    assert "[Airflow]" in captured[0].text


def test_context_alert_is_usable_on_its_own() -> None:
    alert = context_alert(af3_task_context(), "retry", env="staging")
    assert alert.text == "⚠️ [Airflow] task up for retry: etl.load: ValueError: bad weights · staging"


# -- delivery: bounded, before returning --------------------------------------------------------------------


def test_delivered_before_the_callback_returns(slack: FakeSlack, deliver_to) -> None:
    deliver_to(slack.url, min_interval=1.0)
    alert_slack(af3_task_context())
    alert_slack(af3_dag_context())  # paced one second behind the first: still waited for
    texts = slack.delivered_texts()  # no waiting here: the process may exit right now
    assert any("task failed: etl.load" in t for t in texts)
    assert any("DAG failed: etl" in t for t in texts)


def test_hanging_slack_holds_the_callback_at_most_its_timeout(slack: FakeSlack, deliver_to) -> None:
    slack.mode = "hang"
    deliver_to(slack.url, deadline=30.0, read_timeout=30.0)
    started = time.monotonic()
    make_slack_callback(timeout=1.0)(af3_task_context())
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 4.0, elapsed  # generous: a shared, noisy machine
    assert DEFAULT_TIMEOUT < 10


def test_no_webhook_logs_the_alert_and_returns_at_once(caplog) -> None:
    caplog.set_level(logging.INFO)
    started = time.monotonic()
    alert_slack(af3_task_context())
    assert time.monotonic() - started < 1.0
    assert "task failed: etl.load" in caplog.text


def test_per_callback_webhook(slack: FakeSlack, deliver_to) -> None:
    with FakeSlack() as default:
        deliver_to(default.url)
        make_slack_callback(webhook_url=slack.url)(af3_task_context())
        assert any("etl.load" in t for t in slack.delivered_texts())
        assert default.requests == []


def test_unreadable_connection_falls_back_to_the_default_webhook(slack: FakeSlack, deliver_to, caplog) -> None:
    # Without Airflow (as here) or without the Connection, the alert still goes to SLACK_WEBHOOK_URL.
    deliver_to(slack.url)
    make_slack_callback(conn_id="slack_ops")(af3_task_context())
    assert any("etl.load" in t for t in slack.delivered_texts())
    assert "slack_ops" in caplog.text


def test_webhook_token_never_logged(slack: FakeSlack, deliver_to, no_secret_in_logs) -> None:
    for mode in ("ok", "500", "invalid_token", "hang"):
        slack.mode = mode
        deliver_to(slack.url, deadline=0.5)
        make_slack_callback(timeout=0.5)(af3_task_context())
        make_slack_callback(webhook_url=slack.url, timeout=0.5)(af3_dag_context())
    assert slack.requests  # it did reach the webhook


# -- Connection → webhook URL -------------------------------------------------------------------------------

SERVICES = "https://hooks.slack.com/services"


@pytest.mark.parametrize(
    ("connection", "url"),
    [
        # The usual setup: HTTP connection, host = Slack's base URL, password = the token path.
        ({"host": SERVICES, "password": "T0/B0/secret"}, f"{SERVICES}/T0/B0/secret"),
        ({"host": SERVICES + "/", "password": "/T0/B0/secret"}, f"{SERVICES}/T0/B0/secret"),
        # The whole URL in the password (the Slack provider accepts it too).
        ({"host": "ignored", "password": f"{SERVICES}/T0/B0/secret"}, f"{SERVICES}/T0/B0/secret"),
        # A bare host name: schema is the scheme (as HttpHook reads it), port kept.
        (
            {"host": "hooks.slack.com", "schema": "https", "password": "services/T0/B0/s"},
            f"{SERVICES}/T0/B0/s",
        ),
        ({"host": "inbox", "schema": "http", "port": 8025, "password": "hook/x"}, "http://inbox:8025/hook/x"),
        # From a URI (http://:token@hooks.slack.com/services): the path lands in schema.
        ({"host": "hooks.slack.com", "schema": "services", "password": "T0/B0/s"}, f"{SERVICES}/T0/B0/s"),
        ({"password": "T0/B0/secret"}, f"{SERVICES}/T0/B0/secret"),  # a token only: Slack's base
        ({"host": "http://inbox:8025/hook"}, "http://inbox:8025/hook"),
        ({}, None),
        ({"host": None, "password": None}, None),
    ],
)
def test_connection_webhook(connection: dict[str, Any], url: str | None) -> None:
    assert connection_webhook(SimpleNamespace(**connection)) == url
    assert connection_webhook(connection) == url  # a dict (e.g. from a secrets backend) works too


def test_repr_of_options_hides_the_webhook() -> None:
    callback = make_slack_callback(webhook_url=f"https://hooks.slack.com/services/T0/B0/{TOKEN}")
    assert TOKEN not in repr(callback.__closure__[0].cell_contents)  # type: ignore[index]


def test_slack_webhook_outside_airflow_means_the_default(caplog) -> None:
    assert slack_webhook() is None  # SLACK_WEBHOOK_URL (no Airflow here to read a Connection from)
    assert slack_webhook("slack_ops") is None
    assert "slack_ops" in caplog.text


def test_importable_from_the_package_without_importing_airflow() -> None:
    import sys

    import alerts_lib

    assert alerts_lib.alert_slack is alert_slack
    assert "airflow" not in sys.modules
