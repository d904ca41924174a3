"""Shared helpers for the fastapi_app tests and the service benchmark: a seeded registry, an in-process
client, and a real uvicorn subprocess on a free 127.0.0.1 port."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from demo.procs import free_port
from fastapi_app.registry import FileRegistry
from fastapi_app.seed import seed_registry
from fastapi_app.settings import ServiceSettings
from tests.support.paths import REPO_ROOT

ADMIN_TOKEN = "adm1n-t0ken-DO-NOT-LEAK"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
MODEL = "my_model"
FEATURES = {"x1": 1.0, "x2": 2.0, "x3": 3.0}

# Environment variables that configure the service; cleared so a developer's shell cannot change a test.
SERVICE_ENV = (
    "MODEL_NAME",
    "MODEL_ALIASES",
    "DEFAULT_ALIAS",
    "ALIAS_SELECTION_MODE",
    "CANARY_PERCENT",
    "CANARY_ALIAS",
    "FASTAPI_TOKEN",
    "ALLOW_UNAUTHENTICATED_RELOAD",
    "MODEL_REGISTRY_DIR",
    "MAX_BODY_BYTES",
    "HOST",
    "PORT",
    "LOG_LEVEL",
)


def make_settings(root: Path | str, **env: Any) -> ServiceSettings:
    """Settings as the environment would give them (names like ``FASTAPI_TOKEN``), token set by default."""
    values: dict[str, Any] = {
        "MODEL_REGISTRY_DIR": str(root),
        "MODEL_NAME": MODEL,
        "FASTAPI_TOKEN": ADMIN_TOKEN,
    }
    values.update(env)
    return ServiceSettings(**{k: v for k, v in values.items() if v is not None})


def seeded(root: Path) -> FileRegistry:
    seed_registry(root, MODEL)
    return FileRegistry(root)


def expected(registry: FileRegistry, version: int, features: dict[str, float] = FEATURES) -> float:
    """What a version must predict, computed here from its weights file independently of the service."""
    w = registry.load_weights(MODEL, version)
    return float(w["intercept"] + sum(c * features[f] for f, c in zip(w["features"], w["coef"])))


@dataclass
class ServiceProcess:
    """A running ``python -m fastapi_app``; its output goes to a file (a pipe could fill and block it)."""

    base: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM (graceful: the lifespan flushes alerts), SIGKILL only if it overstays."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)


@contextlib.contextmanager
def running_service(
    env: dict[str, str], log_dir: Path, *, startup_timeout: float = 20.0, port: int | None = None
) -> Iterator[ServiceProcess]:
    """``python -m fastapi_app`` in a subprocess on ``port`` (default: a free one), with only the service
    settings in ``env``. Reusing a port restarts a service where its watchers expect it."""
    port = port or free_port()
    full_env = {k: v for k, v in os.environ.items() if k not in SERVICE_ENV}
    full_env.update(env)
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), full_env.get("PYTHONPATH")]))
    full_env.update({"HOST": "127.0.0.1", "PORT": str(port), "LOG_LEVEL": "warning"})  # as a container would
    cmd = [sys.executable, "-m", "fastapi_app"]
    log_path = Path(log_dir) / f"service-{port}.log"
    with open(log_path, "wb") as sink:
        proc = subprocess.Popen(cmd, env=full_env, cwd=REPO_ROOT, stdout=sink, stderr=subprocess.STDOUT)
    service = ServiceProcess(f"http://127.0.0.1:{port}", proc, log_path)
    try:
        _wait_until_up(service, startup_timeout)
        yield service
    finally:
        service.stop()


def _wait_until_up(service: ServiceProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.proc.poll() is not None:
            raise RuntimeError(f"service exited with {service.proc.returncode}:\n{service.output()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{service.base}/livez", timeout=0.5).status_code == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"service did not answer /livez within {timeout} s:\n{service.output()[-3000:]}")
