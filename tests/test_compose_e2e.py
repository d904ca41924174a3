"""docker-compose.yaml for real, as a new user runs it: ``.env`` from ``.env.example`` with a token and
non-default ports, ``up -d --build``, both example DAGs triggered through Airflow's REST API from the host,
and the inbox showing every alert, with a log link that opens; critical alerts also through Alertmanager;
the model service's container stopped and started, and the watch's alert and recovery.

Needs a Docker engine and compose. As root, ``../shared/compose-standins.sh`` provides them (Debian's dockerd
and docker-compose; base images built from Debian packages when the image registry is unreachable, ~10 min
the first time). Without them the tests skip with the reason, except under ``CI=true``, where they fail.
One stack per module run, under its own project name, on free ports; always taken down with its volumes.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpx
import pytest

from demo.procs import free_port
from tests.support.ci import unavailable
from tests.support.compose import (
    COMPOSE_FILE,
    PORT_VARIABLES,
    clean_env,
    compose_cli,
    compose_services,
    env_file_from_example,
)
from tests.support.paths import REPO_ROOT
from tests.support.slack_posts import Posted, find, split_alerts

pytestmark = pytest.mark.compose

STANDINS = REPO_ROOT.parent / "shared" / "compose-standins.sh"
STANDINS_LOCK = Path("/var/tmp/compose-standins.lock")  # other worktrees' test runs may start it too
SMOKE_FAILURE = "alerting_smoke fails on purpose: this is the alert you should see in Slack"
# Bounds, generous for a loaded 2-core machine (measured there: build ~2 min, healthy ~3 min, runs ~1 min).
STANDINS_TIMEOUT = 1800
UP_TIMEOUT = 900
HEALTHY_TIMEOUT = 480
DAGS_PARSED_TIMEOUT = 180
RUN_TIMEOUT = 300
INBOX_TIMEOUT = 60
WATCH_INTERVAL = 5  # .env's WATCH_INTERVAL: the watch alerts after two failing polls, recovers after two good ones
RECOVERY_TIMEOUT = 180  # the service's container starting again, then two polls
RESOLVED_TIMEOUT = 150  # Alertmanager's group_interval (1 min) after the resolve, on a busy machine
API_TIMEOUT = 90  # one REST call; Airflow's API server answers slowly while the machine is busy
LOG_TAIL = 150


def _timed(timings: dict[str, float], name: str, started: float) -> None:
    timings[name] = time.monotonic() - started
    sys.stderr.write(f"compose e2e: {name} {timings[name]:.1f} s\n")


# -- getting a Docker engine ------------------------------------------------------------------------------


def _docker_problem() -> str | None:
    """None when compose can run here; else why not. As root, runs compose-standins.sh first."""
    if os.geteuid() == 0 and STANDINS.is_file():
        airflow_version = compose_services()["airflow"]["build"]["args"]
        with open(STANDINS_LOCK, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            started = time.monotonic()
            done = subprocess.run(
                ["bash", str(STANDINS), str(airflow_version["AIRFLOW_VERSION"])],
                capture_output=True,
                text=True,
                timeout=STANDINS_TIMEOUT,
                start_new_session=True,  # dockerd, which it may start, must outlive a Ctrl-C of pytest
                check=False,
            )
        sys.stderr.write(f"compose e2e: compose-standins.sh {time.monotonic() - started:.1f} s\n")
        if done.returncode != 0:
            return f"{STANDINS} failed (exit {done.returncode}): {done.stderr[-2000:]}"
    if compose_cli() is None:
        return "no compose: install docker-compose (Debian) or the docker compose plugin"
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, env=clean_env(), check=False)
    if info.returncode != 0:
        why = "not root, so ../shared/compose-standins.sh cannot start one" if os.geteuid() else "see docker info"
        return f"no Docker engine answers ({why}): {info.stderr.strip()[-300:]}"
    return None


# -- one stack --------------------------------------------------------------------------------------------


@dataclass
class Stack:
    project: str
    env_file: Path
    ports: dict[str, int]
    secrets: dict[str, str]  # name -> value that must never appear in any log
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def command(self) -> list[str]:
        cli = compose_cli()
        assert cli is not None
        return [*cli, "-p", self.project, "--env-file", str(self.env_file), "-f", str(COMPOSE_FILE)]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.command, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=clean_env(),
            cwd=REPO_ROOT,
            check=False,
        )

    def url(self, variable: str) -> str:
        return f"http://127.0.0.1:{self.ports[variable]}"

    def logs(self, tail: int | None = None) -> str:
        args = ["logs", "--no-color", *(["--tail", str(tail)] if tail else [])]
        done = self.run(*args, timeout=60)
        return done.stdout + done.stderr

    def masked(self, text: str) -> str:
        for value in self.secrets.values():
            text = text.replace(value, "***")
        return text

    def print_logs(self, why: str) -> None:
        sys.stderr.write(f"== {why}: docker-compose logs --tail {LOG_TAIL} (secrets masked)\n")
        sys.stderr.write(self.masked(self.logs(LOG_TAIL)) + "\n")

    def states(self) -> dict[str, str]:
        """service -> container state, its health when it has a healthcheck (``healthy``, ``starting``, …)."""
        ids = self.run("ps", "-q").stdout.split()
        if not ids:
            return {}
        template = (
            '{{index .Config.Labels "com.docker.compose.service"}} {{.State.Status}}'
            " {{if .State.Health}}{{.State.Health.Status}}{{end}}"
        )
        inspect = subprocess.run(
            ["docker", "inspect", "-f", template, *ids], capture_output=True, text=True, env=clean_env(), check=False
        )
        states = {}
        for line in inspect.stdout.splitlines():
            service, status, *health = line.split()
            states[service] = health[0] if status == "running" and health else status
        return states

    def exec(self, service: str, code: str) -> str:
        """Python run inside ``service``'s running container, as its user; its stdout."""
        done = self.run("exec", "-T", service, "python", "-c", code, timeout=60)
        assert done.returncode == 0, f"in {service}: {done.stderr[-2000:]}"
        return done.stdout


