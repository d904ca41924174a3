"""ALERTS_CONFIG: destinations and routes, against real local webhooks; problems in the file are one clear line."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest

import alerts_lib
from alerts_lib import formatters
from tests.support.fake_slack import TOKEN, FakeSlack

FAST = {"min_interval": 0.0, "dedup_window": 0.0, "backoff_base": 0.05, "backoff_max": 0.2, "deadline": 1.0}


def write_config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "alerts.toml"
    path.write_text(text)
    return str(path)


@pytest.fixture
def two_webhooks(monkeypatch: pytest.MonkeyPatch):
    with FakeSlack() as oncall, FakeSlack() as team:
        monkeypatch.setenv("SLACK_ONCALL_WEBHOOK", oncall.url)
        monkeypatch.setenv("SLACK_TEAM_WEBHOOK", team.url)
        yield oncall, team


ROUTES = """
[destinations.oncall]
url = "${SLACK_ONCALL_WEBHOOK}"

[destinations.team]
url = "${SLACK_TEAM_WEBHOOK}"

[[routes]]
match = { severity = ["critical", "error"] }
to = ["oncall"]
continue = true

[[routes]]
match = { source = "Airflow" }
to = ["team"]

[[routes]]
to = ["team"]
"""


def test_the_first_matching_route_decides_and_continue_keeps_looking(two_webhooks, tmp_path: Path) -> None:
    oncall, team = two_webhooks
    alerts_lib.configure(config=write_config(tmp_path, ROUTES), **FAST)
    alerts_lib.send_slack_alert(formatters.prediction_error(ValueError("boom"), alias="A"))  # error → oncall, then…
    alerts_lib.send_slack_alert(formatters.model_registered("m", 3, "A"))  # Airflow, success → team
    alerts_lib.send_slack_alert("plain text")  # no severity or source: the catch-all
    assert alerts_lib.flush(5)
    assert oncall.delivered_texts() == ["❌ [FastAPI] prediction error on @A: ValueError: boom · dev"]
    team_texts = "\n".join(team.delivered_texts())
    # continue = true: the error also went on to the catch-all route (team); the Airflow route matched second.
    assert "prediction error" in team_texts and "model registered" in team_texts and "plain text" in team_texts
    per = alerts_lib.stats().destinations
    assert per["oncall"].delivered == 1 and per["team"].delivered == 3


def test_destination_argument_bypasses_routes(two_webhooks, tmp_path: Path) -> None:
    oncall, team = two_webhooks
    alerts_lib.configure(config=write_config(tmp_path, ROUTES), **FAST)
    assert alerts_lib.send_slack_alert("page me", destination="oncall")
    assert alerts_lib.send_slack_alert("nowhere", destination="nosuch") is False
    assert alerts_lib.flush(5)
    assert oncall.delivered_texts() == ["page me"] and team.delivered_texts() == []


def test_problems_name_file_line_and_key_and_the_good_destinations_keep_working(
    two_webhooks, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    oncall, _ = two_webhooks
    monkeypatch.delenv("SLACK_TEAM_WEBHOOK")
    config = write_config(
        tmp_path,
        """
[destinations.oncall]
url = "${SLACK_ONCALL_WEBHOOK}"

[destinations.team]
url = "${SLACK_TEAM_WEBHOOK}"

[[routes]]
to = ["oncall", "team", "typo"]
""",
    )
    caplog.set_level(logging.ERROR)
    alerts_lib.configure(config=config, **FAST)
    alerts_lib.send_slack_alert("still delivered")
    assert alerts_lib.flush(5)
    assert oncall.delivered_texts() == ["still delivered"]
    errors = [r.getMessage() for r in caplog.records]
    assert any("alerts.toml line 6: destinations.team.url: ${SLACK_TEAM_WEBHOOK} is not set" in e for e in errors)
    assert any("alerts.toml line 8: routes[0].to: unknown destination 'typo'" in e for e in errors)
    assert TOKEN not in caplog.text


def test_malformed_toml_is_one_line_and_falls_back_to_the_webhook(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = write_config(tmp_path, "[destinations.oncall\nurl = 1\n")
    with FakeSlack() as slack:
        alerts_lib.configure(config=config, webhook_url=slack.url, **FAST)
        alerts_lib.send_slack_alert("fallback")
        assert alerts_lib.flush(5)
        assert slack.delivered_texts() == ["fallback"]
    (line,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert "ALERTS_CONFIG alerts.toml is unusable (invalid TOML" in line and "line 1" in line
    assert "alerts go to SLACK_WEBHOOK_URL only" in line


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ('kind = "pager"\nurl = "https://x"', "unknown kind 'pager'"),
        ('url = "ftp://hooks.slack.com/services/T/B/x"', "must start with https://"),
        ("mention = 3", "url: is required"),
        ('url = "https://hooks.slack.com/services/T/B/x"\ncolour = "red"', "unknown option(s) ['colour']"),
        (
            'kind = "teams"\nurl = "https://e.environment.api.powerplatform.com/powerautomate/automations/direct/'
            'workflows/1/triggers/manual/paths/invoke?api-version=1"',
            "destinations.bad.url: the Teams URL has no sig= parameter",
        ),
        (
            'kind = "alertmanager"\nurls = ["ftp://am:9093"]',
            "destinations.bad.urls[0]: the Alertmanager URL must start",
        ),
        ('kind = "alertmanager"', "destinations.bad.urls: is required"),
    ],
)
def test_bad_destinations_are_explained(tmp_path: Path, caplog: pytest.LogCaptureFixture, table: str, words: str):
    alerts_lib.configure(config=write_config(tmp_path, f"[destinations.bad]\n{table}\n"))
    assert alerts_lib.send_slack_alert("x") is False  # nothing usable: logged only, never an exception
    assert words in caplog.text


def test_hanging_destination_does_not_delay_another(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeSlack(mode="hang") as stuck, FakeSlack() as fine:
        monkeypatch.setenv("STUCK", stuck.url)
        monkeypatch.setenv("FINE", fine.url)
        config = write_config(
            tmp_path, '[destinations.stuck]\nurl = "${STUCK}"\n[destinations.fine]\nurl = "${FINE}"\n'
        )
        alerts_lib.configure(config=config, **{**FAST, "deadline": 5.0, "read_timeout": 5.0})
        alerts_lib.send_slack_alert("first, to both")
        assert stuck.wait_for(lambda s: s.requests, 3)  # the stuck lane is now hanging on its post
        sent = time.monotonic()
        alerts_lib.send_slack_alert("second, to both")
        assert fine.wait_for(lambda s: len(s.delivered) == 2, 3)
        waited = time.monotonic() - sent
        assert waited < 2.0, f"the fine destination waited {waited:.2f} s behind a hanging one (deadline 5 s)"


def test_check_lists_each_destination_masked_and_each_route(two_webhooks, tmp_path: Path) -> None:
    config = write_config(tmp_path, ROUTES)
    env = {
        "ALERTS_CONFIG": config,
        "SLACK_ONCALL_WEBHOOK": two_webhooks[0].url,
        "SLACK_TEAM_WEBHOOK": two_webhooks[1].url,
    }
    result = subprocess.run(
        [sys.executable, "-m", "alerts_lib", "check"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **env},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "oncall" in out and "team" in out and "/services/T…/B…/****" in out
    assert "severity in ['critical', 'error'] → oncall (continue)" in out
    assert "source in ['Airflow'] → team" in out and "everything else → team" in out
    assert TOKEN not in out + result.stderr
