"""A real Airflow 3 deployment on 127.0.0.1, one process per component, as a cluster runs it: api-server,
scheduler, dag-processor and triggerer, each in its own process group so a test can SIGKILL one (with the
workers it forked) by its PID and start it again. sqlite in a temp AIRFLOW_HOME; the simple auth manager
with one known user, whose password lives in the passwords file Airflow reads.

``fast=True`` shortens Airflow's heartbeats and health thresholds (defaults 5 s and 30 s) so tests see a
dead component within seconds; the benchmark runs with Airflow's defaults.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
HEALTH_KEYS = {"scheduler": "scheduler", "dag-processor": "dag_processor", "triggerer": "triggerer"}

FAST = {
    "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
    "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "1",  # the DAG processor's heart rate
    "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
    "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "6",
    "AIRFLOW__DAG_PROCESSOR__HEALTH_CHECK_THRESHOLD": "6",
    "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "6",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",  # new files
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "2",  # re-parsing known files
    "AIRFLOW__API_AUTH__JWT_EXPIRATION_TIME": "5",  # tokens expire during the test: the watch logs in again
    "AIRFLOW__API_AUTH__JWT_LEEWAY": "0",
}


@dataclass
class AirflowStack:
    airflow_bin: Path
    home: Path
    dags: Path
    user: str
    password: str
    fast: bool = True
    port: int = 0
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.port:
            from tests.support.service_helpers import free_port

            self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.home.mkdir(parents=True, exist_ok=True)
        self.dags.mkdir(parents=True, exist_ok=True)
        passwords = self.home / "passwords.json"
        passwords.write_text(json.dumps({self.user: self.password}))
        inherited = ("AIRFLOW", "SLACK_WEBHOOK_URL", "ALERTS_", "FASTAPI_", "MODEL_")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(inherited)}
        self.env.update(
            AIRFLOW_HOME=str(self.home),
            AIRFLOW__CORE__DAGS_FOLDER=str(self.dags),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__PARALLELISM="1",  # LocalExecutor forks this many workers
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{self.base}/execution/",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=f"{self.user}:viewer",
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(passwords),
            AIRFLOW__API__BASE_URL=self.base,
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__PORT=str(self.port),
            AIRFLOW__API__WORKERS="1",
            PATH=os.pathsep.join([str(self.airflow_bin), os.environ.get("PATH", "")]),
            PYTHONDONTWRITEBYTECODE="1",
        )
        if self.fast:
            self.env.update(FAST)

    def migrate(self) -> None:
        done = subprocess.run(
            [str(self.airflow_bin / "airflow"), "db", "migrate"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    def log(self, component: str) -> Path:
        return self.home / f"{component}.log"

    def start(self, component: str) -> None:
        commands = {
            "api-server": ["api-server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"],
            # Their log servers would listen on 0.0.0.0:8793/8794, shared by every test on the machine.
            "scheduler": ["scheduler", "--skip-serve-logs"],
            "triggerer": ["triggerer", "--skip-serve-logs"],
        }
        command = commands.get(component, [component])
        with open(self.log(component), "ab") as sink:
            self.procs[component] = subprocess.Popen(
                [str(self.airflow_bin / "airflow"), *command],
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: its forked workers die with it
            )

    def kill(self, component: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(component)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def stop_all(self, timeout: float = 10.0) -> None:
        """SIGTERM every component at once, SIGKILL what is left after ``timeout``."""
        procs, self.procs = self.procs, {}
        for proc in procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # its forked workers too
            proc.wait(10)

    def health(self) -> dict[str, dict[str, object]]:
        try:
            return httpx.get(f"{self.base}/api/v2/monitor/health", timeout=5).json()  # type: ignore[no-any-return]
        except (httpx.HTTPError, ValueError):
            return {}

    def wait_healthy(
        self, components: tuple[str, ...] = ("scheduler", "dag-processor", "triggerer"), timeout: float = 180
    ) -> float:
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            health = self.health()
            if health and all(health.get(HEALTH_KEYS[c], {}).get("status") == "healthy" for c in components):
                return time.monotonic() - started
            for name, proc in self.procs.items():
                assert proc.poll() is None, (
                    f"airflow {name} exited:\n{self.log(name).read_text(errors='replace')[-4000:]}"
                )
            time.sleep(0.5)
        raise AssertionError(f"Airflow not healthy within {timeout} s: {self.health()}")

    def token(self) -> str:
        reply = httpx.post(
            f"{self.base}/auth/token", json={"username": self.user, "password": self.password}, timeout=10
        )
        assert reply.status_code == 201, reply.text
        return str(reply.json()["access_token"])

    def api(self, path: str) -> dict[str, object]:
        reply = httpx.get(f"{self.base}/api/v2{path}", headers={"Authorization": f"Bearer {self.token()}"}, timeout=10)
        assert reply.status_code == 200, reply.text
        return reply.json()  # type: ignore[no-any-return]

    def __enter__(self) -> AirflowStack:
        self.migrate()
        for component in COMPONENTS:
            self.start(component)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()