def wait_healthy(stack: Stack, services: set[str]) -> None:
    deadline = time.monotonic() + HEALTHY_TIMEOUT
    while True:
        states = stack.states()
        if set(states) >= services and all(states[s] == "healthy" for s in services):
            return
        dead = {s: state for s, state in states.items() if state in ("exited", "dead", "unhealthy")}
        assert not dead, f"containers failed: {dead}"
        assert time.monotonic() < deadline, f"not healthy within {HEALTHY_TIMEOUT} s: {states}"
        time.sleep(3)


def remove_abandoned_stacks() -> list[str]:
    """Take down the stacks of earlier runs whose pytest process is gone (killed: its ``down -v`` never ran).

    The services restart ``unless-stopped``, so such a stack would come back with dockerd and load the machine
    under every later run. A project is ``alerts-e2e-<pid>-<hex>``; a live pid's stack is another run's, kept.
    """
    listed = subprocess.run(
        ["docker", "ps", "-a", "--format", '{{.Label "com.docker.compose.project"}}'],
        capture_output=True,
        text=True,
        env=clean_env(),
        check=False,
    )
    removed = []
    for project in sorted(set(listed.stdout.split())):
        match = re.fullmatch(r"alerts-e2e-(\d+)-[0-9a-f]+", project)
        if match is None or Path(f"/proc/{match.group(1)}").exists():
            continue
        label = f"label=com.docker.compose.project={project}"
        for kind, listing in (("container", ["ps", "-aq"]), ("volume", ["volume", "ls", "-q"])):
            ids = subprocess.run(
                ["docker", *listing, "--filter", label], capture_output=True, text=True, env=clean_env(), check=False
            ).stdout.split()
            if ids:
                rm = ["rm", "-f"] if kind == "container" else ["volume", "rm", "-f"]
                subprocess.run(["docker", *rm, *ids], capture_output=True, env=clean_env(), check=False)
        subprocess.run(["docker", "network", "prune", "-f", "--filter", label], capture_output=True, check=False)
        remove_images(project)
        removed.append(project)
    return removed


