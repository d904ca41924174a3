"""Child processes of the demo: start one, wait until its HTTP endpoint answers, stop it gently.

Used by ``python -m demo`` and by the tests, which run the same real servers the demo runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def check_port_free(host: str, port: int, flag: str) -> None:
    """Fail early, with the fix in the message, rather than a child dying on 'address already in use'."""
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            raise RuntimeError(
                f"port {port} on {host} is in use: pass {flag} 0 (any free port) or another port"
            ) from None


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Return once ``url`` answers 2xx; raise if ``proc`` dies or ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with code {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (local http only)
                if 200 <= response.status < 300:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except OSError as exc:
            last = type(exc).__name__
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout:g} s ({last})")


class Child:
    """One server process in its own session, its readiness known from an HTTP URL."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        env: Mapping[str, str],
        ready_url: str,
        log_path: Path | None = None,
    ) -> None:
        """``log_path``: where its stdout and stderr go (default: inherited, i.e. this console)."""
        self.name = name
        self.ready_url = ready_url
        parts = urlsplit(ready_url)
        self.base_url = f"{parts.scheme}://{parts.netloc}"
        self.log_path = log_path
        out = open(log_path, "ab") if log_path else None
        self._out = out
        self.proc = subprocess.Popen(  # noqa: S603 (fixed argv, no shell)
            list(command),
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            start_new_session=True,  # a terminal's Ctrl-C reaches only the parent, which stops us in order
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        wait_http(self.ready_url, timeout, self.proc)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGINT first (uvicorn then shuts down and flushes alerts), SIGKILL if it will not stop."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._out is not None:
            self._out.close()
        return self.proc.returncode

    def output(self) -> str:
        """What it logged so far (only when started with ``log_path``)."""
        return self.log_path.read_text("utf-8", "replace") if self.log_path else ""


def python_module(module: str, *args: str) -> list[str]:
    """``python -m module args`` with this interpreter, so children share its environment."""
    return [sys.executable, "-m", module, *args]


def inbox_command(host: str, port: int) -> list[str]:
    return python_module("inbox", "--host", host, "--port", str(port))


@contextlib.contextmanager
def running_inbox(
    env: Mapping[str, str] | None = None, log_path: Path | None = None, host: str = "127.0.0.1"
) -> Iterator[Child]:
    """``with running_inbox() as inbox:`` a real inbox server (``inbox.base_url``) for the block's duration.

    ``env`` adds to the environment (e.g. ``SLACK_FORWARD_URL``), which otherwise forwards nowhere.
    """
    port = free_port(host)
    base = f"http://{host}:{port}"
    env = {**os.environ, "SLACK_FORWARD_URL": "", **(env or {})}
    child = Child("inbox", inbox_command(host, port), env, f"{base}/healthz", log_path)
    try:
        child.wait_ready()
        yield child
    finally:
        child.stop()
