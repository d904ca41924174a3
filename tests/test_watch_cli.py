"""``python -m alerts_lib watch`` as a process: signals, the probe, exit codes, and no secret in its output."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alerts_lib.__main__ import main as alerts_main
from tests.support.fake_airflow import PASSWORD, USER, FakeAirflow
from tests.support.fake_http import HANG, Answer, FakeHTTP
from tests.support.fake_slack import TOKEN, FakeSlack
from tests.support.watch_helpers import REPO, wait_for, watch_env, watching

HEARTBEAT_SECRET = "9f1c-heartbeat-uuid-SECRET"
URL_PASSWORD = "url-pa55-SECRET"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alerts_lib", *args],
        env=env or watch_env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_the_watch_within_the_flush_bound(tmp_path: Path, sig: signal.Signals) -> None:
    """Mid-poll (one endpoint hangs) and with Slack hanging, it still exits 0 within ALERTS_SHUTDOWN_TIMEOUT."""
    status = tmp_path / "status"
    with FakeSlack(mode="hang") as slack, FakeHTTP() as server:
        server.answer("/hang", HANG)
        server.answer("/down", Answer(503, b"down"))
        env = watch_env(SLACK_WEBHOOK_URL=slack.url, ALERTS_SHUTDOWN_TIMEOUT="1", ALERTS_DEADLINE="30")
        args = ["watch", "--http", f"stuck={server.url('/hang')}", "--http", f"down={server.url('/down')}"]
        args += ["--interval", "2", "--status-file", str(status)]
        with watching(args, env, tmp_path / "watch.log") as proc:
            assert wait_for(lambda: status.exists() and len(server.hits("/hang")) >= 2, 30), (
                tmp_path / "watch.log"
            ).read_text()
            assert slack.requests, "the startup alert is being delivered (and hangs)"
            started = time.monotonic()
            proc.send_signal(sig)
            code = proc.wait(20)
            took = time.monotonic() - started
    output = (tmp_path / "watch.log").read_text()
    assert code == 0, output
    # Flush bound 1 s, plus interpreter teardown on a loaded machine: far below the 30 s an unbounded flush takes.
    assert took < 1 + 5, f"stopping took {took:.1f} s (flush bound 1 s)"
    assert f"{sig.name} received, stopping" in output and "Traceback" not in output
    assert TOKEN not in output


def probe_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """``python -m alerts_lib watch --probe …`` in this process (the same main as the CLI's, minus startup)."""
    code = alerts_main(["watch", "--probe", *args])
    return code, capsys.readouterr().out


def test_probe_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    status = tmp_path / "status"
    code, out = probe_main(capsys, "--status-file", str(status))
    assert code == 1 and "no status file" in out
    status.write_text("not json")
    assert probe_main(capsys, "--status-file", str(status))[0] == 1
    status.write_text(json.dumps({"updated": time.time() - 100, "interval": 15}))
    code, out = probe_main(capsys, "--status-file", str(status))
    assert code == 1 and re.search(r"stale: last poll 1 min 4\d s ago \(limit 45 s\)", out)
    status.write_text(json.dumps({"updated": time.time() - 10, "interval": 15, "firing": ["ServiceDown{service=x}"]}))
    monkeypatch.setenv("ALERTS_WATCH_STATUS_FILE", str(status))
    code, out = probe_main(capsys)
    assert code == 0 and "alive: last poll 1" in out and "1 firing" in out


def test_probe_of_a_running_watch_and_of_a_dead_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = tmp_path / "status"
    with FakeHTTP() as server:
        server.answer("/ok", Answer(200, b'{"status": "ok"}'))
        args = ["watch", "--http", f"model={server.url('/ok')}", "--interval", "0.5", "--status-file", str(status)]
        with watching(args, watch_env(), tmp_path / "watch.log") as proc:
            assert wait_for(status.exists)
            # The healthcheck command itself, as compose or k8s runs it.
            assert cli("watch", "--probe", "--status-file", str(status)).returncode == 0
            proc.kill()  # the watch dies: its status file goes stale after 3 intervals
            proc.wait(10)
            assert wait_for(lambda: probe_main(capsys, "--status-file", str(status))[0] == 1, 10)


def test_probe_needs_no_target_and_no_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compose healthcheck runs with the watch's env: an unreadable password file must not fail it."""
    status = tmp_path / "status"
    status.write_text(json.dumps({"updated": time.time(), "interval": 15}))
    monkeypatch.setenv("ALERTS_WATCH_AIRFLOW", "http://airflow:8080")
    monkeypatch.setenv("ALERTS_WATCH_AIRFLOW_PASSWORD_FILE", "/nonexistent")
    assert probe_main(capsys, "--status-file", str(status))[0] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["watch"], "watch: nothing to watch: pass --airflow URL and/or --http NAME=URL"),
        (["watch", "--http", "x=http://a/", "--interval", "soon"], "watch: --interval: 'soon' is not a duration"),
    ],
)
def test_unusable_configuration_exits_2_with_the_reason(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert alerts_main(args) == 2
    assert message in capsys.readouterr().err


def test_no_secret_in_output_at_debug_and_heartbeat_is_pinged(tmp_path: Path) -> None:
    """Root logging at DEBUG: the password, the JWTs, the webhook token and the heartbeat URL's secret never show."""
    status = tmp_path / "status"
    with FakeSlack() as slack, FakeHTTP() as server:
        airflow = FakeAirflow(server)
        server.answer(f"/ping/{HEARTBEAT_SECRET}", Answer(200, b"OK", "text/plain"))
        server.answer("/ok", Answer(200, b"OK", "text/plain"))
        env = watch_env(SLACK_WEBHOOK_URL=slack.url, AIRFLOW_WATCH_PASSWORD=PASSWORD, ALERTS_MIN_INTERVAL="0")
        args = ["-v", "watch", "--airflow", airflow.url, "--airflow-user", USER, "--interval", "0.5"]
        args += ["--http", f"svc={server.url('/ok').replace('://', f'://u:{URL_PASSWORD}@')}"]
        args += ["--heartbeat-url", server.url(f"/ping/{HEARTBEAT_SECRET}"), "--status-file", str(status)]
        with watching(args, env, tmp_path / "watch.log") as proc:
            assert wait_for(lambda: airflow.logins >= 1 and len(server.hits("/api/v2/importErrors")) >= 2)
            airflow.expire_tokens()  # a re-login mid-run
            assert wait_for(lambda: airflow.logins >= 2 and len(server.hits(f"/ping/{HEARTBEAT_SECRET}")) >= 3)
            assert server.hits("/ok"), "the service with a password in its URL was polled"
            assert wait_for(lambda: slack.delivered)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0
        output = (tmp_path / "watch.log").read_text()
        sent = json.dumps([r.json for r in slack.requests])
    assert "watch started: Airflow" in sent
    assert "HTTP Request: GET" in output, "DEBUG/INFO logging of httpx was on"
    for secret in (PASSWORD, TOKEN, HEARTBEAT_SECRET, URL_PASSWORD, *airflow.tokens):
        assert secret not in output, "a secret leaked into the watch's output"
        assert secret not in sent