def remove_images(project: str) -> None:
    """Untag the images ``project`` built, keeping their layers as build cache for the next run."""
    listed = subprocess.run(
        ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", f"reference={project}*"],
        capture_output=True,
        text=True,
        env=clean_env(),
        check=False,
    )
    names = listed.stdout.split()
    if names:
        subprocess.run(["docker", "rmi", "--no-prune", *names], capture_output=True, env=clean_env(), check=False)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole compose file up and healthy, configured only through a ``.env`` made from ``.env.example``."""
    problem = _docker_problem()
    if problem:
        unavailable("the compose test", problem)
    for project in remove_abandoned_stacks():
        sys.stderr.write(f"compose e2e: took down {project}, left running by a killed earlier run\n")
    ports: dict[str, int] = {}
    for name in PORT_VARIABLES:  # free, and never the defaults: the point is that other ports work
        while (port := free_port()) in (8025, 8000, 8080, 9093, *ports.values()):
            pass
        ports[name] = port
    hook_secret = "e2e" + secrets.token_hex(12)
    token = secrets.token_hex(24)
    env_file = tmp_path_factory.mktemp("compose") / ".env"
    env_file.write_text(
        env_file_from_example(
            {
                "FASTAPI_TOKEN": token,
                # The inbox takes any /services/... path; a token-like last segment proves it is never logged.
                "SLACK_WEBHOOK_URL": f"http://inbox:8025/services/T0E2E/B0E2E/{hook_secret}",
                "WATCH_INTERVAL": str(WATCH_INTERVAL),
                **{name: str(port) for name, port in ports.items()},
            }
        )
    )
    stack = Stack(
        project=f"alerts-e2e-{os.getpid()}-{secrets.token_hex(3)}",
        env_file=env_file,
        ports=ports,
        secrets={"FASTAPI_TOKEN": token, "webhook token": hook_secret},
    )
    try:
        started = time.monotonic()
        try:
            up = stack.run("up", "-d", "--build", timeout=UP_TIMEOUT)
            _timed(stack.timings, "up -d --build", started)
            assert up.returncode == 0, stack.masked(up.stderr[-5000:])
            wait_healthy(stack, set(compose_services()))
            _timed(stack.timings, "every service healthy", started)
        except BaseException:
            stack.print_logs("the stack did not come up")
            raise
        yield stack
    finally:
        started = time.monotonic()
        down = stack.run("down", "-v", "--remove-orphans", "--timeout", "20", timeout=300)
        remove_images(stack.project)
        env_file.unlink(missing_ok=True)
        _timed(stack.timings, "down -v", started)
        sys.stderr.write(f"compose e2e timings (s): {json.dumps({k: round(v) for k, v in stack.timings.items()})}\n")
        assert down.returncode == 0, down.stderr[-2000:]


@pytest.fixture(autouse=True)
def logs_on_failure(stack: Stack, request: pytest.FixtureRequest) -> Iterator[None]:
    """The services' recent logs under a failed test's report (its teardown section)."""
    failed_before = request.session.testsfailed
    yield
    if request.session.testsfailed > failed_before:
        stack.print_logs(f"{request.node.name} failed")


# -- Airflow's REST API, from the host ----------------------------------------------------------------------


class Airflow:
    """Airflow 3's public API with a JWT from ``/auth/token`` (the compose demo's simple auth manager makes
    everyone admin, so ``GET`` issues one without credentials)."""

    def __init__(self, base: str) -> None:
        self.client = httpx.Client(base_url=base, timeout=API_TIMEOUT)
        token = self.client.get("/auth/token")
        assert token.status_code in (200, 201), token.text
        self.jwt = token.json()["access_token"]
        self.client.headers["Authorization"] = f"Bearer {self.jwt}"

    def trigger(self, dag_id: str) -> str:
        deadline = time.monotonic() + DAGS_PARSED_TIMEOUT
        while (found := self.client.get(f"/api/v2/dags/{dag_id}")).status_code == 404:
            assert time.monotonic() < deadline, f"{dag_id} not parsed within {DAGS_PARSED_TIMEOUT} s"
            time.sleep(2)
        assert found.status_code == 200, found.text
        unpaused = self.client.patch(f"/api/v2/dags/{dag_id}", json={"is_paused": False})
        assert unpaused.status_code == 200 and unpaused.json()["is_paused"] is False, unpaused.text
        run = self.client.post(f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None})
        assert run.status_code == 200, run.text
        return str(run.json()["dag_run_id"])

    def wait_run(self, dag_id: str, run_id: str) -> str:
        deadline = time.monotonic() + RUN_TIMEOUT
        while True:
            run = self.client.get(f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")
            assert run.status_code == 200, run.text
            if run.json()["state"] in ("success", "failed"):
                return str(run.json()["state"])
            assert time.monotonic() < deadline, f"{dag_id} {run_id} still {run.json()['state']} after {RUN_TIMEOUT} s"
            time.sleep(2)

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> httpx.Response:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/logs/{try_number}"
        return self.client.get(path, headers={"Accept": "application/json"})


@dataclass
class Runs:
    airflow: Airflow
    ids: dict[str, str]
    states: dict[str, str]


@pytest.fixture(scope="module")
def runs(stack: Stack) -> Iterator[Runs]:
    """Both example DAGs triggered (at once) and finished."""
    started = time.monotonic()
    airflow = Airflow(stack.url("AIRFLOW_PORT"))
    stack.secrets["Airflow JWT"] = airflow.jwt
    try:
        ids = {dag_id: airflow.trigger(dag_id) for dag_id in ("model_pipeline", "alerting_smoke")}
        states = {dag_id: airflow.wait_run(dag_id, run_id) for dag_id, run_id in ids.items()}
        _timed(stack.timings, "both DAG runs", started)
        yield Runs(airflow, ids, states)
    finally:
        airflow.client.close()


def inbox_payloads(stack: Stack) -> list[dict[str, Any]]:
    """Every payload the inbox received (its JSON API), oldest first."""
    messages = httpx.get(stack.url("INBOX_PORT") + "/api/messages", timeout=10).json()["messages"]
    return [m["payload"] for m in reversed(messages)]


def inbox_alerts(stack: Stack, *needles: str, timeout: float = INBOX_TIMEOUT) -> list[Posted]:
    """alerts_lib's alerts in the inbox, oldest first, once each needle is in some headline."""
    deadline = time.monotonic() + timeout
    while True:
        alerts = split_alerts(inbox_payloads(stack))
        if all(find(alerts, n) for n in needles) or time.monotonic() > deadline:
            return alerts
        time.sleep(1)


