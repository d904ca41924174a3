"""Nothing lost with ALERTS_SPOOL_DIR: alerts survive exits and kills, and are delivered once by another process."""

from __future__ import annotations

import logging
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import alerts_lib
from tests.support.fake_slack import PATH, TOKEN, FakeSlack

BASE_ENV = {"PATH": "/usr/bin:/bin", "ALERTS_MIN_INTERVAL": "0", "ALERTS_BACKOFF_MAX": "0.3"}


def python(code: str, env: dict[str, str], **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**BASE_ENV, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,  # type: ignore[call-overload]
    )


def run(code: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**BASE_ENV, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def drain(env: dict[str, str], timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alerts_lib", "drain", "--timeout", str(timeout)],
        env={**BASE_ENV, **env},
        capture_output=True,
        text=True,
        timeout=timeout + 30,
        check=False,
    )


def texts(slack: FakeSlack) -> list[str]:
    return sorted(line for text in slack.delivered_texts() for line in text.split("\n") if not line.startswith("_"))


def exit_while_slack_is_down(slack: FakeSlack, env: dict[str, str], lines: list[str]) -> None:
    slack.mode = "503"
    result = run(
        f"""
        import alerts_lib
        for text in {lines!r}:
            alerts_lib.send_slack_alert(text)
        """,
        {**env, "ALERTS_SHUTDOWN_TIMEOUT": "0.5"},
    )
    assert result.returncode == 0, result.stderr
    assert "kept in the spool" in result.stderr
    slack.mode = "ok"


def sigkill_after_queueing(slack: FakeSlack, env: dict[str, str], lines: list[str]) -> None:
    slack.mode = "hang"
    proc = python(
        f"""
        import sys, time
        import alerts_lib
        for text in {lines!r}:
            alerts_lib.send_slack_alert(text)
        time.sleep(1.0)  # about a second after queueing, everything is on disk
        print("queued", flush=True)
        time.sleep(60)
        """,
        env,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "queued"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    slack.mode = "ok"


@pytest.fixture
def spool_env(slack: FakeSlack, tmp_path: Path) -> dict[str, str]:
    return {"SLACK_WEBHOOK_URL": slack.url, "ALERTS_SPOOL_DIR": str(tmp_path / "spool")}


@pytest.mark.parametrize("failure", [exit_while_slack_is_down, sigkill_after_queueing], ids=["exit", "sigkill"])
def test_drain_delivers_what_a_dead_process_left(slack: FakeSlack, spool_env: dict[str, str], failure) -> None:
    failure(slack, spool_env, ["first", "second"])
    assert texts(slack) == []
    result = drain(spool_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "drained: the spool is empty" in result.stdout
    assert texts(slack) == ["first", "second"]
    again = drain(spool_env)
    assert again.returncode == 0 and texts(slack) == ["first", "second"]  # delivered once


@pytest.mark.parametrize("failure", [exit_while_slack_is_down, sigkill_after_queueing], ids=["exit", "sigkill"])
def test_a_long_lived_process_delivers_what_a_dead_one_left(
    slack: FakeSlack, spool_env: dict[str, str], failure
) -> None:
    service = python(
        """
        import time
        import alerts_lib
        alerts_lib.send_slack_alert("service up")
        time.sleep(120)
        """,
        {**spool_env, "ALERTS_SHUTDOWN_TIMEOUT": "0"},
    )
    try:
        assert slack.wait_for(lambda s: s.delivered, 10)
        failure(slack, spool_env, ["from the task"])
        # The service's worker looks for orphaned alerts at least every 30 s.
        assert slack.wait_for(lambda s: "from the task" in "\n".join(s.delivered_texts()), 40)
        (post,) = [p for p in slack.delivered if "from the task" in p.text]
        assert "⏱ delayed: raised" in post.text  # it says it waited, and where it was raised
    finally:
        service.kill()
        service.wait()
    assert texts(slack).count("from the task") == 1


def test_two_drains_at_once_deliver_each_alert_exactly_once(slack: FakeSlack, spool_env: dict[str, str]) -> None:
    lines = [f"alert {i:03}" for i in range(60)]
    exit_while_slack_is_down(slack, {**spool_env, "ALERTS_DEDUP_WINDOW": "0"}, lines)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "alerts_lib", "drain", "--timeout", "20"],
            env={**BASE_ENV, **spool_env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for proc in procs:
        proc.communicate(timeout=60)
    assert texts(slack) == lines


def test_a_drain_that_does_not_know_the_destination_leaves_the_alert(
    slack: FakeSlack, spool_env: dict[str, str]
) -> None:
    exit_while_slack_is_down(slack, spool_env, ["for the known webhook"])
    with FakeSlack() as other:
        result = drain({**spool_env, "SLACK_WEBHOOK_URL": other.url}, timeout=2)
        assert result.returncode == 1
        assert "1 alert(s) for destinations this configuration does not know" in result.stdout
        assert other.delivered == []
    assert drain(spool_env).returncode == 0
    assert texts(slack) == ["for the known webhook"]


def test_no_token_on_disk_and_private_permissions(slack: FakeSlack, spool_env: dict[str, str]) -> None:
    exit_while_slack_is_down(slack, spool_env, ["secret-free"])
    spool = Path(spool_env["ALERTS_SPOOL_DIR"])
    assert stat.S_IMODE(spool.stat().st_mode) == 0o700
    files = [p for p in spool.rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        data = path.read_bytes()
        assert TOKEN.encode() not in data and PATH.encode() not in data, path


def test_a_corrupt_spool_is_one_line_and_delivery_goes_on(
    slack: FakeSlack, tmp_path: Path, deliver_to, caplog: pytest.LogCaptureFixture
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir(mode=0o700)
    (spool / "spool.sqlite3").write_bytes(os.urandom(4096))
    caplog.set_level(logging.ERROR)
    deliver_to(slack.url, spool_dir=str(spool))
    assert alerts_lib.send_slack_alert("from memory")
    assert alerts_lib.flush(5)
    assert slack.delivered_texts() == ["from memory"]
    (line,) = [r.getMessage() for r in caplog.records if "spool" in r.getMessage()]
    assert "not a database" in line and "kept in memory only" in line


def test_a_read_only_spool_is_one_line_and_delivery_goes_on(slack: FakeSlack, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir(mode=0o700)
    # As root, permission bits do not stop writes: the sender runs as nobody, with a directory it cannot write.
    code = f"""
        import os, sys
        import alerts_lib
        alerts_lib.send_slack_alert("warm-up")  # loads every module first: nobody cannot read root's Python
        alerts_lib.flush(5)
        if os.geteuid() == 0:
            os.setgid(65534); os.setuid(65534)
        alerts_lib.configure(spool_dir={str(spool)!r})
        alerts_lib.send_slack_alert("from memory")
        sys.exit(0 if alerts_lib.flush(5) else 3)
    """
    tmp_path.chmod(0o755)
    result = run(code, {"SLACK_WEBHOOK_URL": slack.url})
    assert result.returncode == 0, result.stderr
    assert slack.delivered_texts() == ["warm-up", "from memory"]
    lines = [line for line in result.stderr.splitlines() if "spool" in line]
    assert len(lines) == 1 and "kept in memory only" in lines[0], result.stderr
