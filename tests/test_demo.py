"""``python -m demo``: one command starts the inbox and the service, shows the startup alert, runs the
scenario's alerts, and stops cleanly on Ctrl-C (SIGINT)."""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from demo import browser
from tests.support.chrome import require_chromium
from tests.support.demo_run import DemoRun, inbox_texts, wait_texts
from tests.support.paths import REPO_ROOT

STARTUP = ["[FastAPI] started: my_model@A, my_model@B", "local demo running", "watch started: 1 service (model)"]
SCENARIO = [
    "degraded: my_model@C missing (loaded: my_model@A, my_model@B)",
    "my_model@A hot-swapped to v3",
    "hot-swap of my_model@B to v999 failed: NotFoundError: my_model v999 does not exist",
    "prediction error on my_model@A",
    "recovered: my_model@A, my_model@B, my_model@C loaded",
    "🔥 [Watch] service model down: connection refused",
    "✅ [Watch] service model healthy again after ",
]


@pytest.fixture(scope="module")
def scenario_demo() -> Iterator[tuple[DemoRun, str, str]]:
    """The demo with ``--scenario``, started once for the module; yields (run, inbox URL, service URL)."""
    run = DemoRun(["--scenario"])
    try:
        inbox, service = run.urls()
        yield run, inbox, service
    finally:
        run.kill()


def test_demo_serves_the_inbox_with_the_startup_alert(scenario_demo: tuple[DemoRun, str, str]) -> None:
    run, inbox, service = scenario_demo
    run.wait_line("Startup alerts sent")
    page = requests.get(inbox + "/", timeout=5)
    assert page.status_code == 200 and "inbox.js" in page.text
    # The service's startup alert follows its startup (after a degraded alert, paced 1 s apart): poll for it.
    texts = wait_texts(inbox, STARTUP)
    for expected in STARTUP:
        assert any(expected in t for t in texts), f"{expected!r} not in {texts}"
    assert requests.get(service + "/livez", timeout=5).json() == {"status": "alive"}


def test_scenario_produces_every_alert_type(scenario_demo: tuple[DemoRun, str, str]) -> None:
    run, inbox, _ = scenario_demo
    run.wait_line("Scenario done: every alert type is in the inbox", timeout=120)
    assert run.lines.count("     ✔ alert in the inbox") == len(SCENARIO)
    texts = inbox_texts(inbox)
    for expected in SCENARIO:
        assert any(expected in t for t in texts), f"{expected!r} not in {texts}"
    assert all(t.endswith(" · demo") or "\n" in t for t in texts), "alerts are labelled with ALERTS_ENV=demo"


@pytest.mark.browser
def test_demo_inbox_page_shows_the_alerts_rendered(scenario_demo: tuple[DemoRun, str, str]) -> None:
    require_chromium()
    run, inbox, _ = scenario_demo
    run.wait_line("Startup alerts sent")
    with browser.headless_chrome() as driver:
        driver.get(inbox + "/")
        WebDriverWait(driver, 20).until(lambda d: "[FastAPI] started" in d.find_element(By.ID, "messages").text)
        headline = driver.find_elements(By.CSS_SELECTOR, ".section-text b")
        assert any(h.text.startswith("🚀 [FastAPI] started: my_model@A") for h in headline)


def test_ctrl_c_stops_the_demo_and_its_servers(scenario_demo: tuple[DemoRun, str, str]) -> None:
    run, inbox, service = scenario_demo
    run.wait_line("Press Ctrl-C to stop", timeout=120)
    workdir = Path(run.wait_line(r"Server logs:\s+(\S+)/\{").group(1))
    assert workdir.is_dir()
    assert run.interrupt() == 0, "\n".join(run.lines)
    assert run.lines[-1] == "Stopped."
    assert not any("Traceback" in line for line in run.lines), "\n".join(run.lines)
    for url in (inbox, service):
        host, port = url.removeprefix("http://").split(":")
        with pytest.raises(OSError), socket.create_connection((host, int(port)), timeout=2):
            pass
    assert not workdir.exists(), "the temp registry and logs are removed"
    assert not any("/services/" in line for line in run.lines), "the webhook URL (a secret) is never printed"


def test_ctrl_c_during_the_scenario_says_interrupted_not_done() -> None:
    run = DemoRun(["--scenario"])
    try:
        run.wait_line(r"^  1\. health: ")
        assert run.interrupt() == 0, "\n".join(run.lines)
    finally:
        run.kill()
    assert "Scenario interrupted (Ctrl-C): the alerts so far are in the inbox." in run.lines, "\n".join(run.lines)
    assert not any(line.startswith("Scenario done") for line in run.lines), "\n".join(run.lines)
    assert "Press Ctrl-C to stop." not in run.lines and run.lines[-1] == "Stopped."


def test_demo_without_scenario_is_healthy_and_quiet() -> None:
    run = DemoRun([])
    try:
        inbox, service = run.urls()
        run.wait_line("Press Ctrl-C to stop")
        health = requests.get(service + "/health", timeout=5).json()
        assert (health["status"], health["loaded"]) == ("ok", ["A", "B"])
        texts = inbox_texts(inbox)
        assert len(texts) == 3 and all(any(s in t for t in texts) for s in STARTUP), texts
        prediction = requests.post(service + "/predict", json={"features": {"x1": 1, "x2": 2, "x3": 3}}, timeout=5)
        assert prediction.status_code == 200 and prediction.json()["variant"] == "A"
        assert run.interrupt() == 0
    finally:
        run.kill()


def test_a_busy_port_fails_fast_with_the_fix_in_the_message() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "demo", "--inbox-port", str(port), "--service-port", "0"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert f"port {port} on 127.0.0.1 is in use: pass --inbox-port 0" in done.stderr


def test_ctrl_c_stops_the_servers_even_when_the_console_pipe_is_gone() -> None:
    """``./dev demo | tee demo.log``, then Ctrl-C: the terminal interrupts tee too, so the demo's "Stopping…"
    meets a closed pipe. Its servers (in their own sessions) must stop all the same, or they keep the ports."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "demo", "--inbox-port", "0", "--service-port", "0"],
        cwd=REPO_ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ALERTS_"))},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert proc.stdout is not None
    seen = b""
    try:
        deadline = time.monotonic() + 90
        while b"Press Ctrl-C to stop" not in seen and time.monotonic() < deadline and proc.poll() is None:
            if select.select([proc.stdout], [], [], 0.2)[0]:
                seen += os.read(proc.stdout.fileno(), 65536)
        assert b"Press Ctrl-C to stop" in seen, seen.decode(errors="replace")
        proc.stdout.close()  # the console's reader is gone, as tee is after Ctrl-C
        proc.send_signal(signal.SIGINT)
        proc.wait(40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    urls = re.findall(rb"(?:Inbox \(alerts\)|Model service):\s+http://(127\.0\.0\.1):(\d+)/", seen)
    assert len(urls) == 2, seen.decode(errors="replace")
    for host, port in urls:
        with pytest.raises(OSError), socket.create_connection((host.decode(), int(port)), timeout=2):
            pass
    workdir = re.search(rb"Server logs:\s+(\S+)/\{", seen)
    assert workdir is not None and not Path(workdir[1].decode()).exists(), "the temp registry and logs are removed"