def alertmanager_notifications(stack: Stack, title: str, timeout: float = INBOX_TIMEOUT) -> list[dict[str, Any]]:
    """Alertmanager's Slack notifications in the inbox (one attachment each, our template) with this title."""
    deadline = time.monotonic() + timeout
    while True:
        attachments = [a for p in inbox_payloads(stack) for a in p.get("attachments") or ()]
        found = [a for a in attachments if a.get("title") == title]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(1)


def headlines(alerts: list[Posted]) -> list[str]:
    return [a.headline for a in alerts]


# -- the tests (in order: the stack, then the runs, then the logs) -------------------------------------------


def test_every_service_is_healthy_on_the_ports_set_in_env(stack: Stack) -> None:
    published_ports = (
        ("INBOX_PORT", "inbox", 8025),
        ("FASTAPI_PORT", "fastapi", 8000),
        ("AIRFLOW_PORT", "airflow", 8080),
        ("ALERTMANAGER_PORT", "alertmanager", 9093),
    )
    for variable, service, port in published_ports:
        published = stack.run("port", service, str(port)).stdout.strip()
        assert published == f"127.0.0.1:{stack.ports[variable]}", f"{service} is published as {published!r}"
    assert httpx.get(stack.url("INBOX_PORT") + "/healthz", timeout=10).json()["status"] == "ok"
    health = httpx.get(stack.url("FASTAPI_PORT") + "/health", timeout=10).json()
    assert (health["status"], health["loaded"]) == ("ok", ["A", "B"]), "the seed step filled the registry"
    airflow = httpx.get(stack.url("AIRFLOW_PORT") + "/api/v2/monitor/health", timeout=10).json()
    assert {k: v["status"] for k, v in airflow.items()} == dict.fromkeys(
        ("metadatabase", "scheduler", "triggerer", "dag_processor"), "healthy"
    )
    assert httpx.get(stack.url("ALERTMANAGER_PORT") + "/-/healthy", timeout=10).status_code == 200
    alerts = inbox_alerts(stack, "[FastAPI] started", "[Watch] watch started")
    assert find(alerts, "🚀 [FastAPI] started: my_model@A, my_model@B · local"), headlines(alerts)
    watching = "ℹ️ [Watch] watch started: Airflow + 2 services (model, alertmanager) · local"
    assert find(alerts, watching), headlines(alerts)
    assert not find(alerts, "[Watch] Airflow"), "the watch sees Airflow healthy and can read its API"


