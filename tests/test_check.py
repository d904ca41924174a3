"""``python -m alerts_lib check [--live]``: https is required except for local inboxes, and ``--live`` tells
reachable / unreachable / TLS error / DNS error per webhook, in bounded time, without posting anything."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import alerts_lib
from alerts_lib._settings import load_settings, webhook_problem
from tests.support.fake_slack import PATH, TOKEN, FakeSlack, refused_url
from tests.support.tls_server import TLSServer, make_certificate

ROOT = Path(__file__).resolve().parents[1]


def check(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The real CLI, in a clean environment plus ``env``; the token must never show."""
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("ALERTS_", "SLACK_")) and "PROXY" not in k.upper()
    }
    done = subprocess.run(
        [sys.executable, "-m", "alerts_lib", "check", *args],
        env={**clean, **env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert TOKEN not in done.stdout + done.stderr, "the webhook token leaked"
    return done


def last_line(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout.strip().splitlines()[-1]


# -- the https rule ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"http://127.0.0.1:8025{PATH}",
        f"http://127.3.2.1{PATH}",
        f"http://[::1]:8025{PATH}",
        f"http://localhost:8025{PATH}",
        f"http://inbox.localhost{PATH}",
        f"https://hooks.slack.com/services/T1/B1/{TOKEN}",
    ],
)
def test_https_or_a_loopback_inbox_is_accepted(url: str) -> None:
    assert webhook_problem(url) is None
    assert load_settings(webhook_url=url).webhook == url


@pytest.mark.parametrize(
    "url",
    [
        f"http://hooks.slack.com/services/T1/B1/{TOKEN}",
        f"http://inbox:8025{PATH}",
        f"http://10.1.2.3{PATH}",
        f"http://127.0.0.1.example.com{PATH}",
    ],
)
def test_http_elsewhere_is_refused_with_the_rule_in_the_message(
    url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", url)
    assert alerts_lib.get_settings().webhook is None
    assert alerts_lib.send_slack_alert("x") is False
    assert "https:// is required" in caplog.text and "ALERTS_ALLOW_HTTP=true" in caplog.text
    assert TOKEN not in caplog.text
    assert alerts_lib.send_slack_alert("x", webhook_url=url) is False, "a per-call URL obeys the same rule"


def test_allow_http_opts_in_for_a_compose_inbox_but_never_for_slack(monkeypatch: pytest.MonkeyPatch) -> None:
    inbox = f"http://inbox:8025{PATH}"
    assert load_settings(webhook_url=inbox, allow_http=True).webhook == inbox
    monkeypatch.setenv("ALERTS_ALLOW_HTTP", "true")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", inbox)
    assert load_settings().webhook == inbox and load_settings().allow_http is True
    assert webhook_problem(inbox) is None, "a per-call URL reads the same opt-in"
    problem = webhook_problem(f"http://hooks.slack.com/services/T1/B1/{TOKEN}")
    assert problem is not None and "https:// is required" in problem


def test_check_says_not_ready_for_http_to_a_remote_host_and_why() -> None:
    done = check(env={"SLACK_WEBHOOK_URL": f"http://hooks.slack.com/services/T1/B1/{TOKEN}"})
    assert done.returncode == 1
    assert last_line(done).startswith("not ready (alerts would only be logged): SLACK_WEBHOOK_URL uses http://")
    assert "ALERTS_ALLOW_HTTP=true" in last_line(done)
    compose_inbox = check(env={"SLACK_WEBHOOK_URL": f"http://inbox:8025{PATH}", "ALERTS_ALLOW_HTTP": "true"})
    assert compose_inbox.returncode == 0 and last_line(compose_inbox).startswith(
        "ready: alerts go to http://inbox:8025/"
    )


# -- check --live ------------------------------------------------------------------------------------


def test_live_reachable_webhook_and_nothing_posted(slack: FakeSlack) -> None:
    done = check("--live", env={"SLACK_WEBHOOK_URL": slack.url})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "default  http://127.0.0.1:" in done.stdout and "  reachable: HTTP " in done.stdout
    assert last_line(done).endswith("reachable from here (nothing was posted)")
    assert slack.requests == [], "check --live must not post"


def test_live_nothing_listening_is_unreachable() -> None:
    done = check("--live", env={"SLACK_WEBHOOK_URL": refused_url()})
    assert done.returncode == 3
    assert "  unreachable: connection refused by 127.0.0.1:" in done.stdout
    assert last_line(done) == "not ready: 1 of 1 webhook(s) cannot be reached from here"


def test_live_unknown_host_is_a_dns_error() -> None:
    # .invalid never resolves (RFC 6761); without DNS at all the lookup times out: still a DNS error.
    done = check("--live", "--timeout", "3", env={"SLACK_WEBHOOK_URL": f"https://hooks.alerts-lib.invalid{PATH}"})
    assert done.returncode == 3
    assert "  dns error: " in done.stdout and "hooks.alerts-lib.invalid" in done.stdout


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("openssl must be installed in CI (.ci/run installs it)")
        pytest.skip("the openssl command is not installed (apt-get install openssl)")
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[TLSServer]:
    with TLSServer(*certificate) as server:
        yield server


def test_live_untrusted_certificate_is_a_tls_error(tls_server: TLSServer) -> None:
    done = check("--live", env={"SLACK_WEBHOOK_URL": tls_server.url(PATH)})
    assert done.returncode == 3
    assert "  tls error: certificate not trusted: " in done.stdout


def test_live_trusted_https_webhook_is_reachable_without_the_path_being_sent(
    tls_server: TLSServer, certificate: tuple[Path, Path]
) -> None:
    done = check("--live", env={"SLACK_WEBHOOK_URL": tls_server.url(PATH), "SSL_CERT_FILE": str(certificate[0])})
    assert done.returncode == 0, done.stdout
    assert "reachable: HTTP 405 to HEAD /, TLS certificate verified" in done.stdout
    assert tls_server.seen == [("HEAD", "/")], "only HEAD /: the secret path is never sent, nothing is posted"


def test_live_https_to_a_plain_http_server_is_a_tls_error(slack: FakeSlack) -> None:
    done = check("--live", env={"SLACK_WEBHOOK_URL": slack.url.replace("http://", "https://")})
    assert done.returncode == 3
    assert "  tls error: handshake failed: " in done.stdout


def test_live_is_bounded_when_the_server_never_answers() -> None:
    with socket.socket() as silent:  # accepts connections (kernel backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        started = time.monotonic()
        plain = check("--live", "--timeout", "1", env={"SLACK_WEBHOOK_URL": f"http://127.0.0.1:{port}{PATH}"})
        tls = check("--live", "--timeout", "1", env={"SLACK_WEBHOOK_URL": f"https://127.0.0.1:{port}{PATH}"})
        elapsed = time.monotonic() - started
    assert plain.returncode == tls.returncode == 3
    assert "  unreachable: connected, but no HTTP answer within the timeout" in plain.stdout
    assert "  tls error: no TLS handshake answer within the timeout" in tls.stdout
    assert elapsed < 30, f"two 1 s probes took {elapsed:.1f} s"


def test_live_is_skipped_when_the_configuration_is_not_ready(slack: FakeSlack) -> None:
    done = check("--live", env={})
    assert done.returncode == 1 and "SLACK_WEBHOOK_URL is not set" in done.stdout
