"""The demo's running system: a seeded registry in a temp dir, the inbox, the model service and the watch.

All are child processes of the demo on 127.0.0.1; the service's and the watch's ``SLACK_WEBHOOK_URL`` point
at the inbox (with a random token, as a real webhook would have), so every alert they send shows up there.
The watch (``python -m alerts_lib watch``) polls the service's ``/health`` every second, so killing the
service shows its down and recovery alerts within seconds.
"""

from __future__ import annotations

import os
import secrets
import signal
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

import alerts_lib
from alerts_lib import formatters
from fastapi_app.registry import FileRegistry
from fastapi_app.seed import seed_registry

from .procs import Child, check_port_free, free_port, inbox_command, python_module

MODEL = "my_model"
WATCH_INTERVAL = 1.0  # seconds: a demo shows a fault within seconds (the default is 15)


@dataclass
class DemoStack:
    """``with DemoStack() as stack:`` everything runs; leaving the block stops it and removes the temp dir."""

    host: str = "127.0.0.1"
    inbox_port: int = 0  # 0: a free port
    service_port: int = 0
    aliases: Sequence[str] = ("A", "B")  # what the service expects to serve
    seeded: Sequence[str] = ("A", "B")  # what the registry has at startup
    verbose: bool = False  # children log to this console instead of files
    children: list[Child] = field(default_factory=list)

    def __post_init__(self) -> None:
        for port, flag in ((self.inbox_port, "--inbox-port"), (self.service_port, "--service-port")):
            if port:
                check_port_free(self.host, port, flag)
        self.inbox_port = self.inbox_port or free_port(self.host)
        self.service_port = self.service_port or free_port(self.host)
        self.inbox_url = f"http://{self.host}:{self.inbox_port}"
        self.service_url = f"http://{self.host}:{self.service_port}"
        self._tmp = tempfile.TemporaryDirectory(prefix="alerts-demo-")
        self.workdir = Path(self._tmp.name)
        self.registry_dir = self.workdir / "registry"
        self.token = os.environ.get("FASTAPI_TOKEN") or secrets.token_urlsafe(24)
        # Like a real webhook, its last segment is a secret; it is never printed.
        self.webhook_url = f"{self.inbox_url}/services/TDEMO/BDEMO/{secrets.token_hex(12)}"
        self.registry = FileRegistry(self.registry_dir)

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> DemoStack:
        """Start everything; on any failure, stop what was started and re-raise."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> DemoStack:
        seed_registry(self.registry_dir, MODEL, self.seeded)
        self._spawn("inbox", inbox_command(self.host, self.inbox_port), {"SLACK_FORWARD_URL": ""}).wait_ready()
        service_env = {
            "SLACK_WEBHOOK_URL": self.webhook_url,
            "ALERTS_ALLOW_HTTP": "true",  # the inbox is local plain http, on --host even when that is not loopback
            "ALERTS_ENV": "demo",
            "ALERTS_DEDUP_WINDOW": "10",  # a storm's "… and N more" summary within seconds, not a minute
            "MODEL_REGISTRY_DIR": str(self.registry_dir),
            "MODEL_NAME": MODEL,
            "MODEL_ALIASES": ",".join(self.aliases),
            "DEFAULT_ALIAS": self.aliases[0],
            "FASTAPI_TOKEN": self.token,
        }
        self._service_args = python_module("fastapi_app", "--host", self.host, "--port", str(self.service_port))
        self._service_env = service_env
        self._spawn("service", self._service_args, service_env, "/livez").wait_ready()
        self._start_watch()
        self._announce()
        return self

    def _start_watch(self) -> None:
        """The watch, polling the service's /health; ready once it has written its status file after a poll."""
        status = self.workdir / "watch.status"
        args = python_module("alerts_lib", "watch", "--http", f"model={self.service_url}/health")
        args += ["--interval", f"{WATCH_INTERVAL:g}", "--status-file", str(status)]
        env = {"SLACK_WEBHOOK_URL": self.webhook_url, "ALERTS_ENV": "demo", "ALERTS_MIN_INTERVAL": "0"}
        child = self._spawn("watch", args, env, "/health")  # what it watches; it serves no HTTP itself
        deadline = time.monotonic() + 30
        while not (status.exists() and any("watch started" in t for t in self.inbox_texts())):
            if child.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the watch did not start (see {child.log_path or 'its output'})")
            time.sleep(0.1)

    def kill_service(self) -> None:
        """SIGKILL the model service, as an OOM kill would: it cannot send an alert of its own."""
        child = next(c for c in self.children if c.name == "service")
        child.proc.send_signal(signal.SIGKILL)
        child.proc.wait(10)
        child.stop()  # closes its log

    def restart_service(self) -> None:
        """Start the service again on its port, in the killed one's place (so stopping keeps its order)."""
        index = next(i for i, c in enumerate(self.children) if c.name == "service")
        self._spawn("service", self._service_args, self._service_env, "/livez")
        self.children[index] = self.children.pop()
        self.children[index].wait_ready()

    def stop(self) -> None:
        """The watch first (so it never sees the service stop), then the service (it flushes its last alerts
        into the inbox), then the inbox; then the temp dir."""
        for child in reversed(self.children):
            child.stop()
        self.children.clear()
        self._tmp.cleanup()

    def __enter__(self) -> DemoStack:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def _spawn(self, name: str, command: list[str], env: dict[str, str], ready: str = "/healthz") -> Child:
        base = self.inbox_url if name == "inbox" else self.service_url  # the watch: what it watches
        # A real webhook or alert setting exported in the developer's shell must not leak into the demo.
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ALERTS_"))}
        log = None if self.verbose else self.workdir / f"{name}.log"
        child = Child(name, command, {**clean, **env}, base + ready, log)
        self.children.append(child)
        return child

    def _announce(self) -> None:
        """The demo's own startup alert, sent through alerts_lib like any service would."""
        alerts_lib.configure(webhook_url=self.webhook_url, allow_http=True, env="demo", min_interval=0)
        alerts_lib.send_slack_alert(
            formatters.alert(
                "local demo running",
                severity="success",
                source="demo",
                fields={"inbox": self.inbox_url, "service": self.service_url, "model": MODEL},
                link=(f"{self.service_url}/docs", "service API docs"),
            )
        )
        alerts_lib.flush(5)

    # -- talking to the running system ----------------------------------------------------------------
    def inbox_texts(self) -> list[str]:
        """Texts of every message in the inbox, newest first."""
        response = httpx.get(f"{self.inbox_url}/api/messages", params={"limit": 1000}, timeout=5)
        response.raise_for_status()
        return [str(m["text"]) for m in response.json()["messages"]]

    def service(self, method: str, path: str, *, admin: bool = False, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if admin else {}
        return httpx.request(method, f"{self.service_url}{path}", headers=headers, timeout=10, **kwargs)