def test_service_and_airflow_share_the_spool_as_the_same_user(stack: Stack) -> None:
    """One named volume at /spool, mode 0700, owned by uid 50000 (gid 0), which all three containers run as."""
    probe = f".compose-e2e-probe-{secrets.token_hex(4)}"
    state = (
        "import os, json; s = os.stat('/spool');"
        "print(json.dumps([os.getuid(), os.getgid(), s.st_uid, s.st_gid, oct(s.st_mode & 0o777),"
        " os.environ.get('ALERTS_SPOOL_DIR')]))"
    )
    for service in ("fastapi", "airflow", "watch"):
        assert json.loads(stack.exec(service, state)) == [50000, 0, 50000, 0, "0o700", "/spool"], service
    stack.exec("fastapi", f"open('/spool/{probe}', 'w').write('from fastapi')")
    assert stack.exec("airflow", f"import os; print(open('/spool/{probe}').read()); os.remove('/spool/{probe}')")


def test_model_pipeline_registers_and_hot_swaps_the_service(stack: Stack, runs: Runs) -> None:
    assert runs.states["model_pipeline"] == "success"
    alerts = inbox_alerts(stack, "model registered", "hot-swapped")
    registered = find(alerts, "✅ [Airflow] model registered: my_model v3 → my_model@A · local")
    assert len(registered) == 1, headlines(alerts)
    assert registered[0].fields["run_id"] == runs.ids["model_pipeline"]
    assert find(alerts, "🔁 [FastAPI] my_model@A hot-swapped to v3"), headlines(alerts)
    assert not find(alerts, "model_pipeline"), "no failure alert from the pipeline"
    # From the host, on FASTAPI_PORT: @A now answers with the version Airflow trained.
    answer = httpx.post(
        stack.url("FASTAPI_PORT") + "/predict", json={"features": {"x1": 1, "x2": 2, "x3": 3}, "variant": "A"}
    )
    assert answer.status_code == 200 and answer.json()["version"] == 3, answer.text


def test_alerting_smoke_alerts_with_a_log_link_that_opens_from_the_host(stack: Stack, runs: Runs) -> None:
    assert runs.states["alerting_smoke"] == "failed"
    run_id = runs.ids["alerting_smoke"]
    alerts = inbox_alerts(stack, "task failed: alerting_smoke", "DAG failed: alerting_smoke")
    [task] = find(alerts, f"🔥 [Airflow] task failed: alerting_smoke.fail: RuntimeError: {SMOKE_FAILURE} · local")
    [dag] = find(alerts, "🔥 [Airflow] DAG failed: alerting_smoke · local")
    assert task.fields["run_id"] == dag.fields["run_id"] == run_id
    assert dag.fields["failed task"] == "fail"
    assert not find(alerts, "alerting_smoke.succeed"), "the task that succeeded did not alert"

    # The link is where the browser reaches Airflow (AIRFLOW_PORT on the host), and it answers there.
    assert task.link is not None
    link = urlsplit(task.link)
    assert (link.scheme, link.netloc) == ("http", f"localhost:{stack.ports['AIRFLOW_PORT']}"), task.link
    match = re.fullmatch(r"/dags/(\w+)/runs/([^/]+)/tasks/(\w+)", link.path)
    assert match and link.query == "try_number=1", task.link
    assert (match[1], unquote(match[2]), match[3]) == ("alerting_smoke", run_id, "fail")
    page = httpx.get(task.link, timeout=30, follow_redirects=True)
    assert page.status_code == 200 and "<title>Airflow</title>" in page.text
    # That page is Airflow's single-page UI, which reads the log from the REST API: the log is real.
    log = runs.airflow.task_log(match[1], unquote(match[2]), match[3], 1)
    assert log.status_code == 200, log.text[-2000:]
    assert SMOKE_FAILURE in log.text and "alerts_lib: Slack alert delivered" in log.text
    for name, value in stack.secrets.items():
        assert value not in log.text, f"the {name} is in the task log"


