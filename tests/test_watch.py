"""The watch against real local HTTP servers: what it alerts, when, and that bad answers never crash it.

Polls are driven one tick at a time (``Watch.poll_once``), so "two failing polls in a row" is exact and no
test depends on the machine's speed; tests/test_watch_cli.py runs the real process on its own clock.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from pathlib import Path

import pytest

from alerts_lib import send_slack_alert
from alerts_lib.testing import CapturedAlerts, capture_alerts
from alerts_lib.watch import ConfigError, Key, Observation, Target, Watch, WatchConfig, format_duration, parse_duration
from alerts_lib.watch._alerts import started_alert
from alerts_lib.watch._config import add_arguments, from_args, validate
from alerts_lib.watch._http import Http
from alerts_lib.watch._state import Tracker
from tests.support.fake_airflow import PASSWORD, USER, FakeAirflow, dag, iso
from tests.support.fake_http import HANG, HUGE, Answer, FakeHTTP, html_answer, json_answer

OK = json_answer({"status": "ok", "loaded": ["A", "B"], "missing": []})
DOWN = Answer(500, b"Internal Server Error", "text/plain")


def config(tmp_path: Path, **kw: object) -> WatchConfig:
    return WatchConfig(status_file=tmp_path / "watch.status", interval=1.0, **kw)  # type: ignore[arg-type]


def polls(watch: Watch, n: int) -> None:
    for _ in range(n):
        watch.poll_once()


def alerts_of(alerts: CapturedAlerts, name: str) -> list[tuple[str | None, str]]:
    return [(a.alert.state, a.text) for a in alerts if a.alert is not None and a.alert.name == name]


# -- values -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("10m", 600), ("2h", 7200), ("1.5", 1.5)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "-5", "10 minutes", "1d", "m"])
def test_bad_durations_say_how_to_write_one(text: str) -> None:
    with pytest.raises(ConfigError, match=r"use e\.g\. 90, 90s, 10m, 2h"):
        parse_duration(text, "--interval")


def test_durations_for_people() -> None:
    assert format_duration(252) == "4 min 12 s"
    assert format_duration(7500) == "2 h 5 min"
    assert [format_duration(s) for s in (0.25, 12, 60, 3600)] == ["250 ms", "12 s", "1 min", "1 h"]


def parse(argv: list[str], env: dict[str, str] | None = None) -> WatchConfig:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return from_args(parser.parse_args(argv), env or {})


def test_every_flag_has_its_env_var_and_the_flag_wins(tmp_path: Path) -> None:
    env = {
        "ALERTS_WATCH_AIRFLOW": "http://airflow:8080/",
        "ALERTS_WATCH_AIRFLOW_USER": "watcher",
        "ALERTS_WATCH_AIRFLOW_PASSWORD_ENV": "MY_PW",
        "MY_PW": PASSWORD,
        "ALERTS_WATCH_HTTP": "model=http://fastapi:8000/health, other=http://o:1/h",
        "ALERTS_WATCH_INTERVAL": "30s",
        "ALERTS_WATCH_OVERDUE_GRACE": "etl=1h,15m",
        "ALERTS_WATCH_MAX_RUNTIME": "etl=2h",
        "ALERTS_WATCH_HEARTBEAT_URL": "https://hc-ping.com/uuid-secret",
        "ALERTS_WATCH_STATUS_FILE": str(tmp_path / "s"),
    }
    from_env = parse([], env)
    assert from_env.airflow == "http://airflow:8080"
    assert from_env.airflow_user == "watcher"
    assert from_env.airflow_password is not None and from_env.airflow_password.get_secret_value() == PASSWORD
    assert [(t.name, t.url) for t in from_env.http] == [
        ("model", "http://fastapi:8000/health"),
        ("other", "http://o:1/h"),
    ]
    assert from_env.interval == 30
    assert (from_env.overdue_grace, from_env.grace_for("etl"), from_env.grace_for("x")) == (900, 3600, 900)
    assert (from_env.max_runtime_for("etl"), from_env.max_runtime_for("x")) == (7200, None)
    assert from_env.status_file == tmp_path / "s"
    flags = parse(["--http", "a=http://a:1/", "--interval", "5", "--max-runtime", "3h"], env)
    assert [t.name for t in flags.http] == ["a"] and flags.interval == 5 and flags.max_runtime_for("y") == 10800
    # Defaults: 15 s, a 10 min grace, the status file under the temp dir.
    defaults = parse(["--http", "a=http://a:1/"])
    assert (defaults.interval, defaults.overdue_grace, defaults.status_file.name) == (
        15,
        600,
        "alerts_lib-watch.status",
    )


def test_password_from_a_file_never_shows(tmp_path: Path) -> None:
    secret_file = tmp_path / "pw"
    secret_file.write_text(PASSWORD + "\n")
    cfg = parse(["--airflow", "http://a:8080", "--airflow-user", USER, "--airflow-password-file", str(secret_file)])
    assert cfg.airflow_password is not None and cfg.airflow_password.get_secret_value() == PASSWORD
    assert PASSWORD not in repr(cfg) and PASSWORD not in str(cfg.airflow_password)
    assert all(PASSWORD not in v for _, v in cfg.describe())
    with pytest.raises(ConfigError, match="cannot read") as raised:
        parse(["--airflow", "http://a:8080", "--airflow-password-file", str(tmp_path / "missing")])
    assert PASSWORD not in str(raised.value)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "nothing to watch"),
        (["--http", "model"], "must be NAME=URL"),
        (["--http", "a=ftp://x"], "needs an http:// or https:// URL"),
        (["--http", "a=http://x/", "--http", "a=http://y/"], "used twice"),
        (["--airflow", "http://a:8080", "--airflow-user", "u"], "no password was found"),
        (["--http", "a=http://x/", "--overdue-grace", "etl=soon"], "--overdue-grace etl"),
    ],
)
def test_unusable_configurations_are_explained(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        validate(parse(argv))


def test_startup_alert_says_what_is_watched_without_secrets(tmp_path: Path) -> None:
    cfg = config(
        tmp_path,
        airflow="http://user:hunter2@airflow:8080",
        http=(Target("model", "http://fastapi:8000/health?token=abc"),),
        heartbeat_url="https://hc-ping.com/0000-secret-uuid",
    )
    with capture_alerts() as alerts, FakeHTTP():
        send_slack_alert(started_alert(cfg))
    (alert,) = alerts
    assert alert.text.startswith("ℹ️ [Watch] watch started: Airflow + 1 service (model)")
    fields = dict(alert.alert.fields) if alert.alert else {}
    assert fields["airflow"].startswith("http://airflow:8080 (components, import errors, overdue DAGs")
    assert fields["service model"] == "http://fastapi:8000/health"
    assert fields["heartbeat"] == "pinged every interval"
    rendered = str(alert.payload)
    for secret in ("hunter2", "token=abc", "secret-uuid"):
        assert secret not in rendered


# -- the state machine ------------------------------------------------------------------------------------

FAIL = Observation.failing("down", "service x down", "service x healthy again")


def run_tracker(pattern: str, start: float = 1000.0) -> list[tuple[int, str, float]]:
    """Feed ``pattern`` (F = failing poll, . = healthy poll), one poll per second; the transitions."""
    tracker = Tracker(Key.of("ServiceDown", service="x"))
    out = []
    for i, c in enumerate(pattern):
        t = tracker.observe(FAIL if c == "F" else Observation.healthy(), start + i)
        if t:
            out.append((i, t.state, t.duration))
    return out


def test_two_failing_polls_in_a_row_fire_once_and_two_healthy_ones_resolve() -> None:
    assert run_tracker("F.F.") == []  # never two in a row, never three in the window: nothing
    assert run_tracker("..FFFFFF..") == [(3, "firing", 1.0), (9, "resolved", 6.0)]  # from first failure to first ok


def test_flapping_alerts_once_not_per_poll() -> None:
    transitions = run_tracker("F.F.F.F.F.F.F.F.F.F......")
    assert [(i, s) for i, s, _ in transitions] == [(4, "firing"), (20, "resolved")]


def test_a_different_kind_of_failure_alerts_again_once_confirmed() -> None:
    tracker = Tracker(Key.of("ServiceDown", service="x"))
    degraded = Observation.failing("degraded", "service x degraded", "service x healthy again")
    states = [tracker.observe(o, float(i)) for i, o in enumerate([degraded, degraded, FAIL, degraded, FAIL, FAIL])]
    fired = [(i, t.observation.problem) for i, t in enumerate(states) if t]
    assert fired == [(1, "degraded"), (5, "down")]


# -- HTTP services ----------------------------------------------------------------------------------------


def test_service_down_after_two_polls_and_recovery_with_duration(tmp_path: Path) -> None:
    with FakeHTTP() as server, capture_alerts() as alerts:
        server.answer("/health", OK)
        watch = Watch(config(tmp_path, http=(Target("model", server.url("/health")),)))
        polls(watch, 2)
        server.answer("/health", DOWN)
        watch.poll_once()
        assert alerts_of(alerts, "ServiceDown") == []  # one bad poll is not an alert
        watch.poll_once()
        time.sleep(0.3)
        server.answer("/health", OK)
        polls(watch, 2)
    (firing, firing_text), (resolved, resolved_text) = alerts_of(alerts, "ServiceDown")
    assert (firing, resolved) == ("firing", "resolved")
    assert firing_text.startswith("🔥 [Watch] service model down: HTTP 500")
    assert resolved_text.startswith("✅ [Watch] service model healthy again after ")
    assert alerts[0].alert is not None and alerts[0].alert.labels == (("service", "model"),)
    assert alerts[0].alert.dedupe is False


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (
            json_answer({"status": "degraded", "loaded": ["A"], "missing": ["B"], "errors": {"B": "no READY version"}}),
            "⚠️ [Watch] service model degraded: @B not loaded (serving @A)",
        ),
        (
            json_answer({"status": "degraded", "loaded": [], "missing": ["A", "B"]}, 503),
            "🔥 [Watch] service model down: HTTP 503, no model variant loaded (expected @A, @B)",
        ),
        (json_answer({"status": "starting"}), "⚠️ [Watch] service model degraded: status 'starting'"),
        (html_answer(502), "🔥 [Watch] service model down: HTTP 502"),
        (Answer(401, b'{"detail": "Not authenticated"}'), "🔥 [Watch] service model down: HTTP 401"),
        (HUGE, "🔥 [Watch] service model down: answer larger than 1000 kB"),
        (HANG, "🔥 [Watch] service model down: no answer within 0.8 s"),
    ],
)
def test_service_answers_in_words(tmp_path: Path, answer: Answer, words: str) -> None:
    with FakeHTTP() as server, capture_alerts() as alerts:
        server.answer("/health", answer)
        watch = Watch(config(tmp_path, http=(Target("model", server.url("/health")),)))
        started = time.monotonic()
        polls(watch, 2)
        took = time.monotonic() - started
    texts = [t for _, t in alerts_of(alerts, "ServiceDown")]
    assert len(texts) == 1 and texts[0].startswith(words), texts
    assert took < 2 * 0.9 + 2, "each poll is cut off at its deadline"


@pytest.mark.parametrize("answer", [Answer(200, b"OK", "text/plain"), html_answer(200), json_answer({"up": True})])
def test_a_2xx_without_a_status_is_healthy(tmp_path: Path, answer: Answer) -> None:
    with FakeHTTP() as server, capture_alerts() as alerts:
        server.answer("/health", answer)
        polls(Watch(config(tmp_path, http=(Target("model", server.url("/health")),))), 3)
    assert alerts_of(alerts, "ServiceDown") == []


def test_flapping_service_alerts_once(tmp_path: Path) -> None:
    with FakeHTTP() as server, capture_alerts() as alerts:
        server.answer("/health", DOWN, OK)  # down, up, down, up … one answer per poll
        watch = Watch(config(tmp_path, http=(Target("model", server.url("/health")),)))
        polls(watch, 12)
        flapping = alerts_of(alerts, "ServiceDown")
        server.answer("/health", OK)
        polls(watch, 2)
    assert [s for s, _ in flapping] == ["firing"], flapping
    assert "(flapping: 3 of the last 6 polls failed)" in flapping[0][1]
    assert [s for s, _ in alerts_of(alerts, "ServiceDown")] == ["firing", "resolved"]


def test_one_hanging_target_does_not_delay_the_others(tmp_path: Path) -> None:
    with FakeHTTP() as server, capture_alerts() as alerts:
        server.answer("/hang", HANG)
        server.answer("/down", DOWN)
        targets = (Target("stuck", server.url("/hang")), Target("broken", server.url("/down")))
        watch = Watch(config(tmp_path, http=targets))
        started = time.monotonic()
        polls(watch, 2)
        took = time.monotonic() - started
    assert {t.split(":")[0] for _, t in alerts_of(alerts, "ServiceDown")} == {
        "🔥 [Watch] service stuck down",
        "🔥 [Watch] service broken down",
    }
    assert took < 2 * 0.9 + 2, "polled concurrently, each within its deadline"


def test_a_service_poll_cut_off_by_its_budget_is_down(tmp_path: Path) -> None:
    """On a loaded host the tick's budget can run out before the request's own deadline says so (CI saw it):
    the service must still count as down, not keep its last state."""
    with FakeHTTP() as server, capture_alerts() as alerts:
        server.answer("/health", HANG)
        watch = Watch(config(tmp_path, http=(Target("model", server.url("/health")),)))

        async def tick_with_a_late_request_deadline() -> None:
            async with Http(timeout=5.0) as http:  # later than the tick's 0.9 s budget
                await watch.tick(http)

        for _ in range(2):
            asyncio.run(tick_with_a_late_request_deadline())
    texts = [t for _, t in alerts_of(alerts, "ServiceDown")]
    assert len(texts) == 1 and texts[0].startswith("🔥 [Watch] service model down: no answer within 5 s"), texts


# -- Airflow (the API stand-in; the real Airflow is in tests/test_watch_airflow.py) ------------------------


def airflow_watch(tmp_path: Path, airflow: FakeAirflow, **kw: object) -> Watch:
    from alerts_lib.watch import Secret

    return Watch(config(tmp_path, airflow=airflow.url, airflow_user=USER, airflow_password=Secret(PASSWORD), **kw))


def test_airflow_component_unhealthy_then_healthy_again(tmp_path: Path) -> None:
    with FakeHTTP() as server, capture_alerts() as alerts:
        airflow = FakeAirflow(server)
        watch = airflow_watch(tmp_path, airflow)
        polls(watch, 2)
        airflow.health["scheduler"] = {"status": "unhealthy", "latest_scheduler_heartbeat": iso(-47)}
        polls(watch, 2)
        airflow.health["scheduler"] = {"status": "healthy", "latest_scheduler_heartbeat": iso()}
        polls(watch, 2)
    texts = alerts_of(alerts, "AirflowComponentUnhealthy")
    assert [s for s, _ in texts] == ["firing", "resolved"]
    assert texts[0][1].startswith("🔥 [Watch] Airflow scheduler unhealthy: last heartbeat 4")  # 47-48 s
    assert texts[1][1].startswith("✅ [Watch] Airflow scheduler healthy again after ")
    assert alerts[0].alert is not None and dict(alerts[0].alert.labels) == {"component": "scheduler"}


def test_airflow_down_is_one_alert_not_one_per_component(tmp_path: Path) -> None:
    with FakeHTTP() as server, capture_alerts() as alerts:
        watch = airflow_watch(tmp_path, FakeAirflow(server))
        polls(watch, 2)
    with capture_alerts() as alerts:  # the server is gone: connection refused
        polls(watch, 3)
    assert len(alerts) == 1, alerts.texts
    assert alerts.texts[0].startswith("🔥 [Watch] Airflow API unreachable: connection refused")


def test_database_down_is_one_alert(tmp_path: Path) -> None:
    with FakeHTTP() as server, capture_alerts() as alerts:
        airflow = FakeAirflow(server)
        watch = airflow_watch(tmp_path, airflow)
        polls(watch, 1)
        airflow.health = {  # what Airflow answers when its queries fail: every job looks dead too
            "metadatabase": {"status": "unhealthy"},
            "scheduler": {"status": "unhealthy", "latest_scheduler_heartbeat": None},
            "triggerer": {"status": "unhealthy", "latest_triggerer_heartbeat": None},
            "dag_processor": {"status": "unhealthy", "latest_dag_processor_heartbeat": None},
        }
        polls(watch, 3)
    assert [t.split(" · ")[0] for t in alerts.texts] == ["🔥 [Watch] Airflow metadata database unhealthy"]


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (html_answer(200), "answered something other than JSON"),
        (json_answer({"hello": "world"}), "answered JSON of another shape"),
        (json_answer([1, 2, 3]), "answered JSON of another shape"),
        (Answer(502, b"Bad Gateway", "text/plain"), "answered HTTP 502"),
        (HUGE, "answer larger than 1000 kB"),
        (HANG, "no answer within 0.8 s"),
    ],
)
def test_airflow_health_bad_answers_are_one_clear_alert(tmp_path: Path, answer: Answer, why: str) -> None:
    with FakeHTTP() as server, capture_alerts() as alerts:
        airflow = FakeAirflow(server)
        server.answer("/api/v2/monitor/health", answer)
        watch = airflow_watch(tmp_path, airflow)
        started = time.monotonic()
        polls(watch, 2)
        took = time.monotonic() - started
    assert len(alerts) == 1, alerts.texts
    assert alerts.texts[0].startswith("🔥 [Watch] Airflow API unreachable: ") and why in alerts.texts[0]
    assert took < 2 * 0.9 + 2


def test_import_error_alert_names_the_file_and_last_line_escaped(tmp_path: Path) -> None:
    with FakeHTTP() as server, capture_alerts() as alerts:
        airflow = FakeAirflow(server)
        watch = airflow_watch(tmp_path, airflow)
        polls(watch, 1)
        airflow.add_import_error("dags/etl.py", "RuntimeError: <!channel> broken & <https://evil|click>")
        polls(watch, 2)
        airflow.import_errors.clear()
        polls(watch, 2)
    (firing, ftext), (resolved, rtext) = alerts_of(alerts, "AirflowImportError")
    assert (firing, resolved) == ("firing", "resolved")
    assert ftext.startswith(
        "❌ [Watch] DAG file dags/etl.py does not import: RuntimeError: &lt;!channel&gt; broken &amp; &lt;https://evil|click&gt;"
    )
    assert rtext.startswith("✅ [Watch] DAG file dags/etl.py imports again after ")
    assert alerts[0].alert is not None and dict(alerts[0].alert.labels) == {"file": "dags/etl.py"}
    assert "<!channel>" not in str(alerts[0].payload)


def test_expired_token_logs_in_again_once(tmp_path: Path) -> None:
    with FakeHTTP() as server, capture_alerts() as alerts:
        airflow = FakeAirflow(server)
        watch = airflow_watch(tmp_path, airflow)
        polls(watch, 2)
        for _ in range(2):  # each poll_once runs on its own event loop
            airflow.expire_tokens()
            polls(watch, 2)
    assert airflow.logins == 3 and alerts.texts == [], "one login per expiry, though two reads got the 401"


def test_wrong_password_is_an_alert_not_a_crash(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from alerts_lib.watch import Secret

    caplog.set_level(logging.DEBUG)
    with FakeHTTP() as server, capture_alerts() as alerts:
        airflow = FakeAirflow(server)
        cfg = config(tmp_path, airflow=airflow.url, airflow_user=USER, airflow_password=Secret("wrong-" + PASSWORD))
        polls(Watch(cfg), 3)
    assert len(alerts) == 1, alerts.texts
    assert alerts.texts[0].startswith("⚠️ [Watch] watch cannot log in to Airflow: /auth/token answered HTTP 401")
    assert "(check --airflow-user and its password)" in alerts.texts[0]
    assert PASSWORD not in caplog.text and PASSWORD not in str(alerts[0].payload)


def test_api_401_403_and_bad_shapes_name_the_endpoint(tmp_path: Path) -> None:
    with FakeHTTP() as server, capture_alerts() as alerts:
        airflow = FakeAirflow(server)
        server.answer("/api/v2/importErrors", json_answer({"detail": "Forbidden"}, 403))
        server.answer("/api/v2/dags", json_answer({"items": []}))
        polls(airflow_watch(tmp_path, airflow), 2)
    texts = sorted(t.split(" · ")[0] for t in alerts.texts)
    assert texts == [
        "⚠️ [Watch] watch cannot read dags from Airflow: /dags: answered JSON of another shape (no 'dags' list)",
        "⚠️ [Watch] watch cannot read importErrors from Airflow: /importErrors: answered HTTP 403"
        " (the user lacks permission to read this)",
    ]


def test_overdue_dag_alerts_and_recovers_when_scheduled(tmp_path: Path) -> None:
    with FakeHTTP() as server, capture_alerts() as alerts:
        airflow = FakeAirflow(server)
        airflow.dags = [
            dag("late_one", due_in=-900),  # 15 min late, grace 10 min: overdue
            dag("late_lenient", due_in=-900),  # its own grace: 1 h
            dag("paused_one", due_in=-9000, paused=True),
            dag("broken_one", due_in=-9000, has_import_errors=True),
            dag("on_time", due_in=60),
            dag("unscheduled", due_in=None),
        ]
        watch = airflow_watch(tmp_path, airflow, overdue_grace_per_dag={"late_lenient": 3600.0})
        polls(watch, 2)
        airflow.dags[0] = dag("late_one", due_in=3600)  # the scheduler created its run: next one is later
        polls(watch, 2)
    (_, ftext), (_, rtext) = alerts_of(alerts, "AirflowDagOverdue")
    assert ftext.startswith("⚠️ [Watch] DAG late_one overdue: its next run was due 15 min")
    assert rtext.startswith("✅ [Watch] DAG late_one scheduled again after ")
    assert len(alerts) == 2, alerts.texts


def test_overdue_is_not_judged_while_the_scheduler_is_down(tmp_path: Path) -> None:
    with FakeHTTP() as server, capture_alerts() as alerts:
        airflow = FakeAirflow(server)
        airflow.dags = [dag(f"dag_{i}", due_in=-3600) for i in range(5)]
        airflow.health["scheduler"] = {"status": "unhealthy", "latest_scheduler_heartbeat": iso(-3600)}
        polls(airflow_watch(tmp_path, airflow), 3)
    assert [a.alert.name for a in alerts if a.alert] == ["AirflowComponentUnhealthy"]


def test_run_running_too_long(tmp_path: Path) -> None:
    with FakeHTTP() as server, capture_alerts() as alerts:
        airflow = FakeAirflow(server)
        airflow.runs = [
            {"dag_id": "etl", "dag_run_id": "scheduled__1", "state": "running", "start_date": iso(-7500)},
            {"dag_id": "etl", "dag_run_id": "scheduled__2", "state": "running", "start_date": iso(-60)},
            {"dag_id": "fast", "dag_run_id": "manual__1", "state": "running", "start_date": iso(-7500)},
        ]
        watch = airflow_watch(tmp_path, airflow, max_runtime_per_dag={"etl": 7200.0})
        polls(watch, 2)
        airflow.runs = airflow.runs[1:]
        polls(watch, 2)
    (_, ftext), (_, rtext) = alerts_of(alerts, "AirflowDagRunTooLong")
    assert ftext.startswith("⚠️ [Watch] DAG etl run running for 2 h 5 min (limit 2 h)")
    assert rtext.startswith("✅ [Watch] DAG etl has no run over 2 h any more after")
    assert len(alerts) == 2


def test_many_import_errors_are_paged_and_summarised(tmp_path: Path) -> None:
    with FakeHTTP() as server, capture_alerts() as alerts:
        airflow = FakeAirflow(server)
        for i in range(130):
            airflow.add_import_error(f"dags/f{i}.py", "SyntaxError: invalid syntax")
        polls(airflow_watch(tmp_path, airflow), 2)
    texts = [t for _, t in alerts_of(alerts, "AirflowImportError")]
    assert len(texts) == 11, "10 alerts, then one summary: a bad deploy does not flood the channel"
    assert texts[-1].startswith("❌ [Watch] … and 120 more AirflowImportError firing")
    status = json.loads((tmp_path / "watch.status").read_text())
    assert len(status["firing"]) == 130, "every file is tracked all the same"


def test_status_file_lists_every_check(tmp_path: Path) -> None:
    with FakeHTTP() as server, capture_alerts():
        server.answer("/down", DOWN)
        watch = Watch(config(tmp_path, http=(Target("broken", server.url("/down")),)))
        polls(watch, 2)
    status = json.loads((tmp_path / "watch.status").read_text())
    assert status["polls"] == 2 and status["interval"] == 1.0
    assert status["firing"] == ["ServiceDown{service=broken}"]
    assert status["checks"] == {"ServiceDown{service=broken}": "firing"}


def test_airflow_2_health_path_and_basic_auth(tmp_path: Path) -> None:
    """Airflow 2 has no /api/v2: health at /health, the rest at /api/v1 with basic auth (no token)."""
    import base64

    from alerts_lib.watch import Secret

    good = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    errors = {
        "import_errors": [{"filename": "/opt/airflow/dags/old.py", "stack_trace": "x\nNameError: name 'y'"}],
        "total_entries": 1,
    }
    with FakeHTTP() as server, capture_alerts() as alerts:
        server.answer(
            "/health", json_answer({"metadatabase": {"status": "healthy"}, "scheduler": {"status": "healthy"}})
        )
        server.route(
            "/api/v1/importErrors",
            lambda seen: json_answer(errors) if seen.headers.get("Authorization") == good else json_answer({}, 401),
        )
        server.answer(
            "/api/v1/dags", json_answer({"dags": [dag("v2_dag", due_in=None, next_dagrun_create_after=iso(-7200))]})
        )
        cfg = config(tmp_path, airflow=server.url(), airflow_user=USER, airflow_password=Secret(PASSWORD))
        polls(Watch(cfg), 2)
        assert not server.hits("/auth/token")
    assert sorted(t.split(":")[0] for t in alerts.texts) == [
        "⚠️ [Watch] DAG v2_dag overdue",
        "❌ [Watch] DAG file /opt/airflow/dags/old.py does not import",
    ]
