"""``python -m alerts_lib watch`` as a child process, for the tests and bench/watch_latency.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def watch_env(**extra: str) -> dict[str, str]:
    """This environment minus the developer's alert and watch settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALERTS_", "SLACK_", "AIRFLOW_WATCH"))}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


@contextmanager
def watching(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The watch, its output in ``log``; SIGTERMed (then killed) on leaving if still running."""
    with open(log, "wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "alerts_lib", *args], env=env, cwd=REPO, stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def wait_for(predicate: Callable[[], object], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())