def test_a_critical_alert_also_reaches_the_inbox_through_alertmanager(stack: Stack, runs: Runs) -> None:
    """deploy/compose/alerts.toml routes critical alerts to the inbox and to Alertmanager; Alertmanager's
    notification (our template) lands in the inbox too, once for the group."""
    [notification] = alertmanager_notifications(stack, "FIRING: AirflowTaskFailed")
    assert notification["text"].startswith(
        f"*firing* 🔥 [Airflow] task failed: alerting_smoke.fail: RuntimeError: {SMOKE_FAILURE} · local"
    ), notification["text"]
    assert "View log" in notification["text"]
    assert notification["title_link"].startswith(f"http://localhost:{stack.ports['ALERTMANAGER_PORT']}/#/alerts")
    listed = httpx.get(stack.url("ALERTMANAGER_PORT") + "/api/v2/alerts", timeout=10).json()
    failed = [a["labels"] for a in listed if a["labels"]["alertname"] == "AirflowTaskFailed"]
    assert failed == [
        {
            "alertname": "AirflowTaskFailed",
            "severity": "critical",
            "source": "Airflow",
            "env": "local",
            "dag_id": "alerting_smoke",
            "task_id": "fail",
        }
    ], failed
    assert {a["labels"]["severity"] for a in listed} == {"critical"}, "only critical alerts go there"


def test_the_watch_alerts_when_the_service_container_stops_and_when_it_is_back(stack: Stack, runs: Runs) -> None:
    """The service cannot say it is gone: the watch does (after two failed polls), through the inbox and,
    being critical, Alertmanager; then its recovery with how long it lasted, which also resolves the alert in
    Alertmanager (the recovery is not critical, yet goes where the down alert went)."""
    started = time.monotonic()
    stopped = stack.run("stop", "-t", "10", "fastapi")
    assert stopped.returncode == 0, stopped.stderr[-2000:]
    try:
        alerts = inbox_alerts(stack, "[Watch] service model down")
        _timed(stack.timings, "stop → watch alert", started)
        down = find(alerts, "[Watch] service model down")
        assert len(down) == 1, f"one alert, not one per poll: {headlines(alerts)}"
        assert down[0].headline.startswith("🔥 [Watch] service model down: "), down[0].headline
        assert alertmanager_notifications(stack, "FIRING: ServiceDown"), "the down alert is critical"
    finally:
        started = time.monotonic()
        restarted = stack.run("start", "fastapi")
    assert restarted.returncode == 0, restarted.stderr[-2000:]
    alerts = inbox_alerts(stack, "[Watch] service model healthy again", timeout=RECOVERY_TIMEOUT)
    back = find(alerts, "[Watch] service model healthy again")
    assert [a.headline[:44] for a in back] == ["✅ [Watch] service model healthy again after "], headlines(alerts)
    _timed(stack.timings, "start → watch recovery", started)
    # Alertmanager says "resolved" at its next group interval (1 min in deploy/alertmanager/alertmanager.yml).
    assert alertmanager_notifications(stack, "RESOLVED: ServiceDown", timeout=RESOLVED_TIMEOUT), "still firing"
    assert stack.states()["watch"] == "healthy"
    wait_healthy(stack, {"fastapi"})


def test_no_secret_appears_in_any_service_log(stack: Stack, runs: Runs) -> None:
    logs = stack.logs()
    for service in compose_services():
        assert re.search(rf"^{service}[_-]1 +\| ", logs, re.M), f"no log lines from {service}"
    for name, value in stack.secrets.items():
        assert value not in logs, f"the {name} appears in docker-compose logs"
