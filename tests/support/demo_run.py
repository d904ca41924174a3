"""``python -m demo`` as a user runs it, its console read line by line, and what its inbox holds.

Shared by the demo's own tests (from the checkout) and the packaging test (from a fresh install).
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.support.paths import REPO_ROOT

INBOX_URL = r"Inbox \(alerts\):\s+(http://127\.0\.0\.1:\d+)/"
SERVICE_URL = r"Model service:\s+(http://127\.0\.0\.1:\d+)/"


@dataclass
class DemoRun:
    """The demo on free ports. ``env`` defaults to this one without ``SLACK_*``/``ALERTS_*`` settings."""

    args: list[str]
    python: str = sys.executable
    cwd: Path = REPO_ROOT
    env: dict[str, str] | None = None
    lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        env = self.env
        if env is None:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ALERTS_"))}
        self.proc = subprocess.Popen(
            [self.python, "-m", "demo", "--inbox-port", "0", "--service-port", "0", *self.args],
            cwd=self.cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))

    def wait_line(self, pattern: str, timeout: float = 90) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        for line in self.lines:
            if match := re.search(pattern, line):
                return match
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.2)
            except queue.Empty:
                assert self.proc.poll() is None, "demo exited early:\n" + "\n".join(self.lines)
                continue
            self.lines.append(line)
            if match := re.search(pattern, line):
                return match
        raise AssertionError(f"no line matching {pattern!r} within {timeout} s:\n" + "\n".join(self.lines))

    def urls(self) -> tuple[str, str]:
        """(inbox URL, service URL), as the demo prints them."""
        return self.wait_line(INBOX_URL).group(1), self.wait_line(SERVICE_URL).group(1)

    def interrupt(self, timeout: float = 40) -> int:
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout)
        time.sleep(0.2)  # let the reader thread drain the last lines
        while not self._queue.empty():
            self.lines.append(self._queue.get())
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def inbox_texts(inbox: str) -> list[str]:
    return [m["text"] for m in requests.get(inbox + "/api/messages", timeout=5).json()["messages"]]


def wait_texts(inbox: str, expected: Iterable[str], timeout: float = 15) -> list[str]:
    """The inbox's texts once each of ``expected`` is in one of them, or as they are at ``timeout``."""
    wanted = list(expected)
    deadline = time.monotonic() + timeout
    texts = inbox_texts(inbox)
    while not all(any(e in t for t in texts) for e in wanted) and time.monotonic() < deadline:
        time.sleep(0.2)
        texts = inbox_texts(inbox)
    return texts
