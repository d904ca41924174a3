"""alert_slack and friends with callback contexts shaped like Airflow 3 and 2 hand them (no Airflow needed).

The shapes follow what Airflow 3.3.2 and 2.10.5 pass (see REFERENCE.md): task-level contexts with ``ti``,
DAG-level ones with ``reason`` (and, depending on the version, a ``ti`` or none), manual Airflow 3 runs
without ``logical_date``/``ts``/``ds``, ``exception`` as an exception or a str. The real-Airflow test in
test_airflow_integration.py checks the same against a real ``airflow dags test``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from alerts_lib.airflow import (
    DEFAULT_CONN_IDS,
    DEFAULT_TIMEOUT,
    MAX_TIMEOUT,
    alert_slack,
    alert_slack_retry,
    alert_slack_success,
    connection_webhook,
    context_alert,
    make_slack_callback,
    slack_webhook,
)
from alerts_lib.integrations.airflow import _once, cause, delivery
from alerts_lib.testing import CapturedAlert, capture_alerts, reset_alerts
from tests.support.fake_slack import TOKEN, FakeSlack
from tests.support.slack_posts import split_alerts

REPO = Path(__file__).resolve().parent.parent
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


def af3_ti(
    task_id: str = "load", *, log_url: str | None = AF3_LOG, state: Any = "failed", try_number: int = 2, **more: Any
) -> Any:
    return SimpleNamespace(
        dag_id="etl",
        task_id=task_id,
        run_id=RUN_ID,
        try_number=try_number,
        map_index=-1,
        log_url=log_url,
        state=state,
        **more,
    )


def af3_dag_run(*, logical_date: dt.datetime | None = LOGICAL, clear_number: int = 0) -> Any:
    return SimpleNamespace(
        dag_id="etl", run_id=RUN_ID, logical_date=logical_date, run_after=RUN_AFTER, clear_number=clear_number
    )


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
    """A fresh once-record (and wait budget) per test: it lives under the temp dir (ALERTS_SPOOL_DIR unset)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(delivery, "_waited", {})
    return _once.directory()


@pytest.fixture
def captured() -> Iterator[list[CapturedAlert]]:
    with capture_alerts() as alerts:
        yield alerts


def fields(alert: CapturedAlert) -> dict[str, str]:
    """The Block Kit fields of a rendered alert, as {label: value}."""
    (posted,) = split_alerts([alert.payload])
    return posted.fields


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
    alert_slack(af3_task_context(log_url="http://x|<!channel>", try_number=3))  # another try: another failure
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
        "try": "2",
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


@pytest.mark.parametrize("timeout", [-1, float("nan"), 600, 16, "soon", None])
def test_factory_rejects_unbounded_timeouts(timeout: Any, caplog) -> None:
    callback = make_slack_callback(timeout=timeout)
    assert callable(callback)
    assert "timeout" in caplog.text


def test_the_cap_can_be_raised_with_task_success_overtime(monkeypatch, caplog) -> None:
    monkeypatch.setenv("ALERTS_AIRFLOW_MAX_TIMEOUT", "30")
    assert delivery.bounded_timeout(25) == 25
    monkeypatch.setenv("ALERTS_AIRFLOW_MAX_TIMEOUT", "forever")
    assert delivery.max_timeout() == MAX_TIMEOUT and "ALERTS_AIRFLOW_MAX_TIMEOUT" in caplog.text


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
    for attempt, mode in enumerate(("ok", "500", "invalid_token", "hang"), start=1):
        slack.mode = mode
        deliver_to(slack.url, deadline=0.5)
        make_slack_callback(timeout=0.5)(af3_task_context(try_number=attempt))
        context = af3_dag_context()
        context["dag_run"].clear_number = attempt
        make_slack_callback(webhook_url=slack.url, timeout=0.5)(context)
    assert {r.answered for r in slack.requests} >= {"ok", "500", "invalid_token", "hang"}


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


def test_alert_notifier_needs_airflow_and_says_so() -> None:
    import alerts_lib.airflow

    with pytest.raises(ImportError):
        _ = alerts_lib.airflow.AlertNotifier  # the lazy attribute imports Airflow's BaseNotifier


# -- once per failure: the shared record ----------------------------------------------------------------------


def heartbeat_context() -> dict[str, Any]:
    """A task callback as Airflow 3's DAG processor runs it after a heartbeat timeout: no exception."""
    context = af3_task_context()
    del context["exception"]
    return context


def test_a_failure_reported_twice_is_alerted_once(captured: list[CapturedAlert], once_dir, caplog) -> None:
    caplog.set_level(logging.INFO)
    alert_slack(heartbeat_context())
    alert_slack(heartbeat_context())
    alert = only(captured)
    assert fields(alert)["cause"] == "no error was reported: it lost its heartbeat or was killed outside Airflow"
    assert "already alerted" in caplog.text
    assert len(list(once_dir.iterdir())) == 1


