"""Short-lived processes still deliver at exit (bounded), forked children get their own worker, CLI works."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import alerts_lib
from tests.support.fake_slack import TOKEN, FakeSlack, refused_url

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str, env: dict[str, str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTS_") and k != "SLACK_WEBHOOK_URL"}
    full_env.update(env)
    full_env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_process_that_alerts_and_exits_still_delivers(slack: FakeSlack) -> None:
    result = run_python(
        "import alerts_lib; alerts_lib.send_slack_alert('bye from a short task')",
        {"SLACK_WEBHOOK_URL": slack.url},
    )
    assert result.returncode == 0, result.stderr
    assert slack.delivered_texts() == ["bye from a short task"]


def test_exit_is_bounded_when_slack_hangs(slack: FakeSlack) -> None:
    slack.mode = "hang"
    started = time.monotonic()
    result = run_python(
        "import alerts_lib; alerts_lib.send_slack_alert('stuck at exit')",
        {"SLACK_WEBHOOK_URL": slack.url, "ALERTS_SHUTDOWN_TIMEOUT": "1"},
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0
    assert elapsed < 6, f"exit took {elapsed:.1f} s with a 1 s shutdown timeout"
    assert "still undelivered at shutdown" in result.stderr and "stuck at exit" in result.stderr
    assert TOKEN not in result.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_starts_its_own_worker(slack: FakeSlack, deliver_to) -> None:
    deliver_to(slack.url)
    alerts_lib.send_slack_alert("from parent")
    assert alerts_lib.flush(5)
    pid = os.fork()
    if pid == 0:  # child: the parent's thread does not exist here
        ok = alerts_lib.send_slack_alert("from child") and alerts_lib.flush(5)
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    alerts_lib.send_slack_alert("parent again")
    assert alerts_lib.flush(5)
    assert slack.delivered_texts() == ["from parent", "from child", "parent again"]


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_python(f"import sys; from alerts_lib.__main__ import main; sys.exit(main({list(args)!r}))", env)


def test_cli_send_reports_delivery(slack: FakeSlack) -> None:
    result = cli("send", "hello from the CLI", env={"SLACK_WEBHOOK_URL": slack.url})
    assert result.returncode == 0, result.stderr
    assert "delivered to default (http://127.0.0.1:" in result.stdout and "/services/T…/B…/****" in result.stdout
    assert slack.delivered_texts() == ["hello from the CLI"]
    assert TOKEN not in result.stdout + result.stderr


@pytest.mark.parametrize(("mode", "words"), [("no_service", "revoked"), ("invalid_token", "token is invalid")])
def test_cli_send_explains_failure(slack: FakeSlack, mode: str, words: str) -> None:
    slack.mode = mode
    result = cli("send", "x", env={"SLACK_WEBHOOK_URL": slack.url})
    assert result.returncode == 1
    assert words in result.stdout and TOKEN not in result.stdout + result.stderr


def test_cli_send_with_unreachable_slack_fails_in_bounded_time() -> None:
    result = cli("send", "x", "--timeout", "2", env={"SLACK_WEBHOOK_URL": refused_url()})
    assert result.returncode == 1 and "could not connect" in result.stdout


def test_cli_check() -> None:
    good = cli("check", env={"SLACK_WEBHOOK_URL": f"https://hooks.slack.com/services/T1/B1/{TOKEN}"})
    assert good.returncode == 0 and "ready: alerts go to https://hooks.slack.com/services/T…/B…/****" in good.stdout
    assert TOKEN not in good.stdout + good.stderr
    bad = cli("check", env={"SLACK_WEBHOOK_URL": f"hooks.slack.com/{TOKEN}", "ALERTS_DEADLINE": "x"})
    assert bad.returncode == 1
    assert "must start with https://" in bad.stderr and "ALERTS_DEADLINE" in bad.stderr
    assert TOKEN not in bad.stdout + bad.stderr
    unset = cli("check", env={})
    assert unset.returncode == 1 and "SLACK_WEBHOOK_URL is not set" in unset.stdout


def test_exit_does_not_wait_again_after_a_flush_already_timed_out(slack: FakeSlack) -> None:
    slack.mode = "hang"
    started = time.monotonic()
    result = run_python(
        """
        import alerts_lib
        alerts_lib.send_slack_alert('callback alert')
        assert alerts_lib.flush(1) is False  # what an Airflow callback does: a bounded wait
        """,
        {"SLACK_WEBHOOK_URL": slack.url, "ALERTS_SHUTDOWN_TIMEOUT": "5"},
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert elapsed < 4, f"exit waited {elapsed:.1f} s after a flush had already given up"
    assert "still undelivered at shutdown" in result.stderr and "callback alert" in result.stderr


def test_forked_child_that_clears_atexit_still_flushes_at_exit(slack: FakeSlack) -> None:
    result = run_python(
        """
        import atexit, os, sys
        import alerts_lib
        alerts_lib.send_slack_alert('parent')
        alerts_lib.flush(5)
        pid = os.fork()
        if pid == 0:
            atexit._clear()  # as Airflow 3's task runner does in its forked task process
            alerts_lib.send_slack_alert('child, delivered by the exit flush')
            sys.exit(0)
        os.waitpid(pid, 0)
        """,
        {"SLACK_WEBHOOK_URL": slack.url},
    )
    assert result.returncode == 0, result.stderr
    assert slack.delivered_texts() == ["parent", "child, delivered by the exit flush"]
