"""Driving a real Apache Airflow from the tests: its venv, the CLI, ``airflow standalone``, and reading what
the fake Slack received, one alert at a time.

Airflow pins FastAPI < 0.137, so it lives in ``.venv-airflow`` (``.venv-airflow-<version>`` for
``AIRFLOW_VERSION_PIN``), made or refreshed by scripts/airflow_venv.py with this project pip-installed into it,
as users install it (so its ``airflow.plugins`` entry point is found).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from tests.support.fake_slack import FakeSlack
from tests.support.slack_posts import Posted, find, split_alerts  # noqa: F401 (re-exported)

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
TEST_DAGS = REPO / "tests" / "airflow" / "dags"
SUPPORT = REPO / "tests" / "airflow"
BASE_URL = "http://airflow.test:8080"  # the UI's base URL: where the alerts' log links must point
COMMAND_TIMEOUT = 600
# scripts/airflow_venv.py installs this version (3.3.2 unless AIRFLOW_VERSION_PIN says otherwise, e.g. 2.10.5).
AIRFLOW_MAJOR = int((os.environ.get("AIRFLOW_VERSION_PIN") or "3").split(".")[0])


def prepare_venv() -> Path:
    """The Airflow venv's bin/, created or refreshed (project reinstalled when its sources changed)."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "airflow_venv.py")],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert result.returncode == 0, f"could not prepare the Airflow venv:\n{result.stderr[-5000:]}"
    sys.stderr.write(f"airflow venv ready in {time.monotonic() - started:.1f} s\n")
    return Path(result.stdout.strip().splitlines()[-1]) / "bin"


def dags_folder(target: Path, *sources: Path) -> Path:
    """A DAG folder holding copies of ``sources`` (files, or every .py file of a directory)."""
    target.mkdir(parents=True, exist_ok=True)
    for source in sources:
        for path in sorted(source.glob("*.py")) if source.is_dir() else [source]:
            shutil.copy2(path, target / path.name)
    return target


def airflow_environment(home: Path, airflow_bin: Path, base_url: str, dags: Path = DAGS) -> dict[str, str]:
    inherited = ("AIRFLOW", "SLACK_WEBHOOK_URL", "ALERTS_", "FASTAPI_", "MODEL_", "DEFAULT_ALIAS")
    env = {k: v for k, v in os.environ.items() if not k.startswith(inherited)}
    tmp = home / "tmp"  # the once-record's default place is under the temp dir: one per Airflow home
    tmp.mkdir(parents=True, exist_ok=True)
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__API__BASE_URL=base_url,  # Airflow 3
        AIRFLOW__WEBSERVER__BASE_URL=base_url,  # Airflow 2 (AIRFLOW_VERSION_PIN=2.10.5 runs these tests on it)
        # A loaded 2-core machine answers the task supervisor's Execution API calls slowly: no spurious failures.
        AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT="60",
        ALERTS_ENV="ci",
        TMPDIR=str(tmp),
        PATH=os.pathsep.join([str(airflow_bin), env.get("PATH", "")]),  # standalone starts `airflow …`
        PYTHONDONTWRITEBYTECODE="1",  # keep the DAG folders free of __pycache__
    )
    return env


@dataclass
class Result:
    returncode: int
    output: str
    seconds: float


def run(program: Path, args: list[str], env: dict[str, str], **extra_env: str) -> Result:
    started = time.monotonic()
    proc = subprocess.run(
        [str(program), *args],
        env={**env, **extra_env},
        cwd=env.get("AIRFLOW_HOME", str(REPO)),  # not the repo: its alerts_lib.egg-info would shadow the install
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    return Result(proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started)


def migrated(airflow_bin: Path, env: dict[str, str]) -> dict[str, str]:
    result = run(airflow_bin / "airflow", ["db", "migrate"], env)
    assert result.returncode == 0, result.output[-5000:]
    return env


def dags_test(airflow_bin: Path, env: dict[str, str], dag_id: str, **extra_env: str) -> Result:
    result = run(airflow_bin / "airflow", ["dags", "test", dag_id], env, **extra_env)
    sys.stderr.write(f"airflow dags test {dag_id}: exit {result.returncode} in {result.seconds:.1f} s\n")
    return result


# -- what the fake Slack received, one alert at a time -------------------------------------------------------


def posted_alerts(slack: FakeSlack, dag_id: str | None = None) -> list[Posted]:
    """Every alert delivered (of ``dag_id``), split out of combined posts."""
    return [a for a in split_alerts(r.json for r in slack.delivered) if dag_id is None or a.dag == dag_id]


def assert_no_secret(output: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in output, "a secret appeared in Airflow's output"


# -- the production path: scheduler, forked task process, DAG processor ------------------------------------


@contextlib.contextmanager
def running_airflow(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``airflow standalone`` (api-server, scheduler, dag-processor, triggerer) in its own process group."""
    with open(log_path, "wb") as sink:
        proc = subprocess.Popen(
            ["airflow", "standalone"],
            env=env,
            cwd=env["AIRFLOW_HOME"],
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # its scheduler's executor workers outlive it otherwise
        proc.wait()


def standalone_env(home: Path, airflow_bin: Path, port: int, dags: Path, **extra: str) -> dict[str, str]:
    """What ``airflow standalone`` needs to serve on 127.0.0.1:``port`` for a test."""
    base = f"http://127.0.0.1:{port}"
    env = airflow_environment(home, airflow_bin, base, dags)
    env.update(
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{base}/execution/",
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
        AIRFLOW__CORE__PARALLELISM="2",  # LocalExecutor starts this many workers
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",  # the tests use the REST API as admin
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
    )
    env.update(extra)
    return env


class RestClient:
    """Airflow 3's REST API as the admin the simple auth manager makes everyone (a JWT from /auth/token)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self._token: str | None = None

    def _headers(self) -> dict[str, str]:
        if self._token is None:
            answer = httpx.get(f"{self.base}/auth/token", timeout=30)
            answer.raise_for_status()
            self._token = answer.json()["access_token"]
        return {"Authorization": f"Bearer {self._token}"}

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.base}{path}", headers=self._headers(), timeout=60)

    def post(self, path: str, body: Any) -> httpx.Response:
        return httpx.post(f"{self.base}{path}", json=body, headers=self._headers(), timeout=60)

    def patch(self, path: str, body: Any) -> httpx.Response:
        return httpx.patch(f"{self.base}{path}", json=body, headers=self._headers(), timeout=60)

    def wait_until_parsed(self, dag_ids: list[str], timeout: float, proc: subprocess.Popen[bytes]) -> None:
        """Until the API answers and the DAG processor has parsed ``dag_ids``."""
        deadline = time.monotonic() + timeout
        missing = list(dag_ids)
        while missing and time.monotonic() < deadline:
            assert proc.poll() is None, "airflow standalone exited"
            with contextlib.suppress(httpx.HTTPError):
                missing = [d for d in missing if self.get(f"/api/v2/dags/{d}").status_code != 200]
            if missing:
                time.sleep(2)
        assert not missing, f"DAGs never parsed: {missing}"

    def trigger(self, dag_id: str) -> str:
        answer = self.post(f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None})
        assert answer.status_code == 200, answer.text
        return str(answer.json()["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        answer = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")
        return str(answer.json().get("state")) if answer.status_code == 200 else "unknown"

    def task_state(self, dag_id: str, run_id: str, task_id: str) -> str:
        answer = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}")
        return str(answer.json().get("state")) if answer.status_code == 200 else "unknown"


def wait_for(predicate: Any, timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
