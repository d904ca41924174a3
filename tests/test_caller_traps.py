"""What a new user trips over (issue "What a new user trips over", bugs 1–7): each fails on the old core."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
import warnings

import pytest

import alerts_lib
from alerts_lib import formatters
from tests.support.fake_slack import TOKEN, FakeSlack


def run_python(code: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "ALERTS_MIN_INTERVAL": "0", **env},
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize("how", ["process", "pool"])
def test_multiprocessing_children_deliver_their_alerts(slack: FakeSlack, how: str) -> None:
    result = run_python(
        f"""
        import multiprocessing as mp
        import alerts_lib

        def work(i):
            alerts_lib.send_slack_alert(f"from child {{i}}")
            return i

        if __name__ == "__main__":
            ctx = mp.get_context("fork")
            if "{how}" == "process":
                procs = [ctx.Process(target=work, args=(i,)) for i in range(3)]
                for p in procs: p.start()
                for p in procs: p.join()
            else:
                pool = ctx.Pool(2)
                pool.map(work, range(3))
                pool.close()
                pool.join()
        """,
        {"SLACK_WEBHOOK_URL": slack.url},
    )
    assert result.returncode == 0, result.stderr
    assert sorted("\n".join(slack.delivered_texts()).split("\n")) == [f"from child {i}" for i in range(3)]


def test_shutdown_counts_one_undelivered_alert_as_one(slack: FakeSlack) -> None:
    slack.mode = "hang"
    result = run_python(
        """
        import alerts_lib
        alerts_lib.send_slack_alert("only one")
        alerts_lib.flush(0.5)
        """,
        {"SLACK_WEBHOOK_URL": slack.url, "ALERTS_SHUTDOWN_TIMEOUT": "0.5"},
    )
    assert "1 alert(s) still undelivered at shutdown" in result.stderr, result.stderr


def test_queued_count_does_not_include_flush_markers(slack: FakeSlack, deliver_to) -> None:
    slack.mode = "hang"
    deliver_to(slack.url, deadline=5.0, read_timeout=5.0)
    alerts_lib.send_slack_alert("one")
    assert not alerts_lib.flush(0.3)
    assert alerts_lib.stats().queued == 1


def test_the_shutdown_line_is_capped(slack: FakeSlack) -> None:
    slack.mode = "hang"
    result = run_python(
        """
        import alerts_lib
        for i in range(900):
            alerts_lib.send_slack_alert(f"alert number {i} " + "x" * 200)
        """,
        {"SLACK_WEBHOOK_URL": slack.url, "ALERTS_SHUTDOWN_TIMEOUT": "0.5", "ALERTS_DEDUP_WINDOW": "0"},
    )
    (line,) = [line for line in result.stderr.splitlines() if "still undelivered at shutdown" in line]
    assert "900 alert(s)" in line and "… and" in line
    assert len(line) < 6000, f"{len(line)} characters in one log line"


def test_flush_inside_a_running_event_loop_warns_once(caplog: pytest.LogCaptureFixture, deliver_to) -> None:
    with FakeSlack() as slack:
        deliver_to(slack.url)

        async def handler() -> None:
            alerts_lib.send_slack_alert("x")
            alerts_lib.flush(1)
            alerts_lib.flush(1)
            assert await alerts_lib.aflush(1)

        asyncio.run(handler())
    assert caplog.text.count("use `await alerts_lib.aflush()`") == 1


def test_a_forgotten_await_loses_nothing(slack: FakeSlack, deliver_to) -> None:
    deliver_to(slack.url)

    async def handler() -> None:
        alerts_lib.asend_slack_alert("queued at call time")  # no await: a common slip
        assert await alerts_lib.asend_slack_alert("awaited") is True

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no "coroutine was never awaited" warning either
        asyncio.run(handler())
    assert alerts_lib.flush(5)
    assert "\n".join(slack.delivered_texts()).split("\n") == ["queued at call time", "awaited"]


def test_extra_positional_arguments_warn_and_never_raise(
    slack: FakeSlack, deliver_to, caplog: pytest.LogCaptureFixture
) -> None:
    deliver_to(slack.url)
    assert alerts_lib.send_slack_alert("msg", slack.url) is True  # the slack_sdk/requests habit
    assert alerts_lib.flush(5)
    assert slack.delivered_texts() == ["msg"]
    assert "ignoring 1 more" in caplog.text and "webhook_url=" in caplog.text
    assert TOKEN not in caplog.text


def test_a_slack_payload_dict_is_posted_as_a_payload_not_its_repr(slack: FakeSlack, deliver_to) -> None:
    deliver_to(slack.url)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*bold*"}}]
    assert alerts_lib.send_slack_alert({"text": "from a dict", "blocks": blocks, "channel": "#x"})
    assert alerts_lib.send_slack_alert({"colour": "red"}) is False  # not a Slack payload: refused, with a warning
    assert alerts_lib.flush(5)
    (post,) = slack.delivered
    assert post.json["text"] == "from a dict" and post.json["blocks"] == blocks
    assert "{'text'" not in post.body.decode() and "channel" not in post.json


@pytest.mark.parametrize("blank", ["", "   ", "\n"])
def test_blank_text_is_nothing_to_send(
    slack: FakeSlack, deliver_to, caplog: pytest.LogCaptureFixture, blank: str
) -> None:
    deliver_to(slack.url)
    caplog.set_level(logging.WARNING)
    assert alerts_lib.send_slack_alert(blank) is False
    assert alerts_lib.send_slack_alert("real") is True
    assert alerts_lib.flush(5)
    assert slack.delivered_texts() == ["real"]
    assert "blank text" in caplog.text


def test_storm_summary_is_a_short_line_naming_the_first_alert(slack: FakeSlack, deliver_to) -> None:
    deliver_to(slack.url, dedup_window=60)
    alerts_lib.send_slack_alert(formatters.prediction_error(KeyError("x2"), alias="A"))
    assert alerts_lib.flush(5)
    for _ in range(4):
        alerts_lib.send_slack_alert(formatters.prediction_error(KeyError("x2"), alias="A"))
    assert alerts_lib.flush(5)
    _, summary = slack.delivered
    assert len(summary.json["blocks"]) <= 2  # one line and its context, not the card again
    assert summary.text.startswith("↳ [FastAPI] … and 4 more like this within 1 s: “prediction error on @A: KeyError")
    assert "first seen" in summary.text and "in the last 0 s" not in summary.text