def test_another_try_another_run_another_place_are_other_alerts(captured: list[CapturedAlert]) -> None:
    alert_slack(af3_task_context())
    alert_slack(af3_task_context(try_number=3))  # the retry's failure
    make_slack_callback(webhook_url="https://hooks.slack.com/services/T0/B0/other")(af3_task_context())
    make_slack_callback(destination="oncall")(af3_task_context())
    alert_slack_retry(af3_task_context())  # another event
    assert len(captured) == 5


def test_a_cleared_dag_run_that_fails_again_alerts_again(captured: list[CapturedAlert]) -> None:
    first, again = af3_dag_context(), af3_dag_context()
    again["dag_run"] = af3_dag_run(clear_number=1)
    alert_slack(first)
    alert_slack(first)
    alert_slack(again)
    assert len(captured) == 2


def test_a_context_without_the_whole_key_is_never_held_back(captured: list[CapturedAlert]) -> None:
    """Airflow 3.0's DAG-level contexts have no dag_run (so no clear number): a duplicate beats a loss."""
    alert_slack(af3_dag_context(with_ti=False))
    alert_slack(af3_dag_context(with_ti=False))
    assert len(captured) == 2


def test_two_processes_reporting_one_heartbeat_timeout_send_one_alert(slack: FakeSlack, tmp_path) -> None:
    """As Airflow 3.3.2 does: the task callback runs twice, at once, in two short-lived processes."""
    script = tmp_path / "callback.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys, time
            sys.path.insert(0, sys.argv[1])
            from tests.test_airflow import heartbeat_context
            from alerts_lib import alert_slack
            time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # start together
            alert_slack(heartbeat_context())
            """
        )
    )
    env = {**os.environ, "SLACK_WEBHOOK_URL": slack.url, "TMPDIR": str(tmp_path), "ALERTS_MIN_INTERVAL": "0"}
    start = str(time.time() + 3)
    procs = [subprocess.Popen([sys.executable, str(script), str(REPO), start], env=env, cwd=tmp_path) for _ in range(2)]
    assert [p.wait(60) for p in procs] == [0, 0]
    assert len(slack.delivered) == 1, [r.text for r in slack.requests]
    assert "task failed: etl.load" in slack.delivered[0].text


def test_once_record_lives_in_the_spool_when_set(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("ALERTS_SPOOL_DIR", str(tmp_path / "spool"))
    reset_alerts()
    assert _once.directory() == tmp_path / "spool" / "once"
    assert _once.claim(("k",)) and not _once.claim(("k",))
    assert len(list((tmp_path / "spool" / "once").iterdir())) == 1


def test_once_record_fails_open(captured: list[CapturedAlert], once_dir, caplog) -> None:
    """A record that cannot be written must not silence alerts: a duplicate beats a loss."""
    once_dir.write_text("not a directory")
    alert_slack(af3_task_context())
    alert_slack(af3_task_context())
    assert len(captured) == 2
    assert caplog.text.count("once-record is unusable") == 1


def test_once_record_refuses_a_directory_others_can_write(captured: list[CapturedAlert], once_dir, caplog) -> None:
    """In a shared temp dir, someone else could pre-claim failures to silence them."""
    once_dir.mkdir(mode=0o700)
    once_dir.chmod(0o777)
    alert_slack(af3_task_context())
    alert_slack(af3_task_context())
    assert len(captured) == 2
    assert "once-record is unusable" in caplog.text


def test_old_claims_are_pruned(once_dir) -> None:
    assert _once.claim(("old",))
    assert _once.claim(("new",))
    old = once_dir / _once.key_name(("old",))
    os.utime(old, (time.time() - _once.MAX_AGE - 60,) * 2)
    assert _once.prune(once_dir) == 1
    assert not old.exists() and len(list(once_dir.iterdir())) == 1
    assert _once.claim(("old",)), "claimable again once pruned"


# -- what a DAG-level alert says about the task that failed -------------------------------------------------


def test_dag_alert_says_how_a_killed_task_died(captured: list[CapturedAlert]) -> None:
    context = af3_dag_context()
    context["alerts_lib_cause"] = cause.signal_text("SIGKILL")  # what the listener / the task log found
    alert_slack(context)
    assert fields(only(captured))["cause"] == "killed by a signal (SIGKILL: likely out of memory, or killed by hand)"


@pytest.mark.parametrize(
    ("line", "said"),
    [
        (  # Airflow 3's supervisor, a JSON line in the task log
            '{"event":"Process terminated by signal. Likely out of memory error (OOM).","signal":-9,'
            '"signal_name":"SIGKILL","level":"critical"}',
            "killed by a signal (SIGKILL: likely out of memory, or killed by hand)",
        ),
        (
            '{"event":"Process terminated by signal.","signal":-15,"signal_name":"SIGTERM"}',
            "killed by a signal (SIGTERM)",
        ),
        (
            "[2026-11-21] INFO - Task exited with return code Negsignal.SIGKILL",
            "killed by a signal (SIGKILL: likely out of memory, or killed by hand)",
        ),  # Airflow 2
        (
            "[2026-11-21] INFO - Task exited with return code -11",
            "killed by a signal (SIGSEGV: a crash in native code)",
        ),
        ("[2026-11-21] INFO - Task exited with return code 1", None),
        ('{"event":"Task failed with exception"}', None),
    ],
)
def test_a_task_log_says_which_signal_ended_it(tmp_path, line: str, said: str | None) -> None:
    log = tmp_path / "attempt=1.log"
    log.write_text("x" * 100_000 + "\n" + line + "\n" + '{"event":"::endgroup::"}\n')
    assert cause.from_log(log) == said


def test_timed_out_run_names_the_task_still_running(captured: list[CapturedAlert]) -> None:
    context = af3_dag_context(reason="timed_out")
    context["ti"] = context["task_instance"] = af3_ti(state="skipped")
    alert_slack(context)
    got = fields(only(captured))
    assert (got["reason"], got["running task"]) == ("timed_out", "load")
    assert "failed task" not in got and "cause" not in got


def test_run_marked_failed_by_hand_says_so(captured: list[CapturedAlert]) -> None:
    alert_slack(af3_dag_context(reason="Dag Run's state was manually set to `failed`."))
    assert fields(only(captured))["reason"] == "marked failed by hand"


# -- the time budget ----------------------------------------------------------------------------------------


def test_budget_stays_below_task_success_overtime() -> None:
    """Airflow SIGTERMs the task process [core] task_success_overtime (20 s) after its state is reported."""
    assert DEFAULT_TIMEOUT <= MAX_TIMEOUT == 15 < 20


def test_one_failure_waits_at_most_max_timeout_in_all(slack: FakeSlack, deliver_to, monkeypatch) -> None:
    """Two callbacks (and the listener) for one failure share one budget: the second does not wait again."""
    monkeypatch.setenv("ALERTS_AIRFLOW_MAX_TIMEOUT", "1")
    slack.mode = "hang"
    deliver_to(slack.url, deadline=30.0, read_timeout=30.0)
    started = time.monotonic()
    make_slack_callback(timeout=1.0)(af3_task_context())
    make_slack_callback(destination="oncall", timeout=1.0)(af3_task_context())
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 1.9, elapsed


# -- the Slack provider's webhook Connection ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("connection", "url"),
    [
        # conn_type slackwebhook, as the Slack provider's SlackWebhookHook reads it: password = token path,
        # host = the endpoint (default hooks.slack.com/services), schema = the scheme (default https).
        ({"conn_type": "slackwebhook", "password": "T0/B0/s"}, f"{SERVICES}/T0/B0/s"),
        (
            {"conn_type": "slackwebhook", "host": "hooks.slack.com/services", "schema": "https", "password": "T0/B0/s"},
            f"{SERVICES}/T0/B0/s",
        ),
        ({"conn_type": "slackwebhook", "host": SERVICES + "/", "password": "/T0/B0/s"}, f"{SERVICES}/T0/B0/s"),
        ({"conn_type": "slackwebhook", "password": f"{SERVICES}/T0/B0/s"}, f"{SERVICES}/T0/B0/s"),
        (
            {"conn_type": "slackwebhook", "host": "inbox:8025/services", "schema": "http", "password": "T0/B0/s"},
            "http://inbox:8025/services/T0/B0/s",
        ),
        ({"conn_type": "slackwebhook", "host": "hooks.slack.com/services"}, None),  # no token: not usable
        # The token in the extra's webhook_token (the provider before 6.0; many HTTP-connection setups).
        ({"conn_type": "http", "host": SERVICES, "extra": '{"webhook_token": "T0/B0/s"}'}, f"{SERVICES}/T0/B0/s"),
        (
            {"conn_type": "slackwebhook", "extra_dejson": {"webhook_token": f"{SERVICES}/T0/B0/s"}},
            f"{SERVICES}/T0/B0/s",
        ),
        ({"conn_type": "http", "host": SERVICES, "extra": "{not json"}, SERVICES),
        # A Slack API connection holds a bot token, not a webhook.
        ({"conn_type": "slack", "password": "xoxb-123"}, None),
    ],
)
def test_slack_provider_webhook_connection(connection: dict[str, Any], url: str | None) -> None:
    assert connection_webhook(SimpleNamespace(**connection)) == url
    assert connection_webhook(connection) == url


def test_default_connection_ids_include_the_slack_providers() -> None:
    assert DEFAULT_CONN_IDS == ("slack_conn", "slack_default", "slack_webhook_default")
