"""How fast the watch notices a fault and its fix: fault → alert at the inbox, fix → recovery at the inbox.

A real Airflow 3.3.2 (api-server, scheduler, dag-processor, triggerer as separate processes, Airflow's
DEFAULT heartbeats and 30 s health threshold), the real model service under uvicorn, and
``python -m alerts_lib watch --interval 15`` (its default) watching both, alerting a local FakeSlack. Faults:
the scheduler SIGKILLed then started again, the service SIGKILLed then started again, a DAG file broken then
fixed, each at a random moment of the poll cycle. The baseline, measured in the same run by a side poller
every 0.5 s, is when the fault becomes visible at its source (Airflow's health endpoint or import-error
list; for the service, the kill itself), so the watch's own share is ``alert - visible``; the polls it took
come from its status file. Targets: ≤ 60 s fault → alert for Airflow components; ≤ 2 polls for HTTP
services. ``--healthy-minutes N`` first counts alerts during N minutes of a healthy stack (target 0).

    .venv/bin/python bench/watch_latency.py [--interval 15] [--healthy-minutes 10] [--no-faults]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO)]

from fastapi_app.seed import seed_registry  # noqa: E402
from tests.support.airflow_harness import prepare_venv  # noqa: E402
from tests.support.airflow_stack import AirflowStack  # noqa: E402
from tests.support.fake_slack import FakeSlack  # noqa: E402
from tests.support.service_helpers import MODEL, free_port, running_service  # noqa: E402
from tests.support.watch_helpers import watching  # noqa: E402

USER, PASSWORD = "watcher", "bench-password"
GOOD = """
from datetime import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG(dag_id="bench_dag", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    EmptyOperator(task_id="noop")
"""
BROKEN = GOOD + '\nraise RuntimeError("broken for the benchmark")\n'


@dataclass
class Row:
    fault: str
    visible: float  # fault → visible at its source (the baseline)
    alert: float  # fault → alert at the inbox
    fix_visible: float
    recovery: float  # fix → recovery at the inbox
    alert_polls: int = 0  # polls the watch ran from "visible" until it alerted (from its status file)
    recovery_polls: int = 0  # … from "fix visible" until the recovery


class Polls:
    """The watch's own poll counter (its status file), to count polls between two moments."""

    def __init__(self, status_file: Path) -> None:
        self.status_file = status_file

    def now(self) -> int:
        return int(json.loads(self.status_file.read_text())["polls"])

    def after(self, start: int) -> int:
        """Polls since ``start``, read once the tick that sent an alert has written the status file."""
        time.sleep(0.5)
        return self.now() - start


def random_phase(interval: float) -> None:
    """Faults strike at a random moment of the poll cycle, as in life (not right after a poll)."""
    time.sleep(random.uniform(0, interval))


def log(line: str) -> None:
    print(line, flush=True)


class Inbox:
    """Alert headlines as they arrive at the FakeSlack, with their arrival time."""

    def __init__(self, slack: FakeSlack) -> None:
        self.slack = slack

    def texts(self) -> list[tuple[float, str]]:
        out = []
        for request in self.slack.delivered:
            for line in request.text.split("\n"):
                out.append((request.at, line))
        return out

    def wait(self, needle: str, after: float, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, text in self.texts():
                if at >= after and needle in text:
                    return at
            time.sleep(0.1)
        raise TimeoutError(f"no {needle!r} alert within {timeout:g} s; inbox: {[t for _, t in self.texts()]}")


def first_time(predicate: Callable[[], bool], timeout: float, every: float = 0.5) -> float:
    """When ``predicate`` first held (monotonic), polled every ``every`` s: the source's own view."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if predicate():
                return time.monotonic()
        time.sleep(every)
    raise TimeoutError("the fault never became visible at its source")


def import_errors(stack: AirflowStack) -> int:
    return int(stack.api("/importErrors")["total_entries"])  # type: ignore[arg-type]


def scheduler_fault(stack: AirflowStack, inbox: Inbox, polls: Polls, interval: float) -> Row:
    random_phase(interval)
    t0 = time.monotonic()
    stack.kill("scheduler")
    visible, p0 = first_time(lambda: stack.health()["scheduler"]["status"] == "unhealthy", 120), polls.now()
    alert = inbox.wait("scheduler unhealthy", t0, 180)
    alert_polls = polls.after(p0)
    random_phase(interval)
    t1 = time.monotonic()
    stack.start("scheduler")
    fix_visible, p1 = first_time(lambda: stack.health()["scheduler"]["status"] == "healthy", 180), polls.now()
    recovery = inbox.wait("scheduler healthy again", t1, 240)
    row = Row("scheduler SIGKILL", visible - t0, alert - t0, fix_visible - t1, recovery - t1)
    row.alert_polls, row.recovery_polls = alert_polls, polls.after(p1)
    return row


class Service:
    """The model service, restartable on the same port (where the watch expects it)."""

    def __init__(self, env: dict[str, str], tmp: Path, port: int) -> None:
        self.env, self.tmp, self.port = env, tmp, port
        self._running: contextlib.AbstractContextManager[Any] | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._running = running_service(self.env, self.tmp, port=self.port)
        self.proc = self._running.__enter__().proc

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.stop()

    def stop(self) -> None:
        if self._running is not None:
            self._running.__exit__(None, None, None)
            self._running = None


def service_fault(service: Service, inbox: Inbox, polls: Polls, interval: float) -> Row:
    random_phase(interval)
    t0, p0 = time.monotonic(), polls.now()
    service.kill()  # visible at once: connections are refused from here on
    alert = inbox.wait("service model down", t0, 120)
    alert_polls = polls.after(p0)
    random_phase(interval)
    t1 = time.monotonic()
    service.start()  # returns once /livez answers
    fix_visible, p1 = time.monotonic(), polls.now()
    recovery = inbox.wait("service model healthy again", t1, 120)
    row = Row("service SIGKILL", 0.0, alert - t0, fix_visible - t1, recovery - t1)
    row.alert_polls, row.recovery_polls = alert_polls, polls.after(p1)
    return row


def dag_file_fault(stack: AirflowStack, dag_file: Path, inbox: Inbox, polls: Polls, interval: float) -> Row:
    random_phase(interval)
    t0 = time.monotonic()
    dag_file.write_text(BROKEN)
    visible, p0 = first_time(lambda: import_errors(stack) > 0, 300, every=1.0), polls.now()
    alert = inbox.wait("does not import", t0, 300)
    alert_polls = polls.after(p0)
    random_phase(interval)
    t1 = time.monotonic()
    dag_file.write_text(GOOD)
    fix_visible, p1 = first_time(lambda: import_errors(stack) == 0, 300, every=1.0), polls.now()
    recovery = inbox.wait("imports again", t1, 300)
    row = Row("DAG file broken", visible - t0, alert - t0, fix_visible - t1, recovery - t1)
    row.alert_polls, row.recovery_polls = alert_polls, polls.after(p1)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=float, default=15.0, help="the watch's --interval (default 15 s)")
    parser.add_argument("--healthy-minutes", type=float, default=0.0, help="first count alerts of a healthy stack")
    parser.add_argument("--no-faults", action="store_true", help="only the healthy count")
    args = parser.parse_args()
    began = time.monotonic()
    rows: list[Row] = []
    false_alerts: list[str] | None = None
    with tempfile.TemporaryDirectory(prefix="watch-bench-") as tmp_name, FakeSlack() as slack:
        tmp = Path(tmp_name)
        inbox = Inbox(slack)
        dags = tmp / "dags"
        dags.mkdir()
        dag_file = dags / "bench_dag.py"
        dag_file.write_text(GOOD)
        seed_registry(tmp / "reg", MODEL)
        service_env = {"MODEL_REGISTRY_DIR": str(tmp / "reg"), "MODEL_NAME": MODEL}
        port = free_port()
        with AirflowStack(prepare_venv(), tmp / "home", dags, USER, PASSWORD, fast=False) as stack:
            took = stack.wait_healthy(timeout=300)
            log(f"Airflow healthy {took:.0f} s after start (default heartbeats, 30 s threshold)")
            watch_env = {k: v for k, v in os.environ.items() if not k.startswith(("ALERTS_", "SLACK_"))}
            watch_env.update(
                PYTHONPATH=str(REPO), SLACK_WEBHOOK_URL=slack.url, ALERTS_ENV="bench", AIRFLOW_WATCH_PASSWORD=PASSWORD
            )
            watch_args = ["watch", "--airflow", stack.base, "--airflow-user", USER]
            watch_args += ["--http", f"model=http://127.0.0.1:{port}/health", "--interval", f"{args.interval:g}"]
            watch_args += ["--status-file", str(tmp / "watch.status")]
            service = Service(service_env, tmp, port)
            service.start()
            try:
                with watching(watch_args, watch_env, tmp / "watch.log"):
                    started = inbox.wait("watch started", 0, 60)
                    time.sleep(2 * args.interval)  # the first polls
                    if args.healthy_minutes:
                        log(f"healthy stack for {args.healthy_minutes:g} min …")
                        time.sleep(args.healthy_minutes * 60)
                        false_alerts = [t for at, t in inbox.texts() if at > started]
                    if not args.no_faults:
                        log("scheduler SIGKILL …")
                        polls = Polls(tmp / "watch.status")
                        rows.append(scheduler_fault(stack, inbox, polls, args.interval))
                        log("service SIGKILL …")
                        rows.append(service_fault(service, inbox, polls, args.interval))
                        log("DAG file broken …")
                        rows.append(dag_file_fault(stack, dag_file, inbox, polls, args.interval))
            finally:
                service.stop()
    report(rows, false_alerts, args, time.monotonic() - began)
    return 0


def report(rows: list[Row], false_alerts: list[str] | None, args: argparse.Namespace, took: float) -> None:
    interval = args.interval
    log(f"\nwatch --interval {interval:g} s; Airflow defaults (heartbeat 5 s, health threshold 30 s, re-parse 30 s)")
    if rows:
        log(
            "| fault | visible at source | fault → alert | after visible (polls) "
            "| fix visible | fix → recovery | after visible (polls) | target |"
        )
        log("|---|---|---|---|---|---|---|---|")
        for r in rows:
            service = r.fault.startswith("service")
            target = "≤ 2 polls" if service else "≤ 60 s"
            ok = r.alert_polls <= 2 and r.recovery_polls <= 2 if service else r.alert <= 60
            cells = [
                r.fault,
                f"{r.visible:.1f} s",
                f"{r.alert:.1f} s",
                f"{r.alert - r.visible:.1f} s ({r.alert_polls})",
                f"{r.fix_visible:.1f} s",
                f"{r.recovery:.1f} s",
                f"{r.recovery - r.fix_visible:.1f} s ({r.recovery_polls})",
                f"{target} {'✓' if ok else '✗'}",
            ]
            log("| " + " | ".join(cells) + " |")
        log(
            "visible at source: the fault seen by a side poller every 0.5 s (the baseline); after visible: the"
            " watch's own share, at most 2 intervals (two polls in a row) plus delivery"
        )
    if false_alerts is not None:
        log(f"healthy stack, {args.healthy_minutes:g} min: {len(false_alerts)} alert(s) (target 0) {false_alerts}")
    log(f"took {took:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
